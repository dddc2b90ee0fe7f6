// The admin console: the `pgporter` database on the client port. Checks its allowlist, supplies its users' credentials to the front door's SCRAM login, then answers SHOW commands and runs admin commands.
import { ClientError } from '../errors.js';
import { CidrSet } from '../net/index.js';
import { parseStoredSecret, type Credential, type CredentialSource } from '../auth/index.js';
import { noticeResponse } from '../protocol/index.js';
import type { AuthTarget, ConsoleConnection, ConsoleDoor } from '../proxy/index.js';
import { changesState, parseCommand, USAGE, type Command } from './commands.js';
import { ConsoleError } from './console-error.js';
import { ConsoleSession, type SessionEnd } from './session.js';
import { StatsSampler } from './stats.js';
import type { ConsoleDeps, ConsoleRole } from './types.js';
import { CONSOLE_DATABASE, pgporterVersion, showClients, showConfig, showNodes, showPools, showServers, showStats, showTenants, showUpstreams, showVersion } from './views.js';
import { commandComplete, resultMessages } from './wire.js';

/** A console login has as long as a tenant's default to finish, and a failure is answered as late. */
const AUTH_TIMEOUT_MS = 10_000;
const AUTH_FAILURE_DELAY_MS = 500;

interface ConsoleUser {
  credential: Credential;
  role: ConsoleRole;
}

export class AdminConsole implements ConsoleDoor {
  readonly authTarget: AuthTarget = { id: CONSOLE_DATABASE, auth: { method: 'scram-sha-256', timeout: AUTH_TIMEOUT_MS, failureDelay: AUTH_FAILURE_DELAY_MS } };
  readonly credentials: CredentialSource;
  private readonly users = new Map<string, ConsoleUser>();
  private readonly allowlist: CidrSet;
  private readonly open = new Set<ConsoleSession>();
  private readonly stats: StatsSampler;
  private nextId = 1;
  private closed = false;

  constructor(private readonly deps: ConsoleDeps) {
    for (const u of deps.config.admin.consoleUsers) {
      const credential: Credential | undefined = u.password !== undefined ? { kind: 'plain', password: u.password } : parseStoredSecret(u.scramVerifier);
      if (credential) this.users.set(u.name, { credential, role: u.role });
    }
    this.allowlist = new CidrSet(deps.config.admin.consoleAllowlist);
    this.credentials = { lookup: async (_id, user) => this.users.get(user)?.credential };
    this.stats = new StatsSampler(deps.pools, deps.metrics, deps.statsPeriodMs ?? 15_000);
  }

  /** Without console users there is no console, and `pgporter` is an ordinary database name. */
  get enabled(): boolean {
    return this.users.size > 0;
  }

  handles(database: string): boolean {
    return this.enabled && !this.closed && database === CONSOLE_DATABASE;
  }

  check(clientIp: string): ClientError | undefined {
    if (this.allowlist.has(clientIp)) return undefined;
    return new ClientError('ALLOWLIST_DENIED', `no admin console allowlist entry for host "${clientIp}"`);
  }

  async serve(conn: ConsoleConnection): Promise<SessionEnd> {
    // Authentication succeeded, so the user exists.
    const role = this.users.get(conn.user)?.role ?? 'readonly';
    const session = new ConsoleSession(conn, role, this.nextId++, `16.0 (pgporter ${pgporterVersion()} console)`);
    this.open.add(session);
    try {
      return await session.run((sql, s) => this.execute(sql, s));
    } finally {
      this.open.delete(session);
    }
  }

  /** Ends every console session (the app is stopping). */
  close(): void {
    this.closed = true;
    this.stats.close();
    const bye = new ClientError('SHUTTING_DOWN', 'terminating connection due to administrator command');
    for (const s of this.open) s.end(bye);
  }

