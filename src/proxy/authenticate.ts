// Runs pgporter's own client authentication over the startup connection and returns what may log in upstream for this user.
import type { Socket } from 'node:net';
import { ClientAuthenticator, type AuthMethod, type CredentialSource, type UpstreamSecret, type AuthStep } from '../auth/index.js';
import { ClientError } from '../errors.js';
import { Frontend } from '../protocol/index.js';
import type { LogLike } from '../observability/index.js';
import type { PacketReader } from './packet-reader.js';
import { loginDeadlines } from './janitor.js';

/** Password/SASL messages are small; anything larger is not a login. */
const MAX_AUTH_MESSAGE = 8192;

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const NO_HOOKS: AuthHooks = {};

/** Hooks for failed-login bans (src/netrules/bans.ts). */
export interface AuthHooks {
  /** Called as soon as a login has failed (AUTH_FAILED), before `failureDelay`, so parallel guesses are counted at once. */
  onFailure?(): void;
  /** Asked before each client message is verified: a ban made meanwhile (by a parallel guess) ends this attempt unchecked. */
  refusal?(): ClientError | undefined;
  /**
   * Keep the last reply (AuthenticationOk, after SASLFinal for SCRAM) instead of writing it: the caller sends it with
   * what follows a login in one write. Its buffer is handed to `greeting`.
   */
  greeting?(reply: Buffer): void;
}

/** Whose users a login is checked against: a tenant, or the admin console (src/console). */
export interface AuthTarget {
  readonly id: string;
  readonly auth: { readonly method: AuthMethod; readonly timeout: number; readonly failureDelay: number };
}

/**
 * Authenticates the client with the tenant's method. On success AuthenticationOk has been sent.
 * Throws a ClientError (28P01 after `failureDelay`, 08006 on timeout, 08P01 on protocol errors).
 */
export async function authenticateClient(
  socket: Socket,
  reader: PacketReader,
  tenant: AuthTarget,
  user: string,
  credentials: CredentialSource,
  log: LogLike,
  hooks: AuthHooks = NO_HOOKS,
): Promise<UpstreamSecret> {
  const auth = new ClientAuthenticator({ method: tenant.auth.method, credentials, tenantId: tenant.id, user });
  return new Promise<UpstreamSecret>((resolve, reject) => {
    const deadline = { due: Date.now() + tenant.auth.timeout, expire: () => reject(new ClientError('AUTH_TIMEOUT', 'canceling authentication due to timeout')) };
    loginDeadlines.add(deadline);
    exchange(socket, reader, auth, tenant, log, hooks).then(
      (secret) => {
        loginDeadlines.delete(deadline);
        resolve(secret);
      },
      (err: unknown) => {
        loginDeadlines.delete(deadline);
        reject(err);
      },
    );
  });
}

async function exchange(socket: Socket, reader: PacketReader, auth: ClientAuthenticator, tenant: AuthTarget, log: LogLike, hooks: AuthHooks): Promise<UpstreamSecret> {
  let step: AuthStep = await auth.start();
  for (;;) {
    const done = step.done;
    if (step.reply) {
      if (done?.ok && hooks.greeting) hooks.greeting(step.reply);
      else socket.write(step.reply);
    }
    if (done?.ok) {
      log.debug({ event: 'authenticated', method: done.method }, 'client authenticated');
      return done.upstreamSecret;
    }
    if (done) {
      log.info({ event: 'auth_failed', reason: done.reason }, 'client authentication failed');
      if (done.error.code === 'AUTH_FAILED') hooks.onFailure?.();
      // A fixed delay slows password guessing without telling the guesser anything.
      await delay(tenant.auth.failureDelay);
      throw done.error;
    }
    const msg = await reader.readMessage(MAX_AUTH_MESSAGE);
    if (msg.type !== Frontend.Password) {
      throw new ClientError('STARTUP_INVALID', `expected password response, got message type "${String.fromCharCode(msg.type)}"`);
    }
    const refused = hooks.refusal?.();
    if (refused) throw refused;
    step = await auth.receive(msg.body);
  }
}
