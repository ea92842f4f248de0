package ingest_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// fixture reads testdata/delivery/<version>/<name>.json; ok is false when
// that version has no such payload (the hook did not exist yet).
func fixture(t *testing.T, version, name string) (json.RawMessage, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "delivery", version, name+".json"))
	if os.IsNotExist(err) {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return b, true
}

func mustFixture(t *testing.T, version, name string) json.RawMessage {
	t.Helper()
	b, ok := fixture(t, version, name)
	if !ok {
		t.Fatalf("no fixture %s/%s", version, name)
	}
	return b
}

func parseHook[H ingest.Hook](t *testing.T, kind string, body []byte) H {
	t.Helper()
	h, err := ingest.ParseHook(kind, body)
	if err != nil {
		t.Fatal(err)
	}
	out, ok := h.(H)
	if !ok {
		t.Fatalf("ParseHook(%s) gave %T", kind, h)
	}
	return out
}

// TestANoteJobDeploymentReleaseAndTagArrivingBothWaysBecomeTheSameRow
// reads the same note, job, deployment, release and tag from an API item
// and from the webhook payload GitLab sends for it, as each version shapes
// them (testdata/delivery/README.md says where each shape comes from), and
// compares the rows field by field; fields a payload does not carry are
// named with the reason.
func TestANoteJobDeploymentReleaseAndTagArrivingBothWaysBecomeTheSameRow(t *testing.T) {
	const integ = 7
	for _, v := range []string{"12.10", "15.11", "19.0"} {
		t.Run(v, func(t *testing.T) {
			t.Run("note", func(t *testing.T) {
				notes, apiPeople, err := ingest.Discussion(integ, 7, mustFixture(t, v, "discussion_api"))
				if err != nil || len(notes) != 1 {
					t.Fatalf("discussion: %v, %d notes", err, len(notes))
				}
				hook, hookPeople, err := parseHook[*ingest.NoteHook](t, "note", mustFixture(t, v, "note_hook")).Row(integ)
				if err != nil {
					t.Fatal(err)
				}
				notCarried := map[string]string{"ResolvedBy": "a payload names the resolver by id only"}
				if v == "12.10" {
					notCarried["Author"] = "12.x payloads' user has no id to match author_id with"
					notCarried["ResolvedAt"] = "API items carry resolved_at from 14.x (an estimate)"
				}
				sameRow(t, notes[0], hook, notCarried)
				if !hook.Resolvable || !hook.Resolved || *hook.NoteableIID != 3 {
					t.Errorf("payload row: resolvable %v resolved %v iid %v", hook.Resolvable, hook.Resolved, hook.NoteableIID)
				}
				if len(apiPeople) != 2 || apiPeople[0].Username != "ana" || apiPeople[1].Username != "bo" {
					t.Errorf("people of the API item: %+v", apiPeople)
				}
				if wantHook := v != "12.10"; (len(hookPeople) == 1) != wantHook {
					t.Errorf("people of the payload: %+v", hookPeople)
				}
			})
			t.Run("job", func(t *testing.T) {
				api, _, err := ingest.Job(integ, 7, mustFixture(t, v, "job_api"))
				if err != nil {
					t.Fatal(err)
				}
				hook, _, err := parseHook[*ingest.JobHook](t, "job", mustFixture(t, v, "job_hook")).Row(integ)
				if err != nil {
					t.Fatal(err)
				}
				sameRow(t, api, hook, map[string]string{"WebURL": "payloads carry no job URL"})
				if !hook.UpdatedAt.Equal(*hook.FinishedAt) || hook.DurationS == nil || *hook.DurationS != 61.25 {
					t.Errorf("payload row: updated %v finished %v duration %v", hook.UpdatedAt, hook.FinishedAt, hook.DurationS)
				}
			})
			t.Run("deployment", func(t *testing.T) {
				env, err := ingest.Environment(integ, 7, mustFixture(t, v, "environment_api"))
				if err != nil {
					t.Fatal(err)
				}
				if env.Tier != store.TierProduction {
					t.Errorf("environment tier %q, want production (GitLab's or its name rules')", env.Tier)
				}
				api, _, err := ingest.Deployment(integ, 7, mustFixture(t, v, "deployment_api"), func(id int64) string {
					if id == env.GitLabID {
						return env.Tier
					}
					return ""
				})
				if err != nil {
					t.Fatal(err)
				}
				body, ok := fixture(t, v, "deployment_hook")
				if !ok {
					// GitLab sends Deployment Hooks from 13.5: the API is
					// the only source.
					if api.FinishedAt == nil || api.EnvironmentTier != store.TierProduction {
						t.Errorf("API row: %+v", api)
					}
					return
				}
				hook, _, err := parseHook[*ingest.DeploymentHook](t, "deployment", body).Row(integ)
				if err != nil {
					t.Fatal(err)
				}
				sameRow(t, api, hook, map[string]string{"IID": "payloads carry no iid", "EnvironmentGitLabID": "payloads name the environment",
					"CreatedAt": "payloads carry status_changed_at only"})
			})
			t.Run("release", func(t *testing.T) {
				api, _, err := ingest.Release(integ, 7, mustFixture(t, v, "release_api"))
				if err != nil {
					t.Fatal(err)
				}
				h := parseHook[*ingest.ReleaseHook](t, "release", mustFixture(t, v, "release_hook"))
				hook, err := h.Row(integ, time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC))
				if err != nil || h.Deleted() {
					t.Fatalf("%v, deleted %v", err, h.Deleted())
				}
				sameRow(t, api, hook, map[string]string{"Author": "payloads carry no author"})
			})
			t.Run("tag", func(t *testing.T) {
				api, err := ingest.Tag(integ, 7, mustFixture(t, v, "tag_api"))
				if err != nil {
					t.Fatal(err)
				}
				// The delivery arrives when the tag is pushed.
				pushedAt := time.Date(2026, 11, 2, 9, 9, 0, 0, time.UTC)
				hook, deleted, err := parseHook[*ingest.PushHook](t, "tag_push", mustFixture(t, v, "tag_push_hook")).Tag(integ, pushedAt)
				if err != nil || deleted {
					t.Fatalf("%v, deleted %v", err, deleted)
				}
				notCarried := map[string]string{"Protected": "payloads do not say"}
				if v != "19.0" {
					notCarried["CreatedAt"] = "API items carry a tag's created_at from 17.x (an estimate)"
					notCarried["UpdatedAt"] = "API items before 17.x have only the commit's time"
				}
				sameRowAtLeast(t, api, hook, notCarried, 6)
			})
		})
	}
}

