package sync

import (
	"context"
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

// PollPlanFor decides the poll interval of in from its webhook health.
func (s *Service) PollPlanFor(ctx context.Context, in store.Integration) (PollPlan, error) {
	last, missed, err := s.st.PollTimes(ctx, in.OrgID, in.ID)
	if err != nil {
		return PollPlan{}, err
	}
	p := PlanPoll(s.st.Now(), in.WebhookLastReceivedAt, missed)
	p.LastPollAt, p.MissedAt = last, missed
	return p, nil
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
