package sandbox

// ControlsHelp documents the control API under /-/sandbox/ for
// `labsync sandbox --help`: every endpoint and every activity action with
// its parameters. TestControlsHelpNamesEveryActivityAction keeps it in step
// with the actions the control API takes.
const ControlsHelp = `Controls, under <URL>/-/sandbox/ with the control token (the admin token on
self-managed) in Private-Token or Authorization: Bearer:

  GET  manifest          counts per project and group, the bots of access tokens
  GET  requests          request log (?by=route counts per route); DELETE empties it
  GET  deliveries        webhook deliveries made or dropped
  GET  faults            faults in force; PUT replaces them (a spec as above, or JSON)
  GET  settings          {"allow_local_requests_from_web_hooks_and_services": true}; PUT
                         false to block hooks to loopback and private addresses as
                         GitLab does by default since 10.6 (422 "is blocked:
                         Requests to localhost are not allowed" when saved, a failed
                         delivery "URL is blocked: …" when called); --block-local-webhooks
  POST tokens            {"user": "alice", "scopes": ["read_api"], "expires_at": "2030-01-01T00:00:00Z"}:
                         a personal access token (default user root, scope api).
                         {"kind": "project", "project_id": 3}: a project access token;
                         {"kind": "group", "group_id": 2}: a group access token;
                         {"kind": "service_account"}: a service account's token (add
                         "group_id" or "project_id" to make it a member there).
                         These take "access_level" (default 40), "name", "scopes" and
                         "expires_at", act as a bot user (project_3_bot_<hex>,
                         group_2_bot_<hex>, service_account_<hex>; /user answers
                         bot: true) and see only their project or group.
  POST tokens/revoke     {"token": "…"} revokes it
  POST tokens/expire     {"token": "…"} makes it expire now
  POST activity          {"action": "…", …}: one change, answered with what changed;
                         webhooks fire as GitLab's would. Actions and their parameters:
    open_mr              project_id, title (optional): a merge request from a new branch
    update_mr            project_id, iid, title: edits the title
    merge_mr             project_id, iid: merges it (a real merge commit with --git)
    close_mr             project_id, iid
    open_issue           project_id, title (optional)
    close_issue          project_id, iid
    push                 project_id, branch (default: the default branch), commits (default 1)
    run_pipeline         project_id, branch (default: the default branch), status (default success)
    delete_project       project_id: gone at once on self-managed before 18.0, else
                         marked for deletion for --deletion-delay first
    rename_project       project_id, path, name
    transfer_project     project_id, group_id
    archive_project      project_id
    unarchive_project    project_id
    remove_member        user, and project_id or group_id
    delete_issue         project_id, iid (no webhook; 404 afterwards)
    move_issue           project_id, iid, to_project_id (a copy opens in the target,
                         the original closes with moved_to_id)
    comment_mr           project_id, iid, title (the comment's text): a note and Note Hooks
    approve_mr           project_id, iid, user (default alice): an approval (13.2+ or
                         gitlab.com), its system note and event, Merge Request Hooks
    create_release       project_id, name (the tag; default v2.<n>.0): tags the default
                         branch's head and releases it (Tag Push and Release Hooks)
    open_incident        project_id, title (optional): an issue of type incident
  run_pipeline also makes the pipeline's jobs (Job Hooks) and, on the default branch,
  its staging and production deployments (Deployment Hooks).
  An unknown project, merge request or issue answers 404, a change that cannot
  happen (merging a closed merge request, a pipeline where CI/CD is disabled)
  422, a malformed body or an unknown action 400.
`
