package diagnose

import "strings"

// tokenKind is what a token's form says about it.
type tokenKind struct {
	name string
	// wrong is true when the token can never authenticate to the REST API.
	wrong  bool
	remedy string
}

// tokenPrefixes are GitLab's (and a few other) token prefixes. GitLab adds a
// prefix to each kind of token so that leaked tokens can be recognised; a
// user who pastes the wrong one from the settings pages is told which one it
// was.
var tokenPrefixes = []struct {
	prefix string
	kind   tokenKind
}{
	{"glpat-", tokenKind{name: "a personal, project or group access token"}},
	{"gloas-", tokenKind{name: "an OAuth application secret", wrong: true,
		remedy: "An application secret is not an access token: connect with OAuth using the application ID and this secret, or create a personal access token with the read_api scope."}},
	{"glrtr-", tokenKind{name: "a runner registration token", wrong: true}},
	{"glrt-", tokenKind{name: "a runner authentication token", wrong: true}},
	{"GR1348941", tokenKind{name: "a runner registration token", wrong: true}},
	{"gldt-", tokenKind{name: "a deploy token", wrong: true,
		remedy: "Deploy tokens work only for git clone and the container and package registries, not for the API. " + createTokenRemedy}},
	{"glft-", tokenKind{name: "a feed token (for RSS and calendar feeds)", wrong: true}},
	{"glptt-", tokenKind{name: "a pipeline trigger token", wrong: true}},
	{"glcbt-", tokenKind{name: "a CI/CD job token", wrong: true}},
	{"glimt-", tokenKind{name: "an incoming email token", wrong: true}},
	{"glsoat-", tokenKind{name: "a SCIM token", wrong: true}},
	{"glagent-", tokenKind{name: "a Kubernetes agent token", wrong: true}},
	{"glffct-", tokenKind{name: "a feature flags client token", wrong: true}},
	{"glwt-", tokenKind{name: "a workspace token", wrong: true}},
	{"ghp_", tokenKind{name: "a GitHub token", wrong: true}},
	{"github_pat_", tokenKind{name: "a GitHub token", wrong: true}},
	{"-----BEGIN", tokenKind{name: "a PEM key or certificate", wrong: true}},
	{"ssh-", tokenKind{name: "an SSH public key", wrong: true}},
	{"ecdsa-sha2-", tokenKind{name: "an SSH public key", wrong: true}},
}

// classifyToken recognises a token by its prefix, or returns nil.
func classifyToken(tok string) *tokenKind {
	for _, p := range tokenPrefixes {
		if strings.HasPrefix(tok, p.prefix) {
			k := p.kind
			return &k
		}
	}
	return nil
}
