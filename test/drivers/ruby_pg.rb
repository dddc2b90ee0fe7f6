#!/usr/bin/ruby
# ruby-pg (Debian ruby-pg, on libpq) through the driver matrix: one JSON line per scenario named in DRIVER_SCENARIOS.
# Connection from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE; DRIVER_TAG prefixes table and channel names.
require 'pg'
require 'json'
require 'time'

TAG = ENV.fetch('DRIVER_TAG', 'ruby_pg')
CONCURRENCY = Integer(ENV.fetch('DRIVER_CONCURRENCY', '6'))
ITERATIONS = 50

I = -42
T = "h\u20acllo, 'quoted' \"d\" \\ end"
B = "\x00\xff\x10".b
PARAMS_SQL = "SELECT i, t, b, ts, n, nul, (i = -42 AND t = 'h' || chr(8364) || 'llo, ''quoted'' \"d\" \\ end' AND b = '\\x00ff10'::bytea" \
             " AND ts = '2024-02-29 12:34:56.789+00'::timestamptz AND n = 12345.6789 AND nul IS NULL) AS server_ok" \
             ' FROM (SELECT $1::int4 AS i, $2::text AS t, $3::bytea AS b, $4::timestamptz AS ts, $5::numeric AS n, $6::int4 AS nul) s'

class CheckFailed < StandardError; end

def check(cond, msg)
  raise CheckFailed, msg unless cond
end

def connect(user: ENV['PGUSER'], password: ENV['PGPASSWORD'])
  PG.connect(host: ENV['PGHOST'], port: ENV['PGPORT'], user: user, password: password, dbname: ENV['PGDATABASE'],
             sslmode: ENV.fetch('PGSSLMODE', 'require'), connect_timeout: 10)
end

def with_conn(**kw)
  conn = connect(**kw)
  yield conn
ensure
  conn&.close
end

def sqlstate(err)
  err.respond_to?(:result) && err.result ? err.result.error_field(PG::PG_DIAG_SQLSTATE) : nil
end

def expect_error(sqlstate_wanted, what)
  yield
  raise CheckFailed, "#{what}: expected SQLSTATE #{sqlstate_wanted}, but it succeeded"
rescue PG::Error => e
  got = sqlstate(e)
  check(got == sqlstate_wanted, "#{what}: expected SQLSTATE #{sqlstate_wanted}, got #{got}: #{e.message.strip}")
  e
end

def params_text
  with_conn do |c|
    c.exec("SET TimeZone = 'UTC'")
    r = c.exec_params(PARAMS_SQL, [I, T, c.escape_bytea(B), '2024-02-29 12:34:56.789+00', '12345.6789', nil])[0]
    got = [r['i'], r['t'], c.unescape_bytea(r['b']), r['ts'], r['n'], r['nul']]
    want = ['-42', T, B, '2024-02-29 12:34:56.789+00', '12345.6789', nil]
    check(got == want, "text round trip gave #{got.inspect}")
    check(r['server_ok'] == 't', "the server saw different values (server_ok=#{r['server_ok']})")
  end
  'int, text, bytea, timestamptz, numeric, NULL as text parameters'
end

PG_EPOCH = Time.utc(2000, 1, 1)
TS_MICROS = ((Time.utc(2024, 2, 29, 12, 34, 56, 789_000) - PG_EPOCH) * 1_000_000).round

# numeric's binary form (ndigits, weight, sign, dscale, base-10000 digits) for 12345.6789.
NUMERIC_BIN = [3, 1, 0, 4, 1, 2345, 6789].pack('s>*')

