// pgjdbc (Debian libpostgresql-jdbc-java) through the driver matrix: one JSON line per scenario named in DRIVER_SCENARIOS.
// Connection from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE/PGSSLMODE; DRIVER_TAG prefixes table and channel names.
// Compile: javac -cp /usr/share/java/postgresql.jar Matrix.java. pgjdbc parses a statement at its first execution,
// never at prepareStatement(), so prepare_errors is not asked of it.
import java.io.StringReader;
import java.io.StringWriter;
import java.math.BigDecimal;
import java.sql.BatchUpdateException;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;
import org.postgresql.copy.CopyManager;

public final class Matrix {
  static final String TAG = env("DRIVER_TAG", "pgjdbc");
  static final int CONCURRENCY = Integer.parseInt(env("DRIVER_CONCURRENCY", "6"));
  static final int ITERATIONS = 50;

  static final int I = -42;
  static final String T = "h\u20acllo, 'quoted' \"d\" \\ end";
  static final byte[] B = {0x00, (byte) 0xff, 0x10};
  static final OffsetDateTime TS = OffsetDateTime.of(2024, 2, 29, 12, 34, 56, 789_000_000, ZoneOffset.UTC);
  static final BigDecimal N = new BigDecimal("12345.6789");
  static final String PARAMS_SQL =
      "SELECT i, t, b, ts, n, nul, (i = -42 AND t = 'h' || chr(8364) || 'llo, ''quoted'' \"d\" \\ end' AND b = '\\x00ff10'::bytea"
          + " AND ts = '2024-02-29 12:34:56.789+00'::timestamptz AND n = 12345.6789 AND nul IS NULL) AS server_ok"
          + " FROM (SELECT ?::int4 AS i, ?::text AS t, ?::bytea AS b, ?::timestamptz AS ts, ?::numeric AS n, ?::int4 AS nul) s";

  static final class CheckFailed extends Exception {
    CheckFailed(String m) {
      super(m);
    }
  }

  static String env(String k, String dflt) {
    String v = System.getenv(k);
    return v == null || v.isEmpty() ? dflt : v;
  }

  static void check(boolean cond, String msg) throws CheckFailed {
    if (!cond) throw new CheckFailed(msg);
  }

  static Connection connectAs(String user, String password, String... props) throws SQLException {
    String url = "jdbc:postgresql://" + System.getenv("PGHOST") + ":" + System.getenv("PGPORT") + "/" + System.getenv("PGDATABASE");
    Properties p = new Properties();
    p.setProperty("user", user);
    p.setProperty("password", password);
    p.setProperty("sslmode", env("PGSSLMODE", "require"));
    p.setProperty("connectTimeout", "10");
    for (int i = 0; i + 1 < props.length; i += 2) p.setProperty(props[i], props[i + 1]);
    return DriverManager.getConnection(url, p);
  }

  static Connection connect(String... props) throws SQLException {
    return connectAs(System.getenv("PGUSER"), System.getenv("PGPASSWORD"), props);
  }

  interface SqlRunnable {
    void run() throws Exception;
  }

  static SQLException expectError(String sqlstate, String what, SqlRunnable fn) throws Exception {
    try {
      fn.run();
    } catch (SQLException e) {
      check(sqlstate.equals(e.getSQLState()), what + ": expected SQLSTATE " + sqlstate + ", got " + e.getSQLState() + ": " + e.getMessage());
      return e;
    }
    throw new CheckFailed(what + ": expected SQLSTATE " + sqlstate + ", but it succeeded");
  }

