// Package gateway is clawchat's client for the OpenClaw Gateway WebSocket protocol
// (version 4). It holds one operator connection, keeps it up, correlates requests and
// delivers events. It knows nothing about users or browsers.
//
// # Using it
//
//	c, err := gateway.New(gateway.Config{
//		URL:      "ws://127.0.0.1:18789",
//		Token:    token,             // or Password
//		StateDir: "/var/lib/clawchat/gateway",
//		Logger:   logger,
//		Handler:  h,                 // HandleEvent + HandleStatus, called from one goroutine
//	})
//	go c.Run(ctx)                     // connects, reconnects forever, returns nil when ctx is done
//	st := c.Status()                  // State, Reason, Scopes, Policy, PairingRequestID, ApproveCommand, …
//	ack, err := c.ChatSend(ctx, gateway.ChatSendParams{SessionKey: k, Message: m, IdempotencyKey: id})
//	err = c.Request(ctx, "sessions.describe", params, &result) // any other method
//
// New validates the Config: the URL must be ws:// or wss://; plaintext ws:// only to
// localhost or a loopback/private/link-local IP unless AllowInsecure; exactly one of
// Token and Password; StateDir is required.
//
// # Connection
//
// Run dials with coder/websocket and sends no Origin header (an Origin turns on the
// Gateway's browser checks and strips a backend's scopes). It waits for
// connect.challenge (bounded by Config.HandshakeTimeout) and sends connect with
// minProtocol = maxProtocol = 4, client {id "gateway-client", mode "backend", version,
// platform runtime.GOOS, displayName}, role "operator", the scopes (default
// operator.read + operator.write, plus operator.approvals when Config.Approvals), caps
// ["tool-events"] (+ "exec-approvals"), auth and an Ed25519 device proof.
//
// Before hello-ok the read limit is 25 MiB (hello-ok is ~17 KB and grows); afterwards it
// is policy.maxPayload, and Request refuses frames larger than that (ErrFrameTooLarge).
//
// # Device identity
//
// Every connect carries a device proof. The Ed25519 key is generated once and stored in
// StateDir/device.json (mode 0600, 32-byte seed + device id). device.id is the lower-hex
// SHA-256 of the raw public key, publicKey is base64url without padding, signedAt is the
// local clock in ms, nonce is the challenge nonce, and the signature covers
//
//	v3|id|gateway-client|backend|operator|<scopes joined ",">|signedAt|<token>|nonce|<platform>|
//
// where <token> is the auth.token sent, else the auth.deviceToken, else "" (password
// auth). On loopback the Gateway accepts it at once and issues no device token; from a
// remote host it asks for pairing.
//
// # Auth choice
//
// If hello-ok carries auth.deviceToken it is stored in StateDir/device-token.json (0600,
// with the granted scopes). Later connects send only auth.deviceToken (+ device proof)
// as long as the stored scopes cover the requested ones; otherwise, or without a device
// token, the shared secret (auth.token or auth.password). Sending the device token alone
// keeps working when the shared token is rotated and is the least-privilege credential.
// AUTH_DEVICE_TOKEN_MISMATCH (revoked/removed device) or AUTH_SCOPE_MISMATCH with the
// device token drops the stored token and falls back to the shared secret, which leads
// to a new pairing request.
//
// # States and retries
//
// Run never returns on failure; it reports through Status/HandleStatus and retries with
// exponential backoff with full jitter between ReconnectMinDelay (500ms) and
// ReconnectMaxDelay (30s); the schedule resets after a connection stayed up 10s. Hints
// from the Gateway raise the next delay: retryAfterMs (AUTH_RATE_LIMITED, UNAVAILABLE),
// shutdown.restartExpectedMs.
//
//   - StateConnecting → StateConnected (ready) or StateNotReady (hello-ok granted fewer
//     scopes than requested, e.g. [] for a remote device-less connection; Reason says
//     "gateway granted no operator scopes: this connection is not local; pair the device …").
//   - StatePairingRequired: NOT_PAIRED/PAIRING_REQUIRED. Status.PairingRequestID and
//     Status.ApproveCommand ("openclaw devices approve <requestId>") are set; a warning
//     is logged once per request id; the client keeps retrying (same key, same request).
//   - StateAuthFailed: wrong token/password, rate limited, device proof rejected, device
//     token rejected. Reason is operator-readable and never contains a secret.
//   - StateRevoked: the Gateway closed with 4001 (device removed, auth changed).
//   - StateIncompatible: the Gateway refused protocol 4, in either form: details.code
//     PROTOCOL_MISMATCH (2026.5.12 and later) or, from protocol-3 Gateways (OpenClaw before
//     2026.5.12), details {expectedProtocol: 3} with no details.code, then close 1002.
//     Status.GatewayProtocol is the Gateway's version; Reason says what to upgrade; the
//     Gateway's message is logged; retries are every IncompatibleRetryDelay (2 min).
//   - StateDisconnected: anything transient (dial error, drop, restart, UNAVAILABLE).
//   - StateStopped: Run returned.
//
// A reconnect is itself a gap: events sent while disconnected are lost. Consumers learn
// it from HandleStatus (StateConnected after a drop) and must resync.
//
// # Requests
//
// Request ids are unique per client ("r<n>"). Responses may arrive out of order. Each
// request waits at most RequestTimeout (default 30s) or the ctx deadline if earlier;
// cancelling ctx abandons it. Without a connection Request fails at once with
// ErrNotConnected; requests pending when the connection drops fail with a wrapped
// ErrNotConnected. Gateway errors are *Error (Code, DetailsCode, Retryable,
// RetryAfter, Details). Inbound payloads are decoded leniently (unknown fields ignored);
// outbound params structs match the Gateway's closed schemas exactly (checked against
// the official protocol.schema.json by the conformance test).
//
// Typed helpers: ChatSend, ChatHistory, ChatAbort, SessionsList, SessionsPatch,
// SessionsDelete, AgentsList, ExecApprovalList, ExecApprovalResolve, Health.
//
// # Events
//
// The Handler gets every event after hello-ok in order from one goroutine (statuses
// interleaved in order). A slow handler stalls the socket read; keep it quick.
//   - Envelope seq (per connection, restarts at reconnect): a forward jump sets
//     Event.Gap{Kind: GapEnvelope}.
//   - agent events: per-run seq; seq ≤ last seen for the runId is dropped as a
//     duplicate; a forward jump sets Event.Gap{Kind: GapRun}. Runs are forgotten on
//     lifecycle end/error; at most 1024 runs are tracked (least recently seen evicted).
//     GapRun is advisory: the Gateway numbers more run events than it sends to one
//     connection (tool events of runs started elsewhere; live, even one skipped seq in
//     a plain run of our own with a contiguous envelope seq). Use it as a hint to prefer
//     the final snapshot / chat.history; GapEnvelope is the reliable loss signal.
//   - chat events are not deduped (the last delta and the final share a seq).
//
// Decode payloads with DecodeChatEvent (ChatEvent, MessageText) and DecodeAgentEvent.
//
// # Liveness
//
// Any inbound frame kicks a watchdog; 2 × policy.tickIntervalMs without one closes the
// connection with 4000 and reconnects. WebSocket pings go out every PingInterval (25s)
// and must be answered within the same period. A shutdown event makes the next delay at
// least restartExpectedMs.
//
// # Secrets
//
// Token, password, the device private key, the device token and message bodies are
// never logged (at any level) and never put into errors: Config and ConnectAuth
// implement slog.LogValuer, Gateway messages are scrubbed of the client's secrets, and
// JSON errors are reduced to offsets and field names.
//
// The fake Gateway for tests is in package gatewaytest.
package gateway
