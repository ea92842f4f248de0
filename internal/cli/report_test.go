package cli

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/labsync/labsync/internal/problem"
)

func TestAFailedCommandEndsWithItsLineItsRemedyAndExitCodeOne(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want string
	}{
		{"a plain error", errors.New("cannot listen on LABSYNC_ADDR :1: permission denied"),
			"labsync: cannot listen on LABSYNC_ADDR :1: permission denied\n"},
		{"a problem with a remedy", fmt.Errorf("admin: %w", &problem.Error{Kind: problem.Conflict, Code: "last_owner",
			Message: "an organisation must keep at least one owner", Remedy: "make someone else an owner first"}),
			"labsync: an organisation must keep at least one owner\n  → make someone else an owner first\n"},
		{"a problem without one", &problem.Error{Kind: problem.NotFound, Message: "not found"}, "labsync: not found\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if code := report(&out, c.err); code != 1 {
				t.Fatalf("exit code %d, want 1", code)
			}
			if out.String() != c.want {
				t.Fatalf("printed %q, want %q", out.String(), c.want)
			}
		})
	}
	for _, k := range problem.Kinds() {
		if code := exitCode(k); code != 1 {
			t.Errorf("kind %v ends with exit code %d; every failure has ended with 1", k, code)
		}
	}
}
