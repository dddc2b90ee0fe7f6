// An error a console command answers with: severity ERROR (the session goes on), a SQLSTATE and Postgres-style text.
import { PgporterError } from '../errors.js';
import { errorResponse } from '../protocol/index.js';

export class ConsoleError extends PgporterError {
  constructor(
    readonly sqlstate: string,
    message: string,
    readonly hint?: string,
  ) {
    super(`CONSOLE_${sqlstate}`, 'console', 'admin', message);
    this.name = 'ConsoleError';
  }

  toErrorResponse(): Buffer {
    return errorResponse({ severity: 'ERROR', code: this.sqlstate, message: this.message, ...(this.hint !== undefined ? { hint: this.hint } : {}) });
  }
}
