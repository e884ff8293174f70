package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/clawchat/clawchat/internal/auth"
	"github.com/clawchat/clawchat/internal/config"
	"github.com/clawchat/clawchat/internal/gateway"
	"github.com/clawchat/clawchat/internal/push"
	"github.com/clawchat/clawchat/internal/store"
	"github.com/clawchat/clawchat/internal/version"
)

// userCommand manages local accounts in CLAWCHAT_DATA_DIR (or CLAWCHAT_DATABASE_URL), while the
// server runs or not. Every change that ends sessions or changes a role is also written to the
// store's change feed, which running servers poll every second: the user's open WebSocket and
// SSE connections are re-checked and closed or given the new role (see authWatch).
func userCommand(ctx context.Context, args []string, io IO) error {
	dsn, err := storeDSN(io.Env)
	if err != nil {
		return err
	}
	db, err := store.Open(ctx, dsn, nil)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	var st auth.Store = db
	// With Redis sessions, a password change or deletion must revoke the sessions kept there.
	redisURL, err := config.RedisURL(io.Env)
	if err != nil {
		return err
	}
	if ss := io.Env.Getenv("CLAWCHAT_SESSION_STORE"); redisURL != "" && (ss == "" || ss == "redis") {
		rc, err := openRedis(ctx, redisURL)
		if err != nil {
			return err
		}
		defer rc.Close()
		st = auth.Combine(db, auth.NewRedisSessions(rc, "clawchat:", 0))
	}
	st = auth.WithChangeHook(st, func(ctx context.Context, c auth.Change) {
		if err := noteAuthChange(ctx, db, c); err != nil {
			fmt.Fprintf(io.Stderr, "warning: %v\n", err)
		}
	})
	return auth.UserCommand(ctx, st, args, io.Stdin, io.Stdout, io.Stderr)
}

// storeDSN reads only what the store needs, so account commands work without a Gateway token.
func storeDSN(env config.Env) (string, error) {
	if u, err := config.DatabaseURL(env); err != nil || u != "" {
		return u, err
	}
	dir := env.Getenv("CLAWCHAT_DATA_DIR")
	if dir == "" {
		dir = config.DefaultDataDir
	}
	if err := mkdirPrivate(dir); err != nil {
		return "", err
	}
	return filepath.Join(dir, "clawchat.db"), nil
}

// pushKeys prints a fresh VAPID key pair as environment lines.
func pushKeys(io IO) error {
	pub, priv, err := push.GenerateKeys()
	if err != nil {
		return err
	}
	fmt.Fprintf(io.Stdout, "CLAWCHAT_VAPID_PUBLIC_KEY=%s\nCLAWCHAT_VAPID_PRIVATE_KEY=%s\n", pub, priv)
	fmt.Fprintln(io.Stderr, "Keep the private key secret (CLAWCHAT_VAPID_PRIVATE_KEY_FILE works too) and set CLAWCHAT_VAPID_SUBJECT=mailto:you@example.com.")
	return nil
}

// gatewayStatus connects to the Gateway once with clawchat's configuration and device identity
// and reports what it got: state, granted scopes, and the pairing command when pairing is needed.
func gatewayStatus(ctx context.Context, io IO) error {
	cfg, err := config.Load(io.Env)
	if err != nil {
		return err
	}
	dir, err := dataDir(cfg)
	if err != nil {
		return err
	}
	done := make(chan gateway.Status, 1)
	h := &statusWatcher{done: done}
	c, err := gateway.New(gateway.Config{
		URL: cfg.Gateway.URL, Token: cfg.Gateway.Token, Password: cfg.Gateway.Password,
		AllowInsecure: cfg.Gateway.AllowInsecure, Approvals: cfg.Gateway.Approvals, NoAdmin: !cfg.Gateway.Admin,
		StateDir: filepath.Join(dir, "gateway"), ClientVersion: version.String(), DisplayName: "clawchat",
		Handler: h,
	})
	if err != nil {
		return gatewayConfigError(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	go func() { _ = c.Run(rctx) }()
	var st gateway.Status
	select {
	case st = <-done:
	case <-rctx.Done():
		st = c.Status()
	}
	cancel()
	fmt.Fprintf(io.Stdout, "gateway:  %s\nstate:    %s\n", cfg.Gateway.URL, st.State)
	if st.Reason != "" {
		fmt.Fprintf(io.Stdout, "reason:   %s\n", st.Reason)
	}
	if st.GatewayProtocol != 0 {
		fmt.Fprintf(io.Stdout, "protocol: the Gateway speaks %d, clawchat speaks %d\n", st.GatewayProtocol, gateway.Protocol)
	}
	if st.ServerVersion != "" {
		fmt.Fprintf(io.Stdout, "version:  %s\n", st.ServerVersion)
	}
	fmt.Fprintf(io.Stdout, "scopes:   %v\nauth:     %s\ndevice:   %s\n", st.Scopes, st.AuthMethod, st.DeviceID)
	if st.Ready && !slices.Contains(st.Scopes, gateway.ScopeAdmin) {
		fmt.Fprintf(io.Stdout, "members:  cannot send: operator.admin was not granted, and clawchat needs it to keep members' messages from being read as Gateway commands\nfix:      approve the scope upgrade for device %s (openclaw devices approve <requestId>), or set CLAWCHAT_GATEWAY_ADMIN=true with a token that may hold it (docs/security.md)\n", st.DeviceID)
	} else if st.Ready {
		fmt.Fprintf(io.Stdout, "members:  permission mode %s (CLAWCHAT_MEMBER_PERMISSION_MODE)\n", cfg.Chat.MemberPermissionMode)
	}
	if st.ApproveCommand != "" {
		fmt.Fprintf(io.Stdout, "pairing:  request %s is waiting for approval\napprove:  %s   (on the Gateway host)\n", st.PairingRequestID, st.ApproveCommand)
	}
	if !st.Ready {
		return errors.New("gateway connection is not ready")
	}
	return nil
}

// gatewayConfigError names the variable behind a gateway.New error, and for a plaintext URL to a
// host name (such as a Docker or Kubernetes service name) the two ways out.
func gatewayConfigError(err error) error {
	if errors.Is(err, gateway.ErrPlaintextURL) {
		return fmt.Errorf("OPENCLAW_GATEWAY_URL: %w; use wss://, or set CLAWCHAT_GATEWAY_ALLOW_INSECURE=true when the network between clawchat and the Gateway is private (a Docker or cluster network)", gateway.ErrPlaintextURL)
	}
	return fmt.Errorf("OPENCLAW_GATEWAY_URL: %w", err)
}

// statusWatcher reports the first settled status (anything but connecting/disconnected).
type statusWatcher struct{ done chan gateway.Status }

func (w *statusWatcher) HandleEvent(gateway.Event) {}

func (w *statusWatcher) HandleStatus(st gateway.Status) {
	switch st.State {
	case gateway.StateConnecting, gateway.StateDisconnected:
		return
	}
	select {
	case w.done <- st:
	default:
	}
}
