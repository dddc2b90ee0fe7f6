#!/usr/bin/python3
# psycopg 3 (Debian python3-psycopg) through the driver matrix: one JSON line per scenario named in DRIVER_SCENARIOS.
# Connection from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE; DRIVER_TAG prefixes table and channel names.
import datetime
import decimal
import json
import os
import sys
import threading
import time

import psycopg
from psycopg import errors, pq

ENV = os.environ
TAG = ENV.get("DRIVER_TAG", "psycopg3")
CONCURRENCY = int(ENV.get("DRIVER_CONCURRENCY", "6"))
ITERATIONS = 50

# Parameter values every driver round-trips (params_text / params_binary); the server checks them too (server_ok).
I, T, B = -42, "h\u20acllo, 'quoted' \"d\" \\ end", b"\x00\xff\x10"
TS = datetime.datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=datetime.timezone.utc)
N = decimal.Decimal("12345.6789")
PARAMS_SQL = (
    "SELECT i, t, b, ts, n, nul, (i = -42 AND t = 'h' || chr(8364) || 'llo, ''quoted'' \"d\" \\ end' AND b = '\\x00ff10'::bytea"
    " AND ts = '2024-02-29 12:34:56.789+00'::timestamptz AND n = 12345.6789 AND nul IS NULL) AS server_ok"
    " FROM (SELECT {p}::int4 AS i, {p}::text AS t, {p}::bytea AS b, {p}::timestamptz AS ts, {p}::numeric AS n, {p}::int4 AS nul) s"
)


def connect(user=None, password=None, **kw):
    return psycopg.connect(
        host=ENV["PGHOST"], port=ENV["PGPORT"], user=user or ENV["PGUSER"], password=password or ENV["PGPASSWORD"],
        dbname=ENV["PGDATABASE"], sslmode=ENV.get("PGSSLMODE", "require"), connect_timeout=10, **kw)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def expect_error(fn, sqlstate, what):
    """Runs fn, which must fail with `sqlstate`; returns the error."""
    try:
        fn()
    except psycopg.Error as e:
        check(e.sqlstate == sqlstate, f"{what}: expected SQLSTATE {sqlstate}, got {e.sqlstate}: {e}")
        return e
    raise AssertionError(f"{what}: expected SQLSTATE {sqlstate}, but it succeeded")


def check_params(row, how):
    i, t, b, ts, n, nul, server_ok = row
    got = (i, t, bytes(b), ts, n, nul)
    check(got == (I, T, B, TS, N, None), f"{how}: round trip gave {got!r}")
    check(server_ok is True, f"{how}: the server saw different values (server_ok={server_ok})")


def params_text():
    with connect(autocommit=True) as conn:
        row = conn.execute(PARAMS_SQL.format(p="%t"), (I, T, B, TS, N, None)).fetchone()
        check_params(row, "text params")
    return "int, text, bytea, timestamptz, numeric, NULL as text parameters"


def params_binary():
    with connect(autocommit=True) as conn:
        row = conn.execute(PARAMS_SQL.format(p="%b"), (I, T, B, TS, N, None), binary=True).fetchone()
        check_params(row, "binary params and results")
    return "int, text, bytea, timestamptz, numeric, NULL as binary parameters and results"


