package cli

import (
	"os"
	"testing"
)

// TestMain lets the test binary stand in for labsync itself: with
// LABSYNC_TEST_MAIN=1 it runs the command line, so tests can start real
// labsync processes (and kill them) without building another binary.
func TestMain(m *testing.M) {
	if os.Getenv("LABSYNC_TEST_MAIN") == "1" {
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}
