package runs

import (
	"errors"

	"github.com/clawchat/clawchat/internal/bridge/policy"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Message is one message accepted for sending: what chat.send gets, kept with its run so that it
// can be sent again with the same idempotency key when the Gateway lost it.
type Message struct {
	RunID     string // the Gateway idempotency key (sessionkey.IdempotencyKey)
	MessageID string // the client's message id
	Text      string // exactly as typed: what the Gateway, the transcript and the model get
	// Attachments are sent with the message as they are.
	Attachments []gateway.ChatAttachment
	Sender      chat.User      // who sent it (identity for the agent)
	Suppress    bool           // send with suppressCommandInterpretation (members, unless allowlisted)
	Policy      *policy.Policy // the session policy the send is conditional on (members); nil: none
	// AgentContext is what the agent reads after the sender line (an embedded message's page
	// context, bridge/sending); never in the transcript.
	AgentContext string
}

// Target is the conversation a message goes to.
type Target struct {
	Key    string // Gateway session key
	UserID string // the conversation's owner
	ConvID string // the conversation id as its owner's clients know it
}

// Send statuses.
const (
	StatusStarted   = "started"
	StatusQueued    = "queued"
	StatusDuplicate = "duplicate"
)

// Submit refusals. Submit wraps them together with chat.ErrLimitReached in an error that states
// the bound.
var (
	ErrQueueFull   = errors.New("runs: too many queued messages in this conversation")
	ErrTooManyRuns = errors.New("runs: too many runs of this user at once")
)
