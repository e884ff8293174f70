package store_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }

func TestSmoke(t *testing.T) {
	for _, db := range []interface{ Dialect() string }{storetest.SQLite(t), storetest.Postgres(t)} {
		t.Log(db.Dialect())
	}
}
