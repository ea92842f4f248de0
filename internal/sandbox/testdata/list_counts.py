"""List a GitLab through python-gitlab, page by page, and print counts as JSON.

Usage: list_counts.py URL TOKEN PER_PAGE

Used by the sandbox's tests to check that a client nobody here wrote sees what
the sandbox's manifest says: projects, and per project merge requests, issues
and pipelines (403 where CI/CD is disabled), plus instance-wide merge requests
and issues with scope=all, and merge requests and issues of every top-level
group (subgroups included); and the review and delivery data: merge request
notes and commits, jobs, environments, deployments, releases (404 before
11.7) and tags.
"""
import json
import sys

import gitlab


def main():
    url, token, per_page = sys.argv[1], sys.argv[2], int(sys.argv[3])
    gl = gitlab.Gitlab(url, private_token=token, per_page=per_page)
    out = {"projects": 0, "pages": 0, "merge_requests": 0, "issues": 0,
           "pipelines": 0, "pipelines_forbidden": 0,
           "all_merge_requests": 0, "all_issues": 0,
           "group_merge_requests": 0, "group_issues": 0,
           "notes": 0, "merge_request_commits": 0, "jobs": 0, "environments": 0,
           "deployments": 0, "releases": 0, "tags": 0}
    projects = gl.projects.list(iterator=True)
    for p in projects:
        out["projects"] += 1
        for mr in p.mergerequests.list(iterator=True, state="all"):
            out["merge_requests"] += 1
            out["notes"] += sum(1 for _ in mr.notes.list(iterator=True))
            out["merge_request_commits"] += sum(1 for _ in mr.commits())
        out["environments"] += sum(1 for _ in p.environments.list(iterator=True))
        out["deployments"] += sum(1 for _ in p.deployments.list(iterator=True))
        out["tags"] += sum(1 for _ in p.tags.list(iterator=True))
        try:
            out["releases"] += sum(1 for _ in p.releases.list(iterator=True))
        except gitlab.exceptions.GitlabListError as e:
            if e.response_code != 404:
                raise
        out["issues"] += sum(1 for _ in p.issues.list(iterator=True, state="all"))
        try:
            out["pipelines"] += sum(1 for _ in p.pipelines.list(iterator=True))
            out["jobs"] += sum(1 for _ in p.jobs.list(iterator=True))
        except gitlab.exceptions.GitlabListError as e:
            if e.response_code != 403:
                raise
            out["pipelines_forbidden"] += 1
    out["pages"] = projects.total_pages or 0
    out["all_merge_requests"] = sum(1 for _ in gl.mergerequests.list(iterator=True, scope="all", state="all"))
    out["all_issues"] = sum(1 for _ in gl.issues.list(iterator=True, scope="all", state="all"))
    for g in gl.groups.list(iterator=True, top_level_only=True, all_available=True):
        out["group_merge_requests"] += sum(1 for _ in g.mergerequests.list(iterator=True, state="all"))
        out["group_issues"] += sum(1 for _ in g.issues.list(iterator=True, state="all"))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
