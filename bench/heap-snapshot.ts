// Reads a V8 .heapsnapshot file and sums self size and count per constructor, so two snapshots can be diffed per idle client.
import { readFileSync } from 'node:fs';

export interface ConstructorTotal {
  /** `type:name`, e.g. `object:Socket`, `closure:onData`, `string:(string)`. */
  key: string;
  count: number;
  selfBytes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Totals by node type and name; strings, numbers and code are folded into one key per type (their names are their contents). */
export function constructorTotals(file: string): Map<string, ConstructorTotal> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const out = new Map<string, ConstructorTotal>();
  const nodes = snap.nodes;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[nodes[i + typeAt]!]!;
    const named = type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'array' || type === 'object shape';
    const key = named ? `${type}:${snap.strings[nodes[i + nameAt]!]}` : `${type}:(${type})`;
    let t = out.get(key);
    if (!t) out.set(key, (t = { key, count: 0, selfBytes: 0 }));
    t.count++;
    t.selfBytes += nodes[i + sizeAt]!;
  }
  return out;
}

/** What `after` holds beyond `before`, per unit (one idle client), largest self size first. */
export function perUnitGrowth(before: Map<string, ConstructorTotal>, after: Map<string, ConstructorTotal>, units: number): ConstructorTotal[] {
  const rows: ConstructorTotal[] = [];
  for (const [key, a] of after) {
    const b = before.get(key) ?? { count: 0, selfBytes: 0 };
    rows.push({ key, count: (a.count - b.count) / units, selfBytes: (a.selfBytes - b.selfBytes) / units });
  }
  return rows.sort((x, y) => y.selfBytes - x.selfBytes);
}
