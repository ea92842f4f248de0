package web

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// safeNext keeps a post-sign-in destination only when a browser would
// resolve it to a path of this site: it must be an absolute path that
// parses as a URL with neither scheme nor host, and hold no control or
// space characters, no backslash, no encoded slash or backslash and
// nothing but ASCII (browsers drop tabs and newlines, turn \ into / and
// map some unicode to ASCII before resolving, which turns "/\t/evil" or
// "/\\evil" into "//evil", another site). Anything else is "", and the
// caller goes to its default page. A path to /signin is dropped too.
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || !utf8.ValidString(next) {
		return ""
	}
	for _, r := range next {
		if r > unicode.MaxASCII || r <= ' ' || r == 0x7f || r == '\\' {
			return ""
		}
	}
	if len(next) > 1 && (next[1] == '/') {
		return ""
	}
	// Encoded separators and controls are refused in the path, where a
	// server or browser that decodes them would see another origin; the
	// query and fragment may carry them.
	pathPart, _, _ := strings.Cut(next, "?")
	pathPart, _, _ = strings.Cut(pathPart, "#")
	lower := strings.ToLower(pathPart)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") || strings.Contains(lower, "%09") ||
		strings.Contains(lower, "%0a") || strings.Contains(lower, "%0d") || strings.Contains(lower, "%00") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") {
		return ""
	}
	if u.Path == "/signin" || strings.HasPrefix(u.Path, "/signin/") {
		return ""
	}
	return next
}
