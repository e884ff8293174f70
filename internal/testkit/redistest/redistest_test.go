package redistest_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/testkit/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStart(t *testing.T) {
	var addr string
	t.Run("server", func(t *testing.T) {
		addr = redistest.Start(t)
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Fatalf("addr %q is not loopback", addr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		if err := c.Set(ctx, "k", "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		if v, err := c.Get(ctx, "k").Result(); err != nil || v != "v" {
			t.Fatalf("GET = %q, %v", v, err)
		}
		// No persistence: nothing is ever saved to disk.
		cfg, err := c.ConfigGet(ctx, "save").Result()
		if err != nil || cfg["save"] != "" {
			t.Errorf("save = %q, %v; want persistence off", cfg["save"], err)
		}
		if cfg, err := c.ConfigGet(ctx, "appendonly").Result(); err != nil || cfg["appendonly"] != "no" {
			t.Errorf("appendonly = %q, %v", cfg["appendonly"], err)
		}
	})
	// The subtest's cleanup stopped the server: nothing listens on addr any more, and no
	// redis-server of ours is left running.
	if out, _ := exec.Command("pgrep", "-f", "redis-server 127.0.0.1:"+strings.TrimPrefix(addr, "127.0.0.1:")).Output(); len(out) != 0 {
		t.Errorf("redis-server on %s still running: %s", addr, out)
	}
	c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Errorf("server on %s still answers after cleanup", addr)
	}
}
