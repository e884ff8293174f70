package transcript

import (
	"encoding/json"
	"slices"

	"github.com/clawchat/clawchat/internal/gateway"
)

// This file reads chat.history for one run: is the Gateway running it, is its reply in the
// transcript, which other turn carries it on (bridge/runs reconciles runs with it).

// Verdict is what chat.history says about one run.
type Verdict struct {
	Running  bool    // the Gateway runs it (activeRunIds or inFlightRun)
	InFlight *string // its text so far, when inFlightRun is this run
	UserRow  bool    // its message is in the transcript
	Replied  bool    // an assistant reply with text follows its message (or is tagged with it)
	Reply    string
	Aborted  bool
	Others   []string // other runs the Gateway runs in the session now
	Unknown  bool     // hasActiveRun without activeRunIds or inFlightRun: cannot tell
	Owed     bool     // the Gateway owes the session a restart-recovery turn (not started yet)
}

// Judge reads a chat.history answer for runID.
func Judge(raw *gateway.ChatHistoryResult, runID string) Verdict {
	var v Verdict
	active := raw.SessionInfo.ActiveRunIDs
	if raw.InFlightRun != nil && raw.InFlightRun.RunID != "" {
		if raw.InFlightRun.RunID == runID {
			v.Running = true
			t := raw.InFlightRun.Text
			v.InFlight = &t
		} else {
			v.Others = append(v.Others, raw.InFlightRun.RunID)
		}
	}
	if active != nil {
		for _, id := range *active {
			if id == runID {
				v.Running = true
			} else if !slices.Contains(v.Others, id) {
				v.Others = append(v.Others, id)
			}
		}
	} else if raw.SessionInfo.HasActiveRun && raw.InFlightRun == nil {
		v.Unknown = true
	}
	v.Reply, v.Aborted, v.UserRow = ReplyOf(raw.Messages, runID)
	if !v.UserRow {
		// A reply tagged with the run id (an aborted partial) without its user row.
		for _, row := range raw.Messages {
			var m Row
			if json.Unmarshal(row, &m) == nil && m.Role == "assistant" && m.OpenclawAbort != nil && m.OpenclawAbort.RunID == runID {
				v.UserRow = true
				break
			}
		}
	}
	v.Replied = v.Reply != "" || v.Aborted
	v.Owed = raw.SessionInfo.RecoveryOwed() && raw.InFlightRun == nil
	return v
}

// ReplyOf finds the reply of runID in transcript rows (oldest first): an assistant row tagged with
// the run id, or the assistant text after the user row whose idempotencyKey is "<runID>:user".
func ReplyOf(rows []json.RawMessage, runID string) (text string, aborted, found bool) {
	after := false
	for _, row := range rows {
		var m Row
		if json.Unmarshal(row, &m) != nil {
			continue
		}
		tagged := (m.Meta != nil && m.Meta.RunID == runID) || m.IdempotencyKey == runID+":assistant" ||
			(m.OpenclawAbort != nil && m.OpenclawAbort.RunID == runID)
		switch {
		case m.Role == "user" && m.IdempotencyKey == runID+":user":
			after, found, text = true, true, ""
			continue
		case m.Role == "user" && m.Provenance != nil && m.Provenance.Kind == "internal_system":
			// A prompt the Gateway wrote itself (its recovery turn after a crash: "[System] Your
			// previous turn was interrupted…"): the reply that follows still answers runID.
			continue
		case m.Role == "user":
			if after && !tagged {
				return text, aborted, found
			}
		case m.Role == "assistant" && (after || tagged):
			t, _, _ := gateway.ContentParts(m.Content)
			if t != "" {
				if text != "" {
					text += "\n\n"
				}
				text += t
			}
			found = true
			if m.OpenclawAbort != nil && m.OpenclawAbort.Aborted {
				aborted = true
			}
		}
	}
	return text, aborted, found
}
