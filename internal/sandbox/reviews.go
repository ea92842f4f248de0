package sandbox

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"
)

// Review data: merge request notes and discussions, approvals and the
// commits of a merge request, generated from the seed after the rest of the
// dataset (generateReviewDelivery) with a random source of their own, so
// the data that existed before them is unchanged.
//
// What GitLab does, and where it says so:
//   - Notes: GET /projects/:id/merge_requests/:iid/notes (Entities::Note,
//     lib/api/notes.rb; sort desc and order_by created_at by default) lists
//     user comments and system notes ("system": true, such as "approved this
//     merge request", "merged", "closed"). Diff notes ("type": "DiffNote")
//     are resolvable; resolvable, resolved and resolved_by are exposed with
//     the discussions API (GitLab 10.6 here, an estimate of the release that
//     brought both; not looked up beyond a client library that records the
//     notes' resolution fields for 10.8), resolved_at from 13.8 (an
//     estimate: gitlab!49821 "Expose notes.resolved_at via api", opened in
//     December 2020, added it to Entities::Note; 13.7 or 13.8, so 14.0,
//     which internal/ingest's fixtures assume, is late).
//   - Discussions: GET …/merge_requests/:iid/discussions (lib/api/discussions.rb,
//     Entities::Discussion: id, individual_note, notes), paginated by
//     discussion.
//   - Approvals: GET …/merge_requests/:iid/approvals. GitLab moved merge
//     request approvals to the Free tier in 13.2; Community Edition answers
//     with approved, approved_by, user_has_approved and user_can_approve
//     (the sandbox's self-managed profile is CE: /metadata says enterprise
//     false), GitLab.com with the EE approval state. approved_by entries are
//     {"user": …}; their approved_at is shown from 16.0 (an estimate, not
//     looked up). Before
//     13.2 on self-managed no approvals exist and the route answers 404.
//   - MR commits: GET …/merge_requests/:iid/commits (Entities::Commit). With
//     Config.Git every seeded merge request is one commit on
//     refs/merge-requests/<iid>/head (git.go), so the list is that one
//     commit, its id the merge request's sha, with or without Git.
//   - Project events (Entities::Event): a user comment records "commented
//     on" with target_type Note or DiffNote, target_id and target_iid the
//     note's id, and a "note" object (noteable_type, noteable_id,
//     noteable_iid); system notes record no event. The events API's
//     target_type=note keeps "Note" events only (EventsFinder compares the
//     class name), not DiffNote or DiscussionNote ones: action=commented
//     lists every comment. An approval records "approved" (Event action
//     approved). The action exists from 13.1: commit dcf3425d "Add approved
//     type of event" (app/models/event.rb, with EventCreateService#approve_mr)
//     is of 26 May 2020, after 13.0 shipped. lib/api/events.rb accepts only
//     Event.actions as action, so before 13.1 action=approved answers 400
//     "action does not have a valid value" (hasApprovedAction). The sandbox
//     records approval events from 13.4 (hasApprovedEvent, an estimate):
//     Enterprise Edition recorded them from 13.1, Community Edition (this
//     profile) has approvals from 13.2 but its Event#action_name rendered
//     them as "opened" (gitlab#231259, on 13.2) until gitlab!42119 "Fix
//     issues with optional merge requests approval in CE" (for
//     gitlab#231306, September 2020) moved "approved" into the core model;
//     the release of that fix was not found.

type note struct {
	id         int64
	mr         *mergeRequest
	discussion string // 40 hex, as GitLab's discussion ids
	individual bool   // a plain comment (individual_note) rather than a thread
	authorID   int64
	body       string
	system     bool
	noteType   string // "", "DiffNote" or "DiscussionNote"
	resolvable bool
	resolved   bool
	resolvedBy int64
	resolvedAt time.Time
	created    time.Time
	updated    time.Time
}

type approval struct {
	mr     *mergeRequest
	userID int64
	at     time.Time
}

// projectRD holds one project's review and delivery data.
type projectRD struct {
	notes     []*note     // by id
	approvals []*approval // by time
	jobs      []*job      // by id
	envs      []*environment
	deploys   []*deployment // by id
	tags      []*tag        // by creation
	releases  []*release    // by creation
	nextDepl  int64         // next deployment iid
}

