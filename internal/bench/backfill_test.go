package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// A rate-limited backfill that fits in one minute's budget is never
// throttled; the bench must not print its request rate as budget use
// (it once printed "624.9%").
func TestBenchBackfillDoesNotRateABudgetItNeverReached(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a backfill")
	}
	b := &Backfill{Version: "17.11", Groups: 1, Projects: 2, MRs: 3, Issues: 3, Pipelines: 2, Commits: 5,
		Latency: time.Millisecond, Concurrency: 4, RateLimit: 2000, InProcess: true}
	var out bytes.Buffer
	if err := b.Run(context.Background(), &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	var line string
	for l := range strings.SplitSeq(out.String(), "\n") {
		if strings.HasPrefix(l, "rate budget used") {
			line = l
		}
	}
	if !strings.Contains(line, "not measured") || strings.Contains(line, "%") {
		t.Fatalf("rate budget line %q, want it marked not measured:\n%s", line, out.String())
	}
	if !strings.Contains(out.String(), "answered 429      0 ") {
		t.Fatalf("a run inside one window's budget was throttled:\n%s", out.String())
	}
}
