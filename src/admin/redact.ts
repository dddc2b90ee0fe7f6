// Hides secrets (user passwords, verifiers, API tokens) in tenant records shown by the API or written to the audit log.
const SECRET_KEY = /password|secret|token|verifier|^md5$/i;

export const REDACTED = '[redacted]';

export function redact<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => redact(v)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) && typeof v === 'string' ? REDACTED : redact(v);
    return out as T;
  }
  return value;
}

/** The path of a "[redacted]" placeholder sent back in a body, so a GET-edit-PUT cannot overwrite a secret with it. */
export function findPlaceholder(value: unknown, path: string[] = []): string | undefined {
  if (value === REDACTED) return path.join('.') || '(body)';
  if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = findPlaceholder(v, [...path, k]);
      if (found) return found;
    }
  }
  return undefined;
}
