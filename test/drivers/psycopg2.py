#!/usr/bin/python3
# psycopg2 (Debian python3-psycopg2) through the driver matrix: one JSON line per scenario named in DRIVER_SCENARIOS.
# Connection from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE; DRIVER_TAG prefixes table and channel names.
# psycopg2 interpolates parameters on the client and sends simple queries: no binary parameters, no protocol-level
# prepare (prepare_errors is not asked of it), and its "batch" is psycopg2.extras.execute_batch.
import datetime
import decimal
import io
import json
import os
import select
import sys
import threading
import time

# This file is itself named psycopg2.py: drop its own directory from the path so the import finds the real package.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import psycopg2  # noqa: E402
import psycopg2.errorcodes  # noqa: E402
import psycopg2.extras  # noqa: E402

ENV = os.environ
TAG = ENV.get("DRIVER_TAG", "psycopg2")
CONCURRENCY = int(ENV.get("DRIVER_CONCURRENCY", "6"))
ITERATIONS = 50

I, T, B = -42, "h\u20acllo, 'quoted' \"d\" \\ end", b"\x00\xff\x10"
TS = datetime.datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=datetime.timezone.utc)
N = decimal.Decimal("12345.6789")
PARAMS_SQL = (
    "SELECT i, t, b, ts, n, nul, (i = -42 AND t = 'h' || chr(8364) || 'llo, ''quoted'' \"d\" \\ end' AND b = '\\x00ff10'::bytea"
    " AND ts = '2024-02-29 12:34:56.789+00'::timestamptz AND n = 12345.6789 AND nul IS NULL) AS server_ok"
    " FROM (SELECT %s::int4 AS i, %s::text AS t, %s::bytea AS b, %s::timestamptz AS ts, %s::numeric AS n, %s::int4 AS nul) s"
)


def connect(user=None, password=None, autocommit=True):
    conn = psycopg2.connect(
        host=ENV["PGHOST"], port=ENV["PGPORT"], user=user or ENV["PGUSER"], password=password or ENV["PGPASSWORD"],
        dbname=ENV["PGDATABASE"], sslmode=ENV.get("PGSSLMODE", "require"), connect_timeout=10)
    conn.autocommit = autocommit
    return conn


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def one(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchone()[0]


def expect_error(fn, sqlstate, what):
    try:
        fn()
    except psycopg2.Error as e:
        check(e.pgcode == sqlstate, f"{what}: expected SQLSTATE {sqlstate}, got {e.pgcode}: {e}")
        return e
    raise AssertionError(f"{what}: expected SQLSTATE {sqlstate}, but it succeeded")


def params_text():
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(PARAMS_SQL, (I, T, psycopg2.Binary(B), TS, N, None))
            i, t, b, ts, n, nul, server_ok = cur.fetchone()
        got = (i, t, bytes(b), ts, n, nul)
        check(got == (I, T, B, TS, N, None), f"round trip gave {got!r}")
        check(server_ok is True, f"the server saw different values (server_ok={server_ok})")
    finally:
        conn.close()
    return "int, text, bytea, timestamptz, numeric, NULL interpolated as text"


def stmt_cache_concurrency():
    # psycopg2 has no statement cache; the scenario still checks that concurrent clients each get their own results.
    failures = []

    def worker(w):
        try:
            conn = connect()
            try:
                for i in range(ITERATIONS):
                    v = one(conn, f"SELECT %s::int * 1000 + %s::int AS v /* variant {i % 3} */", (w, i))
                    if v != w * 1000 + i:
                        failures.append(f"worker {w} query {i}: got {v}, expected {w * 1000 + i}")
                        return
            finally:
                conn.close()
        except Exception as e:  # noqa: BLE001
            failures.append(f"worker {w}: {describe(e)}")

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(1, CONCURRENCY + 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(not failures, "; ".join(failures[:5]))
    return f"{CONCURRENCY} connections x {ITERATIONS} queries, each result its own"


def batch_pipeline():
    table = f"{TAG}_batch"
    conn = connect(autocommit=False)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY)")
            conn.commit()
            expect_error(lambda: psycopg2.extras.execute_batch(cur, f"INSERT INTO {table} VALUES (%s)", [(1,), (2,), (2,), (4,)], page_size=2),
                         "23505", "execute_batch with a duplicate key")
            conn.rollback()
            check(one(conn, "SELECT 7") == 7, "connection after the failed batch")
            check(one(conn, f"SELECT count(*) FROM {table}") == 0, "rows left after the rollback")
            psycopg2.extras.execute_values(cur, f"INSERT INTO {table} VALUES %s", [(i,) for i in range(10, 30)], page_size=7)
            conn.commit()
            cur.execute(f"SELECT id FROM {table} ORDER BY id")
            ids = [r[0] for r in cur.fetchall()]
            check(ids == list(range(10, 30)), f"rows after execute_values: {ids}")
            cur.execute(f"DROP TABLE {table}")
            conn.commit()
    finally:
        conn.close()
    return "execute_batch with 23505 in the middle raised, rollback, execute_values stored 20 rows"


COPY_ROWS = [(1, "plain"), (2, "tab\there"), (3, "new\nline"), (4, "back\\slash"), (5, None), (6, "\u20ac uni")]


def copy_in_out():
    table = f"{TAG}_copy"
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int, name text)")
            esc = lambda v: "\\N" if v is None else str(v).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")  # noqa: E731
            data = "".join(f"{esc(a)}\t{esc(b)}\n" for a, b in COPY_ROWS)
            cur.copy_expert(f"COPY {table} (id, name) FROM STDIN", io.StringIO(data))
            check(cur.rowcount == len(COPY_ROWS), f"COPY FROM reported {cur.rowcount} rows")
            out = io.StringIO()
            cur.copy_expert(f"COPY (SELECT id, name FROM {table} ORDER BY id) TO STDOUT", out)
            check(out.getvalue() == data, f"COPY TO gave {out.getvalue()!r}")
            cur.execute(f"DROP TABLE {table}")
    finally:
        conn.close()
    return f"{len(COPY_ROWS)} rows with tab, newline, backslash, NULL, unicode in and out"


