package bridge

import "github.com/clawchat/clawchat/internal/bridge/policy"

// Policy is the Gateway session policy of a member's conversation (bridge/policy).
type Policy = policy.Policy

// DefaultMemberPolicy is the policy of members' sessions when Config.MemberPolicy is nil:
// read-only, no web search.
func DefaultMemberPolicy(agentID string) Policy { return policy.DefaultMemberPolicy(agentID) }
