package gitlab

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a GitLab release as /version or /metadata report it.
type Version struct {
	Major      int    `json:"major"`
	Minor      int    `json:"minor"`
	Patch      int    `json:"patch"`
	Enterprise bool   `json:"enterprise"`
	Raw        string `json:"raw"`
}

// ParseVersion reads a GitLab version string such as "17.11.2-ee",
// "16.0.0-pre" or "15.4.1". The -ee suffix sets Enterprise; other suffixes
// (pre, rc1) are ignored. A missing patch number reads as 0.
func ParseVersion(s string) (Version, error) {
	raw := strings.TrimSpace(s)
	core, suffix, _ := strings.Cut(strings.TrimPrefix(raw, "v"), "-")
	core, _, _ = strings.Cut(core, "+")
	parts := strings.Split(core, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return Version{}, fmt.Errorf("gitlab: %q is not a GitLab version", raw)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || p == "" || p[0] == '+' {
			return Version{}, fmt.Errorf("gitlab: %q is not a GitLab version", raw)
		}
		n[i] = v
	}
	ee := false
	for _, f := range strings.FieldsFunc(strings.ToLower(suffix), func(r rune) bool { return r == '-' || r == '.' }) {
		if f == "ee" {
			ee = true
		}
	}
	return Version{Major: n[0], Minor: n[1], Patch: n[2], Enterprise: ee, Raw: raw}, nil
}

// AtLeast reports whether v is major.minor or newer.
func (v Version) AtLeast(major, minor int) bool {
	return v.Major > major || (v.Major == major && v.Minor >= minor)
}

// String returns "17.11.2".
func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Edition returns "Enterprise Edition" or "Community Edition".
func (v Version) Edition() string {
	if v.Enterprise {
		return "Enterprise Edition"
	}
	return "Community Edition"
}

// The oldest GitLab labsync supports, and the oldest that offers every field
// the pipeline and merge request sync reads.
const (
	MinMajor, MinMinor                 = 9, 0
	FullSupportMajor, FullSupportMinor = 14, 0
)

// Supported reports whether labsync can talk to v at all.
func (v Version) Supported() bool { return v.AtLeast(MinMajor, MinMinor) }

// CapabilityStatus says how well labsync can use a feature on a given GitLab.
type CapabilityStatus string

// Capability statuses.
const (
	CapOK          CapabilityStatus = "ok"
	CapDegraded    CapabilityStatus = "degraded"
	CapUnavailable CapabilityStatus = "unavailable"
)

// Capability is one feature labsync relies on and how available it is.
type Capability struct {
	Name   string           `json:"name"`
	Status CapabilityStatus `json:"status"`
	Why    string           `json:"why"`
}

// Names of the capabilities [Capabilities] reports.
const (
	CapAPIv4                   = "api_v4"
	CapTokenIntrospection      = "token_introspection"
	CapMetadata                = "metadata"
	CapDraftField              = "draft_field"
	CapDetailedMergeStatus     = "detailed_merge_status"
	CapMergeUser               = "merge_user"
	CapObjectFormat            = "object_format"
	CapWebhookEventUUID        = "webhook_event_uuid"
	CapInstanceHeader          = "instance_header"
	CapIdempotencyKey          = "idempotency_key"
	CapStandardWebhooksSigning = "standard_webhooks_signing"
	CapKeysetProjectIssues     = "keyset_project_issues"
	CapOAuthExpiringTokens     = "oauth_expiring_tokens"
)

type capRule struct {
	name         string
	major, minor int
	ok, fallback string
	// missing is the status when v is older than major.minor.
	missing CapabilityStatus
}

var capRules = []capRule{
	{CapTokenIntrospection, 15, 5, "/personal_access_tokens/self shows the token's scopes and expiry", "the token is checked with /user and a scope probe; its expiry date cannot be read", CapDegraded},
	{CapMetadata, 15, 2, "/metadata reports version, edition and KAS", "/metadata does not exist; the edition is read from the version string", CapUnavailable},
	{CapDraftField, 14, 0, "merge requests carry draft", "merge requests carry work_in_progress instead of draft", CapDegraded},
	{CapDetailedMergeStatus, 15, 6, "merge requests carry detailed_merge_status", "only the coarser merge_status is available", CapDegraded},
	{CapMergeUser, 14, 7, "merge requests carry merge_user", "merged_by is read instead of merge_user", CapDegraded},
	{CapObjectFormat, 16, 9, "projects report repository_object_format (sha1 or sha256)", "repositories are assumed to use SHA-1 commit ids", CapDegraded},
	{CapWebhookEventUUID, 14, 8, "webhooks carry X-Gitlab-Event-UUID", "deliveries are deduplicated by a hash of their body", CapDegraded},
	{CapInstanceHeader, 15, 5, "webhooks carry X-Gitlab-Instance", "the sending instance is identified by the webhook's URL only", CapDegraded},
	{CapIdempotencyKey, 17, 4, "webhook retries carry a stable Idempotency-Key", "retried deliveries are deduplicated by event UUID plus a hash of the body", CapDegraded},
	{CapStandardWebhooksSigning, 19, 0, "webhooks can be signed (Standard Webhooks, HMAC-SHA256)", "webhooks are authenticated by the shared X-Gitlab-Token secret only", CapDegraded},
	{CapKeysetProjectIssues, 18, 3, "project issues can be paged by keyset", "project issues are paged by offset (GitLab caps offsets at 50,000)", CapDegraded},
	{CapOAuthExpiringTokens, 15, 0, "OAuth access tokens expire after 2 hours and are refreshed", "OAuth access tokens may never expire; labsync refreshes them only when GitLab offers a refresh token", CapDegraded},
}

// Capabilities lists what labsync can use on GitLab v. hasMetadata says
// whether /metadata answered (it may be blocked even on new versions). Below
// GitLab 9.0 every capability is unavailable.
func Capabilities(v Version, hasMetadata bool) []Capability {
	out := make([]Capability, 0, len(capRules)+1)
	if !v.Supported() {
		why := fmt.Sprintf("GitLab %s is older than %d.%d, the oldest version labsync supports", v, MinMajor, MinMinor)
		out = append(out, Capability{Name: CapAPIv4, Status: CapUnavailable, Why: why})
		for _, r := range capRules {
			out = append(out, Capability{Name: r.name, Status: CapUnavailable, Why: why})
		}
		return out
	}
	out = append(out, Capability{Name: CapAPIv4, Status: CapOK, Why: "REST API v4 is available"})
	for _, r := range capRules {
		c := Capability{Name: r.name}
		if v.AtLeast(r.major, r.minor) {
			c.Status, c.Why = CapOK, fmt.Sprintf("%s (since %d.%d)", r.ok, r.major, r.minor)
		} else {
			c.Status, c.Why = r.missing, fmt.Sprintf("%s (needs %d.%d)", r.fallback, r.major, r.minor)
		}
		if r.name == CapMetadata && c.Status == CapOK && !hasMetadata {
			c.Status, c.Why = CapDegraded, "/metadata did not answer; the edition is read from the version string"
		}
		out = append(out, c)
	}
	return out
}
