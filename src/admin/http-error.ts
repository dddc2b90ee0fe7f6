// The admin API's error: an HTTP status plus the JSON body `{ error: { code, message, field } }` that names what is wrong.
import type { z } from 'zod';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly issues?: Array<{ field: string; message: string }>,
  ) {
    super(message);
    this.name = 'HttpError';
  }

  toBody(): { error: { code: string; message: string; field?: string; issues?: Array<{ field: string; message: string }> } } {
    const error: { code: string; message: string; field?: string; issues?: Array<{ field: string; message: string }> } = {
      code: this.code,
      message: this.message,
    };
    if (this.field !== undefined) error.field = this.field;
    if (this.issues !== undefined && this.issues.length > 1) error.issues = this.issues;
    return { error };
  }
}

/** A 400 from zod issues: the first names the field; CIDR problems get their own code so scripts can tell them apart. */
export function fromZodError(err: z.ZodError, prefix: readonly PropertyKey[] = []): HttpError {
  const issues = err.issues.map((i) => ({
    field: [...prefix, ...i.path].map(String).join('.') || '(body)',
    message: i.message,
  }));
  const first = issues[0] ?? { field: '(body)', message: 'invalid body' };
  const code = /invalid address or CIDR/.test(first.message) ? 'INVALID_CIDR' : 'INVALID_BODY';
  return new HttpError(400, code, `${first.field}: ${first.message}`, first.field, issues);
}

export const notFound = (tenantId: string) => new HttpError(404, 'TENANT_NOT_FOUND', `tenant "${tenantId}" does not exist`, 'id');
