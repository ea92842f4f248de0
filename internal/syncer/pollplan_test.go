package syncer

import (
	"fmt"
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

// TestSilentProjectsAreBoundedAndTakeTurns: per-project passes go only to
// silent projects, only while webhooks deliver for the integration, never
// to a gone project, at most SilentPassesPerPoll per poll; when more are
// silent, consecutive minutes cover every one of them.
func TestSilentProjectsAreBoundedAndTakeTurns(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	recent := now.Add(-time.Minute)
	old := now.Add(-time.Hour)
	projects := func(silent, healthy int) []store.Project {
		var ps []store.Project
		for i := range silent + healthy {
			p := store.Project{ID: int64(i + 1), PathWithNamespace: fmt.Sprintf("g/p%d", i+1)}
			if i >= silent {
				p.LastWebhookAt = &recent
			}
			ps = append(ps, p)
		}
		return ps
	}
	gone := projects(3, 0)
	gone[1].Gone = store.GoneNotFound
	cases := []struct {
		name        string
		lastWebhook *time.Time
		selected    []store.Project
		perPoll     int // projects picked per poll
		covered     int // distinct projects over three polls a minute apart
	}{
		{"no webhook delivery ever", nil, projects(4, 0), 0, 0},
		{"webhooks quiet for an hour", &old, projects(4, 2), 0, 0},
		{"others deliver, two silent", &recent, projects(2, 5), 2, 2},
		{"a gone project is left out", &recent, gone, 2, 2},
		{"25 silent take turns", &recent, projects(25, 3), SilentPassesPerPoll, 25},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := store.Integration{WebhookLastReceivedAt: c.lastWebhook}
			seen := map[int64]bool{}
			for i := range 3 {
				at := now.Add(time.Duration(i) * time.Minute)
				got := SilentProjects(at, in, c.selected)
				if len(got) > c.perPoll || (i == 0 && len(got) != c.perPoll) {
					t.Fatalf("poll %d picked %d projects, want %d", i, len(got), c.perPoll)
				}
				for _, p := range got {
					if p.LastWebhookAt != nil || p.Gone != "" {
						t.Fatalf("picked %s, which delivers or is gone", p.PathWithNamespace)
					}
					seen[p.ID] = true
				}
			}
			if len(seen) != c.covered {
				t.Fatalf("three polls covered %d projects, want %d", len(seen), c.covered)
			}
		})
	}
}
