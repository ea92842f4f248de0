package gitlab

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestNormalizeBaseURL(t *testing.T) {
	good := []struct {
		name, in, want string
		gitlabCom      bool
	}{
		{"plain", "https://gitlab.example.com", "https://gitlab.example.com", false},
		{"trailing slash", "https://gitlab.example.com/", "https://gitlab.example.com", false},
		{"api v4 suffix", "https://gitlab.example.com/api/v4", "https://gitlab.example.com", false},
		{"api v4 suffix with slash", "https://gitlab.example.com/api/v4/", "https://gitlab.example.com", false},
		{"subpath kept", "https://x.corp/gitlab", "https://x.corp/gitlab", false},
		{"subpath with api", "https://x.corp/gitlab/api/v4/", "https://x.corp/gitlab", false},
		{"host lower-cased", "HTTPS://GitLab.Example.COM", "https://gitlab.example.com", false},
		{"default https port dropped", "https://gitlab.example.com:443/", "https://gitlab.example.com", false},
		{"other port kept", "https://gitlab.example.com:8443", "https://gitlab.example.com:8443", false},
		{"surrounding spaces", "  https://gitlab.example.com \n", "https://gitlab.example.com", false},
		{"gitlab.com", "https://gitlab.com/", "https://gitlab.com", true},
		{"http on localhost", "http://localhost:8929", "http://localhost:8929", false},
		{"http on 127.0.0.1", "http://127.0.0.1:3000/", "http://127.0.0.1:3000", false},
		{"http on 127.1.2.3", "http://127.1.2.3", "http://127.1.2.3", false},
		{"http on ::1", "http://[::1]:8080", "http://[::1]:8080", false},
		{"http default port dropped", "http://localhost:80", "http://localhost", false},
		{"ipv6 https", "https://[2001:db8::1]", "https://[2001:db8::1]", false},
		{"trailing dot in host", "https://gitlab.example.com.", "https://gitlab.example.com", false},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NormalizeBaseURL(tc.in)
			if err != nil {
				t.Fatalf("NormalizeBaseURL(%q): %v", tc.in, err)
			}
			if b.String() != tc.want {
				t.Errorf("got %q, want %q", b, tc.want)
			}
			if b.IsGitLabCom() != tc.gitlabCom {
				t.Errorf("IsGitLabCom = %v", b.IsGitLabCom())
			}
			if b.APIURL() != tc.want+"/api/v4" {
				t.Errorf("APIURL = %q", b.APIURL())
			}
		})
	}

	bad := []struct {
		name, in string
		want     URLProblem
		remedy   string // must appear in Remedy()
	}{
		{"empty", "  ", URLEmpty, "https://"},
		{"no scheme", "gitlab.example.com", URLMissingScheme, "add https:// in front: https://gitlab.example.com"},
		{"host and port without scheme", "gitlab.example.com:8443", URLMissingScheme, "https://gitlab.example.com:8443"},
		{"ssh clone address", "git@gitlab.example.com:group/project.git", URLSSHAddress, "https://gitlab.example.com"},
		{"ssh scheme", "ssh://git@gitlab.example.com/group/project.git", URLSSHAddress, "https://gitlab.example.com"},
		{"ftp", "ftp://gitlab.example.com", URLUnsupportedScheme, "https://"},
		{"http to a remote host", "http://gitlab.example.com", URLInsecureHTTP, "https://gitlab.example.com"},
		{"http to a private address", "http://10.0.0.5", URLInsecureHTTP, "https://10.0.0.5"},
		{"user and password", "https://root:hunter2@gitlab.example.com", URLUserInfo, "Remove the user name"},
		{"user only", "https://root@gitlab.example.com", URLUserInfo, "Remove the user name"},
		{"query", "https://gitlab.example.com/?private_token=abc", URLQuery, "Remove everything"},
		{"empty query", "https://gitlab.example.com/?", URLQuery, "Remove everything"},
		{"fragment", "https://gitlab.example.com/#top", URLFragment, "Remove everything"},
		{"no host", "https:///api/v4", URLNoHost, "host name"},
		{"port zero", "https://gitlab.example.com:0", URLBadPort, "port"},
		{"port too big", "https://gitlab.example.com:70000", URLBadPort, "port"},
		{"project page", "https://gitlab.example.com/group/project/-/merge_requests", URLPagePath, "https://gitlab.example.com"},
		{"sign-in page", "https://x.corp/gitlab/users/sign_in", URLPagePath, "https://x.corp/gitlab"},
		{"clone url", "https://gitlab.example.com/group/project.git", URLPagePath, "https://gitlab.example.com"},
		{"gitlab.com with a path", "https://gitlab.com/mygroup", URLPagePath, "https://gitlab.com"},
		{"encoded slash", "https://x.corp/git%2Flab", URLMalformed, "https://"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			b, err := NormalizeBaseURL(tc.in)
			var ue *URLError
			if !errors.As(err, &ue) {
				t.Fatalf("NormalizeBaseURL(%q) = %q, %v; want a *URLError", tc.in, b, err)
			}
			if ue.Problem != tc.want {
				t.Errorf("problem %q, want %q", ue.Problem, tc.want)
			}
			if !strings.Contains(strings.ToLower(ue.Remedy()), strings.ToLower(tc.remedy)) {
				t.Errorf("remedy %q does not mention %q", ue.Remedy(), tc.remedy)
			}
			if strings.Contains(ue.Error(), "hunter2") || strings.Contains(ue.Remedy(), "hunter2") {
				t.Errorf("the password leaked into %q / %q", ue.Error(), ue.Remedy())
			}
		})
	}
}