// rdCounters are the sandbox-wide id sequences of the new resources.
type rdCounters struct {
	nextNoteID    int64
	nextEnvID     int64
	nextDeplID    int64
	nextReleaseID int64
}

func (v version) hasDiscussions() bool    { return v.atLeast(10, 6) }
func (v version) hasResolvedAt() bool     { return v.atLeast(13, 8) }
func (v version) hasApprovedAction() bool { return v.atLeast(13, 1) }
func (v version) hasApprovedEvent() bool  { return v.atLeast(13, 4) }
func (v version) hasApprovedAt() bool     { return v.atLeast(16, 0) }
func (v version) hasIncidentType() bool   { return v.atLeast(13, 12) }
func (s *Sandbox) approvalsExist() bool   { return s.dotcom || s.ver.atLeast(13, 2) }

// view returns the project's review and delivery data for reading: an
// empty set for projects without any (the gitlab.com profile's public
// world). It never writes, so it is safe under the read lock.
func (p *project) view() *projectRD {
	if p.rd == nil {
		return &projectRD{}
	}
	return p.rd
}

// data returns the project's review and delivery data for writing, made on
// first use. Call with s.mu held for writing (or during generation).
func (p *project) data() *projectRD {
	if p.rd == nil {
		p.rd = &projectRD{nextDepl: 1}
	}
	return p.rd
}

// generateReviewDelivery adds notes, approvals, jobs, environments,
// deployments, tags, releases and incidents to the seeded projects. It
// depends only on the seed, the counts and the version profile.
func (s *Sandbox) generateReviewDelivery() {
	for _, p := range s.projects {
		r := rand.New(rand.NewPCG(uint64(s.cfg.Seed)^0x2020, uint64(p.id)))
		s.generateReviews(r, p)
		s.generateDelivery(r, p)
		s.generateIncidents(r, p)
		sortEventsByTime(p.events)
	}
	// Event ids grow with time within a project, as generate numbered them.
	s.nextEventID = 0
	for _, p := range s.projects {
		for _, e := range p.events {
			s.nextEventID++
			e.id = s.nextEventID
		}
	}
}

