// Reads a YAML config file, substitutes ${ENV} references, validates it against the schema and freezes the result.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.js';

/** A config problem; the message names the key and what is wrong with it. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly issues: string[];
  constructor(source: string, issues: string[]) {
    super(`invalid config ${source}:\n  - ${issues.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

const ENV_REF = /\$\{([A-Z_][A-Z0-9_]*)\}/g;

/** Replaces ${NAME} in every string with the environment variable, so secrets stay out of the file. */
function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: string, missing: string[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string) => {
      const v = env[name];
      if (v === undefined) {
        missing.push(`${path}: environment variable ${name} is not set`);
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substituteEnv(v, env, `${path}[${i}]`, missing));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = substituteEnv(v, env, path ? `${path}.${k}` : k, missing);
    return out;
  }
  return value;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object' && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}

/** `tenants[0].upstream.port`: the same spelling as the ${ENV} and duplicate-id messages, so every message names a key one way. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(top level)';
}

function describeIssues(err: z.ZodError): string[] {
  // zod reports unknown keys on the parent object; name each key's full path instead so a typo is found at once.
  return err.issues.flatMap((i) =>
    i.code === 'unrecognized_keys' ? i.keys.map((k) => `${formatPath([...i.path, k])}: unknown key`) : [`${formatPath(i.path)}: ${i.message}`],
  );
}

/** Validates an already-parsed config object. */
export function parseConfig(raw: unknown, source = '(inline)', env: NodeJS.ProcessEnv = process.env): Config {
  const missing: string[] = [];
  const substituted = substituteEnv(raw ?? {}, env, '', missing);
  if (missing.length) throw new ConfigError(source, missing);
  const result = configSchema.safeParse(substituted);
  if (!result.success) throw new ConfigError(source, describeIssues(result.error));
  const cfg = result.data;
  const extra: string[] = [];
  const ids = new Set<string>();
  cfg.tenants.forEach((t, i) => {
    if (ids.has(t.id)) extra.push(`tenants[${i}].id: duplicate tenant id "${t.id}"`);
    ids.add(t.id);
  });
  if ((cfg.tls.certFile === undefined) !== (cfg.tls.keyFile === undefined)) {
    extra.push('tls: certFile and keyFile must be given together');
  }
  if (extra.length) throw new ConfigError(source, extra);
  return deepFreeze(cfg);
}

/** Reads a YAML (or JSON) config file without validating it, so callers can override parts first (the demo, the tests). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid YAML: ${(err as Error).message}`]);
  }
  if (raw === null || raw === undefined) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(file, ['(top level): expected a mapping of settings']);
  return raw as Record<string, unknown>;
}

/** Loads and validates a YAML (or JSON) config file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(readConfigFile(file), file, env);
}
