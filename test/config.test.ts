// Config validation: the example validates and is frozen; unknown keys, wrong types, unitless durations, missing env vars, duplicate tenants, half TLS and bad CIDRs are refused with the key named.
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, loadConfig, parseConfig, parseDuration } from '../src/config/index.js';
import { EXAMPLE_CONFIG, exampleWith } from './fixtures/pgporter.js';
import { tempDir } from './fixtures/ports.js';

/** The assertions the helpers below use; the root and every subtest have them. */
type Asserts = Pick<typeof t, 'ok' | 'equal' | 'type' | 'fail' | 'match'>;

const ENV = { PGPORTER_ADMIN_TOKEN: 'admin-token-0123456789' };
const tenant = (id: string, extra: Record<string, unknown> = {}) => ({ id, upstream: { host: '127.0.0.1' }, ...extra });

/** The ConfigError `fn` throws; fails the test when it does not throw one. */
function configError(t: Asserts, fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    t.type(err, ConfigError, 'throws a ConfigError');
    t.equal((err as ConfigError).code, 'CONFIG_INVALID');
    return err as ConfigError;
  }
  t.fail('expected a ConfigError');
  return new ConfigError('(none)', []);
}

/** Asserts some issue starts with `path: ` and contains every `words` fragment. */
function hasIssue(t: Asserts, err: ConfigError, path: string, ...words: string[]): void {
  const hit = err.issues.find((i) => i.startsWith(`${path}: `) && words.every((w) => i.includes(w)));
  t.ok(hit, `an issue at ${path}${words.length ? ` mentioning ${words.join(', ')}` : ''} (got ${JSON.stringify(err.issues)})`);
  t.match(err.message, path, 'the message names the key too');
}

/** Every object and array reachable from `v` is frozen. */
function unfrozenPaths(v: unknown, path = '(root)', out: string[] = []): string[] {
  if (v && typeof v === 'object') {
    if (!Object.isFrozen(v)) out.push(path);
    for (const [k, x] of Object.entries(v)) unfrozenPaths(x, `${path}.${k}`, out);
  }
  return out;
}

t.test('the example file validates, with defaults applied and durations in ms', async (t) => {
  const cfg = loadConfig(EXAMPLE_CONFIG, ENV);
  t.equal(cfg.listen.port, 6432);
  t.equal(cfg.proxyProtocol.headerTimeout, 3000, '3s becomes 3000 ms');
  t.equal(cfg.startup.timeout, 10_000);
  t.equal(cfg.admin.tokens[0]!.token, ENV.PGPORTER_ADMIN_TOKEN, '${PGPORTER_ADMIN_TOKEN} substituted');
  t.equal(cfg.tenants.length, 1);
  t.equal(cfg.tenants[0]!.id, 'demo');
  t.equal(cfg.tenants[0]!.auth.method, 'scram-sha-256', 'tenant defaults filled in');
  t.same(unfrozenPaths(cfg), [], 'every nested object and array is frozen');
  t.throws(() => {
    (cfg.listen as { port: number }).port = 1;
  }, TypeError);
  t.throws(() => (cfg.tenants as unknown as unknown[]).push(tenant('x')), TypeError);
});

t.test('the example without the admin token env var names the key and the variable', async (t) => {
  const err = configError(t, () => loadConfig(EXAMPLE_CONFIG, {}));
  hasIssue(t, err, 'admin.tokens[0].token', 'PGPORTER_ADMIN_TOKEN');
});

t.test('an empty config is valid and takes every default', async (t) => {
  const cfg = parseConfig({}, 'inline', {});
  t.equal(cfg.listen.port, 6432);
  t.equal(cfg.upstream.connectTimeout, 5000);
  t.same(cfg.tenants, []);
});

t.test('unknown keys are errors naming the key path', async (t) => {
  hasIssue(t, configError(t, () => parseConfig({ lisen: { port: 1 } }, 'inline', {})), 'lisen', 'unknown key');
  hasIssue(t, configError(t, () => parseConfig({ listen: { prot: 1 } }, 'inline', {})), 'listen.prot', 'unknown key');
  hasIssue(t, configError(t, () => parseConfig({ store: { redis: { uri: 'x' } } }, 'inline', {})), 'store.redis.uri', 'unknown key');
  hasIssue(t, configError(t, () => parseConfig({ tenants: [tenant('a'), tenant('b', { colour: 'red' })] }, 'inline', {})), 'tenants[1].colour', 'unknown key');
  hasIssue(
    t,
    configError(t, () => parseConfig({ tenants: [{ id: 'a', upstream: { host: 'h', hots: 'x' } }] }, 'inline', {})),
    'tenants[0].upstream.hots',
    'unknown key',
  );
  const two = configError(t, () => parseConfig({ metrics: { a: 1, b: 2 } }, 'inline', {}));
  hasIssue(t, two, 'metrics.a', 'unknown key');
  hasIssue(t, two, 'metrics.b', 'unknown key');
});