  private async execute(sql: string, session: ConsoleSession): Promise<Buffer[]> {
    const cmd = parseCommand(sql);
    if (changesState(cmd)) {
      if (session.role !== 'admin') {
        throw new ConsoleError('42501', `permission denied: ${cmd.kind.toUpperCase()} needs an admin console user`, `User "${session.info.user}" has the readonly role.`);
      }
      session.conn.log.info({ event: 'console_command', command: cmd.kind, tenant: 'tenant' in cmd ? cmd.tenant : undefined }, `console command ${cmd.kind.toUpperCase()}`);
    }
    return this.run(cmd, session);
  }

  private async run(cmd: Command, session: ConsoleSession): Promise<Buffer[]> {
    const d = this.deps;
    switch (cmd.kind) {
      case 'show':
        switch (cmd.topic) {
          case 'HELP':
            return [noticeResponse(`Console usage\n${USAGE}`), commandComplete('SHOW')];
          case 'POOLS':
            return resultMessages(showPools(d));
          case 'CLIENTS':
            return resultMessages(showClients(d, [...this.open].map((s) => s.info)));
          case 'SERVERS':
            return resultMessages(showServers(d));
          case 'UPSTREAMS':
            return resultMessages(showUpstreams(d));
          case 'STATS':
            return resultMessages(await showStats(this.stats));
          case 'TENANTS':
            return resultMessages(showTenants(d));
          case 'CONFIG':
            return resultMessages(showConfig(d));
          case 'VERSION':
            return resultMessages(showVersion());
          case 'NODES':
            return resultMessages(await showNodes(d));
        }
        break;
      case 'kill':
        return this.kill(cmd.tenant);
      case 'pause': {
        const pause = d.control?.pause;
        if (!pause) throw unavailable('PAUSE');
        this.known(cmd.tenant);
        await pause.call(d.control, cmd.tenant);
        return [commandComplete('PAUSE')];
      }
      case 'resume': {
        const resume = d.control?.resume;
        if (!resume) throw unavailable('RESUME');
        this.known(cmd.tenant);
        await resume.call(d.control, cmd.tenant);
        return [commandComplete('RESUME')];
      }
      case 'reload': {
        const reload = d.control?.reload;
        if (!reload) throw unavailable('RELOAD');
        const summary = await reload.call(d.control);
        return summary ? [noticeResponse(summary), commandComplete('RELOAD')] : [commandComplete('RELOAD')];
      }
      case 'shutdown':
        // The answer goes out first; the app's close path then ends every session, this one included (57P01).
        setImmediate(() => d.shutdown());
        session.conn.log.warn({ event: 'console_shutdown', user: session.info.user }, 'shutdown requested from the admin console');
        return [commandComplete('SHUTDOWN')];
    }
    throw new ConsoleError('42601', 'unrecognized console command');
  }

  /** KILL tenant: its sessions end with 57P01 (between two messages) and its servers close. */
  private async kill(tenantId: string): Promise<Buffer[]> {
    const d = this.deps;
    if (!d.tenants.getTenant(tenantId) && d.sessions.count(tenantId) === 0) throw new ConsoleError('42704', `tenant "${tenantId}" does not exist`);
    const bye = new ClientError('SHUTTING_DOWN', 'terminating connection due to administrator command');
    let n = 0;
    for (const s of d.sessions.sessionsOf(tenantId)) {
      s.end(bye);
      n++;
    }
    await d.pools.closeTenantServers(tenantId);
    d.logger.info({ event: 'console_kill', tenant: tenantId, sessions: n }, `KILL ${tenantId}: ${n} sessions ended`);
    return [commandComplete('KILL')];
  }

  private known(tenantId: string | undefined): void {
    if (tenantId !== undefined && !this.deps.tenants.getTenant(tenantId)) throw new ConsoleError('42704', `tenant "${tenantId}" does not exist`);
  }
}

function unavailable(what: string): ConsoleError {
  return new ConsoleError('0A000', `${what} is not available in this build`, 'This pgporter was started without that control; see docs/console.md.');
}
