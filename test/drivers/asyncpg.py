#!/usr/bin/python3
# asyncpg (Debian python3-asyncpg) through the driver matrix: one JSON line per scenario named in DRIVER_SCENARIOS.
# Connection from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE; DRIVER_TAG prefixes table and channel names.
import asyncio
import datetime
import decimal
import io
import json
import os
import sys
import time

# This file is itself named asyncpg.py: drop its own directory from the path so the import finds the real package.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]
import asyncpg  # noqa: E402

ENV = os.environ
TAG = ENV.get("DRIVER_TAG", "asyncpg")
CONCURRENCY = int(ENV.get("DRIVER_CONCURRENCY", "6"))
ITERATIONS = 50

I, T, B = -42, "h\u20acllo, 'quoted' \"d\" \\ end", b"\x00\xff\x10"
TS = datetime.datetime(2024, 2, 29, 12, 34, 56, 789000, tzinfo=datetime.timezone.utc)
N = decimal.Decimal("12345.6789")
PARAMS_SQL = (
    "SELECT i, t, b, ts, n, nul, (i = -42 AND t = 'h' || chr(8364) || 'llo, ''quoted'' \"d\" \\ end' AND b = '\\x00ff10'::bytea"
    " AND ts = '2024-02-29 12:34:56.789+00'::timestamptz AND n = 12345.6789 AND nul IS NULL) AS server_ok"
    " FROM (SELECT $1::int4 AS i, $2::text AS t, $3::bytea AS b, $4::timestamptz AS ts, $5::numeric AS n, $6::int4 AS nul) s"
)


async def connect(user=None, password=None):
    return await asyncpg.connect(
        host=ENV["PGHOST"], port=int(ENV["PGPORT"]), user=user or ENV["PGUSER"], password=password or ENV["PGPASSWORD"],
        database=ENV["PGDATABASE"], ssl=ENV.get("PGSSLMODE", "require"), timeout=10)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


async def expect_error(coro, sqlstate, what):
    try:
        await coro
    except asyncpg.PostgresError as e:
        check(e.sqlstate == sqlstate, f"{what}: expected SQLSTATE {sqlstate}, got {e.sqlstate}: {e}")
        return e
    raise AssertionError(f"{what}: expected SQLSTATE {sqlstate}, but it succeeded")


def check_params(row, how):
    got = (row["i"], row["t"], bytes(row["b"]), row["ts"], row["n"], row["nul"])
    check(got == (I, T, B, TS, N, None), f"{how}: round trip gave {got!r}")
    check(row["server_ok"] is True, f"{how}: the server saw different values (server_ok={row['server_ok']})")


async def params_binary():
    conn = await connect()
    try:
        check_params(await conn.fetchrow(PARAMS_SQL, I, T, B, TS, N, None), "binary params")
    finally:
        await conn.close()
    return "int, text, bytea, timestamptz, numeric, NULL with asyncpg's binary codecs"


async def params_text():
    conn = await connect()
    try:
        # asyncpg's own way to text format: a text codec per type.
        await conn.set_type_codec("int4", schema="pg_catalog", encoder=str, decoder=int, format="text")
        await conn.set_type_codec("numeric", schema="pg_catalog", encoder=str, decoder=decimal.Decimal, format="text")
        await conn.set_type_codec("bytea", schema="pg_catalog", encoder=lambda b: "\\x" + b.hex(),
                                  decoder=lambda s: bytes.fromhex(s[2:]), format="text")
        await conn.set_type_codec("timestamptz", schema="pg_catalog", encoder=lambda d: d.isoformat(),
                                  decoder=lambda s: datetime.datetime.fromisoformat(s + ":00" if len(s) > 3 and s[-3] in "+-" else s),
                                  format="text")
        await conn.execute("SET TimeZone = 'UTC'")
        check_params(await conn.fetchrow(PARAMS_SQL, I, T, B, TS, N, None), "text params")
    finally:
        await conn.close()
    return "int, text, bytea, timestamptz, numeric, NULL with text-format codecs"


