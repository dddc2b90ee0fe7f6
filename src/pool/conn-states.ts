// The states of a pooled client and of a pooled server connection, and which changes between them are legal (each class's setState checks against these).

/**
 * starting: logged in, not yet told it is ready (the pool may need a server to learn its parameters or check the
 * client's settings). idle: no server. waiting: queued for a server. active: bound to one. closed: gone.
 */
export type ClientState = 'starting' | 'idle' | 'waiting' | 'active' | 'closed';

export const CLIENT_NEXT: Record<ClientState, readonly ClientState[]> = {
  starting: ['idle', 'waiting', 'active', 'closed'],
  idle: ['waiting', 'active', 'closed'],
  waiting: ['active', 'closed'],
  active: ['idle', 'closed'],
  closed: [],
};

/**
 * idle: in the pool's idle stack. syncing: bound to a client, taking on its settings; the client's messages wait
 * until the server confirmed them. active: serving its client. resetting: running a reset before going back to the
 * pool, unbound. closed: gone.
 */
export type ServerState = 'idle' | 'syncing' | 'active' | 'resetting' | 'closed';

export const SERVER_NEXT: Record<ServerState, readonly ServerState[]> = {
  idle: ['syncing', 'active', 'closed'],
  syncing: ['active', 'closed'],
  active: ['idle', 'resetting', 'closed'],
  resetting: ['idle', 'closed'],
  closed: [],
};
