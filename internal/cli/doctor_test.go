package cli

import (
	"context"
	"strings"
	"testing"
)

// Proxy credentials belong in the environment: a flag carrying them is
// refused (it would stay in shell history and the process list), and no
// refusal repeats the password.
func TestProxyCredentialsAreRefusedOnTheCommandLineAndNeverEchoed(t *testing.T) {
	const pw = "Pr0xy-Secret-9"
	cases := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		mention string
	}{
		{"doctor flag with credentials", nil,
			[]string{"doctor", "--url", "https://gitlab.example.com", "--gitlab-proxy", "http://svc:" + pw + "@proxy:3128"}, 1, "LABSYNC_GITLAB_PROXY"},
		{"serve flag with credentials", nil,
			[]string{"serve", "--gitlab-proxy", "http://svc:" + pw + "@proxy:3128"}, 2, "LABSYNC_GITLAB_PROXY"},
		{"serve with a SOCKS proxy in the variable", map[string]string{"LABSYNC_GITLAB_PROXY": "socks5://svc:" + pw + "@proxy:1080"},
			[]string{"serve"}, 2, "LABSYNC_GITLAB_PROXY"},
		{"doctor with a bad HTTPS_PROXY", map[string]string{"HTTPS_PROXY": "http://svc:" + pw + "@proxy:0"},
			[]string{"doctor", "--url", "https://gitlab.example.com"}, 1, "HTTPS_PROXY"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isolate(t)
			for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"} {
				t.Setenv(k, "")
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			code, out, errOut := run(t, ctx, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.mention) {
				t.Fatalf("exit %d (want %d), stderr %q: want it to name %s", code, tc.code, errOut, tc.mention)
			}
			if strings.Contains(out+errOut, pw) {
				t.Fatalf("the proxy password was echoed: %q %q", out, errOut)
			}
		})
	}
}
