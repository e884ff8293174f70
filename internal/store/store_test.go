package store_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/clawchat/clawchat/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(storetest.Main(m)) }

func TestContractSQLite(t *testing.T) {
	start := time.Now()
	storetest.RunContract(t, storetest.SQLiteDSN)
	t.Cleanup(func() { t.Logf("SQLite contract suite: %v", time.Since(start)) })
}

func TestContractPostgres(t *testing.T) {
	storetest.PostgresURL(t) // start the server outside the timed part
	start := time.Now()
	storetest.RunContract(t, storetest.PostgresURL)
	t.Cleanup(func() { t.Logf("PostgreSQL contract suite: %v", time.Since(start)) })
}
