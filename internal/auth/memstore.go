package auth

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
)

// MemoryStore is an in-memory Store: accounts, sessions and the audit log in maps guarded by one
// mutex. It is safe for concurrent use. It serves as the memory session store of a single
// instance (sessions are lost on restart) and as the store of tests.
type MemoryStore struct {
	mu       sync.Mutex
	accounts map[string]chat.Account
	sessions map[string]chat.Session
	audit    []chat.AuditEntry
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{accounts: map[string]chat.Account{}, sessions: map[string]chat.Session{}}
}

// CreateAccount stores a; ErrConflict when the id, username or OIDC identity is taken.
func (m *MemoryStore) CreateAccount(_ context.Context, a chat.Account) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.clash(a); err != nil {
		return err
	}
	if _, ok := m.accounts[a.ID]; ok {
		return fmt.Errorf("memstore: account id: %w", chat.ErrConflict)
	}
	m.accounts[a.ID] = a
	return nil
}

func (m *MemoryStore) clash(a chat.Account) error {
	for _, o := range m.accounts {
		if o.ID == a.ID {
			continue
		}
		if o.Username == a.Username {
			return fmt.Errorf("memstore: username: %w", chat.ErrConflict)
		}
		if a.OIDCSubject != "" && o.OIDCIssuer == a.OIDCIssuer && o.OIDCSubject == a.OIDCSubject {
			return fmt.Errorf("memstore: oidc identity: %w", chat.ErrConflict)
		}
	}
	return nil
}

// Account returns the account with id.
func (m *MemoryStore) Account(_ context.Context, id string) (chat.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.accounts[id]
	if !ok {
		return chat.Account{}, fmt.Errorf("memstore: account: %w", chat.ErrNotFound)
	}
	return a, nil
}

// AccountByUsername returns the account named username (exact match; names are stored folded).
func (m *MemoryStore) AccountByUsername(_ context.Context, username string) (chat.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.accounts {
		if a.Username == username {
			return a, nil
		}
	}
	return chat.Account{}, fmt.Errorf("memstore: account: %w", chat.ErrNotFound)
}

// AccountByOIDC returns the account linked to issuer+subject.
func (m *MemoryStore) AccountByOIDC(_ context.Context, issuer, subject string) (chat.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, a := range m.accounts {
		if a.OIDCSubject != "" && a.OIDCIssuer == issuer && a.OIDCSubject == subject {
			return a, nil
		}
	}
	return chat.Account{}, fmt.Errorf("memstore: account: %w", chat.ErrNotFound)
}

// UpdateAccount replaces the stored account with a's id.
func (m *MemoryStore) UpdateAccount(_ context.Context, a chat.Account) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.accounts[a.ID]; !ok {
		return fmt.Errorf("memstore: account: %w", chat.ErrNotFound)
	}
	if err := m.clash(a); err != nil {
		return err
	}
	m.accounts[a.ID] = a
	return nil
}

// DeleteAccount removes the account and its sessions.
func (m *MemoryStore) DeleteAccount(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.accounts[id]; !ok {
		return fmt.Errorf("memstore: account: %w", chat.ErrNotFound)
	}
	delete(m.accounts, id)
	for k, s := range m.sessions {
		if s.UserID == id {
			delete(m.sessions, k)
		}
	}
	return nil
}

// Accounts returns all accounts ordered by creation time, then username.
func (m *MemoryStore) Accounts(_ context.Context) ([]chat.Account, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]chat.Account, 0, len(m.accounts))
	for _, a := range m.accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b chat.Account) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.Username, b.Username))
	})
	return out, nil
}

// CountAccounts returns the number of accounts.
func (m *MemoryStore) CountAccounts(_ context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.accounts), nil
}

// AppendAudit records e.
func (m *MemoryStore) AppendAudit(_ context.Context, e chat.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e.ID = int64(len(m.audit) + 1)
	m.audit = append(m.audit, e)
	return nil
}

// Audit returns a copy of the audit log, oldest first.
func (m *MemoryStore) Audit() []chat.AuditEntry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.audit)
}

// CreateSession stores s; ErrConflict when its id exists.
func (m *MemoryStore) CreateSession(_ context.Context, s chat.Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[s.ID]; ok {
		return fmt.Errorf("memstore: session: %w", chat.ErrConflict)
	}
	m.sessions[s.ID] = s
	return nil
}

// Session returns the session with id.
func (m *MemoryStore) Session(_ context.Context, id string) (chat.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return chat.Session{}, fmt.Errorf("memstore: session: %w", chat.ErrNotFound)
	}
	return s, nil
}

// TouchSession sets the session's LastSeenAt.
func (m *MemoryStore) TouchSession(_ context.Context, id string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[id]
	if !ok {
		return fmt.Errorf("memstore: session: %w", chat.ErrNotFound)
	}
	s.LastSeenAt = at
	m.sessions[id] = s
	return nil
}

// DeleteSession removes one session; removing a missing one is not an error.
func (m *MemoryStore) DeleteSession(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, id)
	return nil
}

// DeleteUserSessions removes every session of userID.
func (m *MemoryStore) DeleteUserSessions(_ context.Context, userID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, s := range m.sessions {
		if s.UserID == userID {
			delete(m.sessions, k)
		}
	}
	return nil
}

// DeleteExpiredSessions removes sessions past their absolute expiry or idle for longer than idle.
func (m *MemoryStore) DeleteExpiredSessions(_ context.Context, now time.Time, idle time.Duration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, s := range m.sessions {
		if !now.Before(s.ExpiresAt) || (idle > 0 && now.Sub(s.LastSeenAt) > idle) {
			delete(m.sessions, k)
			n++
		}
	}
	return n, nil
}
