package config

import (
	"sort"
	"strings"
)

// misoAlias is one miso-chat environment variable accepted in place of clawchat's own.
type misoAlias struct {
	old, new string
	// convert turns the miso-chat value into the clawchat one (nil: unchanged).
	convert func(string) string
}

// misoAliases are miso-chat's variables that clawchat accepts, with a deprecation notice, when
// the clawchat variable (and its _FILE form) is unset. Earlier entries win for the same target.
var misoAliases = []misoAlias{
	{"GATEWAY_WS_URL", "OPENCLAW_GATEWAY_URL", nil},
	{"GATEWAY_URL", "OPENCLAW_GATEWAY_URL", httpToWS},
	{"GATEWAY_TOKEN", "OPENCLAW_GATEWAY_TOKEN", nil},
	{"GATEWAY_AUTH_TOKEN", "OPENCLAW_GATEWAY_TOKEN", nil},
	{"PORT", "CLAWCHAT_LISTEN", func(v string) string { return ":" + v }},
	{"LOCAL_USERS", "CLAWCHAT_LOCAL_USERS", nil},
	{"SESSION_COOKIE_SAMESITE", "CLAWCHAT_COOKIE_SAMESITE", nil},
	{"SESSION_COOKIE_SECURE", "CLAWCHAT_COOKIE_SECURE", nil},
	{"CSRF_TRUSTED_ORIGINS", "CLAWCHAT_TRUSTED_ORIGINS", nil},
	{"TRUSTED_PROXY_IPS", "CLAWCHAT_TRUSTED_PROXIES", nil},
	{"REDIS_URL", "CLAWCHAT_REDIS_URL", nil},
	{"PUSH_VAPID_PUBLIC_KEY", "CLAWCHAT_VAPID_PUBLIC_KEY", nil},
	{"VAPID_PUBLIC_KEY", "CLAWCHAT_VAPID_PUBLIC_KEY", nil},
	{"PUSH_VAPID_PRIVATE_KEY", "CLAWCHAT_VAPID_PRIVATE_KEY", nil},
	{"VAPID_PRIVATE_KEY", "CLAWCHAT_VAPID_PRIVATE_KEY", nil},
	{"PUSH_VAPID_SUBJECT", "CLAWCHAT_VAPID_SUBJECT", nil},
	{"PUSH_SUBJECT", "CLAWCHAT_VAPID_SUBJECT", nil},
	{"OIDC_ISSUER", "CLAWCHAT_OIDC_ISSUER", nil},
	{"OIDC_PROVIDER_URL", "CLAWCHAT_OIDC_ISSUER", func(v string) string {
		return strings.TrimSuffix(strings.TrimSuffix(v, "/"), "/.well-known/openid-configuration") + "/"
	}},
	{"OIDC_CLIENT_ID", "CLAWCHAT_OIDC_CLIENT_ID", nil},
	{"OIDC_CLIENT_SECRET", "CLAWCHAT_OIDC_CLIENT_SECRET", nil},
	{"OIDC_CALLBACK_URL", "CLAWCHAT_OIDC_REDIRECT_URL", nil},
	{"OIDC_ISSUER_LABEL", "CLAWCHAT_OIDC_LABEL", nil},
	{"OIDC_PROVIDER_NAME", "CLAWCHAT_OIDC_LABEL", nil},
}

// misoIgnored are miso-chat variables that have no clawchat meaning; each set one gets a notice.
var misoIgnored = map[string]string{
	"SESSION_SECRET": "clawchat's session tokens are random and stored hashed, so no signing secret is needed",
	"OIDC_ENABLED":   "OIDC is on when CLAWCHAT_OIDC_ISSUER is set",
}

// httpToWS turns miso-chat's http(s) GATEWAY_URL (its tools API) into the Gateway's WebSocket URL
// on the same host and port.
func httpToWS(v string) string {
	switch {
	case strings.HasPrefix(v, "http://"):
		return "ws://" + strings.TrimPrefix(v, "http://")
	case strings.HasPrefix(v, "https://"):
		return "wss://" + strings.TrimPrefix(v, "https://")
	}
	return v
}

// withMisoAliases returns env with miso-chat's variables standing in for unset clawchat ones, and
// one notice per miso-chat variable that is set (used, overridden or ignored).
func withMisoAliases(env Env) (Env, []string) {
	get := env.Getenv
	set := func(name string) bool { return strings.TrimSpace(get(name)) != "" }
	values := map[string]string{}
	var notices []string
	for _, a := range misoAliases {
		if !set(a.old) {
			continue
		}
		switch {
		case set(a.new) || set(a.new+"_FILE"):
			notices = append(notices, a.old+" (a miso-chat name) is ignored because "+a.new+" is set; remove it")
		case values[a.new] != "":
			notices = append(notices, a.old+" (a miso-chat name) is ignored because another miso-chat name for "+a.new+" is set; use "+a.new)
		default:
			v := strings.TrimSpace(get(a.old))
			if a.convert != nil {
				v = a.convert(v)
			}
			values[a.new] = v
			notices = append(notices, a.old+" is deprecated (a miso-chat name): use "+a.new+" instead")
		}
	}
	names := make([]string, 0, len(misoIgnored))
	for n := range misoIgnored {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if set(n) {
			notices = append(notices, n+" (a miso-chat name) is accepted and ignored: "+misoIgnored[n])
		}
	}
	if len(values) == 0 {
		return env, notices
	}
	out := env
	out.Getenv = func(name string) string {
		if v, ok := values[name]; ok {
			return v
		}
		return get(name)
	}
	return out, notices
}
