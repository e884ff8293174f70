package app

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// openRedis connects to CLAWCHAT_REDIS_URL (Redis or Dragonfly) and checks it answers, so a bad
// URL stops the start instead of the first sign-in.
func openRedis(ctx context.Context, url string) (*redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		// The URL may hold a password: never echo it.
		return nil, fmt.Errorf("CLAWCHAT_REDIS_URL: not a valid redis:// URL")
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("CLAWCHAT_REDIS_URL: Redis at %s does not answer: %w", opts.Addr, err)
	}
	return c, nil
}