  static Object one(Connection c, String sql, Object... args) throws SQLException {
    try (PreparedStatement ps = c.prepareStatement(sql)) {
      for (int i = 0; i < args.length; i++) ps.setObject(i + 1, args[i]);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getObject(1);
      }
    }
  }

  static void exec(Connection c, String sql) throws SQLException {
    try (Statement st = c.createStatement()) {
      st.execute(sql);
    }
  }

  static void checkParams(Connection c, String how) throws Exception {
    try (PreparedStatement ps = c.prepareStatement(PARAMS_SQL)) {
      // Twice: with prepareThreshold the second execution is the server-prepared one.
      for (int round = 0; round < 2; round++) {
        ps.setInt(1, I);
        ps.setString(2, T);
        ps.setBytes(3, B);
        ps.setObject(4, TS);
        ps.setBigDecimal(5, N);
        ps.setNull(6, Types.INTEGER);
        try (ResultSet rs = ps.executeQuery()) {
          check(rs.next(), how + ": no row");
          check(rs.getInt(1) == I, how + ": int gave " + rs.getInt(1));
          check(T.equals(rs.getString(2)), how + ": text gave " + rs.getString(2));
          check(Arrays.equals(B, rs.getBytes(3)), how + ": bytea gave " + Arrays.toString(rs.getBytes(3)));
          OffsetDateTime ts = rs.getObject(4, OffsetDateTime.class);
          check(ts != null && ts.isEqual(TS), how + ": timestamptz gave " + ts);
          check(rs.getBigDecimal(5).compareTo(N) == 0, how + ": numeric gave " + rs.getBigDecimal(5));
          check(rs.getObject(6) == null, how + ": NULL gave " + rs.getObject(6));
          check(rs.getBoolean(7), how + ": the server saw different values (server_ok=false)");
        }
      }
    }
  }

  static String paramsText() throws Exception {
    // binaryTransfer=false: every parameter and result in text format.
    try (Connection c = connect("binaryTransfer", "false", "prepareThreshold", "0")) {
      checkParams(c, "text params");
    }
    return "int, text, bytea, timestamptz, numeric, NULL as text (binaryTransfer=false)";
  }

  static String paramsBinary() throws Exception {
    // prepareThreshold=-1: server-prepared from the first execution, binary transfer for the types pgjdbc supports.
    try (Connection c = connect("binaryTransfer", "true", "prepareThreshold", "-1")) {
      checkParams(c, "binary params");
    }
    return "int, text, bytea, timestamptz, numeric, NULL with binary transfer (prepareThreshold=-1)";
  }

  static String stmtCacheConcurrency() throws Exception {
    List<String> failures = Collections.synchronizedList(new ArrayList<>());
    List<Thread> threads = new ArrayList<>();
    for (int w = 1; w <= CONCURRENCY; w++) {
      final int worker = w;
      Thread th = new Thread(() -> {
        // prepareThreshold=1: server-side named statements from the first execution, kept in pgjdbc's cache.
        try (Connection c = connect("prepareThreshold", "1")) {
          for (int i = 0; i < ITERATIONS; i++) {
            try (PreparedStatement ps = c.prepareStatement("SELECT ?::int * 1000 + ?::int AS v /* variant " + (i % 3) + " */")) {
              ps.setInt(1, worker);
              ps.setInt(2, i);
              try (ResultSet rs = ps.executeQuery()) {
                rs.next();
                int v = rs.getInt(1);
                if (v != worker * 1000 + i) {
                  failures.add("worker " + worker + " query " + i + ": got " + v + ", expected " + (worker * 1000 + i));
                  return;
                }
              }
            }
          }
        } catch (Exception e) {
          failures.add("worker " + worker + ": " + describe(e));
        }
      });
      threads.add(th);
      th.start();
    }
    for (Thread th : threads) th.join();
    check(failures.isEmpty(), String.join("; ", failures.subList(0, Math.min(5, failures.size()))));
    return CONCURRENCY + " connections x " + ITERATIONS + " queries with prepareThreshold=1, each result its own";
  }

  static String batchPipeline() throws Exception {
    String table = TAG + "_batch";
    try (Connection c = connect()) {
      exec(c, "DROP TABLE IF EXISTS " + table + "; CREATE TABLE " + table + " (id int PRIMARY KEY)");
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?)")) {
        for (int id : new int[] {1, 2, 2, 4}) {
          ps.setInt(1, id);
          ps.addBatch();
        }
        try {
          ps.executeBatch();
          throw new CheckFailed("a batch with a duplicate key succeeded");
        } catch (BatchUpdateException e) {
          SQLException next = e.getNextException();
          String state = next != null ? next.getSQLState() : e.getSQLState();
          check("23505".equals(state), "batch error: expected 23505, got " + state + ": " + (next != null ? next.getMessage() : e.getMessage()));
        }
      }
      check(((Number) one(c, "SELECT 7")).intValue() == 7, "connection after the failed batch");
      // Autocommit: pgjdbc sends the whole batch before one Sync, an implicit transaction the error undoes.
      check(((Number) one(c, "SELECT count(*) FROM " + table)).intValue() == 0, "rows left by the failed batch");
      c.setAutoCommit(false);
      try (PreparedStatement ps = c.prepareStatement("INSERT INTO " + table + " VALUES (?)")) {
        for (int id = 10; id < 30; id++) {
          ps.setInt(1, id);
          ps.addBatch();
        }
        int[] counts = ps.executeBatch();
        check(counts.length == 20, "batch update counts: " + counts.length);
      }
      c.commit();
      c.setAutoCommit(true);
      check(((Number) one(c, "SELECT count(*) FROM " + table)).intValue() == 20, "rows after the second batch");
      exec(c, "DROP TABLE " + table);
    }
    return "executeBatch with 23505 in the middle: BatchUpdateException, nothing stored; a 20-row batch then committed";
  }

  static final String COPY_DATA = "1\tplain\n2\ttab\\there\n3\tnew\\nline\n4\tback\\\\slash\n5\t\\N\n6\t\u20ac uni\n";

  static String copyInOut() throws Exception {
    String table = TAG + "_copy";
    try (Connection c = connect()) {
      exec(c, "DROP TABLE IF EXISTS " + table + "; CREATE TABLE " + table + " (id int, name text)");
      CopyManager cm = c.unwrap(PGConnection.class).getCopyAPI();
      long n = cm.copyIn("COPY " + table + " (id, name) FROM STDIN", new StringReader(COPY_DATA));
      check(n == 6, "COPY FROM reported " + n + " rows");
      StringWriter out = new StringWriter();
      cm.copyOut("COPY (SELECT id, name FROM " + table + " ORDER BY id) TO STDOUT", out);
      check(COPY_DATA.equals(out.toString()), "COPY TO gave " + out);
      check(((Number) one(c, "SELECT count(*) FROM " + table + " WHERE name IS NULL")).intValue() == 1, "NULL row");
      exec(c, "DROP TABLE " + table);
    }
    return "6 rows with tab, newline, backslash, NULL, unicode through CopyManager in and out";
  }

  static String cursorInTx() throws Exception {
    try (Connection c = connect()) {
      c.setAutoCommit(false);
      List<Integer> got = new ArrayList<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT g FROM generate_series(1, 100) g")) {
        ps.setFetchSize(7); // a portal fetched 7 rows at a time, only inside a transaction
        try (ResultSet rs = ps.executeQuery()) {
          while (rs.next()) got.add(rs.getInt(1));
        }
      }
      c.commit();
      c.setAutoCommit(true);
      List<Integer> want = new ArrayList<>();
      for (int i = 1; i <= 100; i++) want.add(i);
      check(got.equals(want), "fetch-size cursor gave " + got.size() + " rows");
      check(((Number) one(c, "SELECT 1")).intValue() == 1, "connection after the transaction");
    }
    return "setFetchSize(7) portal, 100 rows in a transaction";
  }

  static String cancel() throws Exception {
    long took;
    try (Connection c = connect(); Statement st = c.createStatement()) {
      Thread canceller = new Thread(() -> {
        try {
          Thread.sleep(1000);
          st.cancel();
        } catch (Exception e) {
          // the query then runs its 10 s and the check below reports it
        }
      });
      long t0 = System.nanoTime();
      canceller.start();
      expectError("57014", "cancelled pg_sleep(10)", () -> st.executeQuery("SELECT pg_sleep(10)"));
      canceller.join();
      took = (System.nanoTime() - t0) / 1_000_000;
      check(took < 5000, "the cancel took " + took + " ms");
      check(((Number) one(c, "SELECT 5")).intValue() == 5, "connection after the cancel");
    }
    return "57014 after " + took + " ms, connection usable";
  }

  static String auth(String user, String password) throws Exception {
    try (Connection c = connectAs(user, password)) {
      Object who = one(c, "SELECT current_user");
      check(user.equals(who), "logged in as " + who);
    }
    expectError("28P01", "wrong password", () -> connectAs(user, "wrong-password").close());
    return user + " logged in; wrong password refused with 28P01";
  }

  static String errorsAtRightMessage() throws Exception {
    String table = TAG + "_uniq";
    try (Connection c = connect()) {
      exec(c, "DROP TABLE IF EXISTS " + table + "; CREATE TABLE " + table + " (id int PRIMARY KEY)");
      check(((Number) one(c, "SELECT ?::int", 1)).intValue() == 1, "first statement");
      expectError("22012", "division by zero", () -> one(c, "SELECT 1 / ?::int", 0));
      check(((Number) one(c, "SELECT ?::int", 2)).intValue() == 2, "statement after 22012");
      exec(c, "INSERT INTO " + table + " VALUES (1)");
      expectError("23505", "duplicate key", () -> exec(c, "INSERT INTO " + table + " VALUES (1)"));
      check(((Number) one(c, "SELECT 3")).intValue() == 3, "statement after 23505");
      c.setAutoCommit(false);
      exec(c, "INSERT INTO " + table + " VALUES (2)");
      expectError("22012", "division by zero in a transaction", () -> one(c, "SELECT 1 / 0"));
      expectError("25P02", "statement in the failed transaction", () -> one(c, "SELECT 1"));
      c.rollback();
      c.setAutoCommit(true);
      check(((Number) one(c, "SELECT count(*) FROM " + table)).intValue() == 1, "rows after the rollback");
      exec(c, "DROP TABLE " + table);
    }
    return "22012, 23505, 25P02 each on its own statement; the next statement works";
  }

  static String listenNotify() throws Exception {
    String channel = TAG + "_chan";
    try (Connection listener = connect()) {
      exec(listener, "LISTEN " + channel);
      try (Connection notifier = connect()) {
        exec(notifier, "NOTIFY " + channel + ", 'hello 1'");
      }
      PGNotification[] got = listener.unwrap(PGConnection.class).getNotifications(5000);
      check(got != null && got.length == 1 && channel.equals(got[0].getName()) && "hello 1".equals(got[0].getParameter()),
          "notifications received: " + (got == null ? "none" : got.length));
    }
    return "getNotifications received NOTIFY from another connection";
  }

  static String describe(Throwable e) {
    String state = e instanceof SQLException ? ((SQLException) e).getSQLState() : null;
    return e.getClass().getSimpleName() + (state != null ? " " + state : "") + ": " + String.valueOf(e.getMessage()).trim();
  }

  static String json(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (char ch : s.toCharArray()) {
      if (ch == '"' || ch == '\\') b.append('\\').append(ch);
      else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
      else b.append(ch);
    }
    return b.append('"').toString();
  }

  public static void main(String[] args) throws Exception {
    java.util.Map<String, Callable<String>> scenarios = new java.util.LinkedHashMap<>();
    scenarios.put("params_text", Matrix::paramsText);
    scenarios.put("params_binary", Matrix::paramsBinary);
    scenarios.put("stmt_cache_concurrency", Matrix::stmtCacheConcurrency);
    scenarios.put("batch_pipeline", Matrix::batchPipeline);
    scenarios.put("copy_in_out", Matrix::copyInOut);
    scenarios.put("cursor_in_tx", Matrix::cursorInTx);
    scenarios.put("cancel", Matrix::cancel);
    scenarios.put("auth_scram", () -> auth(System.getenv("PGUSER"), System.getenv("PGPASSWORD")));
    scenarios.put("auth_md5", () -> auth(System.getenv("DRIVER_MD5_USER"), System.getenv("DRIVER_MD5_PASSWORD")));
    scenarios.put("errors_at_right_message", Matrix::errorsAtRightMessage);
    scenarios.put("listen_notify", Matrix::listenNotify);
    String wanted = env("DRIVER_SCENARIOS", String.join(",", scenarios.keySet()));
    java.io.PrintStream out = new java.io.PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
    for (String name : wanted.split(",")) {
      if (name.isEmpty()) continue;
      Callable<String> fn = scenarios.get(name);
      boolean ok = false;
      String detail;
      if (fn == null) {
        detail = "not implemented by Matrix.java";
      } else {
        try {
          detail = fn.call();
          ok = true;
        } catch (Throwable e) {
          detail = describe(e);
        }
      }
      out.println("{\"scenario\": " + json(name) + ", \"ok\": " + ok + ", \"detail\": " + json(detail) + "}");
    }
  }
}