async def stmt_cache_concurrency():
    failures = []

    async def worker(w):
        try:
            conn = await connect()
            try:
                for i in range(ITERATIONS):
                    v = await conn.fetchval(f"SELECT $1::int * 1000 + $2::int AS v /* variant {i % 3} */", w, i)
                    if v != w * 1000 + i:
                        failures.append(f"worker {w} query {i}: got {v}, expected {w * 1000 + i}")
                        return
            finally:
                await conn.close()
        except Exception as e:  # noqa: BLE001
            failures.append(f"worker {w}: {describe(e)}")

    await asyncio.gather(*(worker(w) for w in range(1, CONCURRENCY + 1)))
    check(not failures, "; ".join(failures[:5]))
    return f"{CONCURRENCY} connections x {ITERATIONS} queries through asyncpg's statement cache, each result its own"


async def prepare_errors():
    # asyncpg names its statements itself and counts arguments before sending, so only the prepare-time errors apply.
    conn = await connect()
    try:
        await expect_error(conn.prepare("SELEC 1"), "42601", "prepare with a syntax error")
        check(await conn.fetchval("SELECT 1") == 1, "SELECT 1 after the syntax error")
        await expect_error(conn.prepare("SELECT * FROM drv_no_such_table"), "42P01", "prepare of a missing table")
        check(await conn.fetchval("SELECT 1") == 1, "SELECT 1 after the missing table")
        st = await conn.prepare("SELECT $1::int + 1")
        check(await st.fetchval(41) == 42, "the prepared statement")
    finally:
        await conn.close()
    return "42601 and 42P01 raised by prepare(); connection usable"


async def batch_pipeline():
    table = f"{TAG}_batch"
    conn = await connect()
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY)")
        await expect_error(conn.executemany(f"INSERT INTO {table} VALUES ($1)", [(1,), (2,), (2,), (4,)]), "23505",
                           "executemany with a duplicate key")
        check(await conn.fetchval("SELECT 7") == 7, "connection after the failed executemany")
        # executemany is atomic: nothing of the failed batch stays.
        check(await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, "rows left by the failed executemany")
        await conn.executemany(f"INSERT INTO {table} VALUES ($1)", [(i,) for i in range(10, 30)])
        ids = [r["id"] for r in await conn.fetch(f"SELECT id FROM {table} ORDER BY id")]
        check(ids == list(range(10, 30)), f"rows after the second executemany: {ids}")
        await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    return "executemany with 23505 in the middle failed whole, the next one stored 20 rows"


COPY_ROWS = [(1, "plain"), (2, "tab\there"), (3, "new\nline"), (4, "back\\slash"), (5, None), (6, "\u20ac uni")]


async def copy_in_out():
    table = f"{TAG}_copy"
    conn = await connect()
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int, name text)")
        res = await conn.copy_records_to_table(table, records=COPY_ROWS, columns=["id", "name"])
        check(res == f"COPY {len(COPY_ROWS)}", f"COPY FROM STDIN answered {res}")
        buf = io.BytesIO()
        await conn.copy_from_query(f"SELECT id, name FROM {table} ORDER BY id", output=buf, format="csv")
        expected = '1,plain\n2,tab\there\n3,"new\nline"\n4,back\\slash\n5,\n6,\u20ac uni\n'
        got = buf.getvalue().decode()
        check(got == expected, f"COPY TO STDOUT gave {got!r}")
        await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    return f"{len(COPY_ROWS)} rows in (binary COPY) and out (CSV)"


async def cursor_in_tx():
    conn = await connect()
    try:
        async with conn.transaction():
            got = [r["g"] async for r in conn.cursor("SELECT g FROM generate_series(1, 100) g", prefetch=7)]
            cur = await conn.cursor("SELECT g FROM generate_series(1, 100) g")
            part = await cur.fetch(10)
            await cur.forward(80)
            tail = await cur.fetch(20)
        check(got == list(range(1, 101)), f"cursor iteration gave {len(got)} rows")
        check([r["g"] for r in part] == list(range(1, 11)) and [r["g"] for r in tail] == list(range(91, 101)),
              "cursor fetch/forward")
        check(await conn.fetchval("SELECT 1") == 1, "connection after the transaction")
    finally:
        await conn.close()
    return "portal cursor with prefetch 7, fetch and forward, in a transaction"


