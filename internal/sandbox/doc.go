// Package sandbox is a simulated GitLab: REST API v4, an OAuth2 provider and
// webhooks, answering as GitLab does for a chosen version profile. No real
// GitLab runs on labsync's machines, so labsync's tests, demos and benchmarks
// run against this package (in-process with Start, or as `labsync sandbox`).
// It is only as useful as it is faithful: field names, status codes, error
// bodies, headers and pagination follow GitLab's source and documentation.
//
// # What it models
//
//   - A dataset generated from a seed: users root (admin), alice, bob and carol;
//     groups and subgroups; projects with merge requests, issues, pipelines,
//     commits on the default branch, branches and events. Dates lie before a
//     fixed epoch (2025-01-01), so equal seeds give equal data. Some projects
//     are archived, some have CI/CD disabled, some (from 16.9) are SHA-256
//     repositories with 64-hex commit ids. Data is kept as compact structs and
//     rendered to JSON per request.
//   - Endpoints: /version, /metadata (15.2+), /user (Entities::UserPublic;
//     is_admin and note only for administrators), /personal_access_tokens/self
//     (15.5+), /projects (membership, min_access_level, owned, search,
//     archived, visibility, last_activity_after/before, updated_after/before
//     from 15.10 paired with order_by=updated_at as GitLab demands,
//     order_by/sort, offset and keyset pagination),
//     /projects/:id, /groups (member groups by default, public and internal
//     ones too with all_available=true, as GroupsFinder), /groups/:id,
//     /groups/:id/subgroups, /groups/:id/projects (include_subgroups,
//     with_shared, archived, order_by last_activity_at and the others),
//     project, group and instance-wide merge_requests and issues (state,
//     scope, created/updated_after/before, order_by, iids[]; group listings
//     include subgroups and only readable projects, non_archived=true by
//     default, 404 for a group the caller cannot see), /projects/:id/pipelines
//     (403 where CI/CD is disabled) and the single pipeline in its detail
//     shape (user, timings, duration, queued_duration, detailed_status), the
//     single merge request with diff_refs, pipeline and head_pipeline,
//     repository commits (ref_name, since, until), branches, events and
//     project hooks CRUD.
//   - Review and delivery data (reviews.go, delivery.go, generated from the
//     seed after the rest): merge request notes (user comments, diff
//     threads that are resolvable and resolved, system notes) and
//     discussions (10.6+), approvals (13.2+ on self-managed CE, always on
//     gitlab.com), the merge request's commit, project events "commented
//     on" (with the note) and "approved" (13.4+), pipeline jobs (build,
//     test and deploy stages, now and then a retried unit job;
//     /projects/:id/jobs with keyset pagination from 15.9 and GitLab.com's
//     600 per minute limit, /pipelines/:id/jobs with include_retried),
//     environments (tier 13.10+), deployments to staging and production
//     from default-branch pipelines (updated_after/before, which need
//     order_by=updated_at from 14.3), tags and releases (11.7+) every
//     fourth good production deployment, and incidents (issue_type
//     incident from 13.12, the "incident" label before). The manifest
//     counts each of them. Webhooks: Note, Job, Deployment, Release and Tag
//     Push Hooks with each version's fields (delivery_hooks.go), fired by
//     CommentMR, ApproveMR, RunPipeline, CreateRelease; OpenIncident opens
//     an incident.
//   - GraphQL (graphql.go, 12.1+): GET and POST /api/graphql answer the
//     pipelines-of-a-project query (project(fullPath){pipelines(first,
//     after){pageInfo nodes{…timings}}}) as keyset pages; mutations over GET
//     are refused with 422 as GitLab does; every other field answers
//     graphql-ruby's "doesn't exist" error.
//   - Two profiles (Config.Profile). self-managed: root's admin token, the
//     seeded dataset only. gitlab.com: an ordinary user (alice, a member of a
//     few seeded groups and projects) connects with a PAT and no admin token
//     exists; a separate control token opens /-/sandbox/; around the seeded
//     dataset lies a public world of other users' groups and projects
//     (PublicProjects, 20,000 by default, about one in ten private, kept as
//     small structs) changed at PublicActivityPerMin without webhooks;
//     /projects, /groups?all_available=true and scope=all list that world;
//     internal visibility does not exist; a project's last_activity_at and
//     updated_at move only with changes that record an event (not pipelines,
//     not edits) and at most once an hour, as GitLab's
//     Event::RESET_PROJECT_ACTIVITY_INTERVAL allows (LastActivityInterval;
//     the self-managed profile moves them on every change unless told);
//     GitLab.com's rate limits apply (2,000 API requests per user and
//     minute, 500 per IP without a token, and per endpoint GET /projects
//     2,000 per 10 minutes, /projects/:id 400, /groups 200, /groups/:id 400,
//     /groups/:id/projects 600 per minute with ApplicationRateLimiter's 429
//     body and Retry-After). No further GitLab.com-only restriction on
//     /projects, /groups, /merge_requests or /issues was found in GitLab's
//     source or docs. See dotcom.go for the sources.
//   - Pagination headers as GitLab's OffsetHeaderBuilder writes them: X-Page,
//     X-Per-Page, X-Next-Page, X-Prev-Page, Link (prev, next, first, last),
//     X-Total and X-Total-Pages, the last two and rel="last" dropped above
//     10,000 rows; per_page capped at 100; the 50,000 offset cap (405) on
//     projects and groups; keyset pagination on projects with order_by=id
//     (Link rel="next" with id_after / id_before).
//   - Authentication with Private-Token, Authorization: Bearer or the
//     private_token/access_token parameters: personal access tokens with
//     scopes and expiry (mandatory from 16.0), expired and revoked tokens
//     (401 invalid_token), missing scopes (403 insufficient_scope), read_api
//     only for GET/HEAD.
//   - Token kinds (access_tokens.go, CreateAccessToken): project access
//     tokens (13.0+) and group access tokens (14.7+) act as a bot user
//     project_<id>_bot_<hex> / group_<id>_bot_<hex> (no random segment
//     before 16.0: project_<id>_bot, project_<id>_bot1, …) that is a member
//     of that one project or group (Maintainer unless told), so it sees
//     that resource and public data only; service accounts (16.1+) are bots
//     service_account_<hex> (a group's: service_account_group_<id>_<hex>)
//     that belong where they are added. /user answers bot: true for all of
//     them, /personal_access_tokens/self gives their scopes and expiry, and
//     GET /projects/:id/access_tokens (13.9+, Maintainers) and
//     /groups/:id/access_tokens (14.7+, Owners) list the active bot tokens
//     with access_level, so a bot finds its own token there.
//   - OAuth2 as GitLab's Doorkeeper: /oauth/authorize with a consent page that
//     a browser can use, redirect URIs matched exactly, authorization_code with
//     PKCE (S256 and plain), single-use codes (10 minutes), refresh tokens that
//     work once and rotate, access tokens that live 7200 s from 15.0,
//     /oauth/revoke and /oauth/token/info. The pre-registered application
//     holds every scope the version offers (OAuthScopes, as Gitlab::Auth's
//     lists grew: read_repository 10.7, profile and email 11.1,
//     write_repository 11.11, read_api 12.10, …) and the redirect URIs of
//     Config.RedirectURIs; administrators register more with the
//     Applications API (POST, GET and DELETE /applications, 10.5+).
//   - Activity (OpenMR, UpdateMR, MergeMR, CloseMR, OpenIssue, CloseIssue,
//     Push, RunPipeline, CommentMR, ApproveMR, CreateRelease, OpenIncident,
//     or a generator at a given rate) that moves updated_at
//     on the sandbox clock and fires project hooks with the version's headers
//     (X-Gitlab-Event, X-Gitlab-Token, X-Gitlab-Event-UUID 14.8+,
//     X-Gitlab-Instance 15.5+, X-Gitlab-Webhook-UUID 16.2+, Idempotency-Key
//     17.4+, Standard Webhooks signature 19.0+) and the payload field sets
//     and time formats of GitLab's webhook_events.md examples. Activity is
//     authored by the project's creator (root in the seeded dataset).
//   - Version differences: draft (14.0+) next to work_in_progress, merge_user
//     (14.7+) next to merged_by, detailed_merge_status (15.6+),
//     repository_object_format (16.9+), default branch master before 14.0,
//     glpat- token prefix from 14.5, gloas- app secrets from 16.0.
//   - Profiles before 12.10 (9.5, 10.8, 11.11; any 9.x–12.x is accepted):
//     no /metadata, no /personal_access_tokens/self, merge_status only, no
//     draft, no references on issues and merge requests before 12.6, no
//     reviewers or squash_commit_sha, no read_api scope (reads need api, or
//     read_user on /user), no keyset pagination (pagination=keyset is
//     ignored and answered with offset pages) and so no 50,000 offset cap,
//     rate limiting answered with Rack::Attack's bare 429 "Retry later"
//     (no RateLimit-* or Retry-After), no instance-wide or group merge
//     request listing before 9.5, no Applications API before 10.5, OAuth
//     scopes as Gitlab::Auth listed them then. GitLab brought keyset
//     pagination in 13.0, read_api in 12.10 and the rate-limit headers in
//     13.8; the sandbox puts these three gates at 12.10 so that 12.10 and
//     later answer as before.
//   - Rate limiting like throttle_authenticated_api (fixed 60 s windows,
//     RateLimit-* headers, 429 "Retry later" with Retry-After); faults on
//     demand (latency, a share of 500/502, stalls, dropped webhooks, tokens
//     expiring mid-run); TLS with its own CA and the broken variants
//     self-signed, expired and wrong host; a request log whose entries name
//     the route, so requests per endpoint can be counted (RequestsByRoute).
//   - Hook state (hook_state.go): recent failures disable a project hook
//     as WebHooks::AutoDisabling does (15.7+; from 15.10 only where the
//     auto_disabling_web_hooks flag is on: the gitlab.com profile, or
//     Config.AutoDisableHooks): before 17.11 four 4xx answers disable it
//     until re-enabled and four 5xx answers or timeouts disable it for a
//     minute, doubling up to a day; from 17.11 every failure backs off and
//     the 40th disables it for good. alert_status and disabled_until show
//     it; a disabled hook is not called. Faults.FailWebhooksStatus makes
//     deliveries fail (a status, or a timeout as a firewall causes). POST
//     /projects/:id/hooks/:hook_id/test/:trigger (16.11+, rate limited from
//     17.0) makes a test delivery that re-enables the hook when it
//     succeeds; GET /projects/:id/hooks/:hook_id/events (17.3+) lists the
//     recent deliveries with status and response (secret redacted).
//   - Webhooks to the local network (local_hooks.go): with
//     Config.BlockLocalWebhooks or SetAllowLocalWebhooks(false), GitLab's
//     default since 10.6, hooks to loopback or private addresses are refused
//     when saved (422 "is blocked: Requests to localhost are not allowed")
//     and fail when called; the sandbox allows them unless told.
//   - Lifecycle changes (lifecycle.go): DeleteProject (gone at once on
//     self-managed before 18.0; elsewhere first marked for deletion as
//     Projects::MarkForDeletionService does — archived, path and name
//     suffixed, marked_for_deletion_at/on — and gone after DeletionDelay on
//     the sandbox clock), RenameProject and TransferProject (the id stays,
//     the old full path keeps answering like GitLab's redirect routes),
//     ArchiveProject, RemoveMember (a private project then answers 404, a
//     public or internal one stays readable), DeleteIssue (404 afterwards, no
//     hook) and MoveIssue (a new issue in the target, the old one closed with
//     moved_to_id). A gone project answers 404 on every route and leaves
//     every listing and X-Total. Faults.DropWebhooksOf drops one project's
//     deliveries while the others deliver.
//   - Real Git (Config.Git, git.go): every project is a bare repository in a
//     temporary directory removed on Close, written with git fast-import
//     from the seed (equal seeds, equal commit ids; SHA-256 projects are
//     SHA-256 repositories), the public world's on first use. The ids the
//     API and the hooks report — commits, branch heads, merge request sha
//     and merge_commit_sha, pipeline sha, push before/after/checkout_sha —
//     are the repository's; Push, OpenMR and MergeMR make real commits (a
//     real merge commit with two parents); refs/merge-requests/<iid>/head
//     exist as in GitLab, and from 12.1 refs/merge-requests/<iid>/merge for
//     open merge requests (the merge of the head into the target, written
//     at Start and by OpenMR; not refreshed when the target moves, not
//     removed 14 days after a merge or close as GitLab does; git.go,
//     hasMergeRef). Git smart HTTP at /<path_with_namespace>.git
//     (info/refs, git-upload-pack; protocol v2 through Git-Protocol;
//     shallow and partial clones) is served by git http-backend as a CGI
//     program, authenticated as lib/gitlab/auth.rb does: Basic with any user
//     name and a token as password (oauth2:<OAuth token> too); download with
//     api, read_api or read_repository, push only with api or
//     write_repository; 401 with WWW-Authenticate: Basic realm="GitLab"
//     without valid credentials (also anonymously on a private project), 404
//     for a project the user cannot read, 403 for a token without a
//     repository scope and for git-receive-pack without push rights. Off,
//     commit ids are invented and no Git is served; on, Start costs one
//     git init and one git fast-import per seeded project.
//   - A control API under /-/sandbox/ (ControlToken) for the same activity,
//     lifecycle changes, faults, tokens, manifest, request log and
//     deliveries.
//
// # What it does not model (yet)
//
//   - Other API resources: issue and commit notes, labels as objects,
//     milestones, members, users listing (and users keyset), single jobs,
//     deployments, environments and releases, approval rules, repository
//     files, trees, diffs, changes of an MR, single-commit endpoints,
//     statistics, search, GraphQL beyond the pipelines query. A merge
//     request has exactly one commit (as in the Git repositories of
//     Config.Git). With Config.Git tags are lightweight refs/tags/<name>
//     even where the API shows a message, and an annotated tag's target is
//     its commit, not a tag object. Several
//     version gates of the new resources are still estimates (the comments
//     at the top of reviews.go, delivery.go, delivery_hooks.go and
//     graphql.go say which, and what was looked at). Job and Deployment
//     Hooks fire once per job with its
//     final status (GitLab fires one per status change).
//   - Keyset pagination on project issues (GitLab 18.3) and groups, cursor
//     parameters, keyset orders other than id, Kaminari's exact headers for
//     pages past the end.
//   - Group hooks, system hooks, resending hook events, retries of failed
//     deliveries, webhook rate limits, custom headers and templates (the
//     masked custom_headers list is always empty), branch_filter_strategy,
//     url_variables, silent mode, applying push_events_branch_filter and
//     branch_filter_strategy to deliveries (both are stored and shown); the
//     hook test endpoint sends the latest note, job, tag or release for
//     those triggers, and answers 422 for wiki, emoji and token triggers.
//   - Real permissions: visibility is private/internal/public with project
//     and group membership, but guests see everything in a readable project,
//     there is no confidentiality, no feature-level access settings beyond
//     CI/CD on/off, no sudo, impersonation, deploy or job tokens, 2FA or
//     admin mode; the access token and service account endpoints other
//     than the two listings (creation, rotation, /service_accounts), tiers
//     (GitLab.com offers project and group tokens on Premium only) and
//     namespace_id/user_type, which GitLab shows administrators only.
//   - Writes through the REST API other than project hooks (creating MRs,
//     issues, projects and so on is done through the activity methods).
//   - Git: without Config.Git, no repository at all (invented commit ids).
//     With it: the seeded history is linear with one file (README.md) per
//     commit; a seeded merged merge request's merge_commit_sha is the first
//     default-branch commit at or after its merge (no seeded merge
//     commits); pushes over Git (git-receive-pack is always refused: with
//     push rights the sandbox answers 403 and takes pushes through
//     the activity API instead), Git over SSH, tags, LFS, the repository
//     files/tree/diff endpoints; a project with pipelines but neither
//     commits nor merge requests keeps invented pipeline shas.
//   - ETag/conditional requests, gzip, Sidekiq latency between a change and its
//     webhook (deliveries are immediate and sequential), X-Request-Id,
//     Cloudflare/HAProxy headers of GitLab.com, GitLab.com-only fields.
//   - On the gitlab.com profile: the search rate limits (search= on issues
//     and merge requests), the users API limits, Cloudflare and HAProxy
//     limits in front of GitLab.com, namespaces of users (public-world
//     projects all live in groups), projects shared with groups (with_shared
//     has nothing to add), forks, stars, and history in public-world projects
//     before the sandbox started (they start with empty repositories and no
//     merge requests or issues; activity fills them).
//   - Per-version gates of the /user fields and of queued_duration are
//     approximate.
//   - On the self-managed profile, by default, last_activity_at moves with
//     every change (GitLab moves it at most hourly; set LastActivityInterval),
//     and pushes do not keep a separate last_repository_updated_at.
//   - Instance-wide /merge_requests applies non_archived=true by default like
//     the group listing; GitLab's instance-wide endpoint has no such filter
//     (gitlab#353137, still open when checked); kept so, as existing tests
//     and the manifest's NonArchived counts rely on it.
//   - Version gates are coarse: a field appears at the release named above
//     and stays, even where GitLab later deprecated or removed it.
//   - Before 12.10, fields GitLab added between 9.0 and 12.9 that the
//     sandbox renders (task_completion_status, has_conflicts,
//     blocking_discussions_resolved and others) are not
//     gated one by one; PKCE, min_access_level and membership filters are
//     served on every profile.
//
// A Sandbox must never listen beyond loopback and never disables TLS
// verification, in itself or for its webhook client.
package sandbox
