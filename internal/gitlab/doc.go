// Package gitlab is the one way labsync talks to a GitLab instance.
//
// It turns what a user typed into a [BaseURL], builds one long-lived HTTP
// client per connection ([New]) whose dialer enforces an [AddressPolicy] on
// the resolved address, whose TLS trusts the system roots plus an optional CA
// ([TLSConfig]), and whose transport refuses every request that could change
// something on the GitLab ([ReadOnly]). It maps GitLab's answers and network
// failures to an [APIError] with a [Kind] and a remedy a platform engineer can
// act on ([Classify], [ClassifyError]), and it knows which GitLab versions
// offer what ([ParseVersion], [Capabilities]). It is the only package that
// imports client-go: the REST calls others make ([Client.CurrentUser],
// [Client.ServerVersion], [Client.FirstProjectsPage], the project hook calls,
// [Client.Get] for pages) answer in labsync's own types. It reaches GitLab directly or
// through an outbound HTTP proxy ([NewProxy], [Options.Proxy]): HTTPS goes
// through a CONNECT tunnel with TLS verified end to end, and GitLab's host
// name is resolved and checked against the address policy before the tunnel
// is asked for. Plain http to a host other than this machine is refused
// unless the connection opted in ([AllowInsecureHTTP]), and never allowed for
// GitLab.com.
//
// This package must never switch TLS verification off, never send a request
// that writes to GitLab other than the OAuth token endpoints and (when the
// connection opted in) webhook registration, and never put a token or a proxy
// credential into an error, a log line or any other output.
package gitlab
