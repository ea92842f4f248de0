package syncer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/labsync/labsync/internal/store"
)

// Poll intervals: webhooks are the fast path; the poller is the safety net
// while they are healthy and the fast path while they are not.
const (
	// QuietPollEvery is how often an integration is polled while its
	// webhooks are quiet, never received, or recently missed changes.
	QuietPollEvery = time.Minute
	// HealthyPollEvery is how often it is polled while webhooks deliver.
	HealthyPollEvery = 15 * time.Minute
	// WebhooksQuietAfter is how long without a delivery before webhooks
	// count as quiet.
	WebhooksQuietAfter = 15 * time.Minute
	// missedChangesWindow is how long a poll that found undelivered
	// changes keeps the poller at QuietPollEvery.
	missedChangesWindow = time.Hour
	// SilentPassesPerPoll bounds how many silent projects one poll gives
	// their own pipeline and push passes (see SilentProjects).
	SilentPassesPerPoll = 10
)

// PollPlan says how often an integration is polled now, and why.
type PollPlan struct {
	Every      time.Duration `json:"-"`
	EverySecs  int           `json:"every_seconds"`
	Reason     string        `json:"reason"`
	LastPollAt *time.Time    `json:"last_poll_at,omitempty"`
	// MissedAt is when polling last found changes webhooks had not delivered.
	MissedAt *time.Time `json:"poll_found_changes_at,omitempty"`
}

// PollPlanFor decides the poll interval of in from its webhook health,
// integration-wide and per selected project: the integration is polled as
// often as its most stale project needs (a project whose webhook is
// missing or silent while the others deliver is polled every minute).
func (s *Service) PollPlanFor(ctx context.Context, in store.Integration) (PollPlan, error) {
	last, missed, err := s.st.PollTimes(ctx, in.OrgID, in.ID)
	if err != nil {
		return PollPlan{}, err
	}
	now := s.st.Now()
	p := PlanPoll(now, in.WebhookLastReceivedAt, missed)
	p.LastPollAt, p.MissedAt = last, missed
	if in.WebhookLastReceivedAt == nil || now.Sub(*in.WebhookLastReceivedAt) > WebhooksQuietAfter {
		p.Reason += noDeliveryNote
		return p, nil
	}
	ps, err := s.st.SelectedOrGoneProjects(ctx, in.OrgID, in.ID)
	if err != nil {
		return PollPlan{}, err
	}
	var stale []string
	for _, pr := range ps {
		if !pr.Selected {
			continue
		}
		if pp := PlanProjectPoll(now, pr); pp.Every == QuietPollEvery {
			stale = append(stale, pr.PathWithNamespace)
		}
	}
	if len(stale) > 0 {
		why := fmt.Sprintf("%d selected project(s) without a webhook delivery in the last %s while others deliver (%s): polling every minute",
			len(stale), WebhooksQuietAfter, strings.Join(stale[:min(3, len(stale))], ", "))
		if len(stale) > 3 {
			why = strings.Replace(why, "):", ", …):", 1)
		}
		why += fmt.Sprintf(", with their own pipeline and push passes (at most %d projects per poll, in turn)", SilentPassesPerPoll)
		if p.Every == QuietPollEvery {
			p.Reason += "; " + why
		} else {
			p.Every, p.Reason = QuietPollEvery, why
			p.EverySecs = int(p.Every / time.Second)
		}
	}
	return p, nil
}

// noDeliveryNote is what a poll plan adds while no webhook delivers for the
// integration at all: pushes and pipelines then come as before, not per
// project every minute.
const noDeliveryNote = "; pushes and pipelines are polled for projects whose last_activity_at moved (GitLab moves it at most hourly, " +
	"never for pipelines) and for 1/30 of the projects' pipelines per poll, not for every project every minute"

