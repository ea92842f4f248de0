package integrations

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/jobs"
	"github.com/labsync/labsync/internal/store"
)

// audit writes an audit entry about an integration; detail must hold no
// secret. Failures are logged: the action itself already happened.
func (s *Service) audit(ctx context.Context, orgID int64, userID *int64, actor, action string, integrationID int64, detail map[string]any) {
	b, _ := json.Marshal(detail)
	target := ""
	if integrationID != 0 {
		target = fmt.Sprintf("integration:%d", integrationID)
	}
	if err := s.st.Audit(ctx, store.AuditEntry{OrgID: orgID, ActorUserID: userID, Actor: actor, Action: action, Target: target, Detail: b}); err != nil {
		s.log.Warn("unable to write the audit log", "action", action, "err", err)
	}
}

func (s *Service) updateGauge(v View) {
	if v.Token == nil || v.Token.DaysLeft == nil || v.Token.AutoRefresh {
		return
	}
	s.daysToExpiry.WithLabelValues(fmt.Sprint(v.ID)).Set(float64(*v.Token.DaysLeft))
}

// CheckExpiry looks at every access token with an expiry date: it sets the
// labsync_token_days_to_expiry gauge, writes each warning threshold (30, 7
// and 1 days before) to the organisation's audit log once, and marks an
// integration whose token has expired "needs a new token". It returns how
// many warnings it wrote. The daily job runs it; tests call it directly
// with the service's clock moved.
func (s *Service) CheckExpiry(ctx context.Context) (int, error) {
	creds, err := s.st.Credentials(ctx, store.CredentialAccessToken)
	if err != nil {
		return 0, err
	}
	now := s.clock()
	s.daysToExpiry.Reset()
	warned := 0
	for _, c := range creds {
		if c.ExpiresAt == nil {
			continue
		}
		exp := *c.ExpiresAt
		d := daysLeft(exp, now)
		s.daysToExpiry.WithLabelValues(fmt.Sprint(c.IntegrationID)).Set(float64(d))
		th := thresholdFor(exp, now, d)
		date := exp.UTC().Format(time.DateOnly)
		switch {
		case th == -1:
			reason := fmt.Sprintf("the access token expired on %s", date)
			changed, err := s.st.SetIntegrationStatusIf(ctx, c.OrgID, c.IntegrationID, store.StatusNeedsNewToken, reason, store.StatusActive, store.StatusUnreachable)
			if err != nil {
				return warned, err
			}
			if changed {
				s.forget(c.IntegrationID)
				s.audit(ctx, c.OrgID, nil, "system", "integration.token_expired", c.IntegrationID, map[string]any{"expires_at": date})
			}
		case th > 0 && (c.ExpiryWarnedDays == 0 || th < c.ExpiryWarnedDays):
			s.audit(ctx, c.OrgID, nil, "system", "integration.token_expiry_warning", c.IntegrationID,
				map[string]any{"threshold_days": th, "days_left": d, "expires_at": date})
			if err := s.st.SetExpiryWarned(ctx, c.OrgID, c.ID, th); err != nil {
				return warned, err
			}
			s.log.Warn("an integration's access token expires soon", "integration", c.IntegrationID, "days_left", d, "expires_at", date)
			warned++
		}
	}
	if n, err := s.st.DeleteExpiredOAuthStates(ctx); err == nil && n > 0 {
		s.log.Debug("deleted expired OAuth states", "count", n)
	}
	return warned, nil
}

// RecheckVersions reads the version of every usable integration's GitLab
// again and records it (and the capabilities derived from it). A GitLab
// that cannot be reached is marked "unreachable" with the reason, and
// "active" again once it answers. It returns how many were checked.
func (s *Service) RecheckVersions(ctx context.Context) (int, error) {
	list, err := s.st.AllIntegrations(ctx, "")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, i := range list {
		if i.Status != store.StatusActive && i.Status != store.StatusUnreachable {
			continue
		}
		if err := s.RecheckVersion(ctx, i.OrgID, i.ID); err != nil {
			s.log.Warn("version check failed", "integration", i.ID, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// RecheckVersion reads one integration's GitLab version again.
func (s *Service) RecheckVersion(ctx context.Context, orgID, integrationID int64) error {
	i, err := s.st.Integration(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	c, err := s.Client(ctx, orgID, integrationID)
	if err != nil {
		return err
	}
	v, err := s.inspect(ctx, c)
	if err != nil {
		ae := gitlab.ClassifyError(err)
		if !ae.IsTokenProblem() {
			if changed, _ := s.st.SetIntegrationStatusIf(ctx, orgID, integrationID, store.StatusUnreachable, ae.Error(), store.StatusActive); changed {
				s.audit(ctx, orgID, nil, "system", "integration.unreachable", integrationID, map[string]any{"kind": ae.Kind, "reason": ae.Error()})
			}
		}
		return ae
	}
	if err := s.st.SetIntegrationVersion(ctx, orgID, integrationID, v); err != nil {
		return err
	}
	if i.Status == store.StatusUnreachable {
		_, _ = s.st.SetIntegrationStatusIf(ctx, orgID, integrationID, store.StatusActive, "", store.StatusUnreachable)
	}
	if i.GitLabVersion != v.Version {
		s.audit(ctx, orgID, nil, "system", "integration.version_changed", integrationID, map[string]any{"from": i.GitLabVersion, "to": v.Version})
	}
	return nil
}

// ExpiryCheckArgs is the daily job that runs CheckExpiry.
type ExpiryCheckArgs struct{}

// Kind names the job in River.
func (ExpiryCheckArgs) Kind() string { return "integrations_token_expiry" }

// VersionCheckArgs is the daily job that runs RecheckVersions.
type VersionCheckArgs struct{}

// Kind names the job in River.
func (VersionCheckArgs) Kind() string { return "integrations_version_check" }

type expiryWorker struct {
	river.WorkerDefaults[ExpiryCheckArgs]
	s *Service
}

func (w *expiryWorker) Work(ctx context.Context, _ *river.Job[ExpiryCheckArgs]) error {
	_, err := w.s.CheckExpiry(ctx)
	return err
}

type versionWorker struct {
	river.WorkerDefaults[VersionCheckArgs]
	s *Service
}

func (w *versionWorker) Work(ctx context.Context, _ *river.Job[VersionCheckArgs]) error {
	_, err := w.s.RecheckVersions(ctx)
	return err
}

// RegisterJobs adds the daily expiry and version checks to the runner given
// to New (the elected leader schedules them, so they run once across
// replicas, and once at start). Call it before the runner starts.
func (s *Service) RegisterJobs() {
	if s.runner == nil {
		return
	}
	jobs.Add(s.runner, &expiryWorker{s: s})
	jobs.Add(s.runner, &versionWorker{s: s})
	daily := river.PeriodicInterval(24 * time.Hour)
	s.runner.AddPeriodic(river.NewPeriodicJob(daily, func() (river.JobArgs, *river.InsertOpts) { return ExpiryCheckArgs{}, nil },
		&river.PeriodicJobOpts{ID: "integrations_token_expiry", RunOnStart: true}))
	s.runner.AddPeriodic(river.NewPeriodicJob(daily, func() (river.JobArgs, *river.InsertOpts) { return VersionCheckArgs{}, nil },
		&river.PeriodicJobOpts{ID: "integrations_version_check", RunOnStart: true}))
	s.registerPurgeJobs()
}
