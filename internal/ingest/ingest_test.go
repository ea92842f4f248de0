package ingest

import (
	"testing"
	"time"
)

func TestTimesAreReadInEveryFormGitLabWritesThem(t *testing.T) {
	want := time.Date(2016, 8, 12, 15, 23, 28, 0, time.UTC)
	for _, c := range []struct {
		name, in string
		want     *time.Time
		fails    bool
	}{
		{"API item, milliseconds", "2016-08-12T15:23:28.000Z", &want, false},
		{"payload ISO 8601", "2016-08-12T15:23:28Z", &want, false},
		{"ISO 8601 with an offset", "2016-08-12T17:23:28+02:00", &want, false},
		{"pipeline payload", "2016-08-12 15:23:28 UTC", &want, false},
		{"older payload with an offset", "2016-08-12 17:23:28 +0200", &want, false},
		{"empty", "", nil, false},
		{"not a time", "yesterday", nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Time(c.in).Parse()
			if (err != nil) != c.fails {
				t.Fatalf("Parse(%q) error %v, want failure %v", c.in, err, c.fails)
			}
			if (got == nil) != (c.want == nil) || got != nil && !got.Equal(*c.want) || got != nil && got.Location() != time.UTC {
				t.Fatalf("Parse(%q) = %v, want %v in UTC", c.in, got, c.want)
			}
		})
	}
}

func TestMergeRequestFieldsRenamedAcrossVersionsAreReadUnderEitherName(t *testing.T) {
	for _, c := range []struct {
		name, json        string
		draft             bool
		mergeUser, status string
	}{
		{"before 14.0: work_in_progress, merged_by", `{"id":1,"updated_at":"2020-01-01T00:00:00Z","work_in_progress":true,"merged_by":{"username":"ann"},"merge_status":"can_be_merged"}`, true, "ann", ""},
		{"14.7: draft, merge_user beside merged_by", `{"id":1,"updated_at":"2022-01-01T00:00:00Z","draft":true,"work_in_progress":true,"merge_user":{"username":"bo"},"merged_by":{"username":"bo"}}`, true, "bo", ""},
		{"15.6: detailed_merge_status", `{"id":1,"updated_at":"2023-01-01T00:00:00Z","draft":false,"merge_user":{"username":"cy"},"detailed_merge_status":"mergeable"}`, false, "cy", "mergeable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			mr, err := MergeRequest(3, []byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if mr.Draft != c.draft || mr.MergeUser != c.mergeUser || mr.DetailedMergeStatus != c.status || mr.IntegrationID != 3 {
				t.Fatalf("got draft %v merge user %q detailed status %q integration %d, want %v %q %q 3", mr.Draft, mr.MergeUser,
					mr.DetailedMergeStatus, mr.IntegrationID, c.draft, c.mergeUser, c.status)
			}
		})
	}
}

func TestLabelsAreReadAsNamesOrAsObjects(t *testing.T) {
	for _, c := range []struct{ name, json string }{
		{"API item", `{"id":1,"updated_at":"2020-01-01T00:00:00Z","labels":["bug","ui"]}`},
		{"API item with_labels_details", `{"id":1,"updated_at":"2020-01-01T00:00:00Z","labels":[{"name":"bug"},{"name":"ui"}]}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			is, err := Issue(1, []byte(c.json))
			if err != nil {
				t.Fatal(err)
			}
			if len(is.Labels) != 2 || is.Labels[0] != "bug" || is.Labels[1] != "ui" {
				t.Fatalf("labels %q", is.Labels)
			}
		})
	}
	t.Run("payload", func(t *testing.T) {
		h, err := ParseHook("issue", []byte(`{"object_attributes":{"id":1,"updated_at":"2020-01-01 00:00:00 UTC"},"project":{"id":2},"labels":[{"title":"bug"},{"title":"ui"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		is, err := h.(*IssueHook).Row(1)
		if err != nil {
			t.Fatal(err)
		}
		if len(is.Labels) != 2 || is.Labels[0] != "bug" || is.Labels[1] != "ui" {
			t.Fatalf("labels %q", is.Labels)
		}
	})
}

func TestPayloadsMissingWhatARowNeedsAreRefused(t *testing.T) {
	for _, c := range []struct{ name, kind, body string }{
		{"merge request without project", "merge_request", `{"object_attributes":{"id":1,"updated_at":"2020-01-01T00:00:00Z"}}`},
		{"merge request without updated_at", "merge_request", `{"object_attributes":{"id":1},"project":{"id":2}}`},
		{"issue with an unreadable created_at", "issue", `{"object_attributes":{"id":1,"created_at":"soon","updated_at":"2020-01-01T00:00:00Z"},"project":{"id":2}}`},
		{"pipeline without times", "pipeline", `{"object_attributes":{"id":1},"project":{"id":2}}`},
		{"push without ref", "push", `{"project_id":2}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			h, err := ParseHook(c.kind, []byte(c.body))
			if err != nil {
				t.Fatalf("ParseHook: %v (the shape is right; the row check refuses it)", err)
			}
			switch x := h.(type) {
			case *MergeRequestHook:
				_, err = x.Row(1)
			case *IssueHook:
				_, err = x.Row(1)
			case *PipelineHook:
				_, err = x.Row(1)
			case *PushHook:
				_, _, err = x.Rows(1, time.Now())
			}
			if err == nil {
				t.Fatal("row accepted")
			}
		})
	}
	if _, err := ParseHook("merge_request", []byte(`{"object_attributes":[]}`)); err == nil {
		t.Fatal("a payload of the wrong shape parsed")
	}
}
