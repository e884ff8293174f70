package bridge

import (
	"context"
	"fmt"
	"slices"

	"github.com/clawchat/clawchat/internal/bridge/conversations"
	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

// Per-conversation model and thinking level (docs/api.md "Conversation settings").
//
// The Gateway keeps both on the session (sessions.patch model / thinkingLevel, write scope) and
// validates them against its model catalog. clawchat narrows what a user may pick: owners any
// model of models.list and any level the model supports; members only what
// Config.MemberModels / MemberThinkingLevels allow (nothing by default). A member's patch also
// carries the conversation's policy (permission mode and tool overlays), so that the session is
// never created or left without it; the model and thinking level are outside the member policy
// that every send checks (chat.send expectedPermissionMode / expectedToolOverrides), so changing
// them cannot loosen it.

// ModelOption is a model a user may pick.
type ModelOption struct {
	// ID is the sessions.patch reference, "provider/model".
	ID   string `json:"id"`
	Name string `json:"name"`
	// ThinkingLevels are the levels the user may pick with this model (empty: none).
	ThinkingLevels  []string `json:"thinkingLevels"`
	ThinkingDefault string   `json:"thinkingDefault,omitempty"`
}

// Settings are a conversation's model, thinking level and permission mode, and what the user
// may change.
type Settings struct {
	AgentID string `json:"agentId"`
	// Model is the model in effect ("provider/model"; "" when the Gateway does not say).
	Model string `json:"model"`
	// ThinkingLevel is the level in effect ("" = the model's default or none).
	ThinkingLevel string `json:"thinkingLevel"`
	// PermissionMode is the session's Gateway permission mode: for members' conversations the
	// one clawchat enforces, else the session's own or the agent's default ("" unknown).
	PermissionMode string `json:"permissionMode"`
	// Models are the models the user may pick (the current one included when allowed).
	Models []ModelOption `json:"models"`
	// CanChange reports whether the user may change anything here.
	CanChange bool `json:"canChange"`
}

// SettingsParams are the changes to make; nil leaves a field as it is.
type SettingsParams struct {
	Model         *string `json:"model"`
	ThinkingLevel *string `json:"thinkingLevel"`
}

// allowedModels filters the Gateway's catalog to what u may pick: for members the models of
// Config.MemberModels and the conversation's current model (so that an allowed thinking level can
// be picked for it), each with the levels of Config.MemberThinkingLevels.
func (s *Service) allowedModels(u chat.User, all []gateway.ModelChoice, current string) []ModelOption {
	allowModel := func(ref string) bool { return true }
	allowLevel := func(string) bool { return true }
	if !u.IsOwner() {
		allowModel = func(ref string) bool {
			return ref == current || slices.Contains(s.cfg.MemberModels, "*") || slices.Contains(s.cfg.MemberModels, ref)
		}
		allowLevel = func(l string) bool {
			return slices.Contains(s.cfg.MemberThinkingLevels, "*") || slices.Contains(s.cfg.MemberThinkingLevels, l)
		}
	}
	var out []ModelOption
	for _, m := range all {
		if m.Provider == "" || m.ID == "" || (m.Available != nil && !*m.Available) || !allowModel(m.Ref()) {
			continue
		}
		name := m.Name
		if name == "" {
			name = m.ID
		}
		o := ModelOption{ID: m.Ref(), Name: name, ThinkingLevels: []string{}, ThinkingDefault: m.ThinkingDefault}
		for _, l := range m.ThinkingLevels {
			if l.ID != "" && allowLevel(l.ID) {
				o.ThinkingLevels = append(o.ThinkingLevels, l.ID)
			}
		}
		out = append(out, o)
	}
	return out
}

// Settings returns the settings of one of u's conversations.
func (s *Service) Settings(ctx context.Context, u chat.User, conversation string) (Settings, error) {
	c, err := s.conversations.Lookup(ctx, u, conversation)
	if err != nil {
		return Settings{}, err
	}
	return s.settings(ctx, u, c, nil)
}

// settings reads the session's row and the model catalog; resolved (from a patch) wins over
// the row for the model and level.
func (s *Service) settings(ctx context.Context, u chat.User, c chat.Conversation, resolved *gateway.ResolvedSession) (Settings, error) {
	out := Settings{AgentID: c.AgentID, Models: []ModelOption{}}
	models, err := s.gw.ModelsList(ctx, gateway.ModelsListParams{AgentID: c.AgentID})
	if err != nil {
		return Settings{}, err
	}
	rows, err := s.gw.SessionsList(ctx, gateway.SessionsListParams{Search: c.SessionKey, Limit: 20})
	if err != nil {
		return Settings{}, err
	}
	for _, r := range rows.Sessions {
		if r.Key != c.SessionKey {
			continue
		}
		if r.ModelProvider != "" && r.Model != "" {
			out.Model = r.ModelProvider + "/" + r.Model
		}
		out.ThinkingLevel = r.ThinkingLevel
		out.PermissionMode = r.PermissionMode
	}
	if resolved != nil {
		if resolved.ModelProvider != "" && resolved.Model != "" {
			out.Model = resolved.ModelProvider + "/" + resolved.Model
		}
		out.ThinkingLevel = resolved.ThinkingLevel
	}
	if d := rows.Defaults; out.Model == "" && d != nil && d.ModelProvider != "" && d.Model != "" {
		out.Model = d.ModelProvider + "/" + d.Model // a session that does not exist yet
	}
	out.Models = s.allowedModels(u, models.Models, out.Model)
	if out.Models == nil {
		out.Models = []ModelOption{}
	}
	switch {
	case !u.IsOwner() && !conversations.IsGateway(c):
		out.PermissionMode = s.policy.ForMember(c.AgentID).Mode
	case out.PermissionMode == "":
		if agents, err := s.gw.AgentsList(ctx); err == nil {
			for _, a := range agents.Agents {
				if a.ID == c.AgentID {
					out.PermissionMode = a.DefaultPermissionMode
				}
			}
		}
	}
	out.CanChange = !conversations.IsGateway(c) && len(out.Models) > 0 && (u.IsOwner() || len(s.cfg.MemberModels) > 0 || len(s.cfg.MemberThinkingLevels) > 0)
	return out, nil
}

// UpdateSettings changes the model and/or thinking level of one of u's conversations, within
// what u may pick (chat.ErrForbidden otherwise), and returns the settings now.
func (s *Service) UpdateSettings(ctx context.Context, u chat.User, conversation string, p SettingsParams) (Settings, error) {
	c, err := s.conversations.Lookup(ctx, u, conversation)
	if err != nil {
		return Settings{}, err
	}
	if conversations.IsGateway(c) {
		return Settings{}, fmt.Errorf("gateway sessions cannot be changed here: %w", chat.ErrForbidden)
	}
	if p.Model == nil && p.ThinkingLevel == nil {
		return s.settings(ctx, u, c, nil)
	}
	cur, err := s.settings(ctx, u, c, nil)
	if err != nil {
		return Settings{}, err
	}
	model := cur.Model
	if p.Model != nil {
		model = *p.Model
	}
	i := slices.IndexFunc(cur.Models, func(m ModelOption) bool { return m.ID == model })
	if i < 0 {
		return Settings{}, chat.Public(chat.ErrForbidden, "that model is not available to you here")
	}
	if p.ThinkingLevel != nil && !slices.Contains(cur.Models[i].ThinkingLevels, *p.ThinkingLevel) {
		return Settings{}, chat.Public(chat.ErrForbidden, "that thinking level is not available to you with this model")
	}
	if p.Model != nil && p.ThinkingLevel == nil && cur.ThinkingLevel != "" && !slices.Contains(cur.Models[i].ThinkingLevels, cur.ThinkingLevel) {
		// The new model does not support the current level (or the user may not keep it): use
		// the model's default level.
		none := cur.Models[i].ThinkingDefault
		if !slices.Contains(cur.Models[i].ThinkingLevels, none) {
			return Settings{}, chat.Public(chat.ErrForbidden, "pick a thinking level for this model")
		}
		p.ThinkingLevel = &none
	}
	patch := gateway.SessionsPatchParams{Key: c.SessionKey, Model: p.Model, ThinkingLevel: p.ThinkingLevel}
	if !u.IsOwner() {
		pol := s.policy.ForMember(c.AgentID)
		patch.PermissionMode = &pol.Mode
		patch.ToolOverrides = &gateway.ToolOverridesOrNone{V: pol.Tools}
	}
	res, err := s.gw.SessionsPatch(ctx, patch)
	if err != nil {
		return Settings{}, err
	}
	s.audit(ctx, u, "conversation.settings", c.ID, map[string]any{"model": model, "thinkingLevel": p.ThinkingLevel})
	return s.settings(ctx, u, c, res.Resolved)
}
