package api_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/labsync/labsync/internal/config"
	"github.com/labsync/labsync/internal/integrations"
	"github.com/labsync/labsync/internal/problem"
	"github.com/labsync/labsync/internal/sandbox"
	"github.com/labsync/labsync/internal/vault"
)

func TestADamagedAccessTokenCiphertextIsAProblemNamingTheIntegrationAndTheRemedy(t *testing.T) {
	f := newConnectFixture(t)
	sb := startSB(t, small(sandbox.Config{TLS: sandbox.TLSCA}))
	tok := sb.CreateToken(sandbox.TokenSpec{Scopes: []string{"read_api", "read_user"}})
	code, body := f.call(t, "POST", "/api/v1/integrations/gitlab/token", f.owner,
		map[string]any{"base_url": sb.URL(), "token": tok, "alias": "damaged", "ca_pem": string(sb.CAPEM())})
	if code != 201 {
		t.Fatalf("connect: %d %v", code, body)
	}
	id := int64(body["integration"].(map[string]any)["id"].(float64))
	var orig []byte
	if err := f.st.DB().QueryRow(`SELECT ciphertext FROM credentials WHERE integration_id = $1`, id).Scan(&orig); err != nil {
		t.Fatal(err)
	}
	tampered := append([]byte(nil), orig...)
	tampered[len(tampered)-1] ^= 1
	for _, c := range []struct {
		name       string
		ciphertext []byte
		sentinel   error
	}{
		{"truncated", orig[:len(orig)-4], vault.ErrDecrypt},
		{"cut below a header", orig[:10], vault.ErrMalformed},
		{"tampered", tampered, vault.ErrDecrypt},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := f.st.DB().Exec(`UPDATE credentials SET ciphertext = $1 WHERE integration_id = $2`, c.ciphertext, id); err != nil {
				t.Fatal(err)
			}
			// A fresh service, as after a restart: nothing cached.
			svc := integrations.New(f.st, f.vault, nil, config.Config{PublicURL: f.srv.URL, AllowLoopbackGitLab: true}, slog.New(slog.DiscardHandler), nil)
			svc.SetNetworkTimeout(5 * time.Second)
			_, err := svc.Client(context.Background(), f.org, id)
			var p *problem.Error
			if !errors.As(err, &p) || p.Kind != problem.Conflict || !errors.Is(err, c.sentinel) {
				t.Fatalf("want a Conflict problem wrapping %v, got %#v", c.sentinel, err)
			}
			if !strings.Contains(p.Message, fmt.Sprintf("integration %d", id)) || !strings.Contains(p.Remedy, "Reconnect") {
				t.Fatalf("message %q / remedy %q do not name integration %d and say to reconnect", p.Message, p.Remedy, id)
			}
		})
	}
}
