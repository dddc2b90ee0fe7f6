<?php
// PHP's pgsql extension (Debian php-cli + php-pgsql, on libpq) through the driver matrix: one JSON line per scenario
// named in DRIVER_SCENARIOS. Connection from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE; DRIVER_TAG prefixes
// table and channel names. pgsql sends parameters as text only (no params_binary) and has no pipeline mode, so its
// batch is a multi-statement query. `php php_pgsql.php worker <n>` is one stmt_cache_concurrency worker.
declare(strict_types=1);

final class CheckFailed extends Exception {}
final class PgErr extends Exception {
    public function __construct(public ?string $sqlstate, string $message) { parent::__construct($message); }
}

const ITERATIONS = 50;
$TAG = getenv('DRIVER_TAG') ?: 'php_pgsql';
$CONCURRENCY = (int) (getenv('DRIVER_CONCURRENCY') ?: '6');
$T = "h\u{20ac}llo, 'quoted' \"d\" \\ end";
$B = "\x00\xff\x10";
const PARAMS_SQL = "SELECT i, t, b, ts, n, nul, (i = -42 AND t = 'h' || chr(8364) || 'llo, ''quoted'' \"d\" \\ end' AND b = '\\x00ff10'::bytea"
    . " AND ts = '2024-02-29 12:34:56.789+00'::timestamptz AND n = 12345.6789 AND nul IS NULL) AS server_ok"
    . ' FROM (SELECT $1::int4 AS i, $2::text AS t, $3::bytea AS b, $4::timestamptz AS ts, $5::numeric AS n, $6::int4 AS nul) s';

// pg_* functions report failures as warnings: turn them into exceptions carrying the message.
set_error_handler(function (int $no, string $msg): bool { throw new ErrorException($msg, 0, $no); });

function check(bool $cond, string $msg): void { if (!$cond) throw new CheckFailed($msg); }

function connect(?string $user = null, ?string $password = null) {
    $q = fn ($v) => "'" . str_replace(["\\", "'"], ["\\\\", "\\'"], (string) $v) . "'";
    $dsn = sprintf('host=%s port=%s user=%s password=%s dbname=%s sslmode=%s connect_timeout=10',
        $q(getenv('PGHOST')), $q(getenv('PGPORT')), $q($user ?? getenv('PGUSER')), $q($password ?? getenv('PGPASSWORD')),
        $q(getenv('PGDATABASE')), $q(getenv('PGSSLMODE') ?: 'require'));
    return pg_connect($dsn, PGSQL_CONNECT_FORCE_NEW);
}

/** Reads every result of what was sent; throws PgErr for the first error (with its SQLSTATE), else returns the last result. */
function results($c) {
    $last = null; $err = null;
    while (($r = pg_get_result($c)) !== false) {
        $st = pg_result_status($r);
        if ($st === PGSQL_FATAL_ERROR || $st === PGSQL_BAD_RESPONSE || $st === PGSQL_NONFATAL_ERROR) {
            $err ??= new PgErr(pg_result_error_field($r, PGSQL_DIAG_SQLSTATE) ?: null, trim(pg_result_error($r)));
        } else {
            $last = $r;
        }
    }
    if ($err) throw $err;
    return $last;
}

function q($c, string $sql, ?array $params = null) {
    $params === null ? pg_send_query($c, $sql) : pg_send_query_params($c, $sql, $params);
    return results($c);
}
function prep($c, string $name, string $sql) { pg_send_prepare($c, $name, $sql); return results($c); }
function execp($c, string $name, array $params) { pg_send_execute($c, $name, $params); return results($c); }
function val($c, string $sql, ?array $params = null) { return pg_fetch_result(q($c, $sql, $params), 0, 0); }

function expect_error(string $sqlstate, string $what, callable $fn): PgErr {
    try {
        $fn();
    } catch (PgErr $e) {
        check($e->sqlstate === $sqlstate, "$what: expected SQLSTATE $sqlstate, got {$e->sqlstate}: {$e->getMessage()}");
        return $e;
    }
    throw new CheckFailed("$what: expected SQLSTATE $sqlstate, but it succeeded");
}

function still_works($c, string $after): void {
    try {
        check(val($c, 'SELECT 1') === '1', "after $after: SELECT 1 gave another value");
    } catch (PgErr $e) {
        throw new CheckFailed("after $after: SELECT 1 failed ({$e->sqlstate} {$e->getMessage()}) - an error reported late?");
    }
}