func TestATagPushThatDeletesATagNamesIt(t *testing.T) {
	body := []byte(`{"object_kind":"tag_push","before":"95d49d1efbd941908580e79d65e4b5ecaf4a8305",
		"after":"0000000000000000000000000000000000000000","ref":"refs/tags/v1.0","project_id":7,"user_username":"ana"}`)
	tag, deleted, err := parseHook[*ingest.PushHook](t, "tag_push", body).Tag(1, time.Now())
	if err != nil || !deleted || tag.Name != "v1.0" || tag.ProjectGitLabID != 7 {
		t.Fatalf("tag %+v deleted %v err %v", tag, deleted, err)
	}
}

func TestBotsAreToldByGitLabsFlagOrItsBotUsernames(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		name, username, userType string
		flag                     *bool
		bot                      bool
	}{
		{"a person", "ana", "", nil, false},
		{"the users API's flag wins", "ana", "", &yes, true},
		{"a project access token (13.x)", "project_7_bot", "", nil, true},
		{"a project access token (later)", "project_7_bot_3f2a9c01d4e5b6a7", "", nil, true},
		{"a group access token", "group_12_bot_0a1b2c3d", "", nil, true},
		{"a service account", "service_account_group_12_0a1b2c3d", "", nil, true},
		{"the alert bot", "alert-bot", "", nil, true},
		{"the support bot, renamed on a clash", "support-bot1", "", nil, true},
		{"a person named like a bot's prefix", "alert-bottle", "", nil, false},
		{"user_type says human", "project_7_bot", "human", nil, false},
		{"user_type names a bot", "deploy", "project_bot", nil, true},
		{"the flag says no", "alert-bot", "", &no, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ingest.IsBot(c.username, c.userType, c.flag); got != c.bot {
				t.Fatalf("IsBot(%q, %q) = %v, want %v", c.username, c.userType, got, c.bot)
			}
		})
	}
}

func TestIssueTypeComesFromEitherFieldOrTheIncidentLabel(t *testing.T) {
	for _, c := range []struct {
		name, issueType, typ string
		labels               []string
		want                 string
	}{
		{"issue_type (13.x)", "incident", "", nil, "incident"},
		{"type of an API item (15.x)", "", "TEST_CASE", nil, "test_case"},
		{"type of a payload (16.x)", "", "Test Case", nil, "test_case"},
		{"the incident label before the field", "", "", []string{"bug", "Incident"}, "incident"},
		{"the field wins over the label", "issue", "", []string{"incident"}, "issue"},
		{"nothing says", "", "", []string{"bug"}, "issue"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ingest.IssueType(c.issueType, c.typ, c.labels); got != c.want {
				t.Fatalf("IssueType = %q, want %q", got, c.want)
			}
		})
	}
}

func TestEnvironmentTiersFollowGitLabsNameRulesWhereGitLabGivesNone(t *testing.T) {
	for name, want := range map[string]string{"production": "production", "prd-eu": "production", "live": "production",
		"staging": "staging", "pre-prod": "staging", "review/feature-x": "development", "dev": "development",
		"qa": "testing", "integration": "testing", "sandbox": "other"} {
		if got := ingest.EnvironmentTier(name, ""); got != want {
			t.Errorf("EnvironmentTier(%q) = %q, want %q", name, got, want)
		}
	}
	if got := ingest.EnvironmentTier("prod", "staging"); got != "staging" {
		t.Errorf("GitLab's own tier was not kept: %q", got)
	}
}
