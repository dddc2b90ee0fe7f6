// Creates the pino logger; secrets are redacted by path so they never reach a log line.
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = ['password', '*.password', 'token', '*.token', 'secret', '*.secret', 'verifier', '*.verifier'];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const opts = { level, base: { pid: process.pid }, redact: { paths: REDACT, censor: '[redacted]' } };
  return destination ? pino(opts, destination as pino.DestinationStream) : pino(opts);
}

/**
 * Changes the level of `logger` and of every child made from it: pino children are created on the parent as their
 * prototype and inherit its level until one is given its own (pgporter never gives one), so one assignment suffices.
 */
export function setLogLevel(logger: Logger, level: string): void {
  logger.level = level;
}
