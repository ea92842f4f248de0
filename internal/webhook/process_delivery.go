package webhook

import (
	"context"
	"fmt"

	"github.com/labsync/labsync/internal/ingest"
	"github.com/labsync/labsync/internal/store"
)

// Review and delivery deliveries (issue 20): Note, Job, Deployment and
// Release Hooks, and the tag a Tag Push Hook creates, moves or deletes.
// Each is written on its own (after the pending group), through the same
// ingest readers and store upserts as the sync's API pages, with the people
// it names.

// deliveryServiceOff is serviceOff for the issue 20 kinds: notes belong to
// reviews, jobs to jobs, deployments to deployments, releases to releases.
// A tag push is ignored only when both pushes and releases are off (it
// writes a push and a tag).
func deliveryServiceOff(kind string, s store.Services) string {
	var on bool
	var name string
	switch kind {
	case "note":
		on, name = s.Reviews, "reviews"
	case "job":
		on, name = s.Jobs, "jobs"
	case "deployment":
		on, name = s.Deployments, "deployments"
	case "release":
		on, name = s.Releases, "releases"
	case "tag_push":
		if s.Pushes || s.Releases {
			return ""
		}
		return "the pushes and releases services are switched off for this integration"
	default:
		return ""
	}
	if on {
		return ""
	}
	return "the " + name + " service is switched off for this integration"
}

// delivery writes the rows of a note, job, deployment or release payload.
func (w *rowWriter) delivery(ctx context.Context, d store.Delivery, ev ingest.Hook) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	st, tx := w.p.st, w.tx
	const src = store.SourceWebhook
	var res store.UpsertResult
	var people []store.Person
	var err error
	switch h := ev.(type) {
	case *ingest.NoteHook:
		var n store.Note
		if n, people, err = h.Row(d.IntegrationID); err != nil {
			return &payloadError{err.Error()}
		}
		if err := w.noteNames(ctx, d, h, &n); err != nil {
			return err
		}
		res, err = st.UpsertNotes(ctx, tx, d.OrgID, d.IntegrationID, src, []store.Note{n})
	case *ingest.JobHook:
		var j store.Job
		if j, people, err = h.Row(d.IntegrationID); err != nil {
			return &payloadError{err.Error()}
		}
		res, err = st.UpsertJobs(ctx, tx, d.OrgID, d.IntegrationID, src, []store.Job{j})
	case *ingest.DeploymentHook:
		var dep store.Deployment
		if dep, people, err = h.Row(d.IntegrationID); err != nil {
			return &payloadError{err.Error()}
		}
		if dep.UpdatedAt.IsZero() {
			// Payloads before status_changed_at (13.11): the delivery's time.
			dep.UpdatedAt = d.ReceivedAt
		}
		res, err = st.UpsertDeployments(ctx, tx, d.OrgID, d.IntegrationID, src, []store.Deployment{dep})
	case *ingest.ReleaseHook:
		if h.Deleted() {
			res, err = st.DeleteRelease(ctx, tx, d.OrgID, d.IntegrationID, src, h.ProjectID(), h.Tag)
			break
		}
		var r store.Release
		if r, err = h.Row(d.IntegrationID, d.ReceivedAt); err != nil {
			return &payloadError{err.Error()}
		}
		res, err = st.UpsertReleases(ctx, tx, d.OrgID, d.IntegrationID, src, []store.Release{r})
	default:
		return fmt.Errorf("webhook: no delivery writer for %T", ev)
	}
	if err != nil {
		return err
	}
	return w.finish(ctx, d, res, people)
}

// finish stores the people a delivery named (when its rows were stored)
// and records its outcome.
func (w *rowWriter) finish(ctx context.Context, d store.Delivery, res store.UpsertResult, people []store.Person) error {
	if res.SkippedUnknownProject == 0 && len(people) > 0 {
		if _, err := w.p.st.UpsertPeople(ctx, w.tx, d.OrgID, d.IntegrationID, store.SourceWebhook, people); err != nil {
			return err
		}
	}
	status, why := outcome(res)
	w.done(d, status, why)
	return nil
}

// noteNames fills the author and resolver a note payload names by id
// only, from the people the integration has seen (the store keeps a
// stored name when none is known).
func (w *rowWriter) noteNames(ctx context.Context, d store.Delivery, h *ingest.NoteHook, n *store.Note) error {
	st := w.p.st
	var err error
	if n.Author == "" && n.AuthorGitLabID != nil {
		if n.Author, err = st.UsernameOf(ctx, w.tx, d.OrgID, d.IntegrationID, *n.AuthorGitLabID); err != nil {
			return err
		}
	}
	if id := h.ObjectAttributes.ResolvedByID; n.Resolved && n.ResolvedBy == "" && id != nil {
		if n.ResolvedBy, err = st.UsernameOf(ctx, w.tx, d.OrgID, d.IntegrationID, *id); err != nil {
			return err
		}
	}
	return nil
}

// tagPush writes what a Tag Push Hook says: the tag (releases service) and
// the push (pushes service, as push does).
func (w *rowWriter) tagPush(ctx context.Context, d store.Delivery, h *ingest.PushHook) error {
	sv, err := w.p.services(ctx, servicesCache{}, d)
	if err != nil {
		return err
	}
	var res store.UpsertResult
	if sv.Releases {
		if err := w.flush(ctx); err != nil {
			return err
		}
		tag, deleted, err := h.Tag(d.IntegrationID, d.ReceivedAt)
		if err != nil {
			return &payloadError{err.Error()}
		}
		st, tx := w.p.st, w.tx
		if deleted {
			res, err = st.DeleteTag(ctx, tx, d.OrgID, d.IntegrationID, store.SourceWebhook, tag.ProjectGitLabID, tag.Name)
		} else {
			res, err = st.UpsertTags(ctx, tx, d.OrgID, d.IntegrationID, store.SourceWebhook, []store.Tag{tag})
		}
		if err != nil {
			return err
		}
	}
	if !sv.Pushes {
		return w.finish(ctx, d, res, h.Pusher(d.IntegrationID, d.ReceivedAt))
	}
	if _, err := w.p.st.UpsertPeople(ctx, w.tx, d.OrgID, d.IntegrationID, store.SourceWebhook, h.Pusher(d.IntegrationID, d.ReceivedAt)); err != nil {
		return err
	}
	return w.push(ctx, d, h)
}

// approval records the approval or unapproval a merge request delivery
// announces (reviews service), before its merge request row is written as
// any other's.
func (w *rowWriter) approval(ctx context.Context, d store.Delivery, h *ingest.MergeRequestHook) error {
	a, approved, ok := h.Approval(d.IntegrationID, d.ReceivedAt)
	if !ok {
		return nil
	}
	sv, err := w.p.services(ctx, servicesCache{}, d)
	if err != nil || !sv.Reviews {
		return err
	}
	if err := w.flush(ctx); err != nil {
		return err
	}
	st, tx := w.p.st, w.tx
	if approved {
		_, err = st.UpsertApprovals(ctx, tx, d.OrgID, d.IntegrationID, store.SourceWebhook, []store.Approval{a})
	} else {
		_, err = st.RemoveApproval(ctx, tx, d.OrgID, d.IntegrationID, store.SourceWebhook, a.ProjectGitLabID, a.MergeRequestIID, a.UserGitLabID)
	}
	if err != nil {
		return err
	}
	_, err = st.UpsertPeople(ctx, tx, d.OrgID, d.IntegrationID, store.SourceWebhook, h.People(d.IntegrationID, d.ReceivedAt))
	return err
}