def params_binary
  with_conn do |c|
    params = [
      { value: [I].pack('l>'), type: 23, format: 1 },
      { value: T.b, type: 25, format: 1 },
      { value: B, type: 17, format: 1 },
      { value: [TS_MICROS].pack('q>'), type: 1184, format: 1 },
      { value: NUMERIC_BIN, type: 1700, format: 1 },
      { value: nil, type: 23, format: 1 },
    ]
    r = c.exec_params(PARAMS_SQL, params, 1)
    got = [r.getvalue(0, 0).unpack1('l>'), r.getvalue(0, 1).force_encoding('UTF-8'), r.getvalue(0, 2),
           r.getvalue(0, 3).unpack1('q>'), r.getvalue(0, 4), r.getvalue(0, 5)]
    want = [I, T, B, TS_MICROS, NUMERIC_BIN, nil]
    check(got == want, "binary round trip gave #{got.inspect}")
    check(r.getvalue(0, 6) == "\x01".b, "the server saw different values (server_ok=#{r.getvalue(0, 6).inspect})")
  end
  'int, text, bytea, timestamptz, numeric, NULL as binary parameters and results'
end

def stmt_cache_concurrency
  failures = Queue.new
  threads = (1..CONCURRENCY).map do |w|
    Thread.new do
      with_conn do |c|
        3.times { |k| c.prepare("drv_v#{k}", "SELECT $1::int * 1000 + $2::int AS v /* variant #{k} */") }
        ITERATIONS.times do |i|
          v = c.exec_prepared("drv_v#{i % 3}", [w, i]).getvalue(0, 0).to_i
          if v != w * 1000 + i
            failures << "worker #{w} query #{i}: got #{v}, expected #{w * 1000 + i}"
            break
          end
        end
      end
    rescue StandardError => e
      failures << "worker #{w}: #{describe(e)}"
    end
  end
  threads.each(&:join)
  msgs = []
  msgs << failures.pop until failures.empty?
  check(msgs.empty?, msgs.first(5).join('; '))
  "#{CONCURRENCY} connections x #{ITERATIONS} exec_prepared on 3 named statements, each result its own"
end

def still_works(c, after)
  v = c.exec('SELECT 1').getvalue(0, 0)
  check(v == '1', "after #{after}: SELECT 1 gave #{v}")
rescue PG::Error => e
  raise CheckFailed, "after #{after}: SELECT 1 failed (#{sqlstate(e)} #{e.message.strip}) - an error reported late?"
end

def prepare_errors
  with_conn do |c|
    expect_error('42601', 'prepare with a syntax error') { c.prepare('drv_syntax', 'SELEC 1') }
    still_works(c, 'the syntax error')
    expect_error('42P01', 'prepare of a missing table') { c.prepare('drv_missing', 'SELECT * FROM drv_no_such_table') }
    still_works(c, 'the missing table')
    c.prepare('drv_stmt', 'SELECT $1::int + 1')
    e = expect_error('42P05', 'preparing drv_stmt twice') { c.prepare('drv_stmt', 'SELECT $1::int + 2') }
    check(e.message.include?('prepared statement "drv_stmt" already exists'), "42P05 message does not name drv_stmt: #{e.message.strip}")
    v = c.exec_prepared('drv_stmt', [41]).getvalue(0, 0)
    check(v == '42', "the first drv_stmt after the duplicate gave #{v}")
    begin
      c.exec_prepared('drv_stmt', [1, 2])
      raise CheckFailed, 'executing drv_stmt with 2 params instead of 1 succeeded'
    rescue PG::Error => e
      check(e.message.include?('"drv_stmt"'), "wrong-parameter-count error does not name drv_stmt: #{e.message.strip}")
    end
    still_works(c, 'the wrong parameter count')
  end
  '42601 and 42P01 at prepare, 42P05 naming drv_stmt, wrong param count names drv_stmt'
end

# Results of one libpq pipeline up to and including its sync, as status names.
def pipeline_results(c)
  out = []
  loop do
    r = c.get_result
    next if r.nil?
    out << [r.res_status(r.result_status), sqlstate_of(r), r.ntuples.positive? ? r.getvalue(0, 0) : nil]
    break if r.result_status == PG::PGRES_PIPELINE_SYNC
  end
  out
end

def sqlstate_of(res)
  res.error_field(PG::PG_DIAG_SQLSTATE)
end

