package gitserve

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
)

// CredentialHelper answers git's credential-helper protocol (gitcredentials
// (7), "git credential") for labsync: on "get" it reads the attributes git
// sends (protocol, host, path, …) up to a blank line and answers
// username=labsync and password=<token>; "store" and "erase" are read and
// ignored, since the token comes from the environment or a file, not from
// git.
//
// It answers only for https, or http to a loopback host, and, when host is
// not empty, only for that host (host[:port]), so a helper configured too
// broadly does not hand the labsync token to another server. When it does not
// answer it prints nothing, and git goes on to its next helper or prompt.
func CredentialHelper(action string, in io.Reader, out io.Writer, token, host string) error {
	attrs := map[string]string{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return fmt.Errorf("git-credential: a line without '=' from git")
		}
		attrs[k] = v
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("git-credential: unable to read git's request: %w", err)
	}
	switch action {
	case "store", "erase":
		return nil
	case "get":
	default:
		return fmt.Errorf("git-credential: unknown action %q (git sends get, store or erase)", action)
	}
	if token == "" {
		return errors.New("git-credential: no labsync API token: set LABSYNC_API_TOKEN or --token-file")
	}
	if host != "" && !strings.EqualFold(attrs["host"], host) {
		return nil
	}
	switch attrs["protocol"] {
	case "https":
	case "http":
		h := attrs["host"]
		if hh, _, err := net.SplitHostPort(h); err == nil {
			h = hh
		}
		if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil // never send the token in clear over a network
		}
	default:
		return nil
	}
	if strings.ContainsAny(token, "\n\x00") {
		return errors.New("git-credential: the token holds a line break")
	}
	_, err := fmt.Fprintf(out, "username=labsync\npassword=%s\n", token)
	return err
}
