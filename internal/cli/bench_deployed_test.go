package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/store/storetest"
)

// benchDatabaseArgs is the flag that points a bench at a fresh PostgreSQL
// schema when the tests run on PostgreSQL (none on SQLite: the bench makes
// its own file). Call it before isolate, which clears LABSYNC_TEST_DIALECT.
func benchDatabaseArgs(t *testing.T) []string {
	if storetest.Dialect(t) == store.Postgres {
		return []string{"--database-url", storetest.FreshPostgresURL(t)}
	}
	return nil
}

// TestBenchBackfillDrivesLabsyncServeAsDeployed: `labsync bench backfill`
// runs the backfill in a `labsync serve` of its own, driven through the API,
// and on the same sandbox world stores the same rows and asks GitLab for
// the same project pages as the in-process harness, which says it is one.
func TestBenchBackfillDrivesLabsyncServeAsDeployed(t *testing.T) {
	dbArgs := benchDatabaseArgs(t)
	isolate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	args := []string{"bench", "backfill", "--projects", "4", "--groups", "2", "--mrs", "6", "--issues", "5", "--pipelines", "3",
		"--commits", "8", "--latency", "1ms", "--concurrency", "4"}
	code, deployed, errOut := run(t, ctx, append(append([]string{}, args...), dbArgs...)...)
	if code != 0 {
		t.Fatalf("bench backfill: exit %d\n%s\n%s", code, deployed, errOut)
	}
	code, inProcess, errOut := run(t, ctx, append(args, "--in-process")...)
	if code != 0 {
		t.Fatalf("bench backfill --in-process: exit %d\n%s\n%s", code, inProcess, errOut)
	}
	t.Logf("deployed:\n%s\nin-process:\n%s", deployed, inProcess)
	if !strings.Contains(deployed, "labsync serve as deployed (own process)") || !strings.Contains(deployed, "(labsync serve alone)") {
		t.Errorf("the deployed run does not say it measured labsync serve:\n%s", deployed)
	}
	if !strings.Contains(inProcess, "--in-process: the sync service runs inside the bench process") {
		t.Errorf("the in-process run does not say it is a cut-down harness:\n%s", inProcess)
	}
	items := regexp.MustCompile(`(?m)^items stored +(\d+ \(.*\))$`)
	d, i := items.FindStringSubmatch(deployed), items.FindStringSubmatch(inProcess)
	if d == nil || i == nil || d[1] != i[1] || strings.HasPrefix(d[1], "0 ") {
		t.Errorf("items stored: deployed %q, in-process %q", d, i)
	}
	reqs := regexp.MustCompile(`(?m)^requests made +(\d+)`)
	d, i = reqs.FindStringSubmatch(deployed), reqs.FindStringSubmatch(inProcess)
	if d == nil || i == nil || d[1] != i[1] {
		t.Errorf("project requests: deployed %q, in-process %q\n%s\n%s", d, i, deployed, inProcess)
	}
}

// TestBenchWebhooksDrivesLabsyncServeAsDeployed: `labsync bench webhooks`
// drives a `labsync serve` of its own from a driver process and finds every
// acknowledged delivery stored and processed, then drives the no-op
// receiver the same way and prints the ratio.
func TestBenchWebhooksDrivesLabsyncServeAsDeployed(t *testing.T) {
	dbArgs := benchDatabaseArgs(t)
	isolate(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	code, out, errOut := run(t, ctx, append([]string{"bench", "webhooks", "-n", "300", "-c", "8"}, dbArgs...)...)
	if code != 0 {
		t.Fatalf("bench webhooks: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"labsync serve as deployed (own process, processor on)",
		"acknowledged 300, stored 300, processed 300, merge request rows 300, change-feed entries 300 (all processed)",
		"no-op receiver:", "ratio to the no-op receiver: processed "} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}