// SilentProjects picks, among the selected projects, those a poll at now
// gives their own pipeline and push passes (pipelines updated_after,
// events after: one request each while quiet), besides what the group
// and project listings bring. GitLab moves a project's last_activity_at
// only for changes that record an event, at most once an hour
// (Event::RESET_PROJECT_ACTIVITY_INTERVAL, one hour, app/models/event.rb:
// the same in every release checked, old and recent), and never for
// pipelines, so a project whose webhook is
// silent would otherwise get its pushes and pipelines only when that
// moves or the pipeline sweep reaches it.
//
// The rule: only while webhooks deliver for the integration (a delivery
// within WebhooksQuietAfter), and only for projects PlanProjectPoll puts at
// every minute (no delivery of their own within WebhooksQuietAfter, or a
// poll found changes their webhook missed). An integration with no working
// webhook at all gets none: every quiet poll would cost two requests per
// selected project, so it relies on activity and the pipeline sweep as
// before. At most SilentPassesPerPoll projects per poll (20 requests while
// quiet); when more are silent, consecutive minutes take the next ones in
// turn. Gone projects are never picked.
func SilentProjects(now time.Time, in store.Integration, selected []store.Project) []store.Project {
	if in.WebhookLastReceivedAt == nil || now.Sub(*in.WebhookLastReceivedAt) > WebhooksQuietAfter {
		return nil
	}
	var silent []store.Project
	for _, p := range selected {
		if p.Gone == "" && PlanProjectPoll(now, p).Every == QuietPollEvery {
			silent = append(silent, p)
		}
	}
	if len(silent) <= SilentPassesPerPoll {
		return silent
	}
	slices.SortFunc(silent, func(a, b store.Project) int { return int(a.ID - b.ID) })
	turns := (len(silent) + SilentPassesPerPoll - 1) / SilentPassesPerPoll
	from := int(now.Unix()/60%int64(turns)) * SilentPassesPerPoll
	return silent[from:min(from+SilentPassesPerPoll, len(silent))]
}

// PlanProjectPoll is the rule for one project while the integration's
// webhooks deliver: every minute when the project never had a webhook
// delivery, had none within WebhooksQuietAfter, or a poll found changes
// its webhook had not delivered in the last hour; otherwise every 15
// minutes. (A quiet project with a working webhook looks like a silent
// one; polling it every minute costs its own pipeline and push passes,
// two requests while quiet, for at most SilentPassesPerPoll projects per
// poll: see SilentProjects. Its merge requests and issues come through
// its group's endpoints anyway.)
func PlanProjectPoll(now time.Time, p store.Project) PollPlan {
	pp := PollPlan{Every: QuietPollEvery}
	switch {
	case p.LastWebhookAt == nil:
		pp.Reason = "no webhook delivery received for this project yet: polling every minute"
	case now.Sub(*p.LastWebhookAt) > WebhooksQuietAfter:
		pp.Reason = "no webhook delivery for this project since " + p.LastWebhookAt.UTC().Format(time.RFC3339) + ": polling every minute"
	case p.PollFoundChangesAt != nil && now.Sub(*p.PollFoundChangesAt) < missedChangesWindow:
		pp.Reason = "polling found changes this project's webhook had not delivered (at " + p.PollFoundChangesAt.UTC().Format(time.RFC3339) + "): polling every minute"
	default:
		pp.Every = HealthyPollEvery
		pp.Reason = "this project's webhook delivers: polling every 15 minutes as a safety net"
	}
	pp.EverySecs = int(pp.Every / time.Second)
	pp.LastPollAt, pp.MissedAt = p.LastPollAt, p.PollFoundChangesAt
	return pp
}

// ProjectFreshness is how fresh one project's data is, for the API and UI.
type ProjectFreshness struct {
	ProjectID     int64      `json:"project_id"`
	Path          string     `json:"path_with_namespace"`
	Selected      bool       `json:"selected"`
	LastWebhookAt *time.Time `json:"last_webhook_at,omitempty"`
	LastPollAt    *time.Time `json:"last_poll_at,omitempty"`
	// FreshAsOf is the time the project's data is known complete up to:
	// the start of the last poll that covered it, or its last webhook
	// delivery when that is later and its webhook is healthy.
	FreshAsOf *time.Time `json:"fresh_as_of,omitempty"`
	// Plan is how often the project is polled now, and why.
	Plan PollPlan `json:"poll_plan"`
	// CIEnabled is false for a project whose pipelines are skipped.
	CIEnabled bool `json:"ci_enabled"`
	Archived  bool `json:"archived"`
	// Gone and GoneReason say why a project is no longer synced.
	Gone         string     `json:"gone,omitempty"`
	GoneReason   string     `json:"gone_reason,omitempty"`
	GoneAt       *time.Time `json:"gone_at,omitempty"`
	DataPurgedAt *time.Time `json:"data_purged_at,omitempty"`
	// PreviousPath is the path before the last rename or transfer.
	PreviousPath  string     `json:"previous_path,omitempty"`
	PathChangedAt *time.Time `json:"path_changed_at,omitempty"`
	// MarkedForDeletion is true for a project GitLab marked for deletion
	// where deletion is delayed (gitlab.com; self-managed from 18.0): it
	// stays readable, archived, until GitLab deletes it, and is then gone.
	MarkedForDeletion bool `json:"marked_for_deletion,omitempty"`
}

