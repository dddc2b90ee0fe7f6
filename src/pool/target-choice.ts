// Reads which kind of server a client wants (libpq's target_session_attrs in its startup options, or a `-ro` database suffix) and takes it out of what is passed to servers.
import { ClientError } from '../errors.js';
import { routingOf, type Target } from '../config/schema-ha.js';
import { clientTarget, isRouted } from '../upstream/index.js';
import { splitOptions } from './params.js';
import type { ClientSession } from './types.js';
import type { PacketReader } from '../proxy/packet-reader.js';

const KEY = 'target_session_attrs';

/**
 * The session as servers should see it (no target_session_attrs, no `-ro` suffix) and the target it asked for. A
 * tenant with a single upstream has no targets: the parameter is still removed (PostgreSQL would refuse it).
 * Throws ClientError TARGET_INVALID (22023) for a value libpq would not accept either.
 */
export function targetOf(session: ClientSession): { session: ClientSession; target: Target } {
  const routed = isRouted(session.tenant);
  const fallback = routingOf(session.tenant).defaultTarget;
  let asked = session.params.get(KEY);
  let params = session.params;
  const options = params.get('options');
  if (asked !== undefined || (options !== undefined && /target[-_]session[-_]attrs/.test(options))) {
    const copy = new Map(params);
    copy.delete(KEY);
    if (options !== undefined) {
      const { value, rest } = takeOption(options);
      if (value !== undefined) asked = value;
      if (rest === '') copy.delete('options');
      else copy.set('options', rest);
    }
    params = copy;
  }
  let chosen: { target: Target; database: string };
  try {
    chosen = clientTarget(session.database, asked, fallback, routed);
  } catch (err) {
    throw new ClientError('TARGET_INVALID', (err as Error).message);
  }
  if (params === session.params && chosen.database === session.database) return { session, target: chosen.target };
  // A view, not a copy: everything else (the greeting the front door still holds, the session's methods) stays the
  // front door's own, so a login refused after the greeting went out is not greeted twice.
  const view = Object.create(session) as ClientSession;
  Object.defineProperties(view, {
    params: { value: params },
    database: { value: chosen.database },
    greeting: {
      get: () => session.greeting,
      set: (v: Buffer | undefined) => {
        session.greeting = v;
      },
    },
    reader: {
      get: () => session.reader,
      set: (v: PacketReader | undefined) => {
        session.reader = v;
      },
    },
  });
  return { session: view, target: chosen.target };
}

/** `-c target_session_attrs=X` (or `--target_session_attrs=X`, `--target-session-attrs=X`) removed from `options`; the rest re-escaped. */
function takeOption(options: string): { value: string | undefined; rest: string } {
  let words: string[];
  try {
    words = splitOptions(options);
  } catch {
    return { value: undefined, rest: options };
  }
  const keep: string[] = [];
  let value: string | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const arg = w === '-c' ? words[i + 1] : w.startsWith('-c') ? w.slice(2) : w.startsWith('--') ? w.slice(2) : undefined;
    const eq = arg?.indexOf('=') ?? -1;
    if (arg !== undefined && eq > 0 && arg.slice(0, eq).replace(/-/g, '_') === KEY) {
      value = arg.slice(eq + 1);
      if (w === '-c') i++;
      continue;
    }
    keep.push(w);
  }
  if (value === undefined) return { value, rest: options };
  return { value, rest: keep.map((w) => w.replace(/\\/g, '\\\\').replace(/\s/g, (c) => `\\${c}`)).join(' ') };
}
