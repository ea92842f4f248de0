package problem_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/labsync/labsync/internal/problem"
)

type withRemedy struct{}

func (withRemedy) Error() string  { return "the URL has no host" }
func (withRemedy) Remedy() string { return "give the GitLab's address" }

func TestFromFindsTheProblemAnErrorCarries(t *testing.T) {
	notFound := problem.New(problem.NotFound, "not_found", "integration %d not found", 7)
	cases := []struct {
		name        string
		err         error
		ok          bool
		kind        problem.Kind
		msg, remedy string
	}{
		{"a problem", notFound, true, problem.NotFound, "integration 7 not found", ""},
		{"a wrapped problem", fmt.Errorf("api: %w", notFound), true, problem.NotFound, "integration 7 not found", ""},
		{"a canceled context", fmt.Errorf("store: %w", context.Canceled), true, problem.Canceled, "request canceled", ""},
		{"an error with a remedy", fmt.Errorf("gitlab: %w", withRemedy{}), true, problem.Invalid, "gitlab: the URL has no host", "give the GitLab's address"},
		{"any other error", errors.New("disk full"), false, 0, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ok := problem.From(c.err)
			if ok != c.ok {
				t.Fatalf("From(%v) ok = %v, want %v", c.err, ok, c.ok)
			}
			if !ok {
				if p != nil {
					t.Fatalf("From(%v) = %+v with ok false", c.err, p)
				}
				return
			}
			if p.Kind != c.kind || p.Message != c.msg || p.Remedy != c.remedy {
				t.Fatalf("From(%v) = %v %q %q, want %v %q %q", c.err, p.Kind, p.Message, p.Remedy, c.kind, c.msg, c.remedy)
			}
		})
	}
}

func TestAProblemUnwrapsToItsCause(t *testing.T) {
	cause := errors.New("no rows")
	p := &problem.Error{Kind: problem.NotFound, Message: "not found", Err: cause}
	if !errors.Is(fmt.Errorf("x: %w", p), cause) {
		t.Fatal("errors.Is does not reach the cause through the problem")
	}
}

func TestTheZeroKindIsInternalAndEveryKindHasAName(t *testing.T) {
	var p problem.Error
	if p.Kind != problem.Internal {
		t.Fatalf("zero Kind = %v, want internal", p.Kind)
	}
	seen := map[string]bool{}
	for _, k := range problem.Kinds() {
		n := k.String()
		if n == "" || seen[n] {
			t.Fatalf("kind %d has an empty or repeated name %q", int(k), n)
		}
		seen[n] = true
	}
}

func TestWithRemedyAndWithTitleLeaveTheOriginalAlone(t *testing.T) {
	orig := problem.New(problem.Conflict, "conflict", "in use")
	r := orig.WithRemedy("pick another").WithTitle("Name in use")
	if orig.Remedy != "" || orig.Title != "" {
		t.Fatalf("original changed: %+v", orig)
	}
	if r.Remedy != "pick another" || r.Title != "Name in use" || r.Kind != problem.Conflict {
		t.Fatalf("copy = %+v", r)
	}
}
