package vault_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/labsync/labsync/internal/vault"
)

// memKeyStore is an in-memory vault.KeyStore: the seam the SQL store fills
// in production. It copies byte slices in and out, as a database would.
type memKeyStore struct {
	mu          sync.Mutex
	keys        map[int64]map[uint32]vault.WrappedKey
	createCalls map[int64]int // CreateOrgKey calls per org
	reads       map[int64]int // OrgKey and OrgKeyByID calls per org

	// beforeCreate, if set, runs at the start of CreateOrgKey, outside the
	// lock: a test uses it to let another process win the race.
	beforeCreate func(orgID int64)
}

func newMemKeyStore() *memKeyStore {
	return &memKeyStore{
		keys:        make(map[int64]map[uint32]vault.WrappedKey),
		createCalls: make(map[int64]int),
		reads:       make(map[int64]int),
	}
}

func cloneKey(k vault.WrappedKey) vault.WrappedKey {
	k.Wrapped = bytes.Clone(k.Wrapped)
	return k
}

func (s *memKeyStore) OrgKey(_ context.Context, orgID int64) (vault.WrappedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[orgID]++
	var cur vault.WrappedKey
	for id, k := range s.keys[orgID] {
		if id > cur.KeyID {
			cur = k
		}
	}
	if cur.KeyID == 0 {
		return vault.WrappedKey{}, fmt.Errorf("org %d: %w", orgID, vault.ErrNoKey)
	}
	return cloneKey(cur), nil
}

func (s *memKeyStore) OrgKeyByID(_ context.Context, orgID int64, keyID uint32) (vault.WrappedKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[orgID]++
	k, ok := s.keys[orgID][keyID]
	if !ok {
		return vault.WrappedKey{}, fmt.Errorf("org %d key %d: %w", orgID, keyID, vault.ErrNoKey)
	}
	return cloneKey(k), nil
}

func (s *memKeyStore) CreateOrgKey(_ context.Context, orgID int64, k vault.WrappedKey) error {
	if s.beforeCreate != nil {
		s.beforeCreate(orgID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createCalls[orgID]++
	if _, ok := s.keys[orgID][k.KeyID]; ok {
		return fmt.Errorf("org %d key %d: %w", orgID, k.KeyID, vault.ErrKeyExists)
	}
	s.put(orgID, k)
	return nil
}

// put stores k, replacing any key with the same id. Callers hold s.mu.
func (s *memKeyStore) put(orgID int64, k vault.WrappedKey) {
	if s.keys[orgID] == nil {
		s.keys[orgID] = make(map[uint32]vault.WrappedKey)
	}
	s.keys[orgID][k.KeyID] = cloneKey(k)
}

// replace stores k over whatever is there, as `labsync keys rotate` does.
func (s *memKeyStore) replace(orgID int64, k vault.WrappedKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(orgID, k)
}

// deleteOrg removes the organisation's keys: crypto-shredding.
func (s *memKeyStore) deleteOrg(orgID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.keys, orgID)
}

// all returns a copy of the organisation's keys.
func (s *memKeyStore) all(orgID int64) []vault.WrappedKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []vault.WrappedKey
	for _, k := range s.keys[orgID] {
		out = append(out, cloneKey(k))
	}
	return out
}

func (s *memKeyStore) counts(orgID int64) (keys, createCalls, reads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys[orgID]), s.createCalls[orgID], s.reads[orgID]
}
