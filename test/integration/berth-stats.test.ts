/**
 * stats (--no-stream, --format json, the live table on a pipe), events (past with --since/--until,
 * --filter, --format json, following live), system df and system prune.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { BERTH, berthSkip, destroyEnv, makeEnv, type BerthEnv } from '../helpers/berth-cli';

const skip = berthSkip();

test('stats, events, system df and prune', { skip, timeout: 180_000 }, async (t) => {
  let env: BerthEnv | undefined;
  t.after(async () => {
    if (env) await destroyEnv(env);
  });
  env = await makeEnv('stats');
  const b = env.berth;
  const ok = async (args: string[]): Promise<string> => {
    const r = await b(args);
    assert.equal(r.status, 0, `berth ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const t0 = new Date(Date.now() - 1000).toISOString();
  // a busy container (one core spinning) and an idle one with 3 processes
  await ok(['run', '-d', '--name', 'busy', 'bb:1', 'sh', '-c', 'while :; do :; done']);
  await ok(['run', '-d', '--name', 'idle', '--memory', '64m', 'bb:1', 'sh', '-c', 'sleep 1000 & sleep 1000 & wait']);

  const table = await ok(['stats', '--no-stream']);
  const lines = table.trim().split('\n');
  assert.match(lines[0]!, /^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS$/);
  assert.equal(lines.length, 3);
  const rows = (await ok(['stats', '--no-stream', '--format', 'json'])).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
  const busy = rows.find((r) => r.Name === 'busy')!;
  const idle = rows.find((r) => r.Name === 'idle')!;
  assert.ok(parseFloat(busy.CPUPerc!) > 30, `busy CPU ${busy.CPUPerc}`);
  assert.ok(parseFloat(idle.CPUPerc!) < 30, `idle CPU ${idle.CPUPerc}`);
  assert.equal(idle.PIDs, '3');
  assert.match(idle.MemUsage!, / \/ 64MiB$/, 'the memory limit is shown');
  assert.equal((await ok(['stats', '--no-stream', '--format', '{{.Name}}:{{.PIDs}}', 'idle'])).trim(), 'idle:3');
  assert.equal((await b(['stats', '--no-stream', 'nope'])).status, 125);

  // live: a table per second on a pipe until interrupted
  const live = spawn(process.execPath, [BERTH, ...env.globals, 'stats', 'idle'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => live.kill('SIGKILL'));
  let liveOut = '';
  live.stdout.on('data', (d: Buffer) => (liveOut += d.toString()));
  const liveDone = new Promise<number | null>((r) => live.on('close', (c) => r(c)));
  for (let i = 0; i < 60 && (liveOut.match(/CONTAINER ID/g) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
  live.kill('SIGINT');
  assert.equal(await liveDone, 0);
  assert.ok((liveOut.match(/CONTAINER ID/g) ?? []).length >= 2, `refreshed: ${liveOut}`);

  // events: following, then the journal
  const follow = spawn(process.execPath, [BERTH, ...env.globals, 'events', '--format', 'json', '--filter', 'container=busy'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => follow.kill('SIGKILL'));
  let evOut = '';
  follow.stdout.on('data', (d: Buffer) => (evOut += d.toString()));
  await new Promise((r) => setTimeout(r, 700));
  await ok(['stop', '-t', '1', 'busy']);
  await ok(['rename', 'idle', 'idle2']);
  for (let i = 0; i < 50 && !/"Action":"stop"/.test(evOut); i++) await new Promise((r) => setTimeout(r, 100));
  follow.kill('SIGINT');
  const followed = evOut.trim().split('\n').map((l) => JSON.parse(l) as { Action: string; Actor: { Attributes: Record<string, string> } });
  assert.ok(followed.some((e) => e.Action === 'stop'), evOut);
  assert.ok(followed.every((e) => e.Actor.Attributes.name === 'busy'), 'filtered to busy');
  const past = await ok(['events', '--since', t0, '--until', '0s', '--format', '{{.Action}} {{.Actor.Attributes.name}}']);
  for (const want of ['create busy', 'start busy', 'create idle', 'start idle', 'stop busy', 'rename idle2']) assert.ok(past.includes(want), `${want} in ${past}`);
  const none = await ok(['events', '--since', '1h', '--until', '1h']);
  assert.equal(none, '');

  // system df: the image, 2 containers (1 running), no volume
  const df = await ok(['system', 'df']);
  assert.match(df, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\n/);
  assert.match(df, /^Images\s+1\s+1\s/m);
  assert.match(df, /^Containers\s+2\s+1\s/m);
  assert.match(df, /^Local Volumes\s+0\s+0\s/m);

  // system prune: the stopped container goes, the running one stays
  const pr = await ok(['system', 'prune', '-f']);
  assert.match(pr, /Deleted Containers:\n[0-9a-f]{64}\n/);
  assert.match(pr, /Total reclaimed space: /);
  assert.equal((await ok(['ps', '-a', '--format', '{{.Names}}'])).trim(), 'idle2');
});
