package sync

import (
	"testing"
	"time"

	"github.com/labsync/labsync/internal/store"
)

func TestPlanPoll(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	cases := []struct {
		name              string
		lastWebhook, miss *time.Time
		want              time.Duration
	}{
		{"never received", nil, nil, QuietPollEvery},
		{"healthy", ago(time.Minute), nil, HealthyPollEvery},
		{"quiet for 20 minutes", ago(20 * time.Minute), nil, QuietPollEvery},
		{"healthy but polling just found missed changes", ago(time.Minute), ago(2 * time.Minute), QuietPollEvery},
		{"healthy, missed changes long ago", ago(time.Minute), ago(2 * time.Hour), HealthyPollEvery},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PlanPoll(now, c.lastWebhook, c.miss)
			if p.Every != c.want || p.Reason == "" || p.EverySecs != int(c.want.Seconds()) {
				t.Fatalf("got %+v, want every %s", p, c.want)
			}
		})
	}
}

func TestPlanProjectPoll(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	cases := []struct {
		name              string
		lastWebhook, miss *time.Time
		want              time.Duration
	}{
		{"its webhook never delivered", nil, nil, QuietPollEvery},
		{"its webhook delivered a minute ago", ago(time.Minute), nil, HealthyPollEvery},
		{"its webhook silent for 20 minutes", ago(20 * time.Minute), nil, QuietPollEvery},
		{"a poll just found changes its webhook missed", ago(time.Minute), ago(2 * time.Minute), QuietPollEvery},
		{"a poll found missed changes two hours ago", ago(time.Minute), ago(2 * time.Hour), HealthyPollEvery},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PlanProjectPoll(now, store.Project{LastWebhookAt: c.lastWebhook, PollFoundChangesAt: c.miss})
			if p.Every != c.want || p.Reason == "" || p.EverySecs != int(c.want.Seconds()) {
				t.Fatalf("got %+v, want every %s", p, c.want)
			}
		})
	}
}
