package bridge

import (
	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/gateway"
)

// rawHistory is a chat.history answer.
type rawHistory = gateway.ChatHistoryResult

// rawMessage is one transcript row.
type rawMessage = transcript.Row
