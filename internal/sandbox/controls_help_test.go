package sandbox

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"testing"
)

func TestControlsHelpNamesEveryActivityAction(t *testing.T) {
	sb := start(t, Config{Seed: 1, Groups: 1, Projects: 2, MRs: 1, Issues: 1})
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^    ([a-z_]+) +\S`).FindAllStringSubmatch(ControlsHelp, -1) {
		documented[m[1]] = true
	}
	taken := slices.Sorted(maps.Keys(sb.activityActions()))
	for _, a := range taken {
		if !documented[a] {
			t.Errorf("action %s is taken by the control API but not in ControlsHelp", a)
		}
	}
	for a := range documented {
		if !slices.Contains(taken, a) {
			t.Errorf("ControlsHelp documents %s, which the control API does not take", a)
		}
	}
	for _, a := range taken {
		t.Run(a, func(t *testing.T) {
			// An unknown project reaches the action: 404, never "unknown action".
			r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/activity", sb.ControlToken(), `{"action":"`+a+`","project_id":999,"group_id":999,"user":"alice","iid":1}`)
			if r.status != http.StatusNotFound {
				t.Fatalf("%d %s, want 404", r.status, r.body)
			}
		})
	}
	if r := do(t, nil, http.MethodPost, sb.URL()+"/-/sandbox/activity", sb.ControlToken(), `{"action":"fly"}`); r.status != http.StatusBadRequest {
		t.Fatalf("an unknown action: %d, want 400", r.status)
	}
}