def batch_pipeline
  table = "#{TAG}_batch"
  with_conn do |c|
    c.exec("DROP TABLE IF EXISTS #{table}; CREATE TABLE #{table} (id int PRIMARY KEY)")
    c.enter_pipeline_mode
    c.send_query_params("INSERT INTO #{table} VALUES ($1) RETURNING id", [1])
    c.send_query_params("INSERT INTO #{table} VALUES ($1) RETURNING id", [1]) # 23505
    c.send_query_params("INSERT INTO #{table} VALUES ($1) RETURNING id", [3])
    c.pipeline_sync
    c.send_query_params('SELECT $1::int', [7])
    c.pipeline_sync
    first = pipeline_results(c)
    second = pipeline_results(c)
    c.exit_pipeline_mode
    want_first = [['PGRES_TUPLES_OK', nil, '1'], ['PGRES_FATAL_ERROR', '23505', nil], ['PGRES_PIPELINE_ABORTED', nil, nil],
                  ['PGRES_PIPELINE_SYNC', nil, nil]]
    check(first == want_first, "first pipeline gave #{first.inspect}")
    check(second == [['PGRES_TUPLES_OK', nil, '7'], ['PGRES_PIPELINE_SYNC', nil, nil]], "second pipeline gave #{second.inspect}")
    ids = c.exec("SELECT id FROM #{table} ORDER BY id").column_values(0)
    # The statements before one Sync are one implicit transaction: the error undid row 1.
    check(ids == [], "rows after the pipelines: #{ids.inspect}")
    still_works(c, 'the pipelines')
    c.exec("DROP TABLE #{table}")
  end
  'libpq pipeline: 23505 on the second statement, the third aborted, the next pipeline and the connection work'
end

COPY_ROWS = [[1, 'plain'], [2, "tab\there"], [3, "new\nline"], [4, 'back\\slash'], [5, nil], [6, "\u20ac uni"]].freeze

def copy_text(rows)
  esc = ->(v) { v.nil? ? '\\N' : v.to_s.gsub('\\') { '\\\\' }.gsub("\t", '\\t').gsub("\n", '\\n') }
  rows.map { |a, b| "#{esc.call(a)}\t#{esc.call(b)}\n" }.join
end

def copy_in_out
  table = "#{TAG}_copy"
  with_conn do |c|
    c.exec("DROP TABLE IF EXISTS #{table}; CREATE TABLE #{table} (id int, name text)")
    data = copy_text(COPY_ROWS)
    res = c.copy_data("COPY #{table} (id, name) FROM STDIN") { data.each_line { |l| c.put_copy_data(l) } }
    check(res.cmd_tuples == COPY_ROWS.size, "COPY FROM reported #{res.cmd_tuples} rows")
    out = +''
    c.copy_data("COPY (SELECT id, name FROM #{table} ORDER BY id) TO STDOUT") do
      while (row = c.get_copy_data)
        out << row.force_encoding('UTF-8')
      end
    end
    check(out == data, "COPY TO gave #{out.inspect}")
    c.exec("DROP TABLE #{table}")
  end
  "#{COPY_ROWS.size} rows with tab, newline, backslash, NULL, unicode in and out"
end

def cursor_in_tx
  with_conn do |c|
    got = []
    c.transaction do
      c.exec('DECLARE drv_cursor CURSOR FOR SELECT g FROM generate_series(1, 100) g')
      loop do
        r = c.exec_params('FETCH 7 FROM drv_cursor')
        break if r.ntuples.zero?

        got.concat(r.column_values(0).map(&:to_i))
      end
      c.exec('CLOSE drv_cursor')
    end
    check(got == (1..100).to_a, "cursor gave #{got.size} rows")
    still_works(c, 'the transaction')
  end
  'DECLARE/FETCH 7 of 100 rows in a transaction'
end

def cancel
  took = nil
  with_conn do |c|
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    th = Thread.new do
      sleep 1
      c.cancel
    end
    begin
      expect_error('57014', 'cancelled pg_sleep(10)') { c.exec('SELECT pg_sleep(10)') }
    ensure
      th.join
    end
    took = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    check(took < 5, format('the cancel took %.1fs', took))
    check(c.exec('SELECT 5').getvalue(0, 0) == '5', 'connection after the cancel')
  end
  format('57014 after %.1fs, connection usable', took)
end