func TestBaseURLParts(t *testing.T) {
	b, err := NormalizeBaseURL("https://[2001:db8::1]:8443/gitlab")
	if err != nil {
		t.Fatal(err)
	}
	if b.Hostname() != "2001:db8::1" || b.Port() != "8443" || b.Path() != "/gitlab" || b.Scheme() != "https" {
		t.Errorf("parts: %q %q %q %q", b.Hostname(), b.Port(), b.Path(), b.Scheme())
	}
	var back BaseURL
	if err := back.UnmarshalText([]byte(b.String())); err != nil || back != b {
		t.Errorf("text round trip: %v %v", back, err)
	}
	d, _ := NormalizeBaseURL("https://gitlab.example.com")
	if d.Port() != "443" {
		t.Errorf("default port %q", d.Port())
	}
}

func TestPlainHTTPToAnotherHostNeedsTheInsecureOptInAndNeverReachesGitLabCom(t *testing.T) {
	cases := []struct {
		name, in     string
		optIn        bool
		want         string     // canonical URL when accepted
		problem      URLProblem // when refused
		remedy       string     // in the refusal's remedy
		wantInsecure bool
	}{
		{"loopback needs no opt-in", "http://127.0.0.1:8929", false, "http://127.0.0.1:8929", "", "", false},
		{"localhost needs no opt-in", "http://localhost:8929", false, "http://localhost:8929", "", "", false},
		{"a .localhost name that resolves to loopback needs no opt-in", "http://gitlab.localhost:8929", false, "http://gitlab.localhost:8929", "", "", false},
		{"a .localhost name that resolves elsewhere needs the opt-in", "http://evil.localhost:8929", false, "", URLInsecureHTTP, "https://evil.localhost:8929", false},
		{"a .localhost name that resolves to loopback and elsewhere needs the opt-in", "http://mixed.localhost", false, "", URLInsecureHTTP, "https://", false},
		{"a .localhost name that does not resolve needs the opt-in", "http://nowhere.localhost", false, "", URLInsecureHTTP, "https://", false},
		{"localhost mapped elsewhere is insecure with the opt-in", "http://evil.localhost:8929", true, "http://evil.localhost:8929", "", "", true},
		{"a remote host without the opt-in", "http://gitlab.corp.example", false, "", URLInsecureHTTP, "insecure-http opt-in", false},
		{"a private address without the opt-in", "http://10.0.0.5:8080", false, "", URLInsecureHTTP, "https://10.0.0.5:8080", false},
		{"a name that only ends in localhost", "http://evil-localhost.example", false, "", URLInsecureHTTP, "https://", false},
		{"a remote host with the opt-in", "http://gitlab.corp.example", true, "http://gitlab.corp.example", "", "", true},
		{"a private address with the opt-in", "http://10.0.0.5:8080/gitlab", true, "http://10.0.0.5:8080/gitlab", "", "", true},
		{"https stays secure with the opt-in", "https://gitlab.corp.example", true, "https://gitlab.corp.example", "", "", false},
		{"gitlab.com over http, even with the opt-in", "http://gitlab.com", true, "", URLHTTPGitLabCom, "https://gitlab.com", false},
		{"gitlab.com on another port over http", "http://gitlab.com:8080", true, "", URLHTTPGitLabCom, "https://gitlab.com", false},
		{"a gitlab.com subdomain over http", "http://www.gitlab.com", true, "", URLHTTPGitLabCom, "https://gitlab.com", false},
		{"gitlab.com over http without the opt-in", "http://GitLab.com/", false, "", URLHTTPGitLabCom, "https://gitlab.com", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := []URLOption{withLookup(fakeLookup)}
			if tc.optIn {
				opts = append(opts, AllowInsecureHTTP())
			}
			b, err := NormalizeBaseURL(tc.in, opts...)
			if tc.problem != "" {
				var ue *URLError
				if !errors.As(err, &ue) || ue.Problem != tc.problem {
					t.Fatalf("NormalizeBaseURL(%q) = %q, %v; want problem %q", tc.in, b, err, tc.problem)
				}
				if !strings.Contains(ue.Remedy(), tc.remedy) {
					t.Errorf("remedy %q does not mention %q", ue.Remedy(), tc.remedy)
				}
				return
			}
			if err != nil || b.String() != tc.want {
				t.Fatalf("NormalizeBaseURL(%q) = %q, %v; want %q", tc.in, b, err, tc.want)
			}
			if b.Insecure() != tc.wantInsecure {
				t.Errorf("Insecure() = %v, want %v", b.Insecure(), tc.wantInsecure)
			}
		})
	}
	// The text form never carries the opt-in: a stored insecure URL must be
	// parsed again with it.
	var b BaseURL
	if err := b.UnmarshalText([]byte("http://gitlab.corp.example")); err == nil {
		t.Fatal("UnmarshalText accepted plain http to a remote host")
	}
}

// fakeLookup stands for /etc/hosts and DNS in the .localhost cases.
func fakeLookup(_ context.Context, host string) ([]netip.Addr, error) {
	m := map[string][]string{
		"localhost":        {"127.0.0.1", "::1"},
		"gitlab.localhost": {"127.0.0.1"},
		"evil.localhost":   {"10.0.0.5"},
		"mixed.localhost":  {"127.0.0.1", "192.0.2.1"},
	}
	v, ok := m[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, a := range v {
		out = append(out, netip.MustParseAddr(a))
	}
	return out, nil
}
