package dora

import "strings"

// The deployment tiers GitLab knows (13.10 and later: environments.tier,
// set by environment:deployment_tier in .gitlab-ci.yml or guessed from the
// name).
const (
	TierProduction  = "production"
	TierStaging     = "staging"
	TierTesting     = "testing"
	TierDevelopment = "development"
	TierOther       = "other"
)

// Tiers lists the tiers in the order a form offers them.
func Tiers() []string {
	return []string{TierProduction, TierStaging, TierTesting, TierDevelopment, TierOther}
}

// ValidTier reports whether t is one of Tiers.
func ValidTier(t string) bool {
	for _, x := range Tiers() {
		if x == t {
			return true
		}
	}
	return false
}

// tierRules are GitLab's name rules for an environment without an explicit
// tier (app/models/environment.rb, Environment#guess_tier, 13.10 and
// later), checked in this order, each a case-insensitive substring match;
// the first rule that matches wins, and a name no rule matches is "other".
// GitLab writes them as regular expressions with optional letters
// (ac(ce|)pt, st(a|)g, mod(e|)l, pr(o|)d); here each option is spelled
// out, which matches the same names. Order matters: "preprod" is staging
// ("pre" is checked before "prod"), "dev-live" is development.
//
// store.doraTierSQL says the same in SQL; a store test keeps them in step.
var tierRules = []struct {
	tier  string
	parts []string
}{
	{TierDevelopment, []string{"dev", "review", "trunk"}},
	{TierTesting, []string{"test", "tst", "int", "acpt", "accept", "qa", "qc", "control", "quality"}},
	{TierStaging, []string{"stg", "stag", "modl", "model", "pre", "demo", "non"}},
	{TierProduction, []string{"prd", "prod", "live"}},
}

// GuessTier returns the tier GitLab gives an environment named name when
// no tier was set: what labsync uses for deployments of GitLab versions
// before 13.10, whose environments have no tier.
func GuessTier(name string) string {
	n := strings.ToLower(name)
	for _, r := range tierRules {
		for _, p := range r.parts {
			if strings.Contains(n, p) {
				return r.tier
			}
		}
	}
	return TierOther
}
