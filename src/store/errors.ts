// Errors a store write can fail with; the admin API maps them to HTTP statuses by code.
import { PgporterError, type Side } from '../errors.js';

export type StoreErrorCode = 'STORE_UNAVAILABLE' | 'STORE_WRITE_FAILED';

export class StoreError extends PgporterError {
  declare readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, side: Side, message: string, options?: { cause?: unknown }) {
    super(code, code.toLowerCase(), side, message, options);
    this.name = 'StoreError';
  }
}
