package store

import (
	"slices"
	"testing"
)

func TestUpStatements(t *testing.T) {
	src := `-- header comment
-- +goose Up
CREATE TABLE a (
    x INT -- a comment; not the end
);

-- between statements
CREATE INDEX a_x ON a (x);
-- +goose StatementBegin
CREATE TRIGGER t AFTER INSERT ON a BEGIN
    UPDATE a SET x = 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE a;
`
	got, err := upStatements(src)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"CREATE TABLE a (\n    x INT -- a comment; not the end\n);",
		"CREATE INDEX a_x ON a (x);",
		"CREATE TRIGGER t AFTER INSERT ON a BEGIN\n    UPDATE a SET x = 1;\nEND;",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	for name, bad := range map[string]string{
		"no Up":          "CREATE TABLE a (x INT);\n",
		"missing ;":      "-- +goose Up\nCREATE TABLE a (x INT)\n-- +goose Down\n",
		"open block":     "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n",
		"no transaction": "-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;\n",
		"empty Up":       "-- +goose Up\n-- +goose Down\nDROP TABLE a;\n",
	} {
		if _, err := upStatements(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The shipped migrations parse, with the same number of statements in both dialects.
	sq, err := migrations(DialectSQLite)
	if err != nil {
		t.Fatal(err)
	}
	pg, err := migrations(DialectPostgres)
	if err != nil {
		t.Fatal(err)
	}
	if len(sq) != len(pg) || len(sq) == 0 || sq[len(sq)-1].version != SchemaVersion() {
		t.Fatalf("sqlite %d, postgres %d migrations, schema version %d", len(sq), len(pg), SchemaVersion())
	}
	for i := range sq {
		if sq[i].version != pg[i].version || len(sq[i].stmts) != len(pg[i].stmts) {
			t.Errorf("migration %s: %d statements, postgres %s: %d", sq[i].name, len(sq[i].stmts), pg[i].name, len(pg[i].stmts))
		}
	}
}
