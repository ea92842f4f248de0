// Package mirror keeps bare Git mirrors of the projects an integration
// selected, under one directory (LABSYNC_MIRROR_DIR, by default "mirrors" in
// the data dir), with Debian's git.
//
// Layout: <dir>/<integration id>/<project id>.git. Ids, never GitLab paths,
// name the directories, so a rename in GitLab moves nothing and no name that
// came from outside ever becomes part of a file path.
//
// A [Manager] clones a project the first time ([Manager.Sync]) and fetches
// it afterwards, either at once or debounced per project ([Manager.Request],
// for push webhooks and the poller). At most [Config.PerIntegration] git
// processes run per integration. A first clone is made in a temporary
// directory and renamed into place only once complete, so a clone cut short
// by a crash is detected by [New] and made again from scratch; stale lock
// files left in a finished mirror by a crashed fetch are removed by [New] as
// well. SHA-256 projects are mirrored in SHA-256 repositories. After fetches
// git's gc runs according to a [GCPolicy]. Every project has a [Status]:
// state, size, last fetch, lag behind the last push seen, and the last error
// with a remedy ([FetchError]).
//
// A mirror holds GitLab's branches, tags and merge request refs
// (refs/heads/*, refs/tags/*, refs/merge-requests/*, pruned), and its HEAD
// follows the project's default branch.
//
// How the credential reaches git: as an "Authorization: Basic" header set
// through GIT_CONFIG_COUNT/GIT_CONFIG_KEY_n/GIT_CONFIG_VALUE_n in the child's
// environment only. The install's CA goes to git with -c http.sslCAInfo=<a
// temporary file> for that one command, next to the system roots; certificate
// verification is forced on and redirects are not followed, so the header
// cannot be carried to another host. With [Config.Proxy] git uses the same
// proxy as labsync's GitLab client, named in its environment too. With
// [Config.CheckAddress] (labsync's GitLab address policy) the manager
// resolves GitLab's host before every fetch and pins git to the allowed
// addresses (http.curloptResolve), or, through a proxy, requires every
// address to be allowed, as the API client does.
//
// This package must never put a credential into a URL, a command line, a
// log line, an error, a file or a mirror's git config; must never switch TLS
// verification off; must never let git connect to an address the address
// policy refuses; must never run anything but fetches (never a push) against
// GitLab; and must never build a file path from a name that came from GitLab
// or a client.
package mirror