// others returns the seeded users other than id, in a random order.
func others(r *rand.Rand, id int64) []int64 {
	out := make([]int64, 0, 3)
	for _, u := range []int64{1, 2, 3, 4} {
		if u != id {
			out = append(out, u)
		}
	}
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

var reviewComments = []string{"Looks good to me.", "Could we add a test for this?", "Nit: naming.", "Why is this needed?",
	"This breaks the edge case with empty input.", "Thanks, addressed.", "Please rebase.", "LGTM once the pipeline passes."}

func discussionID(parts ...any) string { return fakeSHA(false, parts...) }

// mrEnd is when activity on a merge request stopped: its merge or close,
// else its last update.
func mrEnd(m *mergeRequest) time.Time {
	switch m.state {
	case stateMerged:
		return m.merged
	case stateClosed:
		return m.closed
	}
	return m.updated
}

func between(r *rand.Rand, from, to time.Time) time.Time {
	if !to.After(from) {
		return from
	}
	return from.Add(time.Duration(r.Int64N(int64(to.Sub(from))))).Truncate(time.Millisecond)
}

func (s *Sandbox) addNote(p *project, n *note) {
	s.rdc.nextNoteID++
	n.id = s.rdc.nextNoteID
	if n.updated.IsZero() {
		n.updated = n.created
	}
	d := p.data()
	d.notes = append(d.notes, n)
}

func (s *Sandbox) generateReviews(r *rand.Rand, p *project) {
	for _, m := range p.mrs {
		end := mrEnd(m)
		// Comments: plain ones and diff threads with replies.
		for k := range r.IntN(4) {
			who := others(r, m.authorID)[0]
			at := between(r, m.created, end)
			if r.IntN(3) == 0 {
				disc := discussionID(s.cfg.Seed, p.id, m.iid, "thread", k)
				n := &note{mr: m, discussion: disc, authorID: who, body: reviewComments[r.IntN(len(reviewComments))], noteType: "DiffNote", resolvable: true, created: at}
				s.addNote(p, n)
				reply := &note{mr: m, discussion: disc, authorID: m.authorID, body: "Thanks, addressed.", noteType: "DiffNote", resolvable: true, created: between(r, at, end)}
				s.addNote(p, reply)
				if m.state == stateMerged || r.IntN(2) == 0 {
					resolvedAt := between(r, reply.created, end)
					for _, x := range []*note{n, reply} {
						x.resolved, x.resolvedBy, x.resolvedAt, x.updated = true, m.authorID, resolvedAt, resolvedAt
					}
				}
				continue
			}
			s.addNote(p, &note{mr: m, discussion: discussionID(s.cfg.Seed, p.id, m.iid, "note", k), individual: true, authorID: who,
				body: reviewComments[r.IntN(len(reviewComments))], created: at})
		}
		// Approvals, where the version or tier has them.
		if s.approvalsExist() {
			n := 0
			switch m.state {
			case stateMerged:
				n = 1 + r.IntN(2)
			case stateOpened:
				n = r.IntN(2)
			}
			for i, who := range others(r, m.authorID)[:n] {
				at := between(r, m.created, end)
				d := p.data()
				d.approvals = append(d.approvals, &approval{mr: m, userID: who, at: at})
				s.addNote(p, &note{mr: m, discussion: discussionID(s.cfg.Seed, p.id, m.iid, "approved", i), individual: true, authorID: who,
					body: "approved this merge request", system: true, created: at})
			}
		}
		// Status system notes (SystemNoteService#change_status).
		switch m.state {
		case stateMerged:
			s.addNote(p, &note{mr: m, discussion: discussionID(s.cfg.Seed, p.id, m.iid, "merged"), individual: true, authorID: m.mergeUserID, body: "merged", system: true, created: m.merged})
		case stateClosed:
			s.addNote(p, &note{mr: m, discussion: discussionID(s.cfg.Seed, p.id, m.iid, "closed"), individual: true, authorID: m.authorID, body: "closed", system: true, created: m.closed})
		}
	}
	d := p.data()
	sortByCreated(d.notes, func(n *note) (time.Time, int64) { return n.created, n.id })
	// Ids grow with creation time, as in GitLab.
	first := s.rdc.nextNoteID - int64(len(d.notes)) + 1
	for i, n := range d.notes {
		n.id = first + int64(i)
	}
	slices.SortStableFunc(d.approvals, func(a, b *approval) int { return a.at.Compare(b.at) })
	for _, n := range d.notes {
		if !n.system {
			s.noteEvent(p, n)
		}
	}
	if s.ver.hasApprovedEvent() {
		for _, a := range d.approvals {
			s.approvalEvent(p, a)
		}
	}
}

// noteEvent records "commented on" without numbering it (generate's
// renumbering or addEvent does).
func (s *Sandbox) noteEvent(p *project, n *note) *event {
	tt := "Note"
	if n.noteType != "" {
		tt = n.noteType
	}
	e := &event{p: p, action: "commented on", targetType: tt, targetID: n.id, targetIID: n.id, title: n.mr.title, authorID: n.authorID, created: n.created, note: n}
	p.events = append(p.events, e)
	return e
}

func (s *Sandbox) approvalEvent(p *project, a *approval) *event {
	e := &event{p: p, action: "approved", targetType: "MergeRequest", targetID: a.mr.id, targetIID: a.mr.iid, title: a.mr.title, authorID: a.userID, created: a.at}
	p.events = append(p.events, e)
	return e
}

// --- rendering ------------------------------------------------------------

type noteJSON struct {
	ID           int64      `json:"id"`
	Type         *string    `json:"type"`
	Body         string     `json:"body"`
	Attachment   *string    `json:"attachment"`
	Author       *userBasic `json:"author"`
	CreatedAt    gtime      `json:"created_at"`
	UpdatedAt    gtime      `json:"updated_at"`
	System       bool       `json:"system"`
	NoteableID   int64      `json:"noteable_id"`
	NoteableType string     `json:"noteable_type"`
	ProjectID    opt[int64] `json:"project_id,omitzero"`
	Resolvable   opt[bool]  `json:"resolvable,omitzero"`
	Resolved     opt[bool]  `json:"resolved,omitzero"`
	ResolvedBy   opt[any]   `json:"resolved_by,omitzero"`
	ResolvedAt   opt[gtime] `json:"resolved_at,omitzero"`
	Confidential opt[bool]  `json:"confidential,omitzero"`
	Internal     opt[bool]  `json:"internal,omitzero"`
	NoteableIID  int64      `json:"noteable_iid"`
	Commands     opt[any]   `json:"commands_changes,omitzero"`
	Position     opt[any]   `json:"position,omitzero"`
}

func (s *Sandbox) renderNote(n *note) *noteJSON {
	out := &noteJSON{ID: n.id, Body: n.body, Author: s.userByIDBasic(n.authorID), CreatedAt: gtime(n.created), UpdatedAt: gtime(n.updated),
		System: n.system, NoteableID: n.mr.id, NoteableType: "MergeRequest", NoteableIID: n.mr.iid,
		ProjectID: when(s.ver.atLeast(13, 0), n.mr.p.id), Confidential: when(s.ver.atLeast(13, 0), false), Internal: when(s.ver.atLeast(15, 0), false),
		Commands: when[any](s.ver.atLeast(15, 0), map[string]any{})}
	if n.noteType != "" {
		t := n.noteType
		out.Type = &t
	}
	if s.ver.hasDiscussions() {
		out.Resolvable = some(n.resolvable)
		if n.resolvable {
			out.Resolved = some(n.resolved)
			var by any
			if n.resolved {
				by = s.userByIDBasic(n.resolvedBy)
			}
			out.ResolvedBy = some(by)
			if s.ver.hasResolvedAt() {
				out.ResolvedAt = some(gtime(n.resolvedAt))
			}
		}
	}
	if n.noteType == "DiffNote" {
		out.Position = some[any](map[string]any{"base_sha": n.mr.sha, "start_sha": n.mr.sha, "head_sha": n.mr.sha, "old_path": "README.md",
			"new_path": "README.md", "position_type": "text", "old_line": nil, "new_line": 1})
	}
	return out
}

type discussionJSON struct {
	ID             string      `json:"id"`
	IndividualNote bool        `json:"individual_note"`
	Notes          []*noteJSON `json:"notes"`
}

// mrFromPath resolves :iid of a merge request route.
func (c *call) mrFromPath() (*project, *mergeRequest, error) {
	p, err := c.project()
	if err != nil {
		return nil, nil, err
	}
	iid, err := c.iidParam("iid")
	if err != nil {
		return nil, nil, err
	}
	m := findMR(p, iid)
	if m == nil {
		return nil, nil, notFound("Merge Request")
	}
	return p, m, nil
}

func (s *Sandbox) mrNotes(p *project, m *mergeRequest) []*note {
	var out []*note
	for _, n := range p.view().notes {
		if n.mr == m {
			out = append(out, n)
		}
	}
	return out
}

// listMRNotes serves GET /projects/:id/merge_requests/:iid/notes: sort
// (desc by default) and order_by created_at (default) or updated_at.
func (s *Sandbox) listMRNotes(c *call) (any, error) {
	p, m, err := c.mrFromPath()
	if err != nil {
		return nil, err
	}
	ns := s.mrNotes(p, m)
	dir, err := c.sortDir("desc")
	if err != nil {
		return nil, err
	}
	switch c.q("order_by") {
	case "", "created_at":
		slices.SortStableFunc(ns, func(a, b *note) int { return dir * cmp.Or(a.created.Compare(b.created), cmp.Compare(a.id, b.id)) })
	case "updated_at":
		slices.SortStableFunc(ns, func(a, b *note) int { return dir * cmp.Or(a.updated.Compare(b.updated), cmp.Compare(a.id, b.id)) })
	default:
		return nil, grapeErr(http.StatusBadRequest, "order_by does not have a valid value")
	}
	return paginate(c, ns, func(n *note) any { return s.renderNote(n) }), nil
}

// listMRDiscussions serves GET /projects/:id/merge_requests/:iid/discussions,
// oldest discussion first, one page of discussions at a time.
func (s *Sandbox) listMRDiscussions(c *call) (any, error) {
	p, m, err := c.mrFromPath()
	if err != nil {
		return nil, err
	}
	var order []string
	byID := map[string][]*note{}
	for _, n := range s.mrNotes(p, m) {
		if _, ok := byID[n.discussion]; !ok {
			order = append(order, n.discussion)
		}
		byID[n.discussion] = append(byID[n.discussion], n)
	}
	return paginate(c, order, func(id string) any {
		ns := byID[id]
		out := &discussionJSON{ID: id, IndividualNote: ns[0].individual}
		for _, n := range ns {
			out.Notes = append(out.Notes, s.renderNote(n))
		}
		return out
	}), nil
}

// listMRCommits serves GET /projects/:id/merge_requests/:iid/commits: the
// merge request's one commit (see the comment at the top of this file).
func (s *Sandbox) listMRCommits(c *call) (any, error) {
	p, m, err := c.mrFromPath()
	if err != nil {
		return nil, err
	}
	return paginate(c, []*commit{mrCommit(s, m)}, func(cm *commit) any { return s.renderCommit(p, cm) }), nil
}

// mrCommit is a merge request's head commit as the repository holds it:
// authored at the merge request's creation when merged, at its last update
// otherwise (git.go's importProject), by its author.
func mrCommit(s *Sandbox, m *mergeRequest) *commit {
	if b := m.p.branch(m.source); b != nil && b.head != nil && b.head.sha == m.sha {
		return b.head
	}
	when := m.updated.Truncate(time.Second)
	if m.state == stateMerged {
		when = m.created.Truncate(time.Second)
	}
	return &commit{sha: m.sha, title: m.title, author: s.userByID(m.authorID), created: when}
}

type approvedByJSON struct {
	User       *userBasic `json:"user"`
	ApprovedAt opt[gtime] `json:"approved_at,omitzero"`
}

// getMRApprovals serves GET /projects/:id/merge_requests/:iid/approvals.
func (s *Sandbox) getMRApprovals(c *call) (any, error) {
	p, m, err := c.mrFromPath()
	if err != nil {
		return nil, err
	}
	by := []approvedByJSON{}
	mine := false
	for _, a := range p.view().approvals {
		if a.mr != m {
			continue
		}
		by = append(by, approvedByJSON{User: s.userByIDBasic(a.userID), ApprovedAt: when(s.ver.hasApprovedAt(), gtime(a.at))})
		mine = mine || (c.user != nil && c.user.id == a.userID)
	}
	canApprove := c.user != nil && !mine && c.user.id != m.authorID && m.state == stateOpened
	if !s.dotcom {
		return map[string]any{"approved": len(by) > 0, "approved_by": by, "user_has_approved": mine, "user_can_approve": canApprove}, nil
	}
	return map[string]any{"id": m.id, "iid": m.iid, "project_id": p.id, "title": m.title, "description": m.description,
		"state": stateNames[m.state], "created_at": gtime(m.created), "updated_at": gtime(m.updated), "merge_status": "can_be_merged",
		"approved": len(by) > 0, "approvals_required": 0, "approvals_left": 0, "require_password_to_approve": false,
		"approved_by": by, "suggested_approvers": []any{}, "approvers": []any{}, "approver_groups": []any{},
		"user_has_approved": mine, "user_can_approve": canApprove, "approval_rules_left": []any{}, "has_approval_rules": false,
		"merge_request_approvers_available": false, "multiple_approval_rules_available": false, "invalid_approvers_rules": []any{}}, nil
}

// eventActions are Event.actions before 13.1 (app/models/event.rb,
// ACTIONS 1–11); "approved" (12) joins them in 13.1 (hasApprovedAction).
var eventActions = []string{"created", "updated", "closed", "reopened", "pushed", "commented", "merged", "joined", "left", "destroyed", "expired"}

// eventActionFilter maps the events API's action parameter to action names.
var eventActionFilter = map[string]string{"opened": "created", "pushed to": "pushed", "pushed new": "pushed", "accepted": "merged",
	"closed": "closed", "commented on": "commented", "approved": "approved"}

// userNotesCount is a merge request's non-system notes, user_notes_count.
func (p *project) userNotesCount(m *mergeRequest) int {
	if p.rd == nil {
		return 0
	}
	n := 0
	for _, x := range p.rd.notes {
		if x.mr == m && !x.system {
			n++
		}
	}
	return n
}

func noteURL(s *Sandbox, n *note) string {
	return fmt.Sprintf("%s/%s/-/merge_requests/%d#note_%d", s.baseURL, n.mr.p.fullPath(), n.mr.iid, n.id)
}
