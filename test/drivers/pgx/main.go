// pgx v4 (Debian golang-github-jackc-pgx-v4-dev) through the driver matrix: one JSON line per scenario named in
// DRIVER_SCENARIOS. Connection from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE; DRIVER_TAG prefixes table
// and channel names. Built offline in GOPATH mode against /usr/share/gocode (see test/fixtures/driver-env.ts).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgtype"
	"github.com/jackc/pgx/v4"
)

const iterations = 50

var (
	tag         = envOr("DRIVER_TAG", "pgx")
	concurrency = atoi(envOr("DRIVER_CONCURRENCY", "6"))
	valI        = int32(-42)
	valT        = "h\u20acllo, 'quoted' \"d\" \\ end"
	valB        = []byte{0x00, 0xff, 0x10}
	valTS       = time.Date(2024, 2, 29, 12, 34, 56, 789000000, time.UTC)
)

const paramsSQL = "SELECT i, t, b, ts, n, nul, (i = -42 AND t = 'h' || chr(8364) || 'llo, ''quoted'' \"d\" \\ end' AND b = '\\x00ff10'::bytea" +
	" AND ts = '2024-02-29 12:34:56.789+00'::timestamptz AND n = 12345.6789 AND nul IS NULL) AS server_ok" +
	" FROM (SELECT $1::int4 AS i, $2::text AS t, $3::bytea AS b, $4::timestamptz AS ts, $5::numeric AS n, $6::int4 AS nul) s"

func envOr(k, d string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return d
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

type checkFailed struct{ msg string }

func (c checkFailed) Error() string { return c.msg }

func check(cond bool, format string, args ...interface{}) {
	if !cond {
		panic(checkFailed{fmt.Sprintf(format, args...)})
	}
}

func must(err error, what string) {
	if err != nil {
		panic(fmt.Errorf("%s: %w", what, err))
	}
}

func dsn(user, password string) string {
	q := func(v string) string { return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", `\'`) + "'" }
	return fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=%s connect_timeout=10",
		q(os.Getenv("PGHOST")), q(os.Getenv("PGPORT")), q(user), q(password), q(os.Getenv("PGDATABASE")), q(envOr("PGSSLMODE", "require")))
}

func connectAs(ctx context.Context, user, password string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, dsn(user, password))
}

func connect(ctx context.Context) *pgx.Conn {
	c, err := connectAs(ctx, os.Getenv("PGUSER"), os.Getenv("PGPASSWORD"))
	must(err, "connect")
	return c
}

func sqlstate(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

func expectError(sqlstateWanted, what string, err error) error {
	check(err != nil, "%s: expected SQLSTATE %s, but it succeeded", what, sqlstateWanted)
	check(sqlstate(err) == sqlstateWanted, "%s: expected SQLSTATE %s, got %s: %v", what, sqlstateWanted, sqlstate(err), err)
	return err
}

func intOf(ctx context.Context, c *pgx.Conn, sql string, args ...interface{}) int64 {
	var v int64
	must(c.QueryRow(ctx, sql, args...).Scan(&v), sql)
	return v
}

func numericEquals(n pgtype.Numeric, want string) bool {
	if n.Status != pgtype.Present || n.Int == nil {
		return false
	}
	r := new(big.Rat).SetInt(n.Int)
	scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(n.Exp))), nil))
	if n.Exp < 0 {
		r.Quo(r, scale)
	} else {
		r.Mul(r, scale)
	}
	w, _ := new(big.Rat).SetString(want)
	return r.Cmp(w) == 0
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

func paramsBinary(ctx context.Context) string {
	c := connect(ctx)
	defer c.Close(ctx)
	var (
		i        int32
		t        string
		b        []byte
		ts       time.Time
		n        pgtype.Numeric
		nul      *int32
		serverOK bool
	)
	must(c.QueryRow(ctx, paramsSQL, valI, valT, valB, valTS, "12345.6789", nil).Scan(&i, &t, &b, &ts, &n, &nul, &serverOK), "query")
	check(i == valI && t == valT && bytes.Equal(b, valB) && ts.Equal(valTS) && numericEquals(n, "12345.6789") && nul == nil,
		"binary round trip gave %v %q %x %v %v %v", i, t, b, ts, n, nul)
	check(serverOK, "the server saw different values (server_ok=false)")
	return "int, text, bytea, timestamptz, numeric, NULL with pgx's binary encoding"
}

