package syncer

import (
	"context"
	"sync"
	"time"

	"github.com/labsync/labsync/internal/gitlab"
	"github.com/labsync/labsync/internal/secret"
)

// StaticClients is a ClientSource for one GitLab reached with the token
// token() returns at each call (so a test can swap it). It is for tests,
// the sandbox and `labsync bench`; production gets clients from the
// integrations service. Loopback addresses are allowed.
func StaticClients(baseURL string, caPEM []byte, token func() string, timeout time.Duration) ClientSource {
	var mu sync.Mutex
	cache := map[string]*gitlab.Client{}
	return func(ctx context.Context, orgID, integrationID int64) (*gitlab.Client, error) {
		tok := token()
		mu.Lock()
		defer mu.Unlock()
		if c := cache[tok]; c != nil {
			return c, nil
		}
		base, err := gitlab.NormalizeBaseURL(baseURL)
		if err != nil {
			return nil, err
		}
		c, err := gitlab.New(gitlab.Options{BaseURL: base, Token: secret.New(tok), CAPEM: caPEM,
			Policy: gitlab.AddressPolicy{AllowLoopback: true}, Timeout: timeout})
		if err != nil {
			return nil, err
		}
		cache[tok] = c
		return c, nil
	}
}
