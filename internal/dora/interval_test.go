package dora

import (
	"testing"
	"time"
)

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestBucketsCutTheRangeAtUTCBoundariesWithWeeksStartingMonday(t *testing.T) {
	cases := []struct {
		name     string
		from, to time.Time
		iv       Interval
		want     []string // start/end pairs, RFC 3339
	}{
		{"three whole days", day("2026-03-02"), day("2026-03-05"), Day, []string{
			"2026-03-02T00:00:00Z/2026-03-03T00:00:00Z", "2026-03-03T00:00:00Z/2026-03-04T00:00:00Z", "2026-03-04T00:00:00Z/2026-03-05T00:00:00Z"}},
		// 2026-03-04 is a Wednesday: its week began on Monday 2026-03-02,
		// so the first bucket is clipped to the Wednesday; 2026-03-09 and
		// 2026-03-16 are Mondays.
		{"weeks start on Monday; the first and last are clipped", day("2026-03-04"), day("2026-03-18"), Week, []string{
			"2026-03-04T00:00:00Z/2026-03-09T00:00:00Z", "2026-03-09T00:00:00Z/2026-03-16T00:00:00Z", "2026-03-16T00:00:00Z/2026-03-18T00:00:00Z"}},
		// 2026-03-01 is a Sunday: it belongs to the week of Monday
		// 2026-02-23, not the week it opens in a Sunday-first calendar.
		{"a Sunday ends its week", day("2026-03-01"), day("2026-03-03"), Week, []string{
			"2026-03-01T00:00:00Z/2026-03-02T00:00:00Z", "2026-03-02T00:00:00Z/2026-03-03T00:00:00Z"}},
		{"months of different lengths", day("2026-01-15"), day("2026-04-01"), Month, []string{
			"2026-01-15T00:00:00Z/2026-02-01T00:00:00Z", "2026-02-01T00:00:00Z/2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z/2026-04-01T00:00:00Z"}},
		{"a time that is not midnight clips the day", at("2026-03-02T12:00:00Z"), at("2026-03-03T06:00:00Z"), Day, []string{
			"2026-03-02T12:00:00Z/2026-03-03T00:00:00Z", "2026-03-03T00:00:00Z/2026-03-03T06:00:00Z"}},
		{"a range given in another zone is cut in UTC", time.Date(2026, 3, 2, 1, 0, 0, 0, time.FixedZone("CET", 3600)), day("2026-03-03"), Day, []string{
			"2026-03-02T00:00:00Z/2026-03-03T00:00:00Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bs, err := Buckets(c.from, c.to, c.iv)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range bs {
				got = append(got, b.Start.Format(time.RFC3339)+"/"+b.End.Format(time.RFC3339))
			}
			if len(got) != len(c.want) {
				t.Fatalf("buckets = %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Errorf("bucket %d = %s, want %s", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestBucketsRefuseAnEmptyRangeAndTooManyPoints(t *testing.T) {
	if _, err := Buckets(day("2026-03-02"), day("2026-03-02"), Day); err == nil {
		t.Error("an empty range was accepted")
	}
	if _, err := Buckets(day("2026-03-03"), day("2026-03-02"), Day); err == nil {
		t.Error("a reversed range was accepted")
	}
	if _, err := Buckets(day("2020-01-01"), day("2026-01-01"), Day); err == nil {
		t.Error("six years of days were accepted")
	}
	if bs, err := Buckets(day("2024-01-01"), day("2025-01-01"), Day); err != nil || len(bs) != 366 {
		t.Errorf("a leap year of days = %d buckets, %v; want 366", len(bs), err)
	}
}

func TestIndexPlacesATimeInTheBucketThatHoldsIt(t *testing.T) {
	bs, err := Buckets(day("2026-03-04"), day("2026-03-18"), Week)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		t    time.Time
		want int
	}{
		{"before the range", at("2026-03-03T23:59:59Z"), -1},
		{"the first instant", day("2026-03-04"), 0},
		{"Sunday night", at("2026-03-08T23:59:59Z"), 0},
		{"Monday midnight starts the next week", day("2026-03-09"), 1},
		{"the last bucket", at("2026-03-17T10:00:00Z"), 2},
		{"the end is outside", day("2026-03-18"), -1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := index(bs, c.t); got != c.want {
				t.Errorf("index(%s) = %d, want %d", c.t, got, c.want)
			}
		})
	}
}

func TestGuessTierFollowsGitLabsNameRulesInTheirOrder(t *testing.T) {
	cases := []struct{ name, want string }{
		{"production", TierProduction},
		{"Prod", TierProduction},
		{"prd-eu", TierProduction},
		{"live", TierProduction},
		{"staging", TierStaging},
		{"stg", TierStaging},
		{"preprod", TierStaging}, // "pre" is a staging rule, checked before production's
		{"demo", TierStaging},
		{"review/feature-1", TierDevelopment},
		{"dev-live", TierDevelopment}, // development is checked first
		{"qa", TierTesting},
		{"integration", TierTesting},
		{"acceptance", TierTesting},
		{"customer-portal", TierOther},
		{"", TierOther},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := GuessTier(c.name); got != c.want {
				t.Errorf("GuessTier(%q) = %s, want %s", c.name, got, c.want)
			}
		})
	}
}
