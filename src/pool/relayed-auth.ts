// Upstream login with credentials relayed from the client: pgporter asks the client for its password only when the server wants one.
import { AUTH_CLEARTEXT, AuthCode, Frontend } from '../protocol/index.js';
import { ClientError } from '../errors.js';
import type { UpstreamAuthenticator } from '../upstream/index.js';
import { UpstreamAuth } from '../auth/upstream-login.js';
import type { ClientSession } from './types.js';

/** Asks the client for a cleartext password (over TLS when the client negotiated it) and logs in upstream with it. */
export function relayedCredentials(session: ClientSession): UpstreamAuthenticator {
  let inner: Promise<UpstreamAuth> | undefined;
  const askClient = async (): Promise<UpstreamAuth> => {
    session.socket.write(AUTH_CLEARTEXT);
    const msg = await session.reader.readMessage(10_000);
    if (msg.type !== Frontend.Password) throw new ClientError('STARTUP_INVALID', `expected password response, got message type ${String.fromCharCode(msg.type)}`);
    const nul = msg.body.indexOf(0);
    const password = msg.body.toString('utf8', 0, nul < 0 ? msg.body.length : nul);
    return new UpstreamAuth(session.user, { kind: 'password', password });
  };
  return {
    async respond(code: number, data: Buffer): Promise<Buffer | undefined> {
      if (code === AuthCode.Ok && !inner) return undefined;
      return (await (inner ??= askClient())).respond(code, data);
    },
  };
}