function params_text(): string {
    global $T, $B;
    $c = connect();
    q($c, "SET TimeZone = 'UTC'");
    $r = pg_fetch_assoc(q($c, PARAMS_SQL, [-42, $T, pg_escape_bytea($c, $B), '2024-02-29 12:34:56.789+00', '12345.6789', null]));
    $got = [$r['i'], $r['t'], pg_unescape_bytea($r['b']), $r['ts'], $r['n'], $r['nul']];
    $want = ['-42', $T, $B, '2024-02-29 12:34:56.789+00', '12345.6789', null];
    check($got === $want, 'text round trip gave ' . json_encode(array_map(fn ($v) => is_string($v) ? bin2hex($v) : $v, $got)));
    check($r['server_ok'] === 't', "the server saw different values (server_ok={$r['server_ok']})");
    pg_close($c);
    return 'int, text, bytea, timestamptz, numeric, NULL as text parameters';
}

/** One worker of stmt_cache_concurrency, in its own process: prepares 3 statements and checks 50 results. */
function worker(int $w): int {
    $c = connect();
    for ($k = 0; $k < 3; $k++) prep($c, "drv_v$k", "SELECT \$1::int * 1000 + \$2::int AS v /* variant $k */");
    for ($i = 0; $i < ITERATIONS; $i++) {
        $v = (int) pg_fetch_result(execp($c, 'drv_v' . ($i % 3), [$w, $i]), 0, 0);
        if ($v !== $w * 1000 + $i) { fwrite(STDOUT, "worker $w query $i: got $v, expected " . ($w * 1000 + $i)); return 1; }
    }
    pg_close($c);
    return 0;
}

