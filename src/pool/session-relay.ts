// The first serving strategy: one upstream connection per client, logged in by pgporter, then bytes relayed both ways with backpressure.
import type { Socket } from 'node:net';
import { backendKeyData, noticeResponse, parameterStatus, readyForQuery } from '../protocol/index.js';
import { connectUpstream, upstreamClientError, type ServerConnection } from '../upstream/index.js';
import { UpstreamAuth } from '../auth/index.js';
import { ClientError } from '../errors.js';
import type { Backend, CancelTarget, ClientSession, SessionEnd } from './types.js';
import type { TenantRecord } from '../store/index.js';
import { CancelKeys, sendCancel } from './cancel-keys.js';

export interface SessionRelayOptions {
  connectTimeoutMs: number;
  /**
   * Called before a server connection is opened (wake-on-connect); may take seconds, may call `notify` so the
   * client sees a NoticeResponse, or throw a ClientError (57P03) the client gets.
   */
  beforeConnect?(tenant: TenantRecord, notify: (message: string) => void): Promise<void>;
  /** Opens a logged-in server connection, retrying what a just-woken server may answer. */
  connect?(tenant: TenantRecord, open: () => Promise<ServerConnection>): Promise<ServerConnection>;
}

export class SessionRelay implements Backend {
  private readonly keys = new CancelKeys();

  constructor(private readonly opts: SessionRelayOptions) {}

  admit(_tenant: TenantRecord): { release(): void } {
    return { release: () => {} };
  }

  async serve(session: ClientSession): Promise<SessionEnd> {
    const startupParams: Record<string, string> = { user: session.user, database: session.database };
    for (const [k, v] of session.params) startupParams[k] = v;
    const { tenant } = session;
    await this.opts.beforeConnect?.(tenant, (m) => session.socket.write(noticeResponse(m)));
    const open = () =>
      connectUpstream(
        { host: tenant.upstream.host, port: tenant.upstream.port, tls: tenant.upstream.tls, caFile: tenant.upstream.caFile },
        startupParams,
        new UpstreamAuth(session.user, session.secret),
        this.opts.connectTimeoutMs,
      );
    let server: ServerConnection;
    try {
      server = await (this.opts.connect ? this.opts.connect(tenant, open) : open());
    } catch (err) {
      throw upstreamClientError(err);
    }
    const key = this.keys.allocate({ tenantId: session.tenant.id, current: () => ({ target: server.target, key: server.key }) });
    try {
      const hello: Buffer[] = [];
      for (const [k, v] of server.params) hello.push(parameterStatus(k, v));
      hello.push(backendKeyData(key.pid, key.secret), readyForQuery('I'));
      session.socket.write(Buffer.concat(hello));
      return await relay(session.socket, session.reader.detach(), server.socket);
    } finally {
      this.keys.release(key.pid);
    }
  }

  cancelTarget(pid: number, secret: number): CancelTarget | undefined {
    const route = this.keys.lookup(pid, secret);
    if (!route) return undefined;
    return {
      tenantId: route.tenantId,
      cancel: () => {
        const cur = route.current();
        if (cur) sendCancel(cur.target, cur.key);
      },
    };
  }

  async close(): Promise<void> {}
}

/** Pipes both ways until either side ends; pipe() gives backpressure in both directions. */
function relay(client: Socket, pending: Buffer, server: Socket): Promise<SessionEnd> {
  const clientRead0 = client.bytesRead - pending.length;
  const clientWritten0 = client.bytesWritten;
  return new Promise<SessionEnd>((resolve) => {
    let done = false;
    const end = (endedBy: SessionEnd['endedBy'], reason: string) => {
      if (done) return;
      done = true;
      client.unpipe(server);
      server.unpipe(client);
      if (endedBy === 'server' && !client.destroyed) {
        // The server is gone mid-session: tell the client why, in its own protocol, then close.
        if (reason !== 'server closed the connection') client.end();
        else client.end(new ClientError('SERVER_LOST', 'server closed the connection unexpectedly').toErrorResponse());
      } else client.end();
      server.destroy();
      resolve({
        endedBy,
        reason,
        bytesFromClient: client.bytesRead - clientRead0,
        bytesToClient: client.bytesWritten - clientWritten0,
      });
    };
    client.on('end', () => end('client', 'client closed the connection'));
    client.on('close', () => end('client', 'client connection closed'));
    client.on('error', (err) => end('client', `client socket error: ${err.message}`));
    server.on('end', () => end('server', 'server closed the connection'));
    server.on('close', () => end('server', 'server closed the connection'));
    server.on('error', (err) => end('server', `server socket error: ${err.message}`));
    if (pending.length) server.write(pending);
    client.pipe(server, { end: false });
    server.pipe(client, { end: false });
    server.resume();
    client.resume();
  });
}
