package web

import (
	"net/url"
	"strings"
	"testing"
)

// browserResolve resolves next against base the way browsers' URL parsers
// (WHATWG) do before they follow a Location: tabs and newlines are
// dropped, leading and trailing C0 controls and spaces are trimmed, and a
// backslash counts as a slash in special schemes.
func browserResolve(t testing.TB, base, next string) *url.URL {
	t.Helper()
	s := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		if r == '\\' {
			return '/'
		}
		return r
	}, next)
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	b, _ := url.Parse(base)
	ref, err := url.Parse(s)
	if err != nil {
		return nil
	}
	return b.ResolveReference(ref)
}

// openRedirects are known payloads that browsers take off-site.
var openRedirects = []string{
	"/%09/example.com",
	"/\t/example.com",
	"/\n/example.com",
	"/\r\n/example.com",
	"//example.com",
	"///example.com",
	"/\\example.com",
	"/\\/example.com",
	"\\/\\/example.com",
	"\\\\example.com",
	"/%2f%2fexample.com",
	"/%2F/example.com",
	"/%5cexample.com",
	"/%5C%5Cexample.com",
	"https://example.com",
	"http:example.com",
	"javascript:alert(1)",
	"/ /example.com",
	" //example.com",
	"/\u3002example.com",
	"/\uff0f\uff0fexample.com",
	"/\u2215\u2215example.com",
	"／/example.com",
	"/\x00/example.com",
	"/%00/example.com",
	"example.com",
	"/signin",
	"/signin?next=//example.com",
}

func TestKnownOpenRedirectPayloadsStayOnSite(t *testing.T) {
	for _, payload := range openRedirects {
		t.Run(strings.ToValidUTF8(payload, "?"), func(t *testing.T) {
			got := safeNext(payload)
			if got != "" {
				t.Fatalf("safeNext(%q) = %q, want it refused", payload, got)
			}
		})
	}
}

func TestOrdinaryPathsOfThisSiteAreKeptAsTheyAre(t *testing.T) {
	for _, p := range []string{"/", "/connectors", "/integrations/3/projects?search=a%20b&page=2", "/data/issues?state=opened#top", "/integrations/3/projects?search=group%2Fproject"} {
		t.Run(p, func(t *testing.T) {
			if got := safeNext(p); got != p {
				t.Fatalf("safeNext(%q) = %q", p, got)
			}
		})
	}
}

func FuzzSafeNextNeverLeavesTheSite(f *testing.F) {
	for _, p := range openRedirects {
		f.Add(p)
	}
	f.Add("/connectors")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "" {
			return
		}
		if got != next {
			t.Fatalf("safeNext(%q) changed it to %q", next, got)
		}
		u := browserResolve(t, "https://labsync.example/base/", got)
		if u == nil || u.Scheme != "https" || u.Host != "labsync.example" || u.User != nil {
			t.Fatalf("safeNext(%q) kept a destination a browser resolves to %v", next, u)
		}
	})
}
