package sandbox

import (
	"context"
	"crypto/subtle"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// The gitlab.com profile.
//
// What it models, and where GitLab says so:
//   - A public universe: other users' groups and projects that a connected
//     user is not a member of. GET /projects without membership=true lists
//     every project the user can read (ProjectsFinder without
//     non_public/membership: public ones included), GET /groups with
//     all_available=true adds every public group (GroupsFinder, included when
//     all_available is set; lib/api/groups.rb defaults it to false for
//     non-administrators), and scope=all on /merge_requests and /issues spans
//     every readable project (MergeRequestsFinder, IssuesFinder).
//   - No internal visibility: since July 2019 GitLab.com refuses it for new
//     projects, groups and snippets (gitlab#12388; the note in
//     doc/api/project_snippets.md and other pages). Older internal projects
//     still exist there; the sandbox makes every generated "internal" group
//     and project private on this profile.
//   - Rate limits of GitLab.com (doc/user/gitlab_com/index.md "Rate limits on
//     GitLab.com", doc/administration/settings/rate_limit_on_projects_api.md,
//     rate_limit_on_groups_api.md; keys in lib/gitlab/application_rate_limiter.rb):
//     2,000 authenticated API requests per user per minute and 500
//     unauthenticated ones per IP (Rack::Attack, RateLimit-* headers,
//     "Retry later"), and per-endpoint limits by user
//     (or by IP when anonymous): GET /projects 2,000 per 10 minutes (400 per
//     10 minutes anonymous), GET /projects/:id 400 per minute, GET /groups
//     200 per minute, GET /groups/:id 400 per minute, GET /groups/:id/projects
//     600 per minute. Those answer 429 with
//     {"message":{"error":"This endpoint has been requested too many times. Try again later."}}
//     and Retry-After set to the limit's interval in seconds
//     (lib/api/helpers/rate_limiter.rb, too_many_requests!). They set no
//     RateLimit-* headers of their own.
//   - Project activity as GitLab records it: last_activity_at (and the
//     project's updated_at) move only with changes that record an event and
//     only when older than an hour (app/models/event.rb,
//     RESET_PROJECT_ACTIVITY_INTERVAL; Config.LastActivityInterval), so a
//     listing ordered by last_activity_at does not reveal which projects
//     changed in the last minutes; item listings with updated_after do.
//   - The connected user, alice, is a Maintainer of the seeded groups she
//     belongs to and of a few projects outside them, so she may register
//     project hooks there.
//   - Pagination is GitLab's everywhere: X-Total and X-Total-Pages are
//     omitted above 10,000 rows, and /projects stops offset pagination at
//     50,000 rows (keyset with order_by=id goes further).

// endpointLimit is one ApplicationRateLimiter limit.
type endpointLimit struct {
	key      string
	limit    int
	interval time.Duration
	// anonLimit applies to requests without a token; 0 means limit.
	anonLimit int
}

// dotcomEndpointLimits are GitLab.com's per-endpoint limits, keyed by route.
var dotcomEndpointLimits = map[string]endpointLimit{
	"GET /api/v4/projects":             {key: "projects_api", limit: 2000, interval: 10 * time.Minute, anonLimit: 400},
	"GET /api/v4/projects/{id}":        {key: "project_api", limit: 400, interval: time.Minute},
	"GET /api/v4/groups":               {key: "groups_api", limit: 200, interval: time.Minute},
	"GET /api/v4/groups/{id}":          {key: "group_api", limit: 400, interval: time.Minute},
	"GET /api/v4/groups/{id}/projects": {key: "group_projects_api", limit: 600, interval: time.Minute},
	// "Project Jobs API endpoint": 600 calls per minute per authenticated
	// user on GitLab.com (doc/user/gitlab_com/index.md; the
	// project_jobs_api_rate_limit setting, gitlab!129319).
	"GET /api/v4/projects/{id}/jobs": {key: "project_jobs_api", limit: 600, interval: time.Minute},
}

// GitLab.com's API limits per minute: authenticated (per user; the sandbox
// counts per token) and unauthenticated (per IP address).
const (
	dotcomAPILimit             = 2000
	dotcomUnauthenticatedLimit = 500
)

// endpointLimiter counts requests per limit key and user (or address) in
// fixed windows aligned to the Unix epoch, as ApplicationRateLimiter does
// with its period key (now / interval). One counter per key and caller,
// reset when a new period starts, keeps memory bounded.
type endpointLimiter struct {
	mu     sync.Mutex
	counts map[string]*rateWindow
}

func (l *endpointLimiter) check(now time.Time, route string, who string, anonymous bool) *apiError {
	lim, ok := dotcomEndpointLimits[route]
	if !ok {
		return nil
	}
	limit := lim.limit
	if anonymous && lim.anonLimit > 0 {
		limit = lim.anonLimit
	}
	secs := int64(lim.interval / time.Second)
	period := now.Unix() / secs
	key := lim.key + ":" + who
	l.mu.Lock()
	if l.counts == nil {
		l.counts = map[string]*rateWindow{}
	}
	w := l.counts[key]
	if w == nil || w.start != period {
		w = &rateWindow{start: period}
		l.counts[key] = w
	}
	w.count++
	n := w.count
	l.mu.Unlock()
	if n <= limit {
		return nil
	}
	h := http.Header{}
	h.Set("Retry-After", fmt.Sprint(secs))
	return &apiError{status: http.StatusTooManyRequests, header: h,
		body: map[string]any{"message": map[string]string{"error": "This endpoint has been requested too many times. Try again later."}}}
}

// generatePublic adds the gitlab.com profile's public world after the seeded
// dataset: users, groups (a fifth of them subgroups) and projects with no
// history yet. Structs stay small: no members map on projects, no
// description, empty repositories until activity pushes to them.
func (s *Sandbox) generatePublic() {
	n := s.cfg.PublicProjects
	if n <= 0 {
		return
	}
	r := rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0xd07c0))
	base := epoch.AddDate(-3, 0, 0)
	nUsers, nGroups := max(n/50, 1), max(n/10, 1)
	firstUser := int64(len(s.users) + 1)
	s.users = append(s.users, make([]*user, 0, nUsers)...)
	for i := range nUsers {
		id := firstUser + int64(i)
		s.users = append(s.users, &user{id: id, username: fmt.Sprintf("user-%d", i+1), name: fmt.Sprintf("Public User %d", i+1),
			email: fmt.Sprintf("user-%d@example.org", i+1), created: base.Add(time.Duration(id) * time.Minute)})
	}
	firstGroup := len(s.groups)
	s.groups = append(s.groups, make([]*group, 0, nGroups)...)
	top := nGroups - nGroups/5
	for i := range nGroups {
		owner := firstUser + int64(i%nUsers)
		g := &group{id: int64(len(s.groups) + 1), vis: "public", created: base.Add(time.Duration(i) * time.Minute), members: map[int64]int{owner: accessOwner}}
		if r.IntN(10) == 0 {
			g.vis = "private"
		}
		if i >= top {
			g.parent = s.groups[firstGroup+(i-top)%top]
			g.path, g.name = fmt.Sprintf("team-%d", i+1), fmt.Sprintf("Team %d", i+1)
			g.fullPath, g.fullName = g.parent.fullPath+"/"+g.path, g.parent.fullName+" / "+g.name
			if g.parent.vis == "private" {
				g.vis = "private"
			}
			g.parent.children = append(g.parent.children, g)
		} else {
			g.path, g.name = fmt.Sprintf("ns-%d", i+1), fmt.Sprintf("Namespace %d", i+1)
			g.fullPath, g.fullName = g.path, g.name
		}
		s.groups = append(s.groups, g)
	}
	s.firstPublicProject = int64(len(s.projects) + 1)
	s.projects = append(s.projects, make([]*project, 0, n)...)
	for i := range n {
		g := s.groups[firstGroup+i%nGroups]
		p := &project{id: int64(len(s.projects) + 1), path: fmt.Sprintf("public-%d", i+1), name: fmt.Sprintf("Public %d", i+1),
			group: g, vis: "public", defBranch: s.ver.defaultBranch(), ciEnabled: r.IntN(10) != 0, archived: r.IntN(50) == 0,
			creatorID: firstUser + int64(i%nUsers), nextMRIID: 1, nextIssIID: 1, nextPipeIID: 1}
		if g.vis == "private" || r.IntN(10) == 0 {
			p.vis = "private"
		}
		p.created = at(r)
		p.lastAct = p.created.Add(time.Duration(r.Int64N(int64(epoch.Sub(p.created)) + 1))).Truncate(time.Millisecond)
		p.updated = p.lastAct
		g.projects = append(g.projects, p)
		s.projects = append(s.projects, p)
	}
}

