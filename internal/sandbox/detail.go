package sandbox

import (
	"fmt"
	"time"
)

// Detail shapes: what GitLab answers for one object, beyond the list shape.

// pipelineDetailJSON is Entities::Ci::Pipeline (lib/api/entities/ci/pipeline.rb,
// schema spec/fixtures/api/schemas/public_api/v4/pipeline/detail.json): the
// basic fields plus before_sha, tag, yaml_errors, user, timings, coverage and
// detailed_status.
type pipelineDetailJSON struct {
	*pipelineJSON
	BeforeSHA      string         `json:"before_sha"`
	Tag            bool           `json:"tag"`
	YAMLErrors     *string        `json:"yaml_errors"`
	User           *userBasic     `json:"user"`
	StartedAt      gtime          `json:"started_at"`
	FinishedAt     gtime          `json:"finished_at"`
	CommittedAt    gtime          `json:"committed_at"`
	Duration       *int64         `json:"duration"`
	QueuedDuration opt[*float64]  `json:"queued_duration,omitzero"`
	Coverage       *string        `json:"coverage"`
	DetailedStatus detailedStatus `json:"detailed_status"`
}

// detailedStatus is DetailedStatusEntity as the pipeline API renders it.
type detailedStatus struct {
	Icon         string `json:"icon"`
	Text         string `json:"text"`
	Label        string `json:"label"`
	Group        string `json:"group"`
	Tooltip      string `json:"tooltip"`
	HasDetails   bool   `json:"has_details"`
	DetailsPath  string `json:"details_path"`
	Illustration any    `json:"illustration"`
	Favicon      string `json:"favicon"`
}

// statusText is the text GitLab's Gitlab::Ci::Status classes show.
var statusText = map[string]string{"success": "passed", "failed": "failed", "canceled": "canceled", "skipped": "skipped",
	"running": "running", "pending": "pending", "created": "created", "manual": "manual", "scheduled": "delayed"}

func (s *Sandbox) detailedStatus(pl *pipeline) detailedStatus {
	text := statusText[pl.status]
	if text == "" {
		text = pl.status
	}
	return detailedStatus{Icon: "status_" + pl.status, Text: text, Label: text, Group: pl.status, Tooltip: text, HasDetails: true,
		DetailsPath: fmt.Sprintf("/%s/-/pipelines/%d", pl.p.fullPath(), pl.id),
		Favicon:     "/assets/ci_favicons/favicon_status_" + pl.status + ".png"}
}

// hasQueuedDuration: queued_duration of jobs and pipelines, in REST (the
// job entity and the single pipeline's), in Job Hooks
// (build_queued_duration) and in GraphQL (Pipeline.queuedDuration), came
// with gitlab!59901 ("Add `Job.queued_duration` to all API output
// formats": webhooks, REST and GraphQL at once; its commit says jobs and
// pipelines get the field wherever they are shown). The older
// lib/api/entities/pipeline.rb has no queued_duration. It is not older
// than 13.12: gitlab!59901 was opened after gitlab!59771, whose feature
// flag file (deployments_finder_implicitly_enforce_ordering_for_updated_at_filter.yml)
// names milestone 13.12. That it shipped in 13.12 and not 14.0 is what
// internal/gitlab records for gitlab!59901 (QueuedDurationFrom's note);
// the merge milestone itself was not found.
func (v version) hasQueuedDuration() bool { return v.atLeast(13, 12) }

func (s *Sandbox) renderPipelineDetail(pl *pipeline) *pipelineDetailJSON {
	out := &pipelineDetailJSON{pipelineJSON: s.renderPipeline(pl), BeforeSHA: zeroSHA(pl.p.sha256), User: s.userByIDBasic(pl.userID),
		StartedAt: gtime(pl.started), FinishedAt: gtime(pl.finished), DetailedStatus: s.detailedStatus(pl)}
	for _, c := range pl.p.commits {
		if c.sha == pl.sha {
			out.CommittedAt = gtime(c.created)
			break
		}
	}
	if !pl.started.IsZero() && !pl.finished.IsZero() {
		d := int64(pl.finished.Sub(pl.started) / time.Second)
		out.Duration = &d
	}
	// queued_duration: see hasQueuedDuration (13.12).
	if s.ver.hasQueuedDuration() {
		var q *float64
		if !pl.started.IsZero() {
			v := pl.started.Sub(pl.created).Seconds()
			q = &v
		}
		out.QueuedDuration = some(q)
	}
	return out
}

// diffRefsJSON is a merge request's diff_refs.
type diffRefsJSON struct {
	BaseSHA  string `json:"base_sha"`
	HeadSHA  string `json:"head_sha"`
	StartSHA string `json:"start_sha"`
}

// mrDetailJSON is Entities::MergeRequest (GET
// /projects/:id/merge_requests/:iid): the list shape plus subscribed,
// changes_count, the latest build times, pipeline and head_pipeline,
// diff_refs, merge_error, user.can_merge and the like.
type mrDetailJSON struct {
	*mrJSON
	Subscribed                  bool                `json:"subscribed"`
	ChangesCount                string              `json:"changes_count"`
	LatestBuildStartedAt        gtime               `json:"latest_build_started_at"`
	LatestBuildFinishedAt       gtime               `json:"latest_build_finished_at"`
	FirstDeployedToProductionAt gtime               `json:"first_deployed_to_production_at"`
	Pipeline                    *pipelineJSON       `json:"pipeline"`
	HeadPipeline                *pipelineDetailJSON `json:"head_pipeline"`
	DiffRefs                    *diffRefsJSON       `json:"diff_refs"`
	MergeError                  *string             `json:"merge_error"`
	RebaseInProgress            opt[bool]           `json:"rebase_in_progress,omitzero"`
	FirstContribution           opt[bool]           `json:"first_contribution,omitzero"`
	User                        map[string]bool     `json:"user"`
}

