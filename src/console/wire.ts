// Result sets over the simple query protocol: RowDescription, DataRow, CommandComplete (https://www.postgresql.org/docs/current/protocol-message-formats.html).
import { Backend, message } from '../protocol/index.js';

/** A column of a console result: its name and type (text, int8, bool; every value is sent in text format). */
export interface Column {
  readonly name: string;
  readonly type: 'text' | 'int8' | 'bool';
}

export type Value = string | number | boolean | null | undefined;

/** What a SHOW command answers: columns, rows, and the CommandComplete tag. */
export interface ResultSet {
  readonly columns: readonly Column[];
  readonly rows: readonly (readonly Value[])[];
}

// Type oids and lengths from pg_type: text 25 (varlena), int8 20 (8 bytes), bool 16 (1 byte).
const TYPES = { text: { oid: 25, len: -1 }, int8: { oid: 20, len: 8 }, bool: { oid: 16, len: 1 } } as const;

export const text = (name: string): Column => ({ name, type: 'text' });
export const int8 = (name: string): Column => ({ name, type: 'int8' });
export const bool = (name: string): Column => ({ name, type: 'bool' });

export function rowDescription(columns: readonly Column[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(2);
  head.writeInt16BE(columns.length, 0);
  parts.push(head);
  for (const c of columns) {
    const t = TYPES[c.type];
    const field = Buffer.allocUnsafe(18);
    field.writeInt32BE(0, 0); // table oid
    field.writeInt16BE(0, 4); // column attribute number
    field.writeInt32BE(t.oid, 6);
    field.writeInt16BE(t.len, 10);
    field.writeInt32BE(-1, 12); // type modifier
    field.writeInt16BE(0, 16); // text format
    parts.push(Buffer.from(c.name + '\0', 'utf8'), field);
  }
  return message(Backend.RowDescription, Buffer.concat(parts));
}

function textOf(v: Value): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (typeof v === 'number') return Number.isFinite(v) ? String(Math.trunc(v)) : undefined;
  return v;
}

export function dataRow(values: readonly Value[]): Buffer {
  const parts: Buffer[] = [];
  const head = Buffer.allocUnsafe(2);
  head.writeInt16BE(values.length, 0);
  parts.push(head);
  for (const v of values) {
    const s = textOf(v);
    const len = Buffer.allocUnsafe(4);
    if (s === undefined) {
      len.writeInt32BE(-1, 0); // NULL
      parts.push(len);
      continue;
    }
    const bytes = Buffer.from(s, 'utf8');
    len.writeInt32BE(bytes.length, 0);
    parts.push(len, bytes);
  }
  return message(Backend.DataRow, Buffer.concat(parts));
}

export function commandComplete(tag: string): Buffer {
  return message(Backend.CommandComplete, Buffer.from(tag + '\0', 'utf8'));
}

export const EMPTY_QUERY: Buffer = message(Backend.EmptyQueryResponse, Buffer.alloc(0));

/** The whole answer to one SHOW: RowDescription, a DataRow per row, CommandComplete "SHOW". */
export function resultMessages(rs: ResultSet, tag = 'SHOW'): Buffer[] {
  return [rowDescription(rs.columns), ...rs.rows.map(dataRow), commandComplete(tag)];
}
