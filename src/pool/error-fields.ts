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

/** Whether an ErrorResponse carries SQLSTATE 25006 (read_only_sql_transaction), found without decoding the other fields. */
export function isReadOnlyError(buf: Buffer, start: number, end: number): boolean {
  // Fields are a type byte and a C string each; 'C' is the code. "25006" is 5 ASCII bytes.
  for (let i = start + 5; i < end && buf[i] !== 0; ) {
    const type = buf[i]!;
    const zero = buf.indexOf(0, i + 1);
    if (zero < 0 || zero >= end) return false;
    if (type === 0x43) return zero - i - 1 === 5 && buf.toString('latin1', i + 1, zero) === '25006';
    i = zero + 1;
  }
  return false;
}
