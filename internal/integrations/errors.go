package integrations

import (
	"errors"
	"fmt"

	"github.com/labsync/labsync/internal/diagnose"
	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/problem"
)

// Refusals the user can act on are *problem.Error values with one of these
// codes (and "conflict" for an alias in use). A GitLab-side failure carries
// its gitlab.Kind as Reason; a failed connection check carries its
// diagnose.Report as Diagnosis.
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

func invalid(field, remedy, format string, args ...any) *problem.Error {
	return &problem.Error{Kind: problem.Invalid, Code: CodeInvalid, Field: field, Remedy: remedy, Message: fmt.Sprintf(format, args...)}
}

// fromAPIError turns a classified GitLab failure into a problem.
func fromAPIError(ae *gitlab.APIError, what string) *problem.Error {
	msg := what + ": " + ae.Error()
	if (ae.Kind == gitlab.KindTokenExpired || ae.Kind == gitlab.KindTokenRevoked) && ae.GitLabMessage != "" {
		msg += fmt.Sprintf(" (GitLab says: %q)", ae.GitLabMessage)
	}
	return &problem.Error{Kind: problem.Upstream, Code: CodeGitLabUnreachable, Reason: string(ae.Kind), Message: msg, Remedy: ae.Remedy()}
}

// checkFailed turns a failed diagnosis into a problem naming its first
// failed step.
func checkFailed(rep diagnose.Report, what string) *problem.Error {
	e := &problem.Error{Kind: problem.Invalid, Code: CodeCheckFailed, Diagnosis: &rep,
		Message: what + ": the connection check failed"}
	for _, s := range rep.Steps {
		if s.Status == diagnose.Fail {
			e.Message = fmt.Sprintf("%s: %s — %s", what, s.Title, s.Seen)
			e.Remedy, e.Reason = s.Remedy, string(s.Kind)
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

// isUnusable reports whether err says the integration cannot be used.
func isUnusable(err error) bool {
	var p *problem.Error
	return errors.As(err, &p) && p.Code == CodeUnusable
}