func (s *Sandbox) renderMRDetail(m *mergeRequest) *mrDetailJSON {
	p := m.p
	out := &mrDetailJSON{mrJSON: s.renderMR(m), ChangesCount: "1", User: map[string]bool{"can_merge": m.state == stateOpened},
		RebaseInProgress: when(s.ver.atLeast(12, 0), false), FirstContribution: when(s.ver.atLeast(14, 0), false)}
	// The head pipeline is the newest pipeline on the MR's head commit.
	for i := len(p.pipelines) - 1; i >= 0; i-- {
		if pl := p.pipelines[i]; pl.sha == m.sha {
			out.HeadPipeline = s.renderPipelineDetail(pl)
			out.Pipeline = out.HeadPipeline.pipelineJSON
			out.LatestBuildStartedAt, out.LatestBuildFinishedAt = gtime(pl.started), gtime(pl.finished)
			break
		}
	}
	// diff_refs: the target branch commit the source branch started from.
	base := m.base
	if b := p.branch(m.source); base == "" && b != nil && b.head != nil {
		base = b.head.parent
	}
	if base == "" {
		if b := p.branch(p.defBranch); b != nil && b.head != nil {
			base = b.head.sha
		}
	}
	if base != "" {
		out.DiffRefs = &diffRefsJSON{BaseSHA: base, HeadSHA: m.sha, StartSHA: base}
	}
	return out
}

// userPublicJSON is what GET /user answers: Entities::UserPublic
// (lib/api/entities/user_public.rb over user.rb and user_basic.rb), and for
// an administrator Entities::UserWithAdmin, which adds is_admin and note.
// Field gates by version are coarse.
type userPublicJSON struct {
	userBasic
	CreatedAt        gtime        `json:"created_at"`
	Bio              string       `json:"bio"`
	Location         string       `json:"location"`
	PublicEmail      string       `json:"public_email"`
	Skype            string       `json:"skype"`
	Linkedin         string       `json:"linkedin"`
	Twitter          string       `json:"twitter"`
	Discord          opt[string]  `json:"discord,omitzero"`
	WebsiteURL       string       `json:"website_url"`
	Organization     string       `json:"organization"`
	JobTitle         string       `json:"job_title"`
	Pronouns         opt[*string] `json:"pronouns,omitzero"`
	Bot              bool         `json:"bot"`
	WorkInformation  *string      `json:"work_information"`
	Followers        int          `json:"followers"`
	Following        int          `json:"following"`
	IsFollowed       opt[bool]    `json:"is_followed,omitzero"`
	LocalTime        opt[*string] `json:"local_time,omitzero"`
	LastSignInAt     gtime        `json:"last_sign_in_at"`
	ConfirmedAt      gtime        `json:"confirmed_at"`
	LastActivityOn   string       `json:"last_activity_on"`
	Email            string       `json:"email"`
	ThemeID          int          `json:"theme_id"`
	ColorSchemeID    int          `json:"color_scheme_id"`
	ProjectsLimit    int          `json:"projects_limit"`
	CurrentSignInAt  gtime        `json:"current_sign_in_at"`
	Identities       []any        `json:"identities"`
	CanCreateGroup   bool         `json:"can_create_group"`
	CanCreateProject bool         `json:"can_create_project"`
	TwoFactorEnabled bool         `json:"two_factor_enabled"`
	External         bool         `json:"external"`
	PrivateProfile   bool         `json:"private_profile"`
	CommitEmail      string       `json:"commit_email"`
	IsAdmin          opt[bool]    `json:"is_admin,omitzero"`
	Note             opt[*string] `json:"note,omitzero"`
}

func (s *Sandbox) renderUser(u *user) any {
	signIn := s.clock().Add(-time.Hour).Truncate(time.Millisecond)
	out := &userPublicJSON{userBasic: *s.userBasic(u), CreatedAt: gtime(u.created), Discord: when(s.ver.atLeast(15, 3), ""),
		Pronouns: when[*string](s.ver.atLeast(14, 0), nil), IsFollowed: when(s.ver.atLeast(15, 0), false),
		LocalTime: when[*string](s.ver.atLeast(14, 0), nil), LastSignInAt: gtime(signIn), ConfirmedAt: gtime(u.created),
		LastActivityOn: s.clock().UTC().Format("2006-01-02"), Email: u.email, ThemeID: 1, ColorSchemeID: 1, ProjectsLimit: 100000,
		CurrentSignInAt: gtime(signIn), Identities: []any{}, CanCreateGroup: true, CanCreateProject: true, CommitEmail: u.email,
		// bot? is true for project and group bots and service accounts
		// (User::BOT_USER_TYPES).
		Bot: u.userType != userTypeHuman}
	if u.admin {
		out.IsAdmin, out.Note = some(true), some[*string](nil)
	}
	return out
}
