// lib/pq (Debian golang-github-lib-pq-dev) with database/sql through the driver matrix: one JSON line per scenario
// named in DRIVER_SCENARIOS. Connection from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE; DRIVER_TAG prefixes
// table and channel names. Built offline in GOPATH mode against /usr/share/gocode (see test/fixtures/driver-env.ts).
//
// lib/pq's default path for a query with arguments is an unnamed statement: Parse/Describe/Sync, then
// Bind/Execute/Sync in a second round trip. lib/pq has no COPY TO STDOUT, no batch API and counts arguments itself,
// so copy_in_out reads the copied rows back with SELECT, batch_pipeline is a multi-statement Exec, and prepare_errors
// checks the prepare-time errors only (lib/pq names its statements itself).
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

const iterations = 50

var (
	tag         = envOr("DRIVER_TAG", "libpq")
	concurrency = atoi(envOr("DRIVER_CONCURRENCY", "6"))
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

func dsn(user, password string, extra ...string) string {
	q := func(v string) string { return "'" + strings.ReplaceAll(strings.ReplaceAll(v, `\`, `\\`), "'", `\'`) + "'" }
	return fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s sslmode=%s connect_timeout=10 %s",
		q(os.Getenv("PGHOST")), q(os.Getenv("PGPORT")), q(user), q(password), q(os.Getenv("PGDATABASE")), q(envOr("PGSSLMODE", "require")),
		strings.Join(extra, " "))
}

// open returns one database/sql connection (a pool of one, so every statement shares the session).
func open(ctx context.Context, user, password string, extra ...string) (*sql.DB, *sql.Conn) {
	db, err := sql.Open("postgres", dsn(user, password, extra...))
	must(err, "sql.Open")
	db.SetMaxOpenConns(1)
	c, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		must(err, "connect")
	}
	return db, c
}

func connect(ctx context.Context, extra ...string) (*sql.DB, *sql.Conn) {
	return open(ctx, os.Getenv("PGUSER"), os.Getenv("PGPASSWORD"), extra...)
}

func sqlstate(err error) string {
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		return string(pqErr.Code)
	}
	return ""
}

func expectError(sqlstateWanted, what string, err error) error {
	check(err != nil, "%s: expected SQLSTATE %s, but it succeeded", what, sqlstateWanted)
	check(sqlstate(err) == sqlstateWanted, "%s: expected SQLSTATE %s, got %s: %v", what, sqlstateWanted, sqlstate(err), err)
	return err
}

func intOf(ctx context.Context, c *sql.Conn, q string, args ...interface{}) int64 {
	var v int64
	must(c.QueryRowContext(ctx, q, args...).Scan(&v), q)
	return v
}

func checkParams(ctx context.Context, c *sql.Conn, how string) {
	var (
		i        int32
		t        string
		b        []byte
		ts       time.Time
		n        string
		nul      sql.NullInt32
		serverOK bool
	)
	must(c.QueryRowContext(ctx, paramsSQL, -42, valT, valB, valTS, "12345.6789", nil).Scan(&i, &t, &b, &ts, &n, &nul, &serverOK), how)
	check(i == -42 && t == valT && reflect.DeepEqual(b, valB) && ts.Equal(valTS) && n == "12345.6789" && !nul.Valid,
		"%s: round trip gave %v %q %x %v %v %v", how, i, t, b, ts, n, nul)
	check(serverOK, "%s: the server saw different values (server_ok=false)", how)
}

func paramsText(ctx context.Context) string {
	db, c := connect(ctx)
	defer db.Close()
	defer c.Close()
	checkParams(ctx, c, "text params")
	return "int, text, bytea, timestamptz, numeric, NULL as text parameters (unnamed Parse/Describe/Sync, then Bind/Execute/Sync)"
}

func paramsBinary(ctx context.Context) string {
	// binary_parameters=yes: []byte parameters go in binary, in one Parse/Bind/Execute/Sync round trip.
	db, c := connect(ctx, "binary_parameters=yes")
	defer db.Close()
	defer c.Close()
	checkParams(ctx, c, "binary_parameters=yes")
	return "int, text, bytea, timestamptz, numeric, NULL with binary_parameters=yes"
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
					fail(fmt.Sprintf("worker %d: %v", w, describe(r)))
				}
			}()
			db, c := connect(ctx)
			defer db.Close()
			defer c.Close()
			for i := 0; i < iterations; i++ {
				var who, v int
				// lib/pq's default: an unnamed statement, described in one round trip and bound in the next. The text
				// names the worker, so running another worker's statement shows (same text would give the same answer).
				q := fmt.Sprintf("SELECT %d AS worker, $1::int * 1000 + $2::int AS v /* variant %d */", w, i%3)
				if err := c.QueryRowContext(ctx, q, w, i).Scan(&who, &v); err != nil {
					fail(fmt.Sprintf("worker %d query %d: %s", w, i, describe(err)))
					return
				}
				if who != w || v != w*1000+i {
					fail(fmt.Sprintf("worker %d query %d: got worker %d value %d, expected worker %d value %d", w, i, who, v, w, w*1000+i))
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
	return fmt.Sprintf("%d connections x %d queries on lib/pq's unnamed statements, each result its own", concurrency, iterations)
}

func stillWorks(ctx context.Context, c *sql.Conn, after string) {
	var v int
	err := c.QueryRowContext(ctx, "SELECT 1").Scan(&v)
	check(err == nil && v == 1, "after %s: SELECT 1 failed (%v) - an error reported late?", after, err)
}

func prepareErrors(ctx context.Context) string {
	db, c := connect(ctx)
	defer db.Close()
	defer c.Close()
	_, err := c.PrepareContext(ctx, "SELEC 1")
	expectError("42601", "Prepare with a syntax error", err)
	stillWorks(ctx, c, "the syntax error")
	_, err = c.PrepareContext(ctx, "SELECT * FROM drv_no_such_table")
	expectError("42P01", "Prepare of a missing table", err)
	stillWorks(ctx, c, "the missing table")
	st, err := c.PrepareContext(ctx, "SELECT $1::int + 1")
	must(err, "Prepare")
	var v int
	for i := 0; i < 3; i++ {
		must(st.QueryRowContext(ctx, 41+i).Scan(&v), "prepared statement")
		check(v == 42+i, "prepared statement gave %d", v)
	}
	must(st.Close(), "close statement")
	stillWorks(ctx, c, "closing the statement")
	return "42601 and 42P01 at Prepare; a prepared statement executed 3 times"
}

func batchPipeline(ctx context.Context) string {
	table := tag + "_batch"
	db, c := connect(ctx)
	defer db.Close()
	defer c.Close()
	_, err := c.ExecContext(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY)", table, table))
	must(err, "create table")
	_, err = c.ExecContext(ctx, fmt.Sprintf("INSERT INTO %[1]s VALUES (1); INSERT INTO %[1]s VALUES (1); INSERT INTO %[1]s VALUES (3)", table))
	expectError("23505", "multi-statement batch with a duplicate key", err)
	check(intOf(ctx, c, "SELECT 7") == 7, "connection after the failed batch")
	check(intOf(ctx, c, "SELECT count(*) FROM "+table) == 0, "rows left by the failed batch (one implicit transaction)")
	_, err = c.ExecContext(ctx, fmt.Sprintf("INSERT INTO %[1]s VALUES (10); INSERT INTO %[1]s VALUES (11); INSERT INTO %[1]s VALUES (12)", table))
	must(err, "second batch")
	check(intOf(ctx, c, "SELECT count(*) FROM "+table) == 3, "rows after the second batch")
	_, err = c.ExecContext(ctx, "DROP TABLE "+table)
	must(err, "drop")
	return "multi-statement Exec: 23505 raised, nothing stored, connection usable"
}

func copyInOut(ctx context.Context) string {
	table := tag + "_copy"
	db, c := connect(ctx)
	defer db.Close()
	defer c.Close()
	_, err := c.ExecContext(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int, name text)", table, table))
	must(err, "create table")
	rows := [][]interface{}{{1, "plain"}, {2, "tab\there"}, {3, "new\nline"}, {4, `back\slash`}, {5, nil}, {6, "\u20ac uni"}}
	tx, err := c.BeginTx(ctx, nil)
	must(err, "begin")
	st, err := tx.PrepareContext(ctx, pq.CopyIn(table, "id", "name"))
	must(err, "COPY FROM STDIN")
	for _, r := range rows {
		_, err = st.ExecContext(ctx, r...)
		must(err, "copy row")
	}
	_, err = st.ExecContext(ctx)
	must(err, "end of copy")
	must(st.Close(), "close copy")
	must(tx.Commit(), "commit")
	res, err := c.QueryContext(ctx, "SELECT id, name FROM "+table+" ORDER BY id")
	must(err, "select")
	var got [][]interface{}
	for res.Next() {
		var id int
		var name sql.NullString
		must(res.Scan(&id, &name), "scan")
		if name.Valid {
			got = append(got, []interface{}{id, name.String})
		} else {
			got = append(got, []interface{}{id, nil})
		}
	}
	must(res.Err(), "rows")
	check(reflect.DeepEqual(got, rows), "rows after COPY FROM STDIN: %q", got)
	_, err = c.ExecContext(ctx, "DROP TABLE "+table)
	must(err, "drop")
	return "6 rows with tab, newline, backslash, NULL, unicode through pq.CopyIn (lib/pq has no COPY TO STDOUT)"
}

func cursorInTx(ctx context.Context) string {
	db, c := connect(ctx)
	defer db.Close()
	defer c.Close()
	tx, err := c.BeginTx(ctx, nil)
	must(err, "begin")
	_, err = tx.ExecContext(ctx, "DECLARE drv_cursor CURSOR FOR SELECT g FROM generate_series(1, 100) g")
	must(err, "declare")
	var got []int
	for {
		rows, err := tx.QueryContext(ctx, "FETCH 7 FROM drv_cursor")
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
	must(tx.Commit(), "commit")
	check(len(got) == 100 && got[0] == 1 && got[99] == 100, "cursor gave %d rows", len(got))
	stillWorks(ctx, c, "the transaction")
	return "DECLARE/FETCH 7 of 100 rows in a transaction"
}

func cancel(ctx context.Context) string {
	db, c := connect(ctx)
	defer db.Close()
	defer c.Close()
	qctx, stop := context.WithCancel(ctx)
	start := time.Now()
	timer := time.AfterFunc(time.Second, stop) // lib/pq sends a CancelRequest when the context ends
	_, err := c.ExecContext(qctx, "SELECT pg_sleep(10)")
	took := time.Since(start)
	timer.Stop()
	stop()
	expectError("57014", "cancelled pg_sleep(10)", err)
	check(took < 5*time.Second, "the cancel took %v", took)
	// lib/pq closes a connection whose context was cancelled (its state is unknown to it), even against PostgreSQL
	// itself, so "works afterwards" is checked on the handle: database/sql opens the next connection.
	c.Close()
	var v int
	must(db.QueryRowContext(ctx, "SELECT 5").Scan(&v), "SELECT 5 after the cancel")
	check(v == 5, "SELECT 5 after the cancel gave %d", v)
	return fmt.Sprintf("57014 after %.1fs (context cancel), the next query works", took.Seconds())
}

func auth(ctx context.Context, user, password string) string {
	db, c := open(ctx, user, password)
	var who string
	must(c.QueryRowContext(ctx, "SELECT current_user").Scan(&who), "current_user")
	c.Close()
	db.Close()
	check(who == user, "logged in as %s", who)
	bad, err := sql.Open("postgres", dsn(user, "wrong-password"))
	must(err, "sql.Open")
	defer bad.Close()
	expectError("28P01", "wrong password", bad.PingContext(ctx))
	return user + " logged in; wrong password refused with 28P01"
}

func errorsAtRightMessage(ctx context.Context) string {
	table := tag + "_uniq"
	db, c := connect(ctx)
	defer db.Close()
	defer c.Close()
	_, err := c.ExecContext(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY)", table, table))
	must(err, "create table")
	check(intOf(ctx, c, "SELECT $1::int", 1) == 1, "first statement")
	var v int
	expectError("22012", "division by zero", c.QueryRowContext(ctx, "SELECT 1 / $1::int", 0).Scan(&v))
	check(intOf(ctx, c, "SELECT $1::int", 2) == 2, "statement after 22012")
	_, err = c.ExecContext(ctx, "INSERT INTO "+table+" VALUES ($1)", 1)
	must(err, "insert")
	_, err = c.ExecContext(ctx, "INSERT INTO "+table+" VALUES ($1)", 1)
	expectError("23505", "duplicate key", err)
	check(intOf(ctx, c, "SELECT 3") == 3, "statement after 23505")
	tx, err := c.BeginTx(ctx, nil)
	must(err, "begin")
	_, err = tx.ExecContext(ctx, "INSERT INTO "+table+" VALUES ($1)", 2)
	must(err, "insert in tx")
	expectError("22012", "division by zero in a transaction", tx.QueryRowContext(ctx, "SELECT 1 / $1::int", 0).Scan(&v))
	expectError("25P02", "statement in the failed transaction", tx.QueryRowContext(ctx, "SELECT 1").Scan(&v))
	must(tx.Rollback(), "rollback")
	check(intOf(ctx, c, "SELECT count(*) FROM "+table) == 1, "rows after the rollback")
	_, err = c.ExecContext(ctx, "DROP TABLE "+table)
	must(err, "drop")
	return "22012, 23505, 25P02 each on its own statement; the next statement works"
}

func listenNotify(ctx context.Context) string {
	channel := tag + "_chan"
	l := pq.NewListener(dsn(os.Getenv("PGUSER"), os.Getenv("PGPASSWORD")), 100*time.Millisecond, time.Second, nil)
	defer l.Close()
	must(l.Listen(channel), "Listen")
	db, c := connect(ctx)
	_, err := c.ExecContext(ctx, "NOTIFY "+channel+", 'hello 1'")
	c.Close()
	db.Close()
	must(err, "notify")
	select {
	case n := <-l.Notify:
		check(n != nil && n.Channel == channel && n.Extra == "hello 1", "notification received: %+v", n)
	case <-time.After(5 * time.Second):
		check(false, "no notification within 5s")
	}
	return "pq.Listener received NOTIFY from another connection"
}

func describe(err interface{}) string {
	if e, ok := err.(error); ok {
		if s := sqlstate(e); s != "" {
			return fmt.Sprintf("pq.Error %s: %v", s, e)
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
			_ = enc.Encode(map[string]interface{}{"scenario": name, "ok": false, "detail": "not implemented by libpq/main.go"})
			continue
		}
		detail, ok := run(fn)
		_ = enc.Encode(map[string]interface{}{"scenario": name, "ok": ok, "detail": detail})
	}
}