// isPublicWorld reports whether p belongs to the gitlab.com public world.
func (s *Sandbox) isPublicWorld(p *project) bool {
	return s.firstPublicProject > 0 && p.id >= s.firstPublicProject
}

// publicActivityLoop makes perMin changes a minute on random public-world
// projects until ctx ends.
func (s *Sandbox) publicActivityLoop(ctx context.Context, perMin int, mix ActivityMix) {
	if mix == (ActivityMix{}) {
		mix = ActivityMix{1, 1, 1, 1}
	}
	interval := time.Minute / time.Duration(perMin)
	tick := max(interval, 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	r := rand.New(rand.NewPCG(uint64(s.cfg.Seed), 0xac71))
	owed := 0.0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			owed += float64(tick) / float64(interval)
			for ; owed >= 1; owed-- {
				s.publicChange(r, mix)
			}
		}
	}
}

// publicChange makes one change of a kind drawn from mix on a random
// public-world project.
func (s *Sandbox) publicChange(r *rand.Rand, mix ActivityMix) {
	s.mu.RLock()
	n := int64(len(s.projects)) - s.firstPublicProject + 1
	if s.firstPublicProject == 0 || n <= 0 {
		s.mu.RUnlock()
		return
	}
	pid := s.firstPublicProject + r.Int64N(n)
	p := s.projects[pid-1]
	for try := 0; p.archived && try < 8; try++ { // archived projects are read-only
		pid = s.firstPublicProject + r.Int64N(n)
		p = s.projects[pid-1]
	}
	if p.archived {
		s.mu.RUnlock()
		return
	}
	var openMR, openIssue int64
	for i := len(p.mrs) - 1; i >= 0 && openMR == 0; i-- {
		if p.mrs[i].state == stateOpened {
			openMR = p.mrs[i].iid
		}
	}
	for i := len(p.issues) - 1; i >= 0 && openIssue == 0; i-- {
		if p.issues[i].state == stateOpened {
			openIssue = p.issues[i].iid
		}
	}
	ci, hasBranch := p.ciEnabled, p.branch(p.defBranch) != nil
	s.mu.RUnlock()

	total := mix.MergeRequests + mix.Issues + mix.Pushes + mix.Pipelines
	if total <= 0 {
		return
	}
	var err error
	switch x := r.IntN(total); {
	case x < mix.MergeRequests:
		switch {
		case openMR == 0 || r.IntN(2) == 0:
			_, err = s.OpenMR(pid, sentence(r, 4))
		case r.IntN(3) == 0:
			_, err = s.MergeMR(pid, openMR)
		case r.IntN(2) == 0:
			_, err = s.CloseMR(pid, openMR)
		default:
			_, err = s.UpdateMR(pid, openMR, "")
		}
	case x < mix.MergeRequests+mix.Issues:
		if openIssue == 0 || r.IntN(2) == 0 {
			_, err = s.OpenIssue(pid, sentence(r, 5))
		} else {
			_, err = s.CloseIssue(pid, openIssue)
		}
	case x < mix.MergeRequests+mix.Issues+mix.Pushes || !ci:
		_, err = s.Push(pid, "", 1+r.IntN(3))
	default:
		if !hasBranch { // an empty repository gets its first commit, then runs
			_, err = s.Push(pid, "", 1)
		}
		if err == nil {
			_, err = s.RunPipeline(pid, "", []string{"success", "success", "failed"}[r.IntN(3)])
		}
	}
	if err == nil {
		s.publicChanges.Add(1)
	}
}

// connectedUser is whom a credential belongs to unless told otherwise: alice
// on the gitlab.com profile, root elsewhere.
func (s *Sandbox) connectedUser() string {
	if s.dotcom {
		return s.userName
	}
	return "root"
}

// controlTokenOK reports whether v is the control API's own credential.
func (s *Sandbox) controlTokenOK(v string) bool {
	return s.controlToken != "" && subtle.ConstantTimeCompare([]byte(v), []byte(s.controlToken)) == 1
}

// visibilityFor maps a generated visibility to what the profile allows.
func (s *Sandbox) visibilityFor(v string) string {
	if s.dotcom && v == "internal" {
		return "private"
	}
	return v
}

func isDotcom(profile string) (bool, error) {
	switch strings.ToLower(profile) {
	case "", ProfileSelfManaged:
		return false, nil
	case ProfileGitLabCom:
		return true, nil
	}
	return false, fmt.Errorf("sandbox: Profile %q is not %q or %q", profile, ProfileSelfManaged, ProfileGitLabCom)
}
