package api

import (
	"net/http"
	"testing"

	"github.com/labsync/labsync/internal/problem"
)

func TestEveryProblemKindHasItsOwnStatusAndComesBackFromIt(t *testing.T) {
	seen := map[int]problem.Kind{}
	for _, k := range problem.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			s, ok := statuses[k]
			if !ok {
				t.Fatalf("kind %v has no HTTP status", k)
			}
			if other, dup := seen[s]; dup {
				t.Fatalf("kinds %v and %v share status %d", other, k, s)
			}
			seen[s] = k
			if k != problem.Internal && s == http.StatusInternalServerError {
				t.Fatalf("kind %v is answered with 500", k)
			}
			if KindOf(s) != k {
				t.Fatalf("KindOf(%d) = %v, want %v", s, KindOf(s), k)
			}
		})
	}
}
