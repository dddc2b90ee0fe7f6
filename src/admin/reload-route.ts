// The admin API's reload route: POST /v1/reload re-reads the config file as SIGHUP does and answers what changed, or why nothing did.
import type { Logger } from '../observability/index.js';
import { HttpError } from './http-error.js';
import type { RouteHandler } from './server.js';

/** What the route needs from the reloader (src/reload.ts). */
export interface ConfigReloader {
  reload(trigger: string): Promise<
    | { result: 'ok'; changed: string[]; tenants: Record<string, string[]> }
    | { result: 'invalid' | 'refused' | 'error'; message: string; field?: string; issues?: Array<{ field: string; message: string }> }
  >;
}

/** 400 for a file that fails validation, 409 for a change that needs a restart, 503 when applying failed (a store write). */
const STATUS = { invalid: [400, 'CONFIG_INVALID'], refused: [409, 'CONFIG_NOT_RELOADABLE'], error: [503, 'RELOAD_FAILED'] } as const;

export function registerReloadRoute(route: (method: string, path: string, handler: RouteHandler) => void, deps: { reloader: ConfigReloader; logger: Logger }): void {
  route('POST', '/v1/reload', async (req) => {
    const outcome = await deps.reloader.reload(`admin:${req.tokenName}`);
    deps.logger.info({ event: 'admin_audit', tokenName: req.tokenName, action: 'config.reload', result: outcome.result }, 'admin config.reload');
    if (outcome.result === 'ok') return { status: 200, body: outcome };
    const [status, code] = STATUS[outcome.result];
    throw new HttpError(status, code, outcome.message, outcome.field, outcome.issues);
  });
}