async def cancel():
    conn = await connect()
    try:
        task = asyncio.ensure_future(conn.fetchval("SELECT pg_sleep(10)"))
        await asyncio.sleep(1)
        t0 = time.monotonic()
        task.cancel()  # asyncpg sends a CancelRequest and waits for the server to end the query
        try:
            await task
            raise AssertionError("pg_sleep(10) finished despite the cancel")
        except asyncio.CancelledError:
            pass
        # asyncpg does not show the 57014 itself; the next query can only run once the server really stopped sleeping.
        check(await conn.fetchval("SELECT 5") == 5, "connection after the cancel")
        took = time.monotonic() - t0
        check(took < 5, f"the cancel took {took:.1f}s to free the connection")
    finally:
        await conn.close()
    return f"task cancel ended pg_sleep(10) on the server; connection usable {took:.1f}s later"


async def auth(user, password):
    conn = await connect(user, password)
    try:
        who = await conn.fetchval("SELECT current_user")
        check(who == user, f"logged in as {who}")
    finally:
        await conn.close()
    try:
        await (await connect(user, "wrong-password")).close()
        raise AssertionError("a wrong password was accepted")
    except asyncpg.PostgresError as e:
        check(e.sqlstate == "28P01", f"wrong password: expected 28P01, got {e.sqlstate}: {e}")
    return f"{user} logged in; wrong password refused with 28P01"


async def errors_at_right_message():
    table = f"{TAG}_uniq"
    conn = await connect()
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (id int PRIMARY KEY)")
        check(await conn.fetchval("SELECT $1::int", 1) == 1, "first statement")
        await expect_error(conn.fetchval("SELECT 1 / $1::int", 0), "22012", "division by zero")
        check(await conn.fetchval("SELECT $1::int", 2) == 2, "statement after 22012")
        await conn.execute(f"INSERT INTO {table} VALUES ($1)", 1)
        await expect_error(conn.execute(f"INSERT INTO {table} VALUES ($1)", 1), "23505", "duplicate key")
        check(await conn.fetchval("SELECT 3") == 3, "statement after 23505")
        tr = conn.transaction()
        await tr.start()
        await conn.execute(f"INSERT INTO {table} VALUES ($1)", 2)
        await expect_error(conn.fetchval("SELECT 1 / $1::int", 0), "22012", "division by zero in a transaction")
        await expect_error(conn.fetchval("SELECT 1"), "25P02", "statement in the failed transaction")
        await tr.rollback()
        ids = [r["id"] for r in await conn.fetch(f"SELECT id FROM {table} ORDER BY id")]
        check(ids == [1], f"rows after the rollback: {ids}")
        await conn.execute(f"DROP TABLE {table}")
    finally:
        await conn.close()
    return "22012, 23505, 25P02 each on its own statement; the next statement works"


async def listen_notify():
    channel = f"{TAG}_chan"
    got = asyncio.get_running_loop().create_future()
    listener = await connect()
    notifier = await connect()
    try:
        await listener.add_listener(channel, lambda _c, _pid, ch, payload: got.done() or got.set_result((ch, payload)))
        await notifier.execute(f"NOTIFY {channel}, 'hello 1'")
        res = await asyncio.wait_for(got, 5)
        check(res == (channel, "hello 1"), f"notification received: {res}")
    finally:
        await notifier.close()
        await listener.close()
    return "add_listener received NOTIFY from another connection"


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


async def main():
    wanted = [s for s in ENV.get("DRIVER_SCENARIOS", ",".join(SCENARIOS)).split(",") if s]
    for name in wanted:
        fn = SCENARIOS.get(name)
        if fn is None:
            print(json.dumps({"scenario": name, "ok": False, "detail": "not implemented by asyncpg.py"}), flush=True)
            continue
        try:
            detail = await asyncio.wait_for(fn(), 40)
            print(json.dumps({"scenario": name, "ok": True, "detail": detail}), flush=True)
        except Exception as e:  # noqa: BLE001
            print(json.dumps({"scenario": name, "ok": False, "detail": describe(e)}), flush=True)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