t.test('unknown keys in the example file are reported too', async (t) => {
  const dir = tempDir('config');
  t.teardown(() => dir.remove());
  const file = join(dir.path, 'bad.json');
  writeFileSync(file, JSON.stringify(exampleWith({ admin: { enabeld: false } })));
  hasIssue(t, configError(t, () => loadConfig(file, ENV)), 'admin.enabeld', 'unknown key');
});

t.test('a wrong type names the key', async (t) => {
  hasIssue(t, configError(t, () => parseConfig({ listen: { port: 'abc' } }, 'inline', {})), 'listen.port', 'number');
  hasIssue(t, configError(t, () => parseConfig({ listen: { port: 70000 } }, 'inline', {})), 'listen.port');
  hasIssue(t, configError(t, () => parseConfig({ metrics: { enabled: 'yes' } }, 'inline', {})), 'metrics.enabled', 'boolean');
  hasIssue(t, configError(t, () => parseConfig({ log: { level: 'loud' } }, 'inline', {})), 'log.level');
  hasIssue(t, configError(t, () => parseConfig({ tenants: { id: 'a' } }, 'inline', {})), 'tenants', 'array');
  hasIssue(t, configError(t, () => parseConfig({ tenants: [{ id: 'a' }] }, 'inline', {})), 'tenants[0].upstream');
  hasIssue(t, configError(t, () => parseConfig({ tenants: [tenant('Not OK')] }, 'inline', {})), 'tenants[0].id');
  hasIssue(t, configError(t, () => parseConfig([1, 2], 'inline', {})), '(top level)');
});

t.test('durations need a unit', async (t) => {
  t.equal(parseDuration('5'), undefined, 'a bare number is refused');
  t.equal(parseDuration('5s'), 5000);
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('2m'), 120_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('1.5s'), 1500);
  t.equal(parseDuration('5 s'), 5000);
  t.equal(parseDuration('5sec'), undefined);
  t.equal(parseDuration('-5s'), undefined);
  t.equal(parseDuration(''), undefined);

  t.equal(parseConfig({ startup: { timeout: '5s' } }, 'inline', {}).startup.timeout, 5000);
  t.equal(parseConfig({ startup: { timeout: '250ms' } }, 'inline', {}).startup.timeout, 250);
  t.equal(parseConfig({ upstream: { connectTimeout: '2m' } }, 'inline', {}).upstream.connectTimeout, 120_000);
  hasIssue(t, configError(t, () => parseConfig({ startup: { timeout: '5' } }, 'inline', {})), 'startup.timeout', '"5"', 'unit');
  hasIssue(t, configError(t, () => parseConfig({ startup: { timeout: 5 } }, 'inline', {})), 'startup.timeout');
  hasIssue(t, configError(t, () => parseConfig({ proxyProtocol: { headerTimeout: '3 seconds' } }, 'inline', {})), 'proxyProtocol.headerTimeout', 'unit');
});

t.test('${ENV} references are substituted; a missing variable names the key and the variable', async (t) => {
  const cfg = parseConfig(
    { listen: { host: '${HOST}' }, startup: { timeout: '${T}s' }, tenants: [tenant('a', { upstream: { host: 'db-${REGION}.internal' } })] },
    'inline',
    { HOST: '127.0.0.2', T: '7', REGION: 'ams' },
  );
  t.equal(cfg.listen.host, '127.0.0.2');
  t.equal(cfg.startup.timeout, 7000, 'substitution happens before validation');
  t.equal(cfg.tenants[0]!.upstream!.host, 'db-ams.internal', 'inside a longer string');

  const err = configError(t, () => parseConfig({ tenants: [tenant('a', { upstream: { host: '${DB_HOST}' } })] }, 'inline', {}));
  hasIssue(t, err, 'tenants[0].upstream.host', 'DB_HOST');
  t.notMatch(err.message, /Invalid input/, 'reported as a missing variable, not as a later validation error');

  const both = configError(t, () => parseConfig({ listen: { host: '${A}' }, store: { redis: { password: '${B}' } } }, 'inline', {}));
  hasIssue(t, both, 'listen.host', 'A');
  hasIssue(t, both, 'store.redis.password', 'B');

  t.equal(parseConfig({ listen: { host: '$HOST' } }, 'inline', {}).listen.host, '$HOST', 'only ${NAME} is a reference');
});

