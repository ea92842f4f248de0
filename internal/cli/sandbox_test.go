package cli

import (
	"context"
	"strings"
	"testing"
)

func TestSandboxRegistersLabsyncsCallbackAtItsPublicURL(t *testing.T) {
	const cb = "/api/v1/connectors/gitlab/callback"
	cases := []struct {
		name      string
		env       map[string]string
		args      []string
		redirects []string
	}{
		{"nothing given: labsync's default address", nil, nil, []string{"http://127.0.0.1:8787" + cb}},
		{"LABSYNC_PUBLIC_URL", map[string]string{"LABSYNC_PUBLIC_URL": "https://labsync.example.com/", "LABSYNC_ADDR": "127.0.0.1:9091"}, nil,
			[]string{"https://labsync.example.com" + cb}},
		{"LABSYNC_ADDR", map[string]string{"LABSYNC_ADDR": "127.0.0.1:9090"}, nil, []string{"http://127.0.0.1:9090" + cb}},
		{"--labsync-url wins over the environment", map[string]string{"LABSYNC_PUBLIC_URL": "https://other.example.com"},
			[]string{"--labsync-url", "http://127.0.0.1:7000"}, []string{"http://127.0.0.1:7000" + cb}},
		{"--redirect-uri, repeated", nil, []string{"--redirect-uri", "http://127.0.0.1:1/a", "--redirect-uri", "https://x.example.com/b"},
			[]string{"http://127.0.0.1:1/a", "https://x.example.com/b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			// A cancelled context: the sandbox starts, prints and stops.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			args := append([]string{"sandbox", "--addr", "127.0.0.1:0", "--projects", "1", "--groups", "0"}, tc.args...)
			code, out, errOut := run(t, ctx, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got []string
			for line := range strings.SplitSeq(out, "\n") {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "OAuth redirect:"); ok {
					got = append(got, strings.TrimSpace(v))
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.redirects, " ") {
				t.Fatalf("printed redirects %q, want %q\n%s", got, tc.redirects, out)
			}
			if !strings.Contains(out, "read_repository") {
				t.Errorf("the printed scopes lack read_repository:\n%s", out)
			}
		})
	}
	t.Run("a redirect URI that is not an absolute URL is refused", func(t *testing.T) {
		isolate(t)
		code, _, errOut := run(t, context.Background(), "sandbox", "--addr", "127.0.0.1:0", "--redirect-uri", "/callback")
		if code == 0 || !strings.Contains(errOut, "--redirect-uri") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
}
