// Reads the fields of an ErrorResponse from a server (https://www.postgresql.org/docs/current/protocol-error-fields.html).

/** Field code (S, V, C, M, D, H, ...) to value. */
export type ErrorFieldMap = Record<string, string>;

/** The fields of the ErrorResponse at buf[start, end) (header included); unreadable trailing bytes are ignored. */
export function errorFields(buf: Buffer, start: number, end: number): ErrorFieldMap {
  const out: ErrorFieldMap = {};
  let i = start + 5;
  while (i < end && buf[i] !== 0) {
    const z = buf.indexOf(0, i + 1);
    if (z < 0 || z >= end) break;
    out[String.fromCharCode(buf[i]!)] = buf.toString('utf8', i + 1, z);
    i = z + 1;
  }
  return out;
}
