package upstream

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/clawchat/clawchat/internal/chat"
	"github.com/clawchat/clawchat/internal/gateway"
)

func TestMapNeverShowsGatewayText(t *testing.T) {
	m := Mapper{Log: slog.New(slog.DiscardHandler)}
	ctx := context.Background()
	cases := []struct {
		err  error
		want error
	}{
		{gateway.ErrNotConnected, chat.ErrUnavailable},
		{&gateway.Error{Code: gateway.CodeInvalidRequest, Message: "bad /srv/openclaw/x"}, chat.ErrInvalid},
		{&gateway.Error{Code: gateway.CodeForbidden, Message: "no /root"}, chat.ErrForbidden},
		{errors.New("dial 10.0.0.1: refused"), chat.ErrUnavailable},
	}
	for _, c := range cases {
		got := m.Map(ctx, "chat.send", c.err)
		if !errors.Is(got, c.want) || strings.Contains(got.Error(), "/") || strings.Contains(got.Error(), "10.0.0.1") {
			t.Errorf("Map(%v) = %v", c.err, got)
		}
	}
	if m.Map(ctx, "x", nil) != nil {
		t.Error("nil mapped to an error")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if got := m.Map(cctx, "x", gateway.ErrNotConnected); !errors.Is(got, context.Canceled) {
		t.Errorf("cancelled: %v", got)
	}
	if got := UserMessage(m.Map(ctx, "x", gateway.ErrNotConnected)); got != "the assistant is not reachable right now" {
		t.Errorf("UserMessage = %q", got)
	}
}