def auth(user, password)
  with_conn(user: user, password: password) do |c|
    who = c.exec('SELECT current_user').getvalue(0, 0)
    check(who == user, "logged in as #{who}")
  end
  begin
    connect(user: user, password: 'wrong-password').close
    raise CheckFailed, 'a wrong password was accepted'
  rescue PG::ConnectionBad => e
    # libpq reports a failed login without a SQLSTATE; 28P01's message is what it gives.
    check(e.message.include?("password authentication failed for user \"#{user}\""),
          "wrong password: expected 28P01 password authentication failed, got: #{e.message.strip}")
  end
  "#{user} logged in; wrong password refused with 28P01's message"
end

def errors_at_right_message
  table = "#{TAG}_uniq"
  with_conn do |c|
    c.exec("DROP TABLE IF EXISTS #{table}; CREATE TABLE #{table} (id int PRIMARY KEY)")
    check(c.exec_params('SELECT $1::int', [1]).getvalue(0, 0) == '1', 'first statement')
    expect_error('22012', 'division by zero') { c.exec_params('SELECT 1 / $1::int', [0]) }
    check(c.exec_params('SELECT $1::int', [2]).getvalue(0, 0) == '2', 'statement after 22012')
    c.exec_params("INSERT INTO #{table} VALUES ($1)", [1])
    expect_error('23505', 'duplicate key') { c.exec_params("INSERT INTO #{table} VALUES ($1)", [1]) }
    check(c.exec('SELECT 3').getvalue(0, 0) == '3', 'statement after 23505')
    c.exec('BEGIN')
    c.exec_params("INSERT INTO #{table} VALUES ($1)", [2])
    expect_error('22012', 'division by zero in a transaction') { c.exec('SELECT 1 / 0') }
    expect_error('25P02', 'statement in the failed transaction') { c.exec('SELECT 1') }
    c.exec('ROLLBACK')
    ids = c.exec("SELECT id FROM #{table} ORDER BY id").column_values(0)
    check(ids == ['1'], "rows after the rollback: #{ids.inspect}")
    c.exec("DROP TABLE #{table}")
  end
  '22012, 23505, 25P02 each on its own statement; the next statement works'
end

def listen_notify
  channel = "#{TAG}_chan"
  with_conn do |listener|
    listener.exec("LISTEN #{channel}")
    with_conn { |n| n.exec("NOTIFY #{channel}, 'hello 1'") }
    got = nil
    listener.wait_for_notify(5) { |ch, _pid, payload| got = [ch, payload] }
    check(got == [channel, 'hello 1'], "notification received: #{got.inspect}")
  end
  'wait_for_notify received NOTIFY from another connection'
end

def describe(err)
  state = err.is_a?(PG::Error) ? sqlstate(err) : nil
  "#{err.class}#{state ? " #{state}" : ''}: #{err.message.strip}"
end

SCENARIOS = {
  'params_text' => -> { params_text },
  'params_binary' => -> { params_binary },
  'stmt_cache_concurrency' => -> { stmt_cache_concurrency },
  'prepare_errors' => -> { prepare_errors },
  'batch_pipeline' => -> { batch_pipeline },
  'copy_in_out' => -> { copy_in_out },
  'cursor_in_tx' => -> { cursor_in_tx },
  'cancel' => -> { cancel },
  'auth_scram' => -> { auth(ENV['PGUSER'], ENV['PGPASSWORD']) },
  'auth_md5' => -> { auth(ENV['DRIVER_MD5_USER'], ENV['DRIVER_MD5_PASSWORD']) },
  'errors_at_right_message' => -> { errors_at_right_message },
  'listen_notify' => -> { listen_notify },
}.freeze

$stdout.sync = true
ENV.fetch('DRIVER_SCENARIOS', SCENARIOS.keys.join(',')).split(',').reject(&:empty?).each do |name|
  fn = SCENARIOS[name]
  if fn.nil?
    puts JSON.generate(scenario: name, ok: false, detail: 'not implemented by ruby_pg.rb')
    next
  end
  begin
    puts JSON.generate(scenario: name, ok: true, detail: fn.call)
  rescue StandardError => e
    puts JSON.generate(scenario: name, ok: false, detail: describe(e))
  end
end
