// Routes a served client's socket events to its PoolClient through one shared set of listener functions (none made per client), and lets go of the client when its session ends.
import type { Socket } from 'node:net';
import type { PoolClient } from './client.js';

/** The client a socket's events go to: one set of listener functions for every client instead of five closures each. */
const CLIENT = Symbol('pgporter.client');
type ClientSocket = Socket & { [CLIENT]?: PoolClient | undefined };

function onSocketData(this: ClientSocket, chunk: Buffer): void {
  this[CLIENT]?.data(chunk);
}
function onSocketDrain(this: ClientSocket): void {
  this[CLIENT]?.drained();
}
function onSocketError(this: ClientSocket, err: Error): void {
  this[CLIENT]?.gone(`client socket error: ${err.message}`);
}
function onSocketClose(this: ClientSocket): void {
  this[CLIENT]?.gone('client closed the connection');
}

/** From now on the socket's data, drain, error, close and end events go to `client`. */
export function listenTo(socket: Socket, client: PoolClient): void {
  const s = socket as ClientSocket;
  s[CLIENT] = client;
  s.on('data', onSocketData);
  s.on('drain', onSocketDrain);
  s.on('error', onSocketError);
  s.on('close', onSocketClose);
  // Not only 'close': a client that half-closed but reads nothing more might never let the socket close.
  s.on('end', onSocketClose);
}

/** The session is over: nothing more is read for it. */
export function stopListening(socket: Socket): void {
  const s = socket as ClientSocket;
  s.off('data', onSocketData);
  // Late events of a closing socket go nowhere; the client object is not kept for them.
  s[CLIENT] = undefined;
}