function stmt_cache_concurrency(): string {
    global $CONCURRENCY;
    $procs = [];
    for ($w = 1; $w <= $CONCURRENCY; $w++) {
        $p = proc_open([PHP_BINARY, __FILE__, 'worker', (string) $w], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $procs[$w] = [$p, $pipes];
    }
    $failures = [];
    foreach ($procs as $w => [$p, $pipes]) {
        $out = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
        fclose($pipes[1]); fclose($pipes[2]);
        $code = proc_close($p);
        if ($code !== 0) $failures[] = "worker $w (exit $code): " . trim($out);
    }
    check(!$failures, implode('; ', array_slice($failures, 0, 5)));
    return "$CONCURRENCY processes x " . ITERATIONS . ' pg_execute on 3 pg_prepare\'d statements, each result its own';
}

function prepare_errors(): string {
    $c = connect();
    expect_error('42601', 'pg_prepare with a syntax error', fn () => prep($c, 'drv_syntax', 'SELEC 1'));
    still_works($c, 'the syntax error');
    expect_error('42P01', 'pg_prepare of a missing table', fn () => prep($c, 'drv_missing', 'SELECT * FROM drv_no_such_table'));
    still_works($c, 'the missing table');
    prep($c, 'drv_stmt', 'SELECT $1::int + 1');
    $e = expect_error('42P05', 'preparing drv_stmt twice', fn () => prep($c, 'drv_stmt', 'SELECT $1::int + 2'));
    check(str_contains($e->getMessage(), 'prepared statement "drv_stmt" already exists'), "42P05 message does not name drv_stmt: {$e->getMessage()}");
    $v = pg_fetch_result(execp($c, 'drv_stmt', [41]), 0, 0);
    check($v === '42', "the first drv_stmt after the duplicate gave $v");
    try {
        execp($c, 'drv_stmt', [1, 2]);
        throw new CheckFailed('executing drv_stmt with 2 params instead of 1 succeeded');
    } catch (PgErr $e) {
        check(str_contains($e->getMessage(), '"drv_stmt"'), "wrong-parameter-count error does not name drv_stmt: {$e->getMessage()}");
    }
    still_works($c, 'the wrong parameter count');
    pg_close($c);
    return '42601 and 42P01 at pg_prepare, 42P05 naming drv_stmt, wrong param count names drv_stmt';
}

function batch_pipeline(): string {
    global $TAG;
    $t = "{$TAG}_batch";
    $c = connect();
    q($c, "SET client_min_messages = warning; DROP TABLE IF EXISTS $t; CREATE TABLE $t (id int PRIMARY KEY)");
    // One simple Query with three statements: an implicit transaction, the second fails, the third never runs.
    pg_send_query($c, "INSERT INTO $t VALUES (1); INSERT INTO $t VALUES (1); INSERT INTO $t VALUES (3)");
    $seen = [];
    while (($r = pg_get_result($c)) !== false) {
        $seen[] = pg_result_status($r) === PGSQL_FATAL_ERROR ? 'error ' . pg_result_error_field($r, PGSQL_DIAG_SQLSTATE) : 'ok';
    }
    check($seen === ['ok', 'error 23505'], 'multi-statement batch gave ' . json_encode($seen));
    still_works($c, 'the failed batch');
    check(val($c, "SELECT count(*) FROM $t") === '0', 'rows left by the failed batch (one implicit transaction)');
    q($c, "INSERT INTO $t VALUES (10); INSERT INTO $t VALUES (11); INSERT INTO $t VALUES (12)");
    $ids = pg_fetch_all_columns(q($c, "SELECT id FROM $t ORDER BY id"));
    check($ids === ['10', '11', '12'], 'rows after the second batch: ' . json_encode($ids));
    q($c, "DROP TABLE $t");
    pg_close($c);
    return 'multi-statement batch: 23505 on the second statement, the rest skipped, connection usable';
}

function copy_in_out(): string {
    global $TAG;
    $t = "{$TAG}_copy";
    $c = connect();
    q($c, "SET client_min_messages = warning; DROP TABLE IF EXISTS $t; CREATE TABLE $t (id int, name text)");
    $lines = ["1\tplain\n", "2\ttab\\there\n", "3\tnew\\nline\n", "4\tback\\\\slash\n", "5\t\\N\n", "6\t\u{20ac} uni\n"];
    check(pg_copy_from($c, "$t (id, name)", $lines), 'pg_copy_from failed: ' . pg_last_error($c));
    $rows = pg_fetch_all(q($c, "SELECT id, name FROM $t ORDER BY id"), PGSQL_NUM);
    $want = [['1', 'plain'], ['2', "tab\there"], ['3', "new\nline"], ['4', 'back\\slash'], ['5', null], ['6', "\u{20ac} uni"]];
    check($rows === $want, 'rows after pg_copy_from: ' . json_encode($rows));
    $out = pg_copy_to($c, $t);
    sort($out);
    check($out === $lines, 'pg_copy_to gave ' . json_encode($out));
    q($c, "DROP TABLE $t");
    pg_close($c);
    return '6 rows with tab, newline, backslash, NULL, unicode through pg_copy_from and pg_copy_to';
}

function cursor_in_tx(): string {
    $c = connect();
    q($c, 'BEGIN');
    q($c, 'DECLARE drv_cursor CURSOR FOR SELECT g FROM generate_series(1, 100) g');
    $got = [];
    while (pg_num_rows($r = q($c, 'FETCH 7 FROM drv_cursor')) > 0) {
        foreach (pg_fetch_all_columns($r) as $v) $got[] = (int) $v;
    }
    q($c, 'COMMIT');
    check($got === range(1, 100), 'cursor gave ' . count($got) . ' rows');
    still_works($c, 'the transaction');
    pg_close($c);
    return 'DECLARE/FETCH 7 of 100 rows in a transaction';
}

function cancel(): string {
    $c = connect();
    pg_send_query($c, 'SELECT pg_sleep(10)');
    usleep(1_000_000);
    $t0 = microtime(true);
    // pg_cancel_query sends the CancelRequest and discards the results itself, so the 57014 is not visible here;
    // it returns only once the server answered, which it does at once only if the cancel reached it.
    check(pg_cancel_query($c), 'pg_cancel_query returned false');
    check(val($c, 'SELECT 5') === '5', 'connection after the cancel');
    $took = microtime(true) - $t0;
    check($took < 5, sprintf('the cancel took %.1fs', $took));
    pg_close($c);
    return sprintf('pg_cancel_query ended pg_sleep(10) after %.1fs, connection usable', $took);
}

function auth(string $user, string $password): string {
    $c = connect($user, $password);
    $who = val($c, 'SELECT current_user');
    check($who === $user, "logged in as $who");
    pg_close($c);
    try {
        connect($user, 'wrong-password');
        throw new CheckFailed('a wrong password was accepted');
    } catch (ErrorException $e) {
        // libpq reports a failed login without a SQLSTATE; 28P01's message is what it gives.
        check(str_contains($e->getMessage(), "password authentication failed for user \"$user\""),
            "wrong password: expected 28P01 password authentication failed, got: {$e->getMessage()}");
    }
    return "$user logged in; wrong password refused with 28P01's message";
}

function errors_at_right_message(): string {
    global $TAG;
    $t = "{$TAG}_uniq";
    $c = connect();
    q($c, "SET client_min_messages = warning; DROP TABLE IF EXISTS $t; CREATE TABLE $t (id int PRIMARY KEY)");
    check(val($c, 'SELECT $1::int', [1]) === '1', 'first statement');
    expect_error('22012', 'division by zero', fn () => q($c, 'SELECT 1 / $1::int', [0]));
    check(val($c, 'SELECT $1::int', [2]) === '2', 'statement after 22012');
    q($c, "INSERT INTO $t VALUES (\$1)", [1]);
    expect_error('23505', 'duplicate key', fn () => q($c, "INSERT INTO $t VALUES (\$1)", [1]));
    check(val($c, 'SELECT 3') === '3', 'statement after 23505');
    q($c, 'BEGIN');
    q($c, "INSERT INTO $t VALUES (\$1)", [2]);
    expect_error('22012', 'division by zero in a transaction', fn () => q($c, 'SELECT 1 / 0'));
    expect_error('25P02', 'statement in the failed transaction', fn () => q($c, 'SELECT 1'));
    q($c, 'ROLLBACK');
    $ids = pg_fetch_all_columns(q($c, "SELECT id FROM $t ORDER BY id"));
    check($ids === ['1'], 'rows after the rollback: ' . json_encode($ids));
    q($c, "DROP TABLE $t");
    pg_close($c);
    return '22012, 23505, 25P02 each on its own statement; the next statement works';
}

function listen_notify(): string {
    global $TAG;
    $ch = "{$TAG}_chan";
    $l = connect();
    q($l, "LISTEN $ch");
    $n = connect();
    q($n, "NOTIFY $ch, 'hello 1'");
    pg_close($n);
    $got = false;
    for ($deadline = microtime(true) + 5; $got === false && microtime(true) < $deadline; usleep(50_000)) {
        $got = pg_get_notify($l, PGSQL_ASSOC);
    }
    check($got !== false && $got['message'] === $ch && $got['payload'] === 'hello 1', 'notification received: ' . json_encode($got));
    pg_close($l);
    return 'pg_get_notify received NOTIFY from another connection';
}

function describe(Throwable $e): string {
    $state = $e instanceof PgErr && $e->sqlstate ? " {$e->sqlstate}" : '';
    return (new ReflectionClass($e))->getShortName() . "$state: " . trim($e->getMessage());
}

if (($argv[1] ?? '') === 'worker') {
    try { exit(worker((int) $argv[2])); } catch (Throwable $e) { fwrite(STDOUT, describe($e)); exit(1); }
}

$scenarios = [
    'params_text' => 'params_text',
    'stmt_cache_concurrency' => 'stmt_cache_concurrency',
    'prepare_errors' => 'prepare_errors',
    'batch_pipeline' => 'batch_pipeline',
    'copy_in_out' => 'copy_in_out',
    'cursor_in_tx' => 'cursor_in_tx',
    'cancel' => 'cancel',
    'auth_scram' => fn () => auth(getenv('PGUSER'), getenv('PGPASSWORD')),
    'auth_md5' => fn () => auth(getenv('DRIVER_MD5_USER'), getenv('DRIVER_MD5_PASSWORD')),
    'errors_at_right_message' => 'errors_at_right_message',
    'listen_notify' => 'listen_notify',
];
$wanted = array_filter(explode(',', getenv('DRIVER_SCENARIOS') ?: implode(',', array_keys($scenarios))));
foreach ($wanted as $name) {
    if (!isset($scenarios[$name])) {
        echo json_encode(['scenario' => $name, 'ok' => false, 'detail' => 'not implemented by php_pgsql.php']), "\n";
        continue;
    }
    try {
        echo json_encode(['scenario' => $name, 'ok' => true, 'detail' => ($scenarios[$name])()]), "\n";
    } catch (Throwable $e) {
        echo json_encode(['scenario' => $name, 'ok' => false, 'detail' => describe($e)], JSON_INVALID_UTF8_SUBSTITUTE), "\n";
    }
}
