// Builders for the untyped startup-phase packets pgporter sends as a client to servers (SSLRequest, CancelRequest).
import { StartupCode } from './codes.js';

/** SSLRequest: constant, built once. */
export const SSL_REQUEST: Buffer = (() => {
  const b = Buffer.alloc(8);
  b.writeInt32BE(8, 0);
  b.writeInt32BE(StartupCode.SSLRequest, 4);
  return b;
})();

/** CancelRequest with a server's real key (https://www.postgresql.org/docs/current/protocol-message-formats.html). */
export function cancelRequest(pid: number, secret: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(StartupCode.CancelRequest, 4);
  b.writeInt32BE(pid | 0, 8);
  b.writeInt32BE(secret | 0, 12);
  return b;
}
