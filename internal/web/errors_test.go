package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/problem"
)

func TestEveryProblemKindIsShownAsAPageAndOnlyInternalOnesAreLogged(t *testing.T) {
	for _, k := range problem.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			var logged bytes.Buffer
			u := &UI{log: slog.New(slog.NewTextHandler(&logged, nil)), pages: parsePages()}
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodGet, "/integrations/1", nil)
			u.serveError(w, r, &problem.Error{Kind: k, Code: "x", Message: "the words for " + k.String(), Remedy: "what to do"})
			body := w.Body.String()
			if k == problem.Internal {
				if w.Code != http.StatusInternalServerError || strings.Contains(body, "the words for") || logged.Len() == 0 {
					t.Fatalf("internal problem: status %d, logged %q, body shows details: %v", w.Code, logged.String(), strings.Contains(body, "the words for"))
				}
				return
			}
			if w.Code == http.StatusInternalServerError || logged.Len() > 0 {
				t.Fatalf("kind %v shown with status %d, logged %q", k, w.Code, logged.String())
			}
			if !strings.Contains(body, "the words for "+k.String()) || !strings.Contains(body, "what to do") {
				t.Fatalf("kind %v: the page does not show the message and remedy:\n%s", k, body)
			}
		})
	}
}