func paramsText(ctx context.Context) string {
	c := connect(ctx)
	defer c.Close(ctx)
	_, err := c.Exec(ctx, "SET TimeZone = 'UTC'")
	must(err, "SET TimeZone")
	// pgconn's ExecParams with format codes 0: every parameter and result as text.
	params := [][]byte{[]byte("-42"), []byte(valT), []byte(`\x00ff10`), []byte("2024-02-29 12:34:56.789+00"), []byte("12345.6789"), nil}
	res := c.PgConn().ExecParams(ctx, paramsSQL, params, nil, []int16{0}, []int16{0}).Read()
	must(res.Err, "ExecParams")
	check(len(res.Rows) == 1, "rows: %d", len(res.Rows))
	row := res.Rows[0]
	got := []string{string(row[0]), string(row[1]), string(row[2]), string(row[3]), string(row[4])}
	want := []string{"-42", valT, `\x00ff10`, "2024-02-29 12:34:56.789+00", "12345.6789"}
	check(reflect.DeepEqual(got, want) && row[5] == nil, "text round trip gave %q null=%v", got, row[5] == nil)
	check(string(row[6]) == "t", "the server saw different values (server_ok=%s)", row[6])
	return "int, text, bytea, timestamptz, numeric, NULL as text through pgconn.ExecParams"
}

func stmtCacheConcurrency(ctx context.Context) string {
	var mu sync.Mutex
	var failures []string
	fail := func(s string) {
		mu.Lock()
		failures = append(failures, s)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := 1; w <= concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					fail(fmt.Sprintf("worker %d: %v", w, r))
				}
			}()
			// pgx's default: every query becomes a named prepared statement in the connection's statement cache.
			c, err := connectAs(ctx, os.Getenv("PGUSER"), os.Getenv("PGPASSWORD"))
			if err != nil {
				fail(fmt.Sprintf("worker %d: %v", w, err))
				return
			}
			defer c.Close(ctx)
			for i := 0; i < iterations; i++ {
				var v int
				if err := c.QueryRow(ctx, fmt.Sprintf("SELECT $1::int * 1000 + $2::int AS v /* variant %d */", i%3), w, i).Scan(&v); err != nil {
					fail(fmt.Sprintf("worker %d query %d: %v", w, i, describe(err)))
					return
				}
				if v != w*1000+i {
					fail(fmt.Sprintf("worker %d query %d: got %d, expected %d", w, i, v, w*1000+i))
					return
				}
			}
		}(w)
	}
	wg.Wait()
	if len(failures) > 5 {
		failures = failures[:5]
	}
	check(len(failures) == 0, "%s", strings.Join(failures, "; "))
	return fmt.Sprintf("%d connections x %d queries through pgx's prepared statement cache, each result its own", concurrency, iterations)
}

func stillWorks(ctx context.Context, c *pgx.Conn, after string) {
	var v int
	err := c.QueryRow(ctx, "SELECT 1").Scan(&v)
	check(err == nil && v == 1, "after %s: SELECT 1 failed (%v) - an error reported late?", after, err)
}

func prepareErrors(ctx context.Context) string {
	c := connect(ctx)
	defer c.Close(ctx)
	_, err := c.Prepare(ctx, "drv_syntax", "SELEC 1")
	expectError("42601", "Prepare with a syntax error", err)
	stillWorks(ctx, c, "the syntax error")
	_, err = c.Prepare(ctx, "drv_missing", "SELECT * FROM drv_no_such_table")
	expectError("42P01", "Prepare of a missing table", err)
	stillWorks(ctx, c, "the missing table")
	_, err = c.Prepare(ctx, "drv_stmt", "SELECT $1::int + 1")
	must(err, "Prepare drv_stmt")
	_, err = c.Prepare(ctx, "drv_stmt", "SELECT $1::int + 2") // another text under the same name reaches the server
	err = expectError("42P05", "preparing drv_stmt twice", err)
	check(strings.Contains(err.Error(), `prepared statement "drv_stmt" already exists`), "42P05 message does not name drv_stmt: %v", err)
	var v int
	must(c.QueryRow(ctx, "drv_stmt", 41).Scan(&v), "the first drv_stmt after the duplicate")
	check(v == 42, "drv_stmt gave %d", v)
	// pgx itself counts arguments; pgconn sends what it is given.
	res := c.PgConn().ExecPrepared(ctx, "drv_stmt", [][]byte{[]byte("1"), []byte("2")}, nil, nil).Read()
	check(res.Err != nil, "executing drv_stmt with 2 params instead of 1 succeeded")
	check(strings.Contains(res.Err.Error(), `"drv_stmt"`), "wrong-parameter-count error does not name drv_stmt: %v", res.Err)
	stillWorks(ctx, c, "the wrong parameter count")
	return "42601 and 42P01 at Prepare, 42P05 naming drv_stmt, wrong param count names drv_stmt"
}

