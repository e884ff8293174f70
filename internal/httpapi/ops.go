package httpapi

import (
	"context"
	"fmt"

	"github.com/clawchat/clawchat/internal/bridge"
	"github.com/clawchat/clawchat/internal/chat"
)

// The operations that REST and the WebSocket both offer have one implementation here: the same
// checks, the same field names in, the same object out (docs/api.md). The REST handlers (rest.go)
// and the WebSocket methods (ws.go) only read their transport's parameters and write the result.

// historyLimitMax bounds the limit a client may ask for (the bridge then caps it at 200).
const historyLimitMax = 1000

// historyOp is one page of a conversation's history. limit 0 is the default; anything else must
// be 1…1000. The WebSocket answers the page as it is; REST adds miso-chat's aliases
// (misoHistoryPage), so the field names are the same and REST's are a superset.
func (a *api) historyOp(ctx context.Context, u chat.User, conversation string, limit int, before string) (bridge.HistoryPage, error) {
	if limit < 0 || limit > historyLimitMax {
		return bridge.HistoryPage{}, chat.Public(chat.ErrInvalid, "limit must be a number from 1 to 1000")
	}
	return a.d.Bridge.History(ctx, u, conversation, limit, before)
}

// abortBody is an abort's fields (the WebSocket adds "conversation").
type abortBody struct {
	RunID string `json:"runId"`
}

// abortResult is the answer to an abort.
type abortResult struct {
	OK      bool `json:"ok"`
	Aborted bool `json:"aborted"`
}

func (a *api) abortOp(ctx context.Context, u chat.User, conversation string, b abortBody) (abortResult, error) {
	aborted, err := a.d.Bridge.Abort(ctx, u, conversation, b.RunID)
	if err != nil {
		return abortResult{}, err
	}
	return abortResult{OK: true, Aborted: aborted}, nil
}

// approvalsResult is the pending exec approvals of an owner (never null).
type approvalsResult struct {
	Approvals []bridge.Approval `json:"approvals"`
}

func (a *api) approvalsOp(ctx context.Context, u chat.User) (approvalsResult, error) {
	list, err := a.d.Bridge.Approvals(ctx, u)
	if err != nil {
		return approvalsResult{}, err
	}
	if list == nil {
		list = []bridge.Approval{}
	}
	return approvalsResult{Approvals: list}, nil
}

// resolveBody is an approval decision (the WebSocket adds "id"; REST has it in the path).
type resolveBody struct {
	Decision string `json:"decision"`
}

// okResult is the answer of an operation that returns nothing else.
type okResult struct {
	OK bool `json:"ok"`
}

// errApprovalNotFound is a member's answer for anything about approvals: they learn nothing.
var errApprovalNotFound = fmt.Errorf("approval not found: %w", chat.ErrNotFound)

func (a *api) resolveOp(ctx context.Context, u chat.User, id string, b resolveBody) (okResult, error) {
	if !u.IsOwner() {
		return okResult{}, errApprovalNotFound
	}
	if err := a.d.Bridge.ResolveApproval(ctx, u, id, b.Decision); err != nil {
		return okResult{}, err
	}
	return okResult{OK: true}, nil
}
