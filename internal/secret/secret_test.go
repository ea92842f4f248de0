package secret_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/secret"
)

const value = "glpat-s3cr3t-VALUE-42"

// Holders that a careless caller might print or log.
type (
	exported struct {
		Name  string
		Token secret.Secret
	}
	unexported struct {
		name  string
		token secret.Secret
	}
	withPointer struct {
		Token *secret.Secret
	}
)

func assertNoLeak(t *testing.T, out string) {
	t.Helper()
	if strings.Contains(out, value) || strings.Contains(out, "s3cr3t") {
		t.Fatalf("output leaks the secret: %s", out)
	}
	for _, enc := range []string{fmt.Sprintf("%x", value), fmt.Sprintf("%X", value)} {
		if strings.Contains(out, enc) {
			t.Fatalf("output leaks the secret in hex: %s", out)
		}
	}
}

func TestFmtDoesNotLeak(t *testing.T) {
	s := secret.New(value)
	args := map[string]any{
		"value":      s,
		"pointer":    &s,
		"exported":   exported{Name: "n", Token: s},
		"unexported": unexported{name: "n", token: s},
		"ptrField":   withPointer{Token: &s},
		"slice":      []secret.Secret{s, s},
		"map":        map[string]secret.Secret{"k": s},
		"any":        []any{s},
	}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%-20v", "%T"}
	for name, arg := range args {
		for _, verb := range verbs {
			t.Run(name+"/"+verb, func(t *testing.T) {
				assertNoLeak(t, fmt.Sprintf(verb, arg))
			})
		}
	}
	t.Run("value shows redacted", func(t *testing.T) {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			if got := fmt.Sprintf(verb, s); got != secret.Redacted {
				t.Errorf("Sprintf(%q) = %q, want %q", verb, got, secret.Redacted)
			}
		}
		if got := fmt.Sprint(s); got != secret.Redacted {
			t.Errorf("Sprint = %q", got)
		}
		if got := fmt.Sprintln(s); got != secret.Redacted+"\n" {
			t.Errorf("Sprintln = %q", got)
		}
	})
}

func TestErrorsDoNotLeak(t *testing.T) {
	s := secret.New(value)
	base := errors.New("gitlab: 401")
	cases := map[string]error{
		"%v":          fmt.Errorf("refresh with %v: %w", s, base),
		"%+v":         fmt.Errorf("refresh with %+v: %w", exported{Token: s}, base),
		"%#v":         fmt.Errorf("refresh with %#v: %w", unexported{token: s}, base),
		"%s":          fmt.Errorf("refresh with %s: %w", s, base),
		"%q":          fmt.Errorf("refresh with %q: %w", s, base),
		"wrapped %v":  fmt.Errorf("outer: %v", fmt.Errorf("inner %v", s)),
		"wrapped %+v": fmt.Errorf("outer: %+v", fmt.Errorf("inner %w", fmt.Errorf("%v", &s))),
	}
	for name, err := range cases {
		t.Run(name, func(t *testing.T) {
			assertNoLeak(t, err.Error())
			assertNoLeak(t, fmt.Sprintf("%+v", err))
		})
	}
}

