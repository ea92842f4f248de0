package keys_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/labsync/labsync/internal/keys"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/secret"
	"github.com/labsync/labsync/internal/store"
	"github.com/labsync/labsync/internal/vault"
)

func TestStartingWithACorruptedOrganisationKeyFailsNamingTheOrganisation(t *testing.T) {
	kek, b64, err := vault.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	st, org, _ := sealedOrg(t, kek)
	var logs bytes.Buffer
	cfg := keys.Config{KEK: secret.New(b64), DataDir: t.TempDir()}
	if _, err := keys.Load(context.Background(), st, cfg, logger(&logs)); err != nil {
		t.Fatalf("intact keys: %v", err)
	}
	// One byte of the wrapped key flips on disk.
	if _, err := st.DB().Exec(fmt.Sprintf(`UPDATE org_keys SET wrapped = %s WHERE org_id = %d`, flipLastByte(st.Dialect()), org)); err != nil {
		t.Fatal(err)
	}
	_, err = keys.Load(context.Background(), st, cfg, logger(&logs))
	if err == nil {
		t.Fatal("started with a data key that does not unwrap")
	}
	msg := err.Error()
	if !errors.Is(err, vault.ErrUnwrap) || !strings.Contains(msg, fmt.Sprintf("organisation %d", org)) || !strings.Contains(msg, "restore") {
		t.Fatalf("error does not name the organisation and the remedy: %v", err)
	}
}

func TestAValueUnderACorruptedOrganisationKeyIsAProblemNamingTheOrganisation(t *testing.T) {
	kek, _, err := vault.GenerateKEK()
	if err != nil {
		t.Fatal(err)
	}
	st, org, ct := sealedOrg(t, kek)
	if _, err := st.DB().Exec(fmt.Sprintf(`UPDATE org_keys SET wrapped = %s WHERE org_id = %d`, flipLastByte(st.Dialect()), org)); err != nil {
		t.Fatal(err)
	}
	_, err = vault.New(kek, st.OrgKeys()).Open(context.Background(), org, binding, ct)
	var p *problem.Error
	if !errors.As(err, &p) || p.Kind != problem.Conflict || !strings.Contains(p.Message, fmt.Sprintf("organisation %d", org)) ||
		!strings.Contains(p.Remedy, "restore") || !errors.Is(err, vault.ErrUnwrap) {
		t.Fatalf("want a Conflict problem naming organisation %d with a remedy, got %#v", org, err)
	}
}

// flipLastByte is SQL that inverts the last byte of the wrapped column.
func flipLastByte(d store.Dialect) string {
	if d == store.Postgres {
		return `set_byte(wrapped, length(wrapped) - 1, get_byte(wrapped, length(wrapped) - 1) # 255)`
	}
	return `substr(wrapped, 1, length(wrapped) - 1) || CASE WHEN substr(wrapped, -1) = x'00' THEN x'01' ELSE x'00' END`
}
