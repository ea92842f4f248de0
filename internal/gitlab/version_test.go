package gitlab

import "testing"

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in      string
		want    Version
		wantErr bool
	}{
		{"17.11.2-ee", Version{17, 11, 2, true, "17.11.2-ee"}, false},
		{"16.0.0-pre", Version{16, 0, 0, false, "16.0.0-pre"}, false},
		{"15.4.1", Version{15, 4, 1, false, "15.4.1"}, false},
		{"13.12.15-ee", Version{13, 12, 15, true, "13.12.15-ee"}, false},
		{"18.3.0-rc42.ee", Version{18, 3, 0, true, "18.3.0-rc42.ee"}, false},
		{"9.0", Version{9, 0, 0, false, "9.0"}, false},
		{" 8.17.0 ", Version{8, 17, 0, false, "8.17.0"}, false},
		{"", Version{}, true},
		{"seventeen", Version{}, true},
		{"17", Version{}, true},
		{"17.x.1", Version{}, true},
		{"1.2.3.4", Version{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseVersion(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error, got %+v", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	status := func(v string, meta bool) map[string]CapabilityStatus {
		ver, err := ParseVersion(v)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]CapabilityStatus{}
		for _, c := range Capabilities(ver, meta) {
			if c.Why == "" {
				t.Errorf("%s %s: no reason", v, c.Name)
			}
			m[c.Name] = c.Status
		}
		return m
	}
	tests := []struct {
		name    string
		version string
		meta    bool
		want    map[string]CapabilityStatus
	}{
		{"19.0 has everything", "19.0.0-ee", true, map[string]CapabilityStatus{
			CapAPIv4: CapOK, CapTokenIntrospection: CapOK, CapMetadata: CapOK, CapDraftField: CapOK, CapDetailedMergeStatus: CapOK,
			CapMergeUser: CapOK, CapObjectFormat: CapOK, CapWebhookEventUUID: CapOK, CapInstanceHeader: CapOK, CapIdempotencyKey: CapOK,
			CapStandardWebhooksSigning: CapOK, CapKeysetProjectIssues: CapOK, CapOAuthExpiringTokens: CapOK}},
		{"15.4 before introspection", "15.4.0", true, map[string]CapabilityStatus{CapTokenIntrospection: CapDegraded, CapMetadata: CapOK, CapDetailedMergeStatus: CapDegraded}},
		{"15.5 introspection", "15.5.0", true, map[string]CapabilityStatus{CapTokenIntrospection: CapOK, CapInstanceHeader: CapOK}},
		{"15.1 no metadata", "15.1.0", false, map[string]CapabilityStatus{CapMetadata: CapUnavailable, CapOAuthExpiringTokens: CapOK}},
		{"metadata blocked on 16", "16.0.0", false, map[string]CapabilityStatus{CapMetadata: CapDegraded}},
		{"17.3 vs idempotency", "17.3.9", true, map[string]CapabilityStatus{CapIdempotencyKey: CapDegraded, CapObjectFormat: CapOK}},
		{"17.4 idempotency", "17.4.0", true, map[string]CapabilityStatus{CapIdempotencyKey: CapOK, CapKeysetProjectIssues: CapDegraded}},
		{"18.3 keyset issues", "18.3.0", true, map[string]CapabilityStatus{CapKeysetProjectIssues: CapOK, CapStandardWebhooksSigning: CapDegraded}},
		{"16.8 vs object format", "16.8.0", true, map[string]CapabilityStatus{CapObjectFormat: CapDegraded}},
		{"13.12 before draft", "13.12.0", false, map[string]CapabilityStatus{CapDraftField: CapDegraded, CapMergeUser: CapDegraded, CapWebhookEventUUID: CapDegraded, CapOAuthExpiringTokens: CapDegraded}},
		{"14.7 merge user, 14.8 uuid", "14.7.0", false, map[string]CapabilityStatus{CapMergeUser: CapOK, CapWebhookEventUUID: CapDegraded, CapDraftField: CapOK}},
		{"9.0 floor supported", "9.0.0", false, map[string]CapabilityStatus{CapAPIv4: CapOK}},
		{"8.17 below floor", "8.17.0", false, map[string]CapabilityStatus{CapAPIv4: CapUnavailable, CapDraftField: CapUnavailable, CapTokenIntrospection: CapUnavailable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := status(tc.version, tc.meta)
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s = %q, want %q", name, got[name], want)
				}
			}
			if len(got) != len(capRules)+1 {
				t.Errorf("%d capabilities", len(got))
			}
		})
	}
}
