package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/labsync/labsync/internal/problem"
)

// damaged turns an error of Open into a Conflict problem that names what
// could not be read (the integration's credential, the organisation's data
// key, …) and what to do about it, keeping err in its chain (errors.Is
// still matches ErrDecrypt, ErrUnwrap and the others). Errors that do not
// say the stored bytes are damaged or unreadable with this KEK (the key
// store failing, a canceled context) are returned as they are.
func damaged(orgID int64, b Binding, err error) error {
	switch {
	case errors.Is(err, ErrUnwrap), errors.Is(err, ErrKEKMismatch):
		return &problem.Error{Kind: problem.Conflict, Code: "key_damaged", Err: err,
			Message: fmt.Sprintf("The data key of organisation %d cannot be unwrapped, so none of its stored secrets can be read, %s included (%s).",
				orgID, describe(b), strings.TrimPrefix(err.Error(), "vault: ")),
			Remedy: fmt.Sprintf("An operator must restore organisation %d's data key (table org_keys) from a backup of the database, "+
				"or start labsync with the LABSYNC_KEK that wrapped it; `labsync serve` names every organisation whose key does not unwrap.", orgID)}
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrUnsupportedVersion), errors.Is(err, ErrDecrypt), errors.Is(err, ErrUnknownKey):
		return &problem.Error{Kind: problem.Conflict, Code: "secret_damaged", Err: err,
			Message: fmt.Sprintf("%s cannot be decrypted: it is damaged (truncated or altered) or belongs to another row.", upperFirst(describe(b))),
			Remedy:  remedyFor(b)}
	}
	return err
}

// describe names a sealed value by its binding, in words.
func describe(b Binding) string {
	switch b.Table {
	case "credentials":
		return fmt.Sprintf("the stored credential (%s) of integration %s", b.Field, strings.TrimPrefix(b.Row, "integration:"))
	case "oauth_apps":
		return "the client secret of the OAuth application for " + b.Row
	case "webhook_endpoints":
		return fmt.Sprintf("the webhook %s of endpoint %s", b.Field, b.Row)
	case "oauth_states":
		return "a pending OAuth sign-in"
	}
	return fmt.Sprintf("the stored %s of %s %s", b.Field, b.Table, b.Row)
}

func remedyFor(b Binding) string {
	switch b.Table {
	case "credentials":
		return fmt.Sprintf("Reconnect integration %s (connect it again with a new access token or OAuth) to replace the credential.",
			strings.TrimPrefix(b.Row, "integration:"))
	case "oauth_apps":
		return "Save the OAuth application again with its client secret."
	case "webhook_endpoints":
		return "Issue the integration's webhook again and update it in GitLab."
	case "oauth_states":
		return "Start connecting again."
	}
	return "Store the value again; if many values fail, restore the database from a backup."
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// OrgKeyLister lists every stored data key, for CheckKeys.
type OrgKeyLister interface {
	AllOrgKeys(ctx context.Context) (map[int64][]WrappedKey, error)
}

// CheckKeys unwraps every data key in ks with kek and returns an error
// naming each organisation whose key does not unwrap (tampered, truncated,
// wrapped by another KEK) and the remedy; nil when all unwrap. No key
// material is kept or returned.
func CheckKeys(ctx context.Context, kek KEK, ks OrgKeyLister) error {
	all, err := ks.AllOrgKeys(ctx)
	if err != nil {
		return fmt.Errorf("vault: unable to read the data keys: %w", err)
	}
	var bad []error
	for org, keys := range all {
		for _, k := range keys {
			if k.KEKID != kek.ID() {
				bad = append(bad, &KEKMismatchError{OrgID: org, KeyID: k.KeyID, Stored: k.KEKID, InUse: kek.ID()})
				continue
			}
			dek, err := unwrapDEK(kek, org, k.KeyID, k.Wrapped, dekAAD(org, k.KeyID))
			if err != nil {
				bad = append(bad, err)
				continue
			}
			clear(dek)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w; restore the data keys of these organisations (table org_keys) from a backup of the database, "+
		"or start with the LABSYNC_KEK that wrapped them; until then labsync does not start, so that no organisation's secrets are silently unreadable",
		errors.Join(bad...))
}