func batchPipeline(ctx context.Context) string {
	table := tag + "_batch"
	c := connect(ctx)
	defer c.Close(ctx)
	_, err := c.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY)", table, table))
	must(err, "create table")
	b := &pgx.Batch{}
	ins := fmt.Sprintf("INSERT INTO %s VALUES ($1)", table)
	b.Queue(ins, 1)
	b.Queue(ins, 1) // 23505
	b.Queue(ins, 3)
	br := c.SendBatch(ctx, b)
	_, err1 := br.Exec()
	_, err2 := br.Exec()
	_, err3 := br.Exec()
	errClose := br.Close()
	check(err1 == nil, "first statement of the batch: %v", err1)
	expectError("23505", "second statement of the batch", err2)
	check(err3 != nil, "third statement of the batch ran after the error")
	check(errClose == nil || sqlstate(errClose) == "23505", "closing the batch: %v", errClose)
	check(intOf(ctx, c, "SELECT 7") == 7, "connection after the failed batch")
	// One Sync ends the batch, so it is one implicit transaction: the error undid row 1.
	check(intOf(ctx, c, "SELECT count(*) FROM "+table) == 0, "rows left by the failed batch")
	b = &pgx.Batch{}
	for i := 10; i < 30; i++ {
		b.Queue(ins, i)
	}
	b.Queue("SELECT count(*) FROM " + table)
	br = c.SendBatch(ctx, b)
	for i := 10; i < 30; i++ {
		_, err := br.Exec()
		must(err, "batch insert")
	}
	var n int
	must(br.QueryRow().Scan(&n), "count in batch")
	must(br.Close(), "close batch")
	check(n == 20, "count(*) read in the batch: %d", n)
	_, err = c.Exec(ctx, "DROP TABLE "+table)
	must(err, "drop")
	return "Batch with 23505 in the middle: the error on its own statement, the rest skipped; a 21-statement batch then"
}

func copyInOut(ctx context.Context) string {
	table := tag + "_copy"
	c := connect(ctx)
	defer c.Close(ctx)
	_, err := c.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int, name text)", table, table))
	must(err, "create table")
	rows := [][]interface{}{{1, "plain"}, {2, "tab\there"}, {3, "new\nline"}, {4, `back\slash`}, {5, nil}, {6, "\u20ac uni"}}
	n, err := c.CopyFrom(ctx, pgx.Identifier{table}, []string{"id", "name"}, pgx.CopyFromRows(rows))
	must(err, "CopyFrom")
	check(n == int64(len(rows)), "CopyFrom stored %d rows", n)
	var buf bytes.Buffer
	_, err = c.PgConn().CopyTo(ctx, &buf, fmt.Sprintf("COPY (SELECT id, name FROM %s ORDER BY id) TO STDOUT", table))
	must(err, "CopyTo")
	want := "1\tplain\n2\ttab\\there\n3\tnew\\nline\n4\tback\\\\slash\n5\t\\N\n6\t\u20ac uni\n"
	check(buf.String() == want, "COPY TO gave %q", buf.String())
	_, err = c.Exec(ctx, "DROP TABLE "+table)
	must(err, "drop")
	return "6 rows with tab, newline, backslash, NULL, unicode in (binary CopyFrom) and out (CopyTo)"
}

func cursorInTx(ctx context.Context) string {
	c := connect(ctx)
	defer c.Close(ctx)
	tx, err := c.Begin(ctx)
	must(err, "begin")
	_, err = tx.Exec(ctx, "DECLARE drv_cursor CURSOR FOR SELECT g FROM generate_series(1, 100) g")
	must(err, "declare")
	var got []int
	for {
		rows, err := tx.Query(ctx, "FETCH 7 FROM drv_cursor")
		must(err, "fetch")
		k := 0
		for rows.Next() {
			var g int
			must(rows.Scan(&g), "scan")
			got = append(got, g)
			k++
		}
		must(rows.Err(), "rows")
		if k == 0 {
			break
		}
	}
	must(tx.Commit(ctx), "commit")
	check(len(got) == 100 && got[0] == 1 && got[99] == 100, "cursor gave %d rows", len(got))
	stillWorks(ctx, c, "the transaction")
	return "DECLARE/FETCH 7 of 100 rows in a transaction"
}

func cancel(ctx context.Context) string {
	c := connect(ctx)
	defer c.Close(ctx)
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		time.Sleep(time.Second)
		done <- c.PgConn().CancelRequest(ctx)
	}()
	_, err := c.Exec(ctx, "SELECT pg_sleep(10)")
	took := time.Since(start)
	must(<-done, "CancelRequest")
	expectError("57014", "cancelled pg_sleep(10)", err)
	check(took < 5*time.Second, "the cancel took %v", took)
	check(intOf(ctx, c, "SELECT 5") == 5, "connection after the cancel")
	return fmt.Sprintf("57014 after %.1fs (PgConn.CancelRequest), connection usable", took.Seconds())
}

