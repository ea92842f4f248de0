package web

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/accounts"
	"github.com/labsync/labsync/internal/gitlab"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"signin", "password", "error", "connectors", "connect", "integration", "picker", "disconnect", "data",
	"members", "member_remove", "tokens", "audit", "credentials", "credentials_index"}

var funcs = template.FuncMap{
	"pct": func(done, known int64) int {
		if known <= 0 {
			return 0
		}
		return int(min(100, done*100/known))
	},
	"when": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			if v.IsZero() {
				return "never"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v == nil || v.IsZero() {
				return "never"
			}
			return v.UTC().Format("2006-01-02 15:04 UTC")
		}
		return ""
	},
	"join":        strings.Join,
	"storedWords": storedWords,
	"capWords":    func(s gitlab.CapabilityStatus) string { return capabilityWords[s] },
	"deref":       func(p *int64) int64 { return derefOr(p, 0) },
	"secs": func(p *float64) string {
		if p == nil {
			return ""
		}
		return (time.Duration(*p) * time.Second).String()
	},
	"add": func(a, b int) int { return a + b },
	"size": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		default:
			return fmt.Sprintf("%d KiB", (n+1023)/1024)
		}
	},
	"lag": func(secs float64) string {
		if secs <= 0 {
			return "up to date"
		}
		return (time.Duration(secs) * time.Second).String() + " behind"
	},
}

func derefOr(p *int64, d int64) int64 {
	if p == nil {
		return d
	}
	return *p
}

func parsePages() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		out[name] = template.Must(template.New("layout.html").Funcs(funcs).
			ParseFS(templateFS, "templates/layout.html", "templates/partial_*.html", "templates/"+name+".html"))
	}
	return out
}

// frame is what layout.html gets: the page's data under Page.
type frame struct {
	Title   string
	S       *accounts.Session
	CSRF    string
	Notice  string
	Section string
	Page    any
}

// notices are the fixed messages ?notice= may show (the picker says
// "connected" itself, with what labsync connected as).
var notices = map[string]string{
	"password":     "Your password was changed. Other browsers signed in as you were signed out.",
	"sync":         "The sync was queued; progress appears below.",
	"selection":    "Your selection was saved. It applies at the next sync.",
	"disconnected": "The integration was disconnected; below is what was destroyed.",
	"webhook":      "The webhook URL and secret were issued.",
	"role":         "The role was changed.",
	"removed":      "The member was removed; their API tokens here were revoked.",
	"revoked":      "The token was revoked; it no longer works.",
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	f := frame{Page: data, Notice: notices[r.URL.Query().Get("notice")], Title: titleOf(data), Section: section(r.URL.Path)}
	if s := sessionFrom(r.Context()); s != nil {
		f.S, f.CSRF = s, s.CSRF()
	}
	var buf bytes.Buffer
	if err := u.pages[name].Execute(&buf, f); err != nil {
		u.log.Error("template failed", "page", name, "err", err)
		http.Error(w, "The page could not be shown; the server log has the details.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func titleOf(data any) string {
	switch v := data.(type) {
	case interface{ PageTitle() string }:
		return v.PageTitle()
	case map[string]any:
		return fmt.Sprint(v["Title"])
	case signinView:
		return v.Title
	case passwordView:
		return v.Title
	}
	return "labsync"
}

func section(path string) string {
	switch {
	case strings.HasPrefix(path, "/data"):
		return "data"
	case strings.HasPrefix(path, "/metrics"):
		return "metrics"
	case strings.HasPrefix(path, "/account"):
		return "account"
	case strings.HasPrefix(path, "/members"):
		return "members"
	case strings.HasPrefix(path, "/tokens"):
		return "tokens"
	case strings.HasPrefix(path, "/audit"):
		return "audit"
	case path == "/credentials" || strings.HasSuffix(path, "/credentials"):
		return "credentials"
	}
	return "connectors"
}
