// The demo's guided tour: an allowlist refusal, the edit that lets the client in, and a suspended database waking on the first psql.
import { execFile } from 'node:child_process';
import { LocalDriver } from '../wake/index.js';

export interface TourTarget {
  port: number;
  adminPort: number;
  adminToken: string;
  tenant: string;
  dataDir: string;
  /** The tenant's suspendAfterIdle, in seconds. */
  idleSeconds: number;
  out: NodeJS.WritableStream;
}

function psql(port: number, sql: string): Promise<{ ok: boolean; text: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile('psql', ['-X', '-At', '-d', `postgres://postgres@127.0.0.1:${port}/postgres`, '-c', sql], { timeout: 60_000, env: { ...process.env, PGCONNECT_TIMEOUT: '30' } }, (err, stdout, stderr) => {
      resolve({ ok: !err, text: `${stderr}${stdout}`.trim(), ms: Date.now() - t0 });
    });
  });
}

async function admin(t: TourTarget, method: string, path: string, body: unknown): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${t.adminPort}${path}`, {
    method,
    headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`admin API ${method} ${path}: ${res.status} ${await res.text()}`);
}

const indent = (s: string) => s.split('\n').map((l) => `      ${l}`).join('\n');

/** Runs the tour with real psql; returns false when psql is missing (the tour is skipped, the demo still runs). */
export async function runTour(t: TourTarget): Promise<boolean> {
  const say = (s: string) => t.out.write(s + '\n');
  const probe = await psql(t.port, 'SELECT 1');
  if (!probe.ok && /ENOENT|not found/.test(probe.text)) {
    say('(psql not found: skipping the guided tour)');
    return false;
  }
  const allowlistPath = `/v1/tenants/${t.tenant}/allowlist`;
  say('1. Network restrictions');
  say(`   pgporter allowlist set ${t.tenant} 203.0.113.0/24      # through the admin API`);
  await admin(t, 'PUT', allowlistPath, { entries: ['203.0.113.0/24'] });
  const refused = await psql(t.port, 'SELECT 1');
  say(`   psql from 127.0.0.1 -> ${refused.ok ? 'admitted (unexpected!)' : 'refused:'}`);
  say(indent(refused.text));
  say(`   pgporter allowlist add ${t.tenant} 127.0.0.1`);
  await admin(t, 'POST', `${allowlistPath}/entries`, { entries: ['127.0.0.1'] });
  const admitted = await psql(t.port, 'SELECT text FROM demo_greeting');
  say(`   psql from 127.0.0.1 -> ${admitted.ok ? 'admitted:' : 'refused:'}`);
  say(indent(admitted.text));
  await admin(t, 'PUT', allowlistPath, { entries: null });
  say(`   (list cleared again: the default policy applies)`);

  say('2. Wake on connect');
  const driver = new LocalDriver(t.dataDir);
  say(`   waiting for pgporter to suspend the idle database (suspendAfterIdle: ${t.idleSeconds}s)...`);
  const deadline = Date.now() + (t.idleSeconds + 15) * 1000;
  while ((await driver.getState()) !== 'suspended' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
  say(`   PostgreSQL is ${await driver.getState()} (SIGSTOP to the postmaster and its children, as Fly suspends a Machine)`);
  const woke = await psql(t.port, 'SELECT text FROM demo_greeting');
  say(`   first psql -> ${woke.ok ? 'answered' : 'failed'} in ${woke.ms} ms:`);
  say(indent(woke.text));
  say(`   PostgreSQL state now: ${await driver.getState()} (suspended again after ${t.idleSeconds}s without clients)`);
  return true;
}