def stmt_cache_concurrency():
    failures = []

    def worker(w):
        try:
            # Odd workers prepare from the first execution, even ones after psycopg's default threshold (5).
            with connect(autocommit=True) as conn:
                if w % 2 == 0:
                    conn.prepare_threshold = 5
                for i in range(ITERATIONS):
                    sql = f"SELECT %s::int * 1000 + %s::int AS v /* variant {i % 3} */"
                    v = conn.execute(sql, (w, i), prepare=True if w % 2 else None).fetchone()[0]
                    if v != w * 1000 + i:
                        failures.append(f"worker {w} query {i}: got {v}, expected {w * 1000 + i}")
                        return
        except Exception as e:  # noqa: BLE001 - reported as the scenario's detail
            failures.append(f"worker {w}: {describe(e)}")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(1, CONCURRENCY + 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(not failures, "; ".join(failures[:5]))
    return f"{CONCURRENCY} connections x {ITERATIONS} prepared queries, each result its own"


def prepare_errors():
    # libpq's PQprepare/PQexecPrepared through psycopg's pq wrapper: protocol-level named statements with our names.
    with connect(autocommit=True) as conn:
        pg = conn.pgconn

        def res_error(res, sqlstate, what):
            check(res.status == pq.ExecStatus.FATAL_ERROR, f"{what}: expected an error, got status {pq.ExecStatus(res.status).name}")
            got = (res.error_field(pq.DiagnosticField.SQLSTATE) or b"").decode()
            msg = (res.error_message or b"").decode().strip()
            check(got == sqlstate, f"{what}: expected SQLSTATE {sqlstate}, got {got}: {msg}")
            return msg

        def still_works(after):
            r = pg.exec_(b"SELECT 1")
            check(r.status == pq.ExecStatus.TUPLES_OK and r.get_value(0, 0) == b"1",
                  f"after {after}: SELECT 1 failed ({(r.error_message or b'').decode().strip()}) - an error reported late?")

        res_error(pg.prepare(b"drv_syntax", b"SELEC 1"), "42601", "prepare with a syntax error")
        still_works("the syntax error")
        res_error(pg.prepare(b"drv_missing", b"SELECT * FROM drv_no_such_table"), "42P01", "prepare of a missing table")
        still_works("the missing table")
        ok = pg.prepare(b"drv_stmt", b"SELECT $1::int + 1")
        check(ok.status == pq.ExecStatus.COMMAND_OK, f"prepare drv_stmt failed: {(ok.error_message or b'').decode()}")
        msg = res_error(pg.prepare(b"drv_stmt", b"SELECT $1::int + 2"), "42P05", "preparing drv_stmt twice")
        check('prepared statement "drv_stmt" already exists' in msg, f"42P05 message does not name drv_stmt: {msg}")
        r = pg.exec_prepared(b"drv_stmt", [b"41"])
        check(r.status == pq.ExecStatus.TUPLES_OK and r.get_value(0, 0) == b"42",
              f"the first drv_stmt after the duplicate: {pq.ExecStatus(r.status).name} {(r.error_message or b'').decode().strip()}")
        r = pg.exec_prepared(b"drv_stmt", [b"1", b"2"])
        check(r.status == pq.ExecStatus.FATAL_ERROR, "executing drv_stmt with 2 params instead of 1 succeeded")
        msg = (r.error_message or b"").decode().strip()
        check('"drv_stmt"' in msg, f"wrong-parameter-count error does not name drv_stmt: {msg}")
        still_works("the wrong parameter count")
    return "42601 and 42P01 at prepare, 42P05 naming drv_stmt, wrong param count names drv_stmt"


def batch_pipeline():
    table = f"{TAG}_batch"
    with connect(autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        try:
            with conn.pipeline():
                conn.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
                conn.execute(f"INSERT INTO {table} VALUES (%s)", (1,))  # 23505
                conn.execute(f"INSERT INTO {table} VALUES (%s)", (3,))
            raise AssertionError("the pipeline with a duplicate key succeeded")
        except errors.UniqueViolation:
            pass
        check(conn.execute("SELECT 7").fetchone()[0] == 7, "connection unusable after the failed pipeline")
        with conn.pipeline():
            cur1 = conn.execute(f"INSERT INTO {table} VALUES (%s) RETURNING id", (10,))
            cur2 = conn.execute(f"INSERT INTO {table} VALUES (%s) RETURNING id", (11,))
            cur3 = conn.execute(f"SELECT count(*) FROM {table}")
        got = (cur1.fetchone()[0], cur2.fetchone()[0])
        check(got == (10, 11), f"pipeline RETURNING gave {got}")
        ids = [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
        # One Sync ends psycopg's pipeline, so its statements form one implicit transaction: the error undid row 1 too.
        check(ids == [10, 11], f"rows after the pipelines: {ids}")
        check(cur3.fetchone()[0] == 2, "count(*) read inside the second pipeline")
        conn.execute(f"DROP TABLE {table}")
    return "pipeline with 23505 in the middle raised UniqueViolation, later statements skipped, connection usable"


COPY_ROWS = [(1, "plain"), (2, "tab\there"), (3, "new\nline"), (4, "back\\slash"), (5, None), (6, "\u20ac uni")]


def copy_in_out():
    table = f"{TAG}_copy"
    with connect(autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id int, name text)")
        with conn.cursor() as cur:
            with cur.copy(f"COPY {table} (id, name) FROM STDIN") as copy:
                for r in COPY_ROWS:
                    copy.write_row(r)
            check(cur.rowcount == len(COPY_ROWS), f"COPY FROM reported {cur.rowcount} rows")
            out = []
            with cur.copy(f"COPY (SELECT id, name FROM {table} ORDER BY id) TO STDOUT") as copy:
                copy.set_types(["int4", "text"])
                for r in copy.rows():
                    out.append(tuple(r))
        check(out == COPY_ROWS, f"COPY TO gave {out!r}")
        check(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == len(COPY_ROWS), "row count")
        conn.execute(f"DROP TABLE {table}")
    return f"{len(COPY_ROWS)} rows with tab, newline, backslash, NULL, unicode in and out"


def cursor_in_tx():
    with connect(autocommit=True) as conn:
        with conn.transaction():
            with conn.cursor(name="drv_cursor") as cur:
                cur.itersize = 7
                cur.execute("SELECT g FROM generate_series(1, 100) g")
                first = cur.fetchmany(10)
                rest = [r[0] for r in cur]
        got = [r[0] for r in first] + rest
        check(got == list(range(1, 101)), f"server-side cursor gave {len(got)} rows: {got[:12]}...")
        check(conn.execute("SELECT 1").fetchone()[0] == 1, "connection after the transaction")
    return "named cursor, itersize 7, 100 rows in a transaction"


def cancel():
    with connect(autocommit=True) as conn:
        timer = threading.Timer(1.0, conn.cancel)
        t0 = time.monotonic()
        timer.start()
        try:
            e = expect_error(lambda: conn.execute("SELECT pg_sleep(10)"), "57014", "cancelled pg_sleep(10)")
        finally:
            timer.cancel()
        took = time.monotonic() - t0
        check(took < 5, f"the cancel took {took:.1f}s")
        check(conn.execute("SELECT 5").fetchone()[0] == 5, "connection after the cancel")
    return f"57014 after {took:.1f}s ({type(e).__name__}), connection usable"


def auth(user, password):
    with connect(user=user, password=password) as conn:
        who = conn.execute("SELECT current_user").fetchone()[0]
        check(who == user, f"logged in as {who}")
    try:
        connect(user=user, password="wrong-password").close()
        raise AssertionError("a wrong password was accepted")
    except psycopg.OperationalError as e:
        # libpq reports a failed login without a SQLSTATE; 28P01's message is what it gives.
        check(e.sqlstate in (None, "28P01") and f'password authentication failed for user "{user}"' in str(e),
              f"wrong password: expected 28P01 password authentication failed, got sqlstate={e.sqlstate}: {e}")
    return f"{user} logged in; wrong password refused with 28P01's message"


def errors_at_right_message():
    table = f"{TAG}_uniq"
    with connect(autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY)")
        check(conn.execute("SELECT %s::int", (1,)).fetchone()[0] == 1, "first statement")
        expect_error(lambda: conn.execute("SELECT 1 / %s::int", (0,)), "22012", "division by zero")
        check(conn.execute("SELECT %s::int", (2,)).fetchone()[0] == 2, "statement after 22012")
        conn.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
        expect_error(lambda: conn.execute(f"INSERT INTO {table} VALUES (%s)", (1,)), "23505", "duplicate key")
        check(conn.execute("SELECT 3").fetchone()[0] == 3, "statement after 23505")
        # In a transaction: the error, then 25P02 until the rollback.
        conn.execute("BEGIN")
        conn.execute(f"INSERT INTO {table} VALUES (%s)", (2,))
        expect_error(lambda: conn.execute("SELECT 1 / 0"), "22012", "division by zero in a transaction")
        expect_error(lambda: conn.execute("SELECT 1"), "25P02", "statement in the failed transaction")
        conn.execute("ROLLBACK")
        ids = [r[0] for r in conn.execute(f"SELECT id FROM {table} ORDER BY id")]
        check(ids == [1], f"rows after the rollback: {ids}")
        conn.execute(f"DROP TABLE {table}")
    return "22012, 23505, 25P02 each on its own statement; the next statement works"


def listen_notify():
    channel = f"{TAG}_chan"
    got = []
    with connect(autocommit=True) as listener, connect(autocommit=True) as notifier:
        listener.add_notify_handler(lambda n: got.append((n.channel, n.payload)))
        listener.execute(f"LISTEN {channel}")
        notifier.execute(f"NOTIFY {channel}, 'hello 1'")
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            listener.execute("SELECT 1")
            time.sleep(0.05)
        check(got == [(channel, "hello 1")], f"notifications received: {got}")
    return "LISTEN on one connection received NOTIFY from another"


def describe(e):
    state = getattr(e, "sqlstate", None)
    return f"{type(e).__name__}{' ' + state if state else ''}: {str(e).strip()}"


SCENARIOS = {
    "params_text": params_text,
    "params_binary": params_binary,
    "stmt_cache_concurrency": stmt_cache_concurrency,
    "prepare_errors": prepare_errors,
    "batch_pipeline": batch_pipeline,
    "copy_in_out": copy_in_out,
    "cursor_in_tx": cursor_in_tx,
    "cancel": cancel,
    "auth_scram": lambda: auth(ENV["PGUSER"], ENV["PGPASSWORD"]),
    "auth_md5": lambda: auth(ENV["DRIVER_MD5_USER"], ENV["DRIVER_MD5_PASSWORD"]),
    "errors_at_right_message": errors_at_right_message,
    "listen_notify": listen_notify,
}


def main():
    wanted = [s for s in ENV.get("DRIVER_SCENARIOS", ",".join(SCENARIOS)).split(",") if s]
    for name in wanted:
        fn = SCENARIOS.get(name)
        if fn is None:
            print(json.dumps({"scenario": name, "ok": False, "detail": "not implemented by psycopg3.py"}), flush=True)
            continue
        try:
            detail = fn()
            print(json.dumps({"scenario": name, "ok": True, "detail": detail}), flush=True)
        except Exception as e:  # noqa: BLE001 - every failure becomes the scenario's detail
            print(json.dumps({"scenario": name, "ok": False, "detail": describe(e)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
