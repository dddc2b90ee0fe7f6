// Interns the short strings that connections repeat (startup parameter names and values, client addresses), so thousands of idle sessions hold one copy each instead of one per session.

/** Longer strings are rare and seldom repeated: kept as they are. */
const MAX_LENGTH = 64;
/** Bounds the table whatever clients send: full, it starts over (a string then simply gets a new canonical copy). */
const MAX_ENTRIES = 4096;

const table = new Map<string, string>();

/** The one copy of `s` this process keeps (equal strings in, identical string out). */
export function intern(s: string): string {
  if (s.length > MAX_LENGTH) return s;
  const known = table.get(s);
  if (known !== undefined) return known;
  if (table.size >= MAX_ENTRIES) table.clear();
  table.set(s, s);
  return s;
}
