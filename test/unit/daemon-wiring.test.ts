import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { resolveGroup, withCallLog } from '../../src/daemon/daemon';
import { createLogger } from '../../src/daemon/log';
import { BerthError } from '../../src/runtime/errors';

test('logger: one JSON line per event, filtered by level', () => {
  const lines: string[] = [];
  const log = createLogger('info', (l) => lines.push(l));
  log.debug('hidden');
  log.info('shown', { pod: 'p1', skipped: undefined, n: 2 });
  log.level = 'debug';
  log.debug('now shown');
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')));
  const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(rec.level, 'info');
  assert.equal(rec.msg, 'shown');
  assert.equal(rec.pod, 'p1');
  assert.equal(rec.n, 2);
  assert.equal('skipped' in rec, false);
  assert.match(String(rec.time), /^\d{4}-\d\d-\d\dT/);
});

test('withCallLog keeps results and errors and logs each call', async () => {
  const lines: string[] = [];
  const svc = withCallLog(
    {
      ok: (x: number) => Promise.resolve(x + 1),
      bad: () => Promise.reject(new BerthError('NOT_FOUND', 'nope')),
    },
    createLogger('debug', (l) => lines.push(l)),
  );
  assert.equal(await svc.ok(1), 2);
  await assert.rejects(svc.bad(), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND');
  assert.deepEqual(
    lines.map((l) => {
      const r = JSON.parse(l) as { msg: string; method: string; err?: string };
      return [r.msg, r.method, r.err];
    }),
    [
      ['call', 'ok', undefined],
      ['call failed', 'bad', 'nope'],
    ],
  );
});

test('socket group: name or gid', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berthd-grp-'));
  try {
    const f = path.join(dir, 'group');
    fs.writeFileSync(f, 'root:x:0:\nberth:x:1234:alice\n');
    assert.equal(resolveGroup('berth', f), 1234);
    assert.equal(resolveGroup('77', f), 77);
    assert.throws(() => resolveGroup('nobody-here', f), /socket_group/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('berthd refuses bad flags and bad configs before serving', () => {
  const bin = path.resolve(__dirname, '..', '..', '..', 'bin', 'berthd');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berthd-cli-'));
  try {
    const run = (args: string[]): { status: number | null; stderr: string } => {
      const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000 });
      return { status: r.status, stderr: r.stderr };
    };
    const badFlag = run(['--bogus']);
    assert.equal(badFlag.status, 2);
    assert.match(badFlag.stderr, /usage: berthd/);
    assert.equal(run(['--log-level', 'loud']).status, 2);
    const f = path.join(dir, 'b.toml');
    fs.writeFileSync(f, `socket = "${dir}/s.sock"\nroot = "${dir}/root"\nrun_root = "${dir}/run"\n[runtimes.runc]\ntype = "oci"\n`);
    const bad = run(['--config', f]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /"level":"error".*runtimes\.runc\.binary/);
    if (!fs.existsSync('/run/systemd/system')) {
      fs.writeFileSync(f, `socket = "${dir}/s.sock"\nroot = "${dir}/root"\nrun_root = "${dir}/run"\ncgroup_driver = "systemd"\n`);
      const sd = run(['--config', f]);
      assert.equal(sd.status, 1);
      assert.match(sd.stderr, /cgroup_driver.*systemd is not running/);
    }
    assert.equal(fs.existsSync(path.join(dir, 's.sock')), false);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
