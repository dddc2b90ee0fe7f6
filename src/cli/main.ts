// Command-line entry: parses the sub-command and its flags with node:util parseArgs and dispatches.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/index.js';
import { availableParallelism } from 'node:os';
import { workerCount } from '../cluster/worker-count.js';

const USAGE = `usage:
  pgporter [start] --config FILE     run pgporter with a config file
  pgporter check-config FILE         validate a config file and exit (0 valid, 1 invalid)
  pgporter demo                      run a throwaway PostgreSQL with pgporter in front of it
  pgporter allowlist ...             edit allowlists through the admin API (pgporter allowlist --help)
  pgporter tenants ...               manage tenants through the admin API (pgporter tenants --help)
`;

/** How long a stop signal waits for connections and stores to close before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

/** Runs a sub-command; resolves with the process exit code (long-running commands resolve when they stop). */
export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv[0] && !argv[0].startsWith('-') ? argv : ['start', ...argv];
  switch (command) {
    case 'start':
      return start(rest, io);
    case 'check-config':
      return checkConfig(rest, io);
    case 'demo':
      return (await import('../demo/demo.js')).runDemo(io);
    case 'allowlist': {
      const { runAllowlistCommand } = await import('./allowlist.js');
      return runAllowlistCommand(rest, io as never);
    }
    case 'tenants': {
      const { runTenantsCommand } = await import('./tenants.js');
      return runTenantsCommand(rest, io as never);
    }
    case 'help':
    case '--help':
    case '-h':
      io.stdout.write(USAGE);
      return 0;
    default:
      io.stderr.write(`pgporter: unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

async function start(args: string[], io: CliIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true }));
  } catch (err) {
    io.stderr.write(`pgporter: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const file = values.config ?? io.env.PGPORTER_CONFIG;
  if (!file) {
    io.stderr.write(`pgporter: --config FILE is required (or set PGPORTER_CONFIG); try "pgporter demo" for embedded defaults\n`);
    return 2;
  }
  let config;
  try {
    config = loadConfig(file, io.env);
  } catch (err) {
    io.stderr.write(`pgporter: ${(err as Error).message}\n`);
    return 1;
  }
  const readConfig = () => loadConfig(file, io.env);
  // One worker: today's single process. More: a supervisor forks them (src/cluster) and keeps the node-level state.
  const workers = workerCount(config, availableParallelism);
  // Loaded on demand: a supervisor never runs the connection path, so it does not load it (start-up is paid per process).
  const app =
    workers > 1
      ? await (await import('../cluster/index.js')).startSupervisor(config, workers, { readConfig })
      : await (await import('../app.js')).startApp(config, { readConfig });
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        // A second signal means now.
        resolve(1);
        return;
      }
      stopping = true;
      app.logger.info({ event: 'signal', signal }, 'shutting down');
      // Shutdown must end even when something it waits for (a wake, an unreachable store) does not answer: the drain's
      // own timeout, then a grace period for the rest.
      const boundMs = config.shutdown.timeout + SHUTDOWN_GRACE_MS;
      const bound = setTimeout(() => {
        app.logger.warn({ event: 'shutdown_timeout', afterMs: boundMs }, 'shutdown did not finish in time; exiting');
        resolve(1);
      }, boundMs);
      bound.unref();
      app.close().then(
        () => resolve(0),
        (err: unknown) => {
          app.logger.error({ err }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    // SIGHUP re-reads the file; the reload logs and counts its own outcome, and changes nothing when it fails.
    process.on('SIGHUP', () => {
      if (!stopping) void app.reload('SIGHUP');
    });
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    void app.stopRequested.then((reason) => stop(reason));
  });
}

function checkConfig(args: string[], io: CliIo): number {
  const file = args[0];
  if (!file || args.length > 1) {
    io.stderr.write(`usage: pgporter check-config FILE\n`);
    return 2;
  }
  try {
    const cfg = loadConfig(file, io.env);
    io.stdout.write(`${file}: valid (${cfg.tenants.length} tenant${cfg.tenants.length === 1 ? '' : 's'})\n`);
    return 0;
  } catch (err) {
    io.stderr.write(`${err instanceof ConfigError ? err.message : String(err)}\n`);
    return 1;
  }
}