func auth(ctx context.Context, user, password string) string {
	c, err := connectAs(ctx, user, password)
	must(err, "connect as "+user)
	var who string
	must(c.QueryRow(ctx, "SELECT current_user").Scan(&who), "current_user")
	c.Close(ctx)
	check(who == user, "logged in as %s", who)
	bad, err := connectAs(ctx, user, "wrong-password")
	if bad != nil {
		bad.Close(ctx)
	}
	expectError("28P01", "wrong password", err)
	return user + " logged in; wrong password refused with 28P01"
}

func errorsAtRightMessage(ctx context.Context) string {
	table := tag + "_uniq"
	c := connect(ctx)
	defer c.Close(ctx)
	_, err := c.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY)", table, table))
	must(err, "create table")
	check(intOf(ctx, c, "SELECT $1::int", 1) == 1, "first statement")
	var v int
	expectError("22012", "division by zero", c.QueryRow(ctx, "SELECT 1 / $1::int", 0).Scan(&v))
	check(intOf(ctx, c, "SELECT $1::int", 2) == 2, "statement after 22012")
	_, err = c.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", 1)
	must(err, "insert")
	_, err = c.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", 1)
	expectError("23505", "duplicate key", err)
	check(intOf(ctx, c, "SELECT 3") == 3, "statement after 23505")
	tx, err := c.Begin(ctx)
	must(err, "begin")
	_, err = tx.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", 2)
	must(err, "insert in tx")
	expectError("22012", "division by zero in a transaction", tx.QueryRow(ctx, "SELECT 1 / $1::int", 0).Scan(&v))
	expectError("25P02", "statement in the failed transaction", tx.QueryRow(ctx, "SELECT 1").Scan(&v))
	must(tx.Rollback(ctx), "rollback")
	check(intOf(ctx, c, "SELECT count(*) FROM "+table) == 1, "rows after the rollback")
	_, err = c.Exec(ctx, "DROP TABLE "+table)
	must(err, "drop")
	return "22012, 23505, 25P02 each on its own statement; the next statement works"
}

func listenNotify(ctx context.Context) string {
	channel := tag + "_chan"
	l := connect(ctx)
	defer l.Close(ctx)
	_, err := l.Exec(ctx, "LISTEN "+channel)
	must(err, "listen")
	n := connect(ctx)
	_, err = n.Exec(ctx, "NOTIFY "+channel+", 'hello 1'")
	n.Close(ctx)
	must(err, "notify")
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	got, err := l.WaitForNotification(wctx)
	must(err, "WaitForNotification")
	check(got.Channel == channel && got.Payload == "hello 1", "notification received: %+v", got)
	return "WaitForNotification received NOTIFY from another connection"
}

func describe(err interface{}) string {
	if e, ok := err.(error); ok {
		if s := sqlstate(e); s != "" {
			return fmt.Sprintf("%T %s: %v", errors.Unwrap(e), s, e)
		}
		var cf checkFailed
		if errors.As(e, &cf) {
			return "CheckFailed: " + cf.msg
		}
		return fmt.Sprintf("%v", e)
	}
	return fmt.Sprintf("%v", err)
}

func run(fn func(context.Context) string) (detail string, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			detail, ok = describe(r), false
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	return fn(ctx), true
}

func main() {
	scenarios := map[string]func(context.Context) string{
		"params_text":             paramsText,
		"params_binary":           paramsBinary,
		"stmt_cache_concurrency":  stmtCacheConcurrency,
		"prepare_errors":          prepareErrors,
		"batch_pipeline":          batchPipeline,
		"copy_in_out":             copyInOut,
		"cursor_in_tx":            cursorInTx,
		"cancel":                  cancel,
		"auth_scram":              func(ctx context.Context) string { return auth(ctx, os.Getenv("PGUSER"), os.Getenv("PGPASSWORD")) },
		"auth_md5":                func(ctx context.Context) string { return auth(ctx, os.Getenv("DRIVER_MD5_USER"), os.Getenv("DRIVER_MD5_PASSWORD")) },
		"errors_at_right_message": errorsAtRightMessage,
		"listen_notify":           listenNotify,
	}
	enc := json.NewEncoder(os.Stdout)
	for _, name := range strings.Split(os.Getenv("DRIVER_SCENARIOS"), ",") {
		if name == "" {
			continue
		}
		fn, found := scenarios[name]
		if !found {
			_ = enc.Encode(map[string]interface{}{"scenario": name, "ok": false, "detail": "not implemented by pgx/main.go"})
			continue
		}
		detail, ok := run(fn)
		_ = enc.Encode(map[string]interface{}{"scenario": name, "ok": ok, "detail": detail})
	}
}
