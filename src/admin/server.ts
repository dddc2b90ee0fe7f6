// The admin API's HTTP listener: bearer auth, a small router with :params, bounded JSON bodies and JSON errors.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/index.js';
import type { Store } from '../store/index.js';
import { HttpError } from './http-error.js';
import { registerTenantRoutes } from './tenant-routes.js';
import { tokenAuthenticator, type AdminToken } from './token-auth.js';

export interface AdminRequest {
  method: string;
  path: string;
  /** Decoded path parameters (`:id` → params.id). */
  params: Record<string, string>;
  query: URLSearchParams;
  /** The parsed JSON body; undefined when the request had none. */
  body: unknown;
  /** Name of the token that authenticated the request, for audit lines. */
  tokenName: string;
}

export interface AdminResponse {
  status: number;
  body?: unknown;
}

export type RouteHandler = (req: AdminRequest) => AdminResponse | Promise<AdminResponse>;

export interface AdminServerOptions {
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  tokens: readonly AdminToken[];
  store: Store;
  logger: Logger;
  /** Shown by GET …/allowlist for tenants without a list. */
  defaultPolicy?: 'allow' | 'deny';
  /** Largest request body accepted, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
}

export interface AdminServer {
  port: number;
  close(): Promise<void>;
  /** Adds a route (authenticated like the others); `path` may hold `:name` segments. */
  route(method: string, path: string, handler: RouteHandler): void;
}

interface Route {
  method: string;
  segments: string[];
  handler: RouteHandler;
}

function match(route: Route, parts: string[]): Record<string, string> | undefined {
  if (route.segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const seg = route.segments[i]!;
    if (seg.startsWith(':')) params[seg.slice(1)] = parts[i]!;
    else if (seg !== parts[i]) return undefined;
  }
  return params;
}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(new HttpError(413, 'BODY_TOO_LARGE', `request body is larger than ${limit} bytes`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new HttpError(413, 'BODY_TOO_LARGE', `request body is larger than ${limit} bytes`));
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status, headers).end();
    return;
  }
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(text);
}

export async function startAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const log = opts.logger.child({ component: 'admin' });
  const authenticate = tokenAuthenticator(opts.tokens);
  const limit = opts.maxBodyBytes ?? 1_048_576;
  const routes: Route[] = [];
  const route = (method: string, path: string, handler: RouteHandler) => {
    routes.push({ method: method.toUpperCase(), segments: path.split('/').filter(Boolean), handler });
  };
  if (opts.tokens.length === 0) log.warn('admin API has no tokens configured (admin.tokens): every request will be refused');

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://admin.invalid');
    const method = (req.method ?? 'GET').toUpperCase();
    const tokenName = authenticate(req.headers.authorization);
    if (tokenName === undefined) {
      req.resume();
      send(res, 401, new HttpError(401, 'UNAUTHORIZED', 'a valid bearer token is required').toBody(), {
        'www-authenticate': 'Bearer realm="pgporter-admin"',
      });
      return;
    }
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new HttpError(400, 'INVALID_PATH', 'the path contains a malformed %-escape');
    }
    let allowed: string[] = [];
    for (const r of routes) {
      const params = match(r, parts);
      if (!params) continue;
      if (r.method !== method) {
        allowed.push(r.method);
        continue;
      }
      const raw = await readBody(req, limit);
      let body: unknown;
      if (raw.length > 0) {
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch (err) {
          throw new HttpError(400, 'INVALID_JSON', `body is not valid JSON: ${(err as Error).message}`, '(body)');
        }
      }
      const out = await r.handler({ method, path: url.pathname, params, query: url.searchParams, body, tokenName });
      send(res, out.status, out.body);
      return;
    }
    req.resume();
    if (allowed.length) {
      allowed = [...new Set(allowed)];
      send(res, 405, new HttpError(405, 'METHOD_NOT_ALLOWED', `${method} is not allowed here; use ${allowed.join(', ')}`).toBody(), {
        allow: allowed.join(', '),
      });
    } else send(res, 404, new HttpError(404, 'NOT_FOUND', `no route for ${method} ${url.pathname}`).toBody());
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpError) {
        send(res, err.status, err.toBody(), err.status === 413 ? { connection: 'close' } : {});
        return;
      }
      const code = (err as { code?: unknown }).code;
      if (code === 'STORE_UNAVAILABLE' || code === 'STORE_WRITE_FAILED') {
        send(res, 503, new HttpError(503, String(code), (err as Error).message).toBody());
        return;
      }
      log.error({ err, method: req.method, path: req.url }, 'admin request failed');
      send(res, 500, new HttpError(500, 'INTERNAL', 'internal error; see the pgporter log').toBody());
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  registerTenantRoutes(route, { store: opts.store, logger: log, defaultPolicy: opts.defaultPolicy ?? 'allow' });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: opts.host, port }, 'admin API listening');
  return {
    port,
    route,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
