package bridge

import (
	"context"
	"encoding/json"

	"github.com/clawchat/clawchat/internal/bridge/approvals"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Approval decisions an owner may send (bridge/approvals).
const (
	DecisionAllowOnce   = gateway.DecisionAllowOnce
	DecisionAllowAlways = gateway.DecisionAllowAlways
	DecisionDeny        = gateway.DecisionDeny
	DecisionExpired     = approvals.DecisionExpired
)

// Approval is an owner's view of one pending exec approval.
type Approval = chat.Approval

// RunApproval is the run.approval payload.
type RunApproval = chat.RunApproval

// Approvals returns the pending exec approvals for owner u, oldest first. Members get
// chat.ErrNotFound (they may not know approvals exist). Without Config.Approvals the list is empty.
func (s *Service) Approvals(ctx context.Context, u chat.User) ([]Approval, error) {
	return s.appr.List(ctx, u)
}

// ResolveApproval answers a pending exec approval for owner u with decision (allow-once,
// allow-always or deny). Members and unknown or expired ids get chat.ErrNotFound, a bad decision
// chat.ErrInvalid; nothing reaches the Gateway in those cases. The decision is audited.
func (s *Service) ResolveApproval(ctx context.Context, u chat.User, id, decision string) error {
	return s.appr.Resolve(ctx, u, id, decision)
}

func (s *Service) onApprovalRequested(payload json.RawMessage) { s.appr.Requested(payload) }
func (s *Service) onApprovalResolved(payload json.RawMessage)  { s.appr.Resolved(payload) }
func (s *Service) backfillApprovals()                          { s.appr.Backfill() }
