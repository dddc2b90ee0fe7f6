// Config for the admin console (src/console): who may log in to the `pgporter` database, with which role, and from where.
import { z } from 'zod';

const SCRAM_VERIFIER = /^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/;

/** One console user: exactly one secret (write it as ${ENV_VAR}); `admin` may change things, `readonly` (default) only sees. */
export const consoleUserSchema = z
  .strictObject({
    name: z.string().min(1),
    /** Plain password; pgporter derives a SCRAM verifier from it once. */
    password: z.string().min(1).optional(),
    /** `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`, as in pg_authid.rolpassword. */
    scramVerifier: z.string().regex(SCRAM_VERIFIER, 'expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>').optional(),
    /** admin: SHOW and PAUSE/RESUME/RELOAD/KILL/SHUTDOWN; readonly: SHOW only. Default readonly. */
    role: z.enum(['admin', 'readonly']).default('readonly'),
  })
  .refine((u) => (u.password === undefined) !== (u.scramVerifier === undefined), { message: 'give exactly one of password, scramVerifier' });

/** `admin.consoleUsers`: an empty list (the default) turns the console off, and `pgporter` is then an ordinary database name. */
export const consoleUsersSchema = z
  .array(consoleUserSchema)
  .default([])
  .superRefine((users, ctx) => {
    const seen = new Set<string>();
    users.forEach((u, i) => {
      if (seen.has(u.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate console user "${u.name}"` });
      seen.add(u.name);
    });
  });

export type ConsoleUserConfig = z.output<typeof consoleUserSchema>;
