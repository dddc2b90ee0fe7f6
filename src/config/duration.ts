// Durations in the config: human text ("250ms", "5s", "2m", "1h") parsed to milliseconds, and the zod types every schema piece uses for them.
import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)$/;
const HINT = 'expected a duration with a unit such as "500ms", "5s" or "2m"';

/** Milliseconds for a duration string, or undefined when it is not one (a bare number is refused: units are required). */
export function parseDuration(text: string): number | undefined {
  const m = PATTERN.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2]!]!);
}

/** Milliseconds for `v`, or a zod issue naming what was expected. */
function toMs(v: string, ctx: z.RefinementCtx, also = ''): number {
  const ms = parseDuration(v);
  if (ms !== undefined) return ms;
  ctx.addIssue({ code: 'custom', message: `${HINT}${also}, got "${v}"` });
  return z.NEVER;
}

/** A duration with a default ("5s"), stored as milliseconds. */
export const duration = (def: string) =>
  z
    .string()
    .default(def)
    .transform((v, ctx) => toMs(v, ctx));

/** An optional duration: absent stays undefined. */
export const optionalDuration = () =>
  z
    .string()
    .optional()
    .transform((v, ctx) => (v === undefined ? undefined : toMs(v, ctx)));

/** A duration that may be "off" (the default): 0 means disabled. */
export const durationOrOff = () =>
  z
    .string()
    .default('off')
    .transform((v, ctx) => (v === 'off' || v === '0' ? 0 : toMs(v, ctx, ', or "off"')));
