package dora

import "github.com/labsync/labsync/internal/ingest"

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

// GuessTier returns the tier GitLab gives an environment named name when
// no tier was set (Environment#guess_tier, app/models/environment.rb,
// 13.10): the rules the normaliser applies to deployments of GitLab
// versions before 13.10, whose environments have no tier, and the store's
// DORA queries to any row stored without one (docs/dora.md lists them).
func GuessTier(name string) string { return ingest.EnvironmentTier(name, "") }
