package bridge

import (
	"context"

	"github.com/clawchat/clawchat/internal/bridge/runs"
	"github.com/clawchat/clawchat/internal/bridge/sending"
	"github.com/clawchat/clawchat/internal/chat"
)

// Attachment is a file sent with a message; Content is base64.
type Attachment = sending.Attachment

// SendParams is one message from a client.
type SendParams = sending.Params

// SendResult is the answer to a send.
type SendResult = sending.Result

// Send statuses.
const (
	StatusStarted   = runs.StatusStarted
	StatusQueued    = runs.StatusQueued
	StatusDuplicate = runs.StatusDuplicate
)

// PolicyDrift is the policy.drift payload owners get when a member's conversation was refused
// because its Gateway session's policy was changed outside clawchat.
type PolicyDrift = chat.PolicyDrift

// Send sends a message to one of u's conversations (bridge/sending). When the conversation has a
// run going, the message is queued in clawchat (run.queued) and sent when that run ends
// (run.started), so every message gets its own run and reply. A retry with the same client id
// answers duplicate with the same runId and never runs twice.
func (s *Service) Send(ctx context.Context, u chat.User, p SendParams) (SendResult, error) {
	return s.sending.Send(ctx, u, p)
}

// Abort stops u's run in a conversation: runID when given (a queued message is removed from the
// queue), else the conversation's active run. It reports whether something was stopped.
func (s *Service) Abort(ctx context.Context, u chat.User, conversation, runID string) (bool, error) {
	return s.sending.Abort(ctx, u, conversation, runID)
}
