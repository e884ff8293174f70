package app

import (
	"context"
	"errors"

	"github.com/clawchat/clawchat/internal/auth"
)

// newRedisSessions opens the Redis session store.
func newRedisSessions(ctx context.Context, url string) (auth.SessionStore, error) {
	return nil, errors.New("CLAWCHAT_SESSION_STORE=redis: not available in this build yet")
}
