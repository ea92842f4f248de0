package dora

import (
	"fmt"
	"time"
)

// Interval is the width of one point of a series.
type Interval string

// The intervals a report can be cut into. Every bucket is in UTC: a day
// starts at 00:00 UTC, a week on Monday 00:00 UTC (ISO 8601), a month on
// its 1st at 00:00 UTC.
const (
	Day   Interval = "day"
	Week  Interval = "week"
	Month Interval = "month"
)

// Intervals lists the intervals in the order a form offers them.
func Intervals() []Interval { return []Interval{Day, Week, Month} }

// MaxPoints bounds how many buckets one report may have, so that a year of
// days (366) passes and a decade of days does not.
const MaxPoints = 1000

// Bucket is one point's time span, [Start, End). The first and the last
// bucket are clipped to the report's range, so a week bucket of a range
// that starts on a Wednesday starts on that Wednesday.
type Bucket struct {
	Start time.Time
	End   time.Time
}

// Days is the bucket's length in days (fractional when clipped to a time
// that is not midnight).
func (b Bucket) Days() float64 { return b.End.Sub(b.Start).Hours() / 24 }

// floor returns the start (UTC) of the interval t falls in.
func (iv Interval) floor(t time.Time) time.Time {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	switch iv {
	case Week:
		// Go's Weekday has Sunday = 0; Monday starts the week.
		back := (int(day.Weekday()) + 6) % 7
		return day.AddDate(0, 0, -back)
	case Month:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return day
}

// next returns the start of the interval after the one starting at start.
func (iv Interval) next(start time.Time) time.Time {
	switch iv {
	case Week:
		return start.AddDate(0, 0, 7)
	case Month:
		return start.AddDate(0, 1, 0)
	}
	return start.AddDate(0, 0, 1)
}

// Valid reports whether iv is one of Intervals.
func (iv Interval) Valid() bool { return iv == Day || iv == Week || iv == Month }

// Buckets cuts [from, to) into the buckets of iv, oldest first, empty
// buckets included. It fails when from is not before to or the range
// would need more than MaxPoints buckets.
func Buckets(from, to time.Time, iv Interval) ([]Bucket, error) {
	from, to = from.UTC(), to.UTC()
	if !iv.Valid() {
		return nil, fmt.Errorf("unknown interval %q", iv)
	}
	if !from.Before(to) {
		return nil, fmt.Errorf("from (%s) must be before to (%s)", from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
	var out []Bucket
	for start := iv.floor(from); start.Before(to); start = iv.next(start) {
		if len(out) == MaxPoints {
			return nil, fmt.Errorf("the range has more than %d %ss; choose a shorter range or a longer interval", MaxPoints, iv)
		}
		b := Bucket{Start: start, End: iv.next(start)}
		if b.Start.Before(from) {
			b.Start = from
		}
		if b.End.After(to) {
			b.End = to
		}
		out = append(out, b)
	}
	return out, nil
}

// index returns the position in bs of the bucket t falls in, or -1 when t
// is outside them. bs must come from Buckets.
func index(bs []Bucket, t time.Time) int {
	if len(bs) == 0 || t.Before(bs[0].Start) || !t.Before(bs[len(bs)-1].End) {
		return -1
	}
	lo, hi := 0, len(bs)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if t.Before(bs[mid].Start) {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	return lo
}
