// `pgporter allowlist list|add|remove|set TENANT [CIDR…]`: edits a tenant's allowlist through the admin API.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AdminClient, COMMON_USAGE, CONNECTION_OPTIONS, runCommand, table, usageError, type CommandIo } from './admin-client.js';

export const ALLOWLIST_USAGE = `usage:
  pgporter allowlist list   TENANT                 show the entries (or the default policy when there is no list)
  pgporter allowlist add    TENANT CIDR...         add entries (addresses or CIDRs, IPv4 or IPv6)
  pgporter allowlist remove TENANT CIDR...         remove entries
  pgporter allowlist set    TENANT CIDR...         replace the whole list
  pgporter allowlist set    TENANT --from-file F   replace it with the entries in F (one per line, # comments)
  pgporter allowlist set    TENANT --empty         an empty list: nobody is admitted
  pgporter allowlist set    TENANT --clear         no list: the default policy applies
${COMMON_USAGE}`;

interface AllowlistView {
  tenant: string;
  entries: string[] | null;
  policy: string;
}

export async function runAllowlistCommand(argv: string[], io: CommandIo): Promise<number> {
  return runCommand('allowlist', ALLOWLIST_USAGE, io, async () => {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ...CONNECTION_OPTIONS,
        clear: { type: 'boolean', default: false },
        empty: { type: 'boolean', default: false },
        'from-file': { type: 'string' },
      },
    });
    if (values.help) {
      io.stdout.write(ALLOWLIST_USAGE);
      return;
    }
    const [action, tenant, ...cidrs] = positionals;
    if (!action) throw usageError('missing sub-command');
    if (!['list', 'add', 'remove', 'set'].includes(action)) throw usageError(`unknown sub-command "${action}"`);
    if (!tenant) throw usageError(`${action}: missing TENANT`);
    const setFlags = [values.clear, values.empty, values['from-file'] !== undefined].filter(Boolean).length;
    if (setFlags > 0 && action !== 'set') throw usageError('--clear, --empty and --from-file go with "set"');
    if (action === 'list' && cidrs.length) throw usageError('list takes only TENANT');
    if ((action === 'add' || action === 'remove') && cidrs.length === 0) throw usageError(`${action}: give at least one CIDR`);
    if (action === 'set' && (setFlags > 1 || (setFlags === 1 && cidrs.length > 0) || (setFlags === 0 && cidrs.length === 0))) {
      throw usageError('set: give CIDRs, or exactly one of --from-file, --empty, --clear');
    }

    const api = AdminClient.from(values, io.env);
    const path = `/v1/tenants/${encodeURIComponent(tenant)}/allowlist`;
    let view: AllowlistView;
    switch (action) {
      case 'list':
        view = (await api.request('GET', path)) as AllowlistView;
        break;
      case 'add':
        view = (await api.request('POST', `${path}/entries`, { entries: cidrs })) as AllowlistView;
        break;
      case 'remove':
        view = undefined as unknown as AllowlistView;
        for (const c of cidrs) view = (await api.request('DELETE', `${path}/entries/${encodeURIComponent(c)}`)) as AllowlistView;
        break;
      default: {
        let entries: string[] | null = cidrs;
        if (values.clear) entries = null;
        else if (values.empty) entries = [];
        else if (values['from-file'] !== undefined) entries = readEntries(values['from-file']);
        view = (await api.request('PUT', path, { entries })) as AllowlistView;
      }
    }
    if (values.json) {
      io.stdout.write(`${JSON.stringify(view)}\n`);
      return;
    }
    if (view.entries === null) io.stdout.write(`tenant ${view.tenant} has no allowlist; the default policy applies: ${view.policy}\n`);
    else if (view.entries.length === 0) io.stdout.write(`tenant ${view.tenant} has an empty allowlist: every address is refused\n`);
    else io.stdout.write(table(['ENTRY'], view.entries.map((e) => [e])));
  });
}

function readEntries(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw usageError(`--from-file: ${(err as Error).message}`);
  }
  return text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
}
