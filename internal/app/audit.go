package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// auditEntry appends e to the store's audit log and logs it (the chat core's Config.Audit and
// the Gateway pairing events). Entries hold ids and outcomes, never secrets or message text.
func (s *server) auditEntry(ctx context.Context, e chat.AuditEntry) {
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	s.log.Info("audit", "action", e.Action, "actor", e.Actor, "target", e.Target, "detail", e.Detail)
	if err := s.db.AppendAudit(ctx, e); err != nil {
		s.log.Warn("audit entry not stored", "action", e.Action, "err", err)
	}
}

// ownerIDs lists the ids of every enabled owner account (the chat core sends exec approval
// events to each of them).
func (s *server) ownerIDs(ctx context.Context) ([]string, error) {
	accounts, err := s.db.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list owners: %w", err)
	}
	var ids []string
	for _, a := range accounts {
		if a.Role == chat.RoleOwner && !a.Disabled {
			ids = append(ids, a.ID)
		}
	}
	return ids, nil
}

// pairingAudit turns Gateway status changes into audit entries: entering pairing_required (with
// the pairing request id, which is not a secret: the operator types it into `openclaw devices
// approve`), and the first connection with a device token after that (the pairing was approved).
// It is called from the Gateway client's status goroutine only.
type pairingAudit struct {
	audit   func(context.Context, chat.AuditEntry) // nil: nothing is recorded
	request string                                 // pairing request id last recorded
	waiting bool                                   // pairing_required seen, not yet connected
}

func (p *pairingAudit) observe(st gateway.Status) {
	if p.audit == nil {
		return
	}
	switch st.State {
	case gateway.StatePairingRequired:
		if p.waiting && st.PairingRequestID == p.request {
			return // the same request, retried
		}
		p.waiting, p.request = true, st.PairingRequestID
		p.record("gateway.pairing_required", st.PairingRequestID, map[string]any{"deviceId": st.DeviceID})
	case gateway.StateConnected:
		if !p.waiting {
			return
		}
		p.waiting = false
		if st.AuthMethod == "device-token" {
			p.record("gateway.paired", st.DeviceID, map[string]any{"request": p.request, "authMethod": st.AuthMethod, "scopes": st.Scopes})
		}
	}
}

func (p *pairingAudit) record(action, target string, detail map[string]any) {
	b, _ := json.Marshal(detail)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.audit(ctx, chat.AuditEntry{At: time.Now().UTC(), Action: action, Target: target, Detail: string(b)})
}
