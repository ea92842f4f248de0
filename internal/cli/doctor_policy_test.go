package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// doctor diagnoses as serve connects: a GitLab on this machine is refused
// unless loopback is allowed, by flag or by LABSYNC_ALLOW_LOOPBACK_GITLAB.
func TestDoctorAppliesTheServicesLoopbackPolicy(t *testing.T) {
	gl := httptest.NewServer(http.NotFoundHandler())
	defer gl.Close()
	cases := []struct {
		name    string
		env     string
		args    []string
		refused bool
	}{
		{"neither flag nor variable", "", nil, true},
		{"the variable", "true", nil, false},
		{"the flag", "", []string{"--allow-loopback-gitlab"}, false},
		{"the flag set false wins over the variable", "true", []string{"--allow-loopback-gitlab=false"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			isolate(t)
			t.Setenv("LABSYNC_ALLOW_LOOPBACK_GITLAB", c.env)
			t.Setenv("LABSYNC_GITLAB_PROXY", "none")
			args := append([]string{"doctor", "--url", gl.URL, "--timeout", "5s"}, c.args...)
			_, out, errOut := run(t, context.Background(), args...)
			refused := strings.Contains(strings.ToLower(out+errOut), "loopback")
			if refused != c.refused {
				t.Fatalf("loopback refused: %v, want %v\n%s%s", refused, c.refused, out, errOut)
			}
		})
	}
}
