// How a cancel key names its owner: the node's slot and a worker number above random bits in BackendKeyData's process id (PgBouncer peers do the same).
// https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-CANCELING-REQUESTS

/** Bits 23..30 of the process id: the node's slot (0..255). Bit 31 stays 0 so the id is positive. */
const SLOT_SHIFT = 23;
/** Bits 20..22: the worker process inside the node (0..7; 0 with `workers: 1`). */
const WORKER_SHIFT = 20;
const RANDOM_MASK = (1 << WORKER_SHIFT) - 1;

/** A process id for BackendKeyData: slot and worker bits above `random` (20 bits used). */
export function keyPid(slot: number, worker: number, random: number): number {
  return ((slot & 0xff) << SLOT_SHIFT) | ((worker & 0x7) << WORKER_SHIFT) | (random & RANDOM_MASK);
}

/** The slot of the node that handed out this process id. */
export function slotOf(pid: number): number {
  return (pid >>> SLOT_SHIFT) & 0xff;
}

/** The worker of the node that handed out this process id. */
export function workerOf(pid: number): number {
  return (pid >>> WORKER_SHIFT) & 0x7;
}

/** Random values per (slot, worker): at most this many keys can be live at once on one worker. */
export const KEYS_PER_WORKER = RANDOM_MASK + 1;
