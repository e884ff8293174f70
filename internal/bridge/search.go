package bridge

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/clawchat/clawchat/internal/bridge/sessionkey"
	"github.com/clawchat/clawchat/internal/bridge/transcript"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// SearchHit is a message of one of the user's conversations that matches a search.
type SearchHit struct {
	Conversation string     `json:"conversation"`
	Title        string     `json:"title"`
	MessageID    string     `json:"messageId"`
	Role         string     `json:"role"` // user | assistant
	At           *time.Time `json:"at,omitempty"`
	// Snippet is the Gateway's excerpt of the message (plain text; model output).
	Snippet string `json:"snippet"`
}

const (
	maxSearchQuery   = 200
	maxSearchResults = 25
	searchBatch      = 200 // sessions.search takes at most 200 session keys
)

// Search finds messages containing every word of query (whole words; "…" for a phrase) in u's
// own conversations, archived ones included, best matches first (at most 25). It uses the
// Gateway's transcript index (sessions.search) and always names the sessions to search: only u's
// conversations' keys are sent, and any hit outside them is dropped. Gateway sessions (gw:) are
// not searched.
func (s *Service) Search(ctx context.Context, u chat.User, query string) ([]SearchHit, error) {
	q := searchQuery(query)
	if q == "" {
		return nil, chat.Public(chat.ErrInvalid, fmt.Sprintf("search for 2 to %d characters of words", maxSearchQuery))
	}
	if !sessionkey.ValidUserID(u.ID) {
		return nil, fmt.Errorf("conversation not found: %w", chat.ErrNotFound)
	}
	cs, err := s.cfg.Store.Conversations(ctx, u.ID)
	if err != nil {
		return nil, fmt.Errorf("bridge: search: %w", err)
	}
	byKey := map[string]chat.Conversation{}
	byAgent := map[string][]string{}
	for _, c := range cs {
		if c.UserID != u.ID || c.SessionKey != SessionKey(c.AgentID, u.ID, c.ID) {
			continue
		}
		byKey[c.SessionKey] = c
		byAgent[c.AgentID] = append(byAgent[c.AgentID], c.SessionKey)
	}
	var hits []gateway.SessionsSearchHit
	for agent, keys := range byAgent {
		for batch := range slices.Chunk(keys, searchBatch) {
			res, err := s.gw.SessionsSearch(ctx, gateway.SessionsSearchParams{Query: q, SessionKeys: batch, AgentID: agent, Limit: maxSearchResults})
			if err != nil {
				return nil, err
			}
			hits = append(hits, res.Results...)
		}
	}
	slices.SortStableFunc(hits, func(a, b gateway.SessionsSearchHit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	out := []SearchHit{}
	for _, h := range hits {
		c, ok := byKey[h.SessionKey]
		if !ok || (h.Role != "user" && h.Role != "assistant") {
			continue // never a session that is not u's
		}
		hit := SearchHit{Conversation: c.ID, Title: c.Title, MessageID: h.MessageID, Role: h.Role, Snippet: transcript.Truncate(h.Snippet, 400)}
		if h.Role == "user" {
			hit.Snippet = sessionkey.DisplayUserText(hit.Snippet)
		}
		if h.Timestamp > 0 {
			hit.At = transcript.Time(time.UnixMilli(h.Timestamp))
		}
		out = append(out, hit)
		if len(out) == maxSearchResults {
			break
		}
	}
	return out, nil
}

// searchQuery turns what a user typed into the Gateway's query: each word quoted (so nothing is
// read as a search operator), at least 2 characters of letters or digits, at most maxSearchQuery
// bytes; "" when there is nothing to search for.
func searchQuery(in string) string {
	if !utf8.ValidString(in) || len(in) > maxSearchQuery {
		return ""
	}
	words := strings.FieldsFunc(in, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' && r != '-' && r != '_'
	})
	var parts []string
	n := 0
	for _, w := range words {
		w = strings.Trim(w, "'-_")
		if w == "" {
			continue
		}
		n += utf8.RuneCountInString(w)
		parts = append(parts, `"`+w+`"`)
	}
	if n < 2 {
		return ""
	}
	return strings.Join(parts, " ")
}