// markedForDeletion recognises a project GitLab marked for deletion by
// what Projects::MarkForDeletionService does to it: archived, and its path
// suffixed with "-deletion_scheduled-<id>" (18.x, behind the feature flag
// rename_group_path_upon_deletion_scheduling, gitlab#526081) or
// "-deleted-<id>" (earlier releases). The marked_for_deletion_at field
// would say it directly, but the discovery cache does not keep it.
func markedForDeletion(p store.Project) bool {
	if !p.Archived {
		return false
	}
	id := fmt.Sprint(p.GitLabID)
	return strings.HasSuffix(p.PathWithNamespace, "-deletion_scheduled-"+id) || strings.HasSuffix(p.PathWithNamespace, "-deleted-"+id)
}

// ProjectFreshness lists, for org's integration, every selected or gone
// project with its last webhook delivery, last poll, how fresh its data
// is, its poll plan, and why it is no longer synced when it is gone.
func (s *Service) ProjectFreshness(ctx context.Context, orgID, integrationID int64) ([]ProjectFreshness, error) {
	ps, err := s.st.SelectedOrGoneProjects(ctx, orgID, integrationID)
	if err != nil {
		return nil, err
	}
	now := s.st.Now()
	out := make([]ProjectFreshness, 0, len(ps))
	for _, p := range ps {
		f := ProjectFreshness{ProjectID: p.GitLabID, Path: p.PathWithNamespace, Selected: p.Selected, LastWebhookAt: p.LastWebhookAt,
			LastPollAt: p.LastPollAt, FreshAsOf: p.FreshAsOf, Plan: PlanProjectPoll(now, p), CIEnabled: p.CIEnabled, Archived: p.Archived,
			Gone: p.Gone, GoneReason: p.GoneReason, GoneAt: p.GoneAt, DataPurgedAt: p.DataPurgedAt, PreviousPath: p.PreviousPath,
			PathChangedAt: p.PathChangedAt, MarkedForDeletion: markedForDeletion(p)}
		if f.Plan.Every == HealthyPollEvery && p.LastWebhookAt != nil && (f.FreshAsOf == nil || p.LastWebhookAt.After(*f.FreshAsOf)) {
			f.FreshAsOf = p.LastWebhookAt
		}
		out = append(out, f)
	}
	return out, nil
}

// PlanPoll is the rule: every minute unless webhooks delivered within
// WebhooksQuietAfter and no poll found undelivered changes in the last
// hour since then; otherwise every 15 minutes.
func PlanPoll(now time.Time, lastWebhook, pollFoundChanges *time.Time) PollPlan {
	p := PollPlan{Every: QuietPollEvery}
	switch {
	case lastWebhook == nil:
		p.Reason = "no webhook delivery received yet: polling every minute"
	case now.Sub(*lastWebhook) > WebhooksQuietAfter:
		p.Reason = "webhooks quiet since " + lastWebhook.UTC().Format(time.RFC3339) + ": polling every minute until deliveries resume"
	case pollFoundChanges != nil && now.Sub(*pollFoundChanges) < missedChangesWindow && pollFoundChanges.After(lastWebhook.Add(-missedChangesWindow)):
		p.Reason = "polling found changes webhooks had not delivered (at " + pollFoundChanges.UTC().Format(time.RFC3339) + "): polling every minute"
	default:
		p.Every = HealthyPollEvery
		p.Reason = "webhooks are delivering: polling every 15 minutes as a safety net"
	}
	p.EverySecs = int(p.Every / time.Second)
	return p
}
