package integrations

import (
	"fmt"
	"net/http"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
)

// Error is a refusal the user can act on: what went wrong, in words, and
// what to do. It never holds a secret. The API maps Status to the HTTP
// status and shows the diagnosis when there is one.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Remedy  string `json:"remedy,omitempty"`
	// Field names the request field at fault, when one is.
	Field string `json:"field,omitempty"`
	// Kind classifies a GitLab-side failure (see gitlab.Kind).
	Kind gitlab.Kind `json:"kind,omitempty"`
	// Diagnosis is the connection check that refused the input, if any.
	Diagnosis *diagnose.Report `json:"-"`
}

func (e *Error) Error() string { return e.Message }

// Codes of Error.
const (
	CodeInvalid           = "invalid"
	CodeCheckFailed       = "connection_check_failed"
	CodeStateMissing      = "oauth_state_missing"
	CodeStateUnknown      = "oauth_state_unknown"
	CodeStateExpired      = "oauth_state_expired"
	CodeStateForeign      = "oauth_state_foreign"
	CodeAuthorization     = "oauth_authorization_failed"
	CodeNoOAuthApp        = "oauth_app_missing"
	CodeUnusable          = "integration_unusable"
	CodeNeedsScope        = "missing_scope"
	CodeGitLabUnreachable = "gitlab_unreachable"
)

func invalid(field, remedy, format string, args ...any) *Error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: CodeInvalid, Field: field, Remedy: remedy, Message: fmt.Sprintf(format, args...)}
}

// fromAPIError turns a classified GitLab failure into an Error.
func fromAPIError(ae *gitlab.APIError, what string) *Error {
	msg := what + ": " + ae.Error()
	if (ae.Kind == gitlab.KindTokenExpired || ae.Kind == gitlab.KindTokenRevoked) && ae.GitLabMessage != "" {
		msg += fmt.Sprintf(" (GitLab says: %q)", ae.GitLabMessage)
	}
	return &Error{Status: http.StatusBadGateway, Code: CodeGitLabUnreachable, Kind: ae.Kind, Message: msg, Remedy: ae.Remedy()}
}

// checkFailed turns a failed diagnosis into an Error naming its first
// failed step.
func checkFailed(rep diagnose.Report, what string) *Error {
	e := &Error{Status: http.StatusUnprocessableEntity, Code: CodeCheckFailed, Diagnosis: &rep,
		Message: what + ": the connection check failed"}
	for _, s := range rep.Steps {
		if s.Status == diagnose.Fail {
			e.Message = fmt.Sprintf("%s: %s — %s", what, s.Title, s.Seen)
			e.Remedy, e.Kind = s.Remedy, s.Kind
			if s.ID == diagnose.StepURL {
				e.Field = "base_url"
			}
			if s.ID == diagnose.StepToken {
				e.Field = "token"
			}
			break
		}
	}
	return e
}