func TestSlogDoesNotLeak(t *testing.T) {
	s := secret.New(value)
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	}
	logs := map[string]func(*slog.Logger){
		"attr":       func(l *slog.Logger) { l.Info("m", "token", s) },
		"pointer":    func(l *slog.Logger) { l.Info("m", "token", &s) },
		"slog.Any":   func(l *slog.Logger) { l.Info("m", slog.Any("token", s)) },
		"exported":   func(l *slog.Logger) { l.Info("m", "cred", exported{Name: "n", Token: s}) },
		"unexported": func(l *slog.Logger) { l.Info("m", "cred", unexported{name: "n", token: s}) },
		"ptrField":   func(l *slog.Logger) { l.Info("m", "cred", withPointer{Token: &s}) },
		"group":      func(l *slog.Logger) { l.Info("m", slog.Group("g", "token", s)) },
		"with":       func(l *slog.Logger) { l.With("token", s).Info("m") },
		"error":      func(l *slog.Logger) { l.Error("m", "err", fmt.Errorf("with %v", s)) },
		"message":    func(l *slog.Logger) { l.Info(fmt.Sprint("token ", s)) },
	}
	for hname, newHandler := range handlers {
		for lname, log := range logs {
			t.Run(hname+"/"+lname, func(t *testing.T) {
				var buf bytes.Buffer
				log(slog.New(newHandler(&buf)))
				assertNoLeak(t, buf.String())
			})
		}
	}
	t.Run("json shows redacted", func(t *testing.T) {
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "token", s)
		if !strings.Contains(buf.String(), `"token":"[redacted]"`) {
			t.Errorf("log line = %s", buf.String())
		}
	})
}

func TestJSONDoesNotLeak(t *testing.T) {
	s := secret.New(value)
	cases := map[string]any{
		"value":      s,
		"pointer":    &s,
		"struct":     exported{Name: "n", Token: s},
		"ptrField":   withPointer{Token: &s},
		"map value":  map[string]secret.Secret{"k": s},
		"map key":    map[secret.Secret]int{s: 1},
		"slice":      []secret.Secret{s},
		"unexported": unexported{name: "n", token: s},
	}
	for name, v := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			assertNoLeak(t, string(b))
		})
	}
	t.Run("text", func(t *testing.T) {
		b, err := s.MarshalText()
		if err != nil || string(b) != secret.Redacted {
			t.Fatalf("MarshalText = %q, %v", b, err)
		}
	})
}

func TestUnmarshalJSON(t *testing.T) {
	type body struct {
		ClientSecret secret.Secret `json:"client_secret"`
	}
	cases := []struct {
		name    string
		in      string
		want    string
		wantErr bool
	}{
		{name: "string", in: `{"client_secret":"` + value + `"}`, want: value},
		{name: "escaped", in: `{"client_secret":"a\"b\u00e9"}`, want: "a\"bé"},
		{name: "empty", in: `{"client_secret":""}`, want: ""},
		{name: "null", in: `{"client_secret":null}`, want: ""},
		{name: "absent", in: `{}`, want: ""},
		{name: "number", in: `{"client_secret":4242}`, wantErr: true},
		{name: "object", in: `{"client_secret":{"v":"` + value + `"}}`, wantErr: true},
		{name: "array", in: `{"client_secret":["` + value + `"]}`, wantErr: true},
		{name: "bool", in: `{"client_secret":true}`, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var b body
			err := json.Unmarshal([]byte(c.in), &b)
			if c.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				assertNoLeak(t, err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := b.ClientSecret.Reveal(); got != c.want {
				t.Fatalf("Reveal = %q, want %q", got, c.want)
			}
			if b.ClientSecret.IsZero() != (c.want == "") {
				t.Fatalf("IsZero = %v", b.ClientSecret.IsZero())
			}
		})
	}
}

func TestRevealIsZeroEqual(t *testing.T) {
	cases := []struct {
		name string
		s    secret.Secret
		want string
	}{
		{name: "zero", s: secret.Secret{}, want: ""},
		{name: "new empty", s: secret.New(""), want: ""},
		{name: "value", s: secret.New(value), want: value},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.s.Reveal(); got != c.want {
				t.Errorf("Reveal = %q, want %q", got, c.want)
			}
			if got := c.s.IsZero(); got != (c.want == "") {
				t.Errorf("IsZero = %v", got)
			}
			if !c.s.Equal(secret.New(c.want)) {
				t.Error("Equal to a Secret with the same value = false")
			}
			if c.s.Equal(secret.New(c.want + "x")) {
				t.Error("Equal to a different value = true")
			}
		})
	}
	if secret.New("") != (secret.Secret{}) {
		t.Error("New(\"\") is not the zero Secret")
	}
}
