package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/dora"
)

// TestPrintDoraShowsOnePeriodPerLineAndWhatIsMissing: the table has a
// line per period and one for the whole range, durations in words, rates
// with their counts, "-" where a figure has no value, and the missing
// data after it.
func TestPrintDoraShowsOnePeriodPerLineAndWhatIsMissing(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	n := func(v int) *int { return &v }
	w1 := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	w2 := w1.AddDate(0, 0, 7)
	r := &dora.Report{EnvironmentTier: "production", From: w1, To: w2.AddDate(0, 0, 7), Interval: dora.Week,
		DeploymentFrequency: dora.Series{Points: []dora.Point{{Start: w1, Value: f(2), Count: 2}, {Start: w2, Value: f(0), Count: 0}},
			Total: dora.Point{Value: f(2), Count: 2}},
		LeadTimeForChanges: dora.Series{Points: []dora.Point{{Start: w1, Value: f(45000), Count: 4}, {Start: w2}},
			Total: dora.Point{Value: f(45000), Count: 4}},
		ChangeFailureRate: dora.Series{Points: []dora.Point{{Start: w1, Value: f(1.5), Count: 3, Deployments: n(2)}, {Start: w2, Deployments: n(0)}},
			Total: dora.Point{Value: f(1.5), Count: 3, Deployments: n(2)}},
		TimeToRestoreService: dora.Series{Points: []dora.Point{{Start: w1, Value: f(7200), Count: 1}, {Start: w2}},
			Total: dora.Point{Value: f(7200), Count: 1}},
		Missing: []string{"No incident synced."},
	}
	var b bytes.Buffer
	if err := printDora(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"DORA metrics, production tier, 2026-03-02 00:00 to 2026-03-16 00:00 (UTC), by week",
		"2026-03-02    2            12.5 h (4 MR)       150.0 % (3/2)        2.0 h (1 incident)",
		"2026-03-09    0            -                   -                    -",
		"whole range   2",
		"missing: No incident synced.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}