def cursor_in_tx():
    conn = connect(autocommit=False)
    try:
        cur = conn.cursor(name="drv_cursor")  # a named cursor: DECLARE ... and FETCH itersize rows at a time
        cur.itersize = 7
        cur.execute("SELECT g FROM generate_series(1, 100) g")
        first = cur.fetchmany(10)
        rest = [r[0] for r in cur]
        cur.close()
        conn.commit()
        got = [r[0] for r in first] + rest
        check(got == list(range(1, 101)), f"named cursor gave {len(got)} rows")
        check(one(conn, "SELECT 1") == 1, "connection after the transaction")
        conn.commit()
    finally:
        conn.close()
    return "named cursor, itersize 7, 100 rows in a transaction"


def cancel():
    conn = connect()
    try:
        timer = threading.Timer(1.0, conn.cancel)
        t0 = time.monotonic()
        timer.start()
        try:
            expect_error(lambda: one(conn, "SELECT pg_sleep(10)"), "57014", "cancelled pg_sleep(10)")
        finally:
            timer.cancel()
        took = time.monotonic() - t0
        check(took < 5, f"the cancel took {took:.1f}s")
        check(one(conn, "SELECT 5") == 5, "connection after the cancel")
    finally:
        conn.close()
    return f"57014 after {took:.1f}s, connection usable"


def auth(user, password):
    conn = connect(user, password)
    try:
        who = one(conn, "SELECT current_user")
        check(who == user, f"logged in as {who}")
    finally:
        conn.close()
    try:
        connect(user, "wrong-password").close()
        raise AssertionError("a wrong password was accepted")
    except psycopg2.OperationalError as e:
        # libpq reports a failed login without a SQLSTATE; 28P01's message is what it gives.
        check(e.pgcode in (None, "28P01") and f'password authentication failed for user "{user}"' in str(e),
              f"wrong password: expected 28P01 password authentication failed, got {e.pgcode}: {e}")
    return f"{user} logged in; wrong password refused with 28P01's message"


def errors_at_right_message():
    table = f"{TAG}_uniq"
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY)")
            check(one(conn, "SELECT %s::int", (1,)) == 1, "first statement")
            expect_error(lambda: one(conn, "SELECT 1 / %s::int", (0,)), "22012", "division by zero")
            check(one(conn, "SELECT %s::int", (2,)) == 2, "statement after 22012")
            cur.execute(f"INSERT INTO {table} VALUES (%s)", (1,))
            expect_error(lambda: cur.execute(f"INSERT INTO {table} VALUES (%s)", (1,)), "23505", "duplicate key")
            check(one(conn, "SELECT 3") == 3, "statement after 23505")
            cur.execute("BEGIN")
            cur.execute(f"INSERT INTO {table} VALUES (%s)", (2,))
            expect_error(lambda: cur.execute("SELECT 1 / 0"), "22012", "division by zero in a transaction")
            expect_error(lambda: cur.execute("SELECT 1"), "25P02", "statement in the failed transaction")
            cur.execute("ROLLBACK")
            cur.execute(f"SELECT id FROM {table} ORDER BY id")
            ids = [r[0] for r in cur.fetchall()]
            check(ids == [1], f"rows after the rollback: {ids}")
            cur.execute(f"DROP TABLE {table}")
    finally:
        conn.close()
    return "22012, 23505, 25P02 each on its own statement; the next statement works"


def listen_notify():
    channel = f"{TAG}_chan"
    listener, notifier = connect(), connect()
    try:
        with listener.cursor() as cur:
            cur.execute(f"LISTEN {channel}")
        with notifier.cursor() as cur:
            cur.execute(f"NOTIFY {channel}, 'hello 1'")
        deadline = time.monotonic() + 5
        while not listener.notifies and time.monotonic() < deadline:
            select.select([listener], [], [], 0.2)
            listener.poll()
        got = [(n.channel, n.payload) for n in listener.notifies]
        check(got == [(channel, "hello 1")], f"notifications received: {got}")
    finally:
        notifier.close()
        listener.close()
    return "LISTEN on one connection received NOTIFY from another"


def describe(e):
    state = getattr(e, "pgcode", None)
    return f"{type(e).__name__}{' ' + state if state else ''}: {str(e).strip()}"


SCENARIOS = {
    "params_text": params_text,
    "stmt_cache_concurrency": stmt_cache_concurrency,
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
            print(json.dumps({"scenario": name, "ok": False, "detail": "not implemented by psycopg2.py"}), flush=True)
            continue
        try:
            detail = fn()
            print(json.dumps({"scenario": name, "ok": True, "detail": detail}), flush=True)
        except Exception as e:  # noqa: BLE001
            print(json.dumps({"scenario": name, "ok": False, "detail": describe(e)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
