package runs

import (
	"github.com/clawchat/clawchat/internal/bridge/runstate"
)

// Message is one message accepted for sending (bridge/runstate): what chat.send gets, kept with
// its run so that it can be sent again with the same idempotency key when the Gateway lost it.
type Message = runstate.Message

// Target is the conversation a message goes to.
type Target = runstate.Target

// Run is a tracked run as other packages hold it (bridge/stream): its ids and its content.
type Run = runstate.Run

// Send statuses.
const (
	StatusStarted   = "started"
	StatusQueued    = "queued"
	StatusDuplicate = "duplicate"
)

// Submit refusals. Submit wraps them together with chat.ErrLimitReached in an error that states
// the bound.
var (
	ErrQueueFull   = runstate.ErrQueueFull
	ErrTooManyRuns = runstate.ErrTooManyRuns
)
