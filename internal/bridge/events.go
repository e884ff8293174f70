package bridge

import (
	"encoding/json"

	"github.com/clawchat/clawchat/internal/chat"
)

// Gateway connection states as clients see them.
const (
	StateConnected       = "connected"
	StateReconnecting    = "reconnecting"
	StateDown            = "down"
	StatePairingRequired = "pairing_required"
)

// SetGatewayState records the Gateway connection state (connected, reconnecting, down,
// pairing_required), tells every known user with a gateway.status event when it changes, and
// reconciles in-flight runs with chat.history when the connection comes back.
func (s *Service) SetGatewayState(state string) {
	s.mu.Lock()
	prev := s.gwState
	s.gwState = state
	reconnected := state == StateConnected && s.lastConn && prev != StateConnected
	if state == StateConnected {
		s.lastConn = true
	}
	s.mu.Unlock()
	s.tracker.SetConnected(state == StateConnected)
	if prev == state {
		return
	}
	s.cfg.Publisher.PublishAll(chat.GatewayStatus{State: state}.Event())
	if state == StateConnected {
		s.backfillApprovals() // after every (re)connect; a no-op without Config.Approvals
	}
	if reconnected {
		s.goBackground(func() { s.tracker.Reconcile(s.base, false) })
	}
}

// EventGap tells the service that Gateway events were lost; every in-flight run is reconciled
// with chat.history.
func (s *Service) EventGap() {
	s.goBackground(func() { s.tracker.Reconcile(s.base, false) })
	s.backfillApprovals() // approval events may have been lost too
}

// HandleGatewayEvent translates one Gateway event (name, payload) into browser events for the
// owner of its session. Events of sessions nobody may see are dropped. Raw payloads are never
// forwarded. It is called from the Gateway client's single event goroutine, in order, and never
// waits on the store there: an event whose routing needs a store read (a session not seen yet, a
// stale owner list) is handled on a worker of its session instead, in order with every later
// event of that session (bridge/ordered).
func (s *Service) HandleGatewayEvent(name string, payload json.RawMessage) {
	switch name {
	case "chat":
		s.stream.HandleChat(payload)
	case "agent":
		s.stream.HandleAgent(payload)
	case "exec.approval.requested":
		if s.cfg.Approvals {
			// Reads the owners and the session's owner from the store: always on the worker.
			s.ordered(approvalsKey, "", func() { s.onApprovalRequested(payload) }, nil)
		}
	case "exec.approval.resolved":
		if s.cfg.Approvals {
			s.ordered(approvalsKey, "", func() { s.onApprovalResolved(payload) }, nil)
		}
	}
}

// Snapshot returns a run.snapshot event for each of u's active runs (sent after a resync).
func (s *Service) Snapshot(u chat.User) []chat.Event { return s.tracker.Snapshot(u) }

// EndedSnapshot returns one run.snapshot per run of u that ended in the last 10 minutes, oldest
// first, with how it ended (bridge/runs).
func (s *Service) EndedSnapshot(u chat.User) []chat.Event { return s.tracker.EndedSnapshot(u) }