t.test('duplicate tenant ids are refused', async (t) => {
  const err = configError(t, () => parseConfig({ tenants: [tenant('a'), tenant('b'), tenant('a')] }, 'inline', {}));
  hasIssue(t, err, 'tenants[2].id', 'duplicate', '"a"');
});

t.test('certFile without keyFile is refused (and the reverse)', async (t) => {
  hasIssue(t, configError(t, () => parseConfig({ tls: { certFile: '/x.crt' } }, 'inline', {})), 'tls', 'keyFile');
  hasIssue(t, configError(t, () => parseConfig({ tls: { keyFile: '/x.key' } }, 'inline', {})), 'tls', 'certFile');
  const cfg = parseConfig({ tls: { certFile: '/x.crt', keyFile: '/x.key' } }, 'inline', {});
  t.equal(cfg.tls.certFile, '/x.crt', 'both together are fine');
});

t.test('a CIDR typo in a tenant allowlist names the entry', async (t) => {
  const ok = parseConfig({ tenants: [tenant('a', { allowlist: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'] })] }, 'inline', {});
  t.same(ok.tenants[0]!.allowlist, ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7']);
  for (const typo of ['10.0.0.0/33', '10.0.0.256/24', '10.0.0/8x', '2001:db8::/129', 'localhost']) {
    const err = configError(t, () => parseConfig({ tenants: [tenant('a'), tenant('b', { allowlist: ['10.0.0.0/8', typo] })] }, 'inline', {}));
    hasIssue(t, err, 'tenants[1].allowlist[1]', typo);
  }
});

t.test('an upstreams entry takes its own fly block; a tenant-level fly beside the list is refused', async (t) => {
  const list = [
    { name: 'p', host: '127.0.0.1', port: 5432 },
    { name: 'r', host: '127.0.0.1', port: 5433, fly: { app: 'db', machineId: 'abc123', suspendAfterIdle: '5m' } },
  ];
  const ok = parseConfig({ tenants: [{ id: 'a', upstreams: list }] }, 'inline', {});
  t.equal(ok.tenants[0]!.upstreams![1]!.fly!.suspendAfterIdle, 300_000, 'the entry keeps its fly block');
  hasIssue(t, configError(t, () => parseConfig({ tenants: [{ id: 'a', upstreams: list, fly: { app: 'db', machineId: 'abc123' } }] }, 'inline', {})), 'tenants[0].fly', 'each upstream');
  hasIssue(t, configError(t, () => parseConfig({ tenants: [{ id: 'a', upstreams: [{ host: 'h', fly: { app: 'db' } }] }] }, 'inline', {})), 'tenants[0].upstreams[0].fly.machineId', 'required');
});

t.test('files: invalid YAML, a non-mapping, a missing file', async (t) => {
  const dir = tempDir('config');
  t.teardown(() => dir.remove());
  const bad = join(dir.path, 'bad.yaml');
  writeFileSync(bad, 'listen:\n  port: [6432\n  host: x\n');
  const yamlErr = configError(t, () => loadConfig(bad, {}));
  t.match(yamlErr.message, 'not valid YAML');
  t.match(yamlErr.message, bad, 'names the file');

  const scalar = join(dir.path, 'scalar.yaml');
  writeFileSync(scalar, 'just a string\n');
  t.match(configError(t, () => loadConfig(scalar, {})).message, 'expected a mapping');

  const empty = join(dir.path, 'empty.yaml');
  writeFileSync(empty, '# nothing here\n');
  t.equal(loadConfig(empty, {}).listen.port, 6432, 'an empty file means all defaults');

  const missing = join(dir.path, 'nope.yaml');
  t.match(configError(t, () => loadConfig(missing, {})).message, 'cannot read file');

  const good = join(dir.path, 'good.yaml');
  writeFileSync(good, 'listen:\n  port: 7000\nstartup:\n  timeout: 250ms\ntenants:\n  - id: t1\n    upstream: { host: "${H}" }\n');
  const cfg = loadConfig(good, { H: 'db.internal' });
  t.equal(cfg.listen.port, 7000);
  t.equal(cfg.startup.timeout, 250);
  t.equal(cfg.tenants[0]!.upstream!.host, 'db.internal');
});
