import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BackoffStore, containerCleanup, exitCommandFor, nextDelayMs, shouldRestart, type CleanupEngine, type ExitInfo } from '../../src/engine/restart';
import { parseRestart } from '../../src/engine/run-options';
import type { ContainerRecord } from '../../src/engine/types';

test('shouldRestart: docker policies', () => {
  const no = parseRestart('no');
  const always = parseRestart('always');
  const unless = parseRestart('unless-stopped');
  const of2 = parseRestart('on-failure:2');
  const of = parseRestart('on-failure');
  assert.equal(shouldRestart(no, 1, 0, false), false);
  assert.equal(shouldRestart(always, 0, 100, false), true);
  assert.equal(shouldRestart(always, 137, 0, true), false, 'stopped by the user');
  assert.equal(shouldRestart(unless, 0, 0, false), true);
  assert.equal(shouldRestart(of2, 0, 0, false), false, 'success is not a failure');
  assert.equal(shouldRestart(of2, 3, 0, false), true);
  assert.equal(shouldRestart(of2, 3, 1, false), true);
  assert.equal(shouldRestart(of2, 3, 2, false), false, 'at most 2');
  assert.equal(shouldRestart(of, 3, 1000, false), true, 'unlimited');
});

test('backoff: 100 ms doubling to a minute, reset after a 10 s run', () => {
  let d = 0;
  const seen: number[] = [];
  for (let i = 0; i < 12; i++) seen.push((d = nextDelayMs(d, 50)));
  assert.deepEqual(seen.slice(0, 5), [100, 200, 400, 800, 1600]);
  assert.equal(seen[11], 60_000);
  assert.equal(nextDelayMs(60_000, 10_000), 100);
});

test('exitCommandFor: node running bin/berth with the store paths', () => {
  const c = exitCommandFor({ root: '/r', runRoot: '/rr', containerId: 'abc', berthBin: '/x/bin/berth' });
  assert.equal(c.exitCommand, process.execPath);
  assert.deepEqual(c.exitCommandArgs, ['/x/bin/berth', '--root', '/r', '--run-root', '/rr', 'container', 'cleanup', 'abc']);
});

function record(over: Partial<ContainerRecord> & { restart?: string; autoRemove?: boolean }): ContainerRecord {
  return {
    version: 1,
    key: 'k'.repeat(64),
    id: 'i'.repeat(64),
    containerId: 'i'.repeat(64),
    podId: 'p',
    name: 'web',
    phase: 'created',
    created: new Date().toISOString(),
    image: 'busybox',
    imageId: 'sha256:x',
    options: { restart: parseRestart(over.restart ?? 'no'), autoRemove: over.autoRemove ?? false } as ContainerRecord['options'],
    runtime: { kind: 'berth' },
    volumes: [],
    restartCount: 0,
    stoppedByUser: false,
    startedAt: new Date(Date.now() - 1000).toISOString(),
    lastExit: null,
    logPath: '',
    ...over,
  } as ContainerRecord;
}

class FakeEngine implements CleanupEngine {
  rec: ContainerRecord | undefined;
  exit: ExitInfo | null;
  events: string[] = [];
  calls: string[] = [];
  sleeps: number[] = [];
  locked = 0;
  constructor(rec: ContainerRecord, exitCode: number) {
    this.rec = rec;
    this.exit = { exitCode, finishedAt: new Date().toISOString(), oomKilled: false };
  }
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    assert.equal(this.locked, 0, 'no nested locking');
    this.locked++;
    try {
      return await fn();
    } finally {
      this.locked--;
    }
  }
  load(ref: string): ContainerRecord | undefined {
    const r = this.rec;
    return r !== undefined && (r.containerId === ref || r.id === ref) ? (JSON.parse(JSON.stringify(r)) as ContainerRecord) : undefined;
  }
  async save(rec: ContainerRecord): Promise<void> {
    this.rec = JSON.parse(JSON.stringify(rec)) as ContainerRecord;
  }
  async exitOf(): Promise<ExitInfo | null> {
    return this.exit;
  }
  async restart(ref: string, guard: (rec: ContainerRecord) => Promise<boolean>): Promise<boolean> {
    return this.withLock(async () => {
      const rec = this.load(ref);
      if (rec === undefined || !(await guard(rec))) return false;
      rec.restartCount++;
      rec.restarting = false;
      await this.save(rec);
      this.calls.push(`restart#${rec.restartCount}`);
      this.events.push('restart');
      return true;
    });
  }
  async remove(rec: ContainerRecord): Promise<void> {
    assert.equal(this.locked, 1, 'remove runs under the lock');
    this.calls.push('remove');
    this.rec = undefined;
    void rec;
  }
  event(action: string): void {
    this.events.push(action);
  }
  sleep = async (ms: number): Promise<void> => {
    assert.equal(this.locked, 0, 'the backoff wait holds no lock');
    this.sleeps.push(ms);
  };
}

function backoffStore(t: { after: (fn: () => void) => void }): BackoffStore {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-restart-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return new BackoffStore(path.join(d, 'restart'));
}

test('cleanup: on-failure:2 restarts twice with doubling delays, then stays exited', async (t) => {
  const b = backoffStore(t);
  const e = new FakeEngine(record({ restart: 'on-failure:2' }), 3);
  assert.equal(await containerCleanup(e, b, e.rec!.containerId), 'restarted');
  e.exit = { ...e.exit!, finishedAt: new Date(Date.now() + 1).toISOString() };
  assert.equal(await containerCleanup(e, b, e.rec!.containerId), 'restarted');
  e.exit = { ...e.exit!, finishedAt: new Date(Date.now() + 2).toISOString() };
  assert.equal(await containerCleanup(e, b, e.rec!.containerId), 'exited');
  assert.deepEqual(e.calls, ['restart#1', 'restart#2']);
  assert.deepEqual(e.sleeps, [100, 200]);
  assert.equal(e.rec!.restartCount, 2);
  assert.equal(e.rec!.lastExit!.exitCode, 3);
  assert.notEqual(e.rec!.restarting, true, 'no longer restarting');
  assert.deepEqual(e.events, ['die', 'restart', 'die', 'restart', 'die']);
});

test('cleanup: stopped by the user, --rm, exit 0 with on-failure, superseded and gone', async (t) => {
  const b = backoffStore(t);
  const stopped = new FakeEngine(record({ restart: 'always', stoppedByUser: true }), 143);
  assert.equal(await containerCleanup(stopped, b, stopped.rec!.containerId), 'exited');
  assert.deepEqual(stopped.calls, []);
  const rm = new FakeEngine(record({ autoRemove: true }), 0);
  assert.equal(await containerCleanup(rm, b, 'i'.repeat(64)), 'removed');
  assert.deepEqual(rm.calls, ['remove']);
  assert.equal(await containerCleanup(rm, b, 'i'.repeat(64)), 'gone');
  const ok = new FakeEngine(record({ restart: 'on-failure' }), 0);
  assert.equal(await containerCleanup(ok, b, ok.rec!.containerId), 'exited');
  const old = new FakeEngine(record({ restart: 'always', containerId: 'n'.repeat(64) }), 1);
  assert.equal(await containerCleanup(old, b, 'i'.repeat(64)), 'superseded', 'a cleanup of an earlier run');
  const running = new FakeEngine(record({ restart: 'always' }), 0);
  running.exit = null;
  assert.equal(await containerCleanup(running, b, running.rec!.containerId), 'running');
});

test('cleanup: a stop during the backoff wait prevents the restart', async (t) => {
  const b = backoffStore(t);
  const e = new FakeEngine(record({ restart: 'always' }), 137);
  e.sleep = async () => {
    e.rec!.stoppedByUser = true;
  };
  assert.equal(await containerCleanup(e, b, e.rec!.containerId), 'exited');
  assert.deepEqual(e.calls, []);
  assert.equal(e.rec!.restarting, false, 'the restarting mark set for the wait is cleared');
});

test('monitor arguments: --exit-command and its args before --', async () => {
  const { buildMonitorArgv } = await import('../../src/monitor/args');
  const a = buildMonitorArgv({ command: ['true'], cmdIsContainer: true, exitCommand: '/usr/bin/node', exitCommandArgs: ['/x/berth', 'container', 'cleanup', 'abc'] });
  assert.deepEqual(a, ['--cmd-is-container', '--exit-command', '/usr/bin/node', '--exit-command-arg', '/x/berth', '--exit-command-arg', 'container', '--exit-command-arg', 'cleanup', '--exit-command-arg', 'abc', '--', 'true']);
  assert.throws(() => buildMonitorArgv({ command: ['true'], cmdIsContainer: true, exitCommand: 'node' }), /absolute/);
  assert.throws(() => buildMonitorArgv({ command: ['true'], cmdIsContainer: true, exitCommandArgs: ['x'] }), /needs exitCommand/);
  assert.deepEqual(buildMonitorArgv({ command: ['true'], cmdIsContainer: true }), ['--cmd-is-container', '--', 'true'], 'nothing new without it');
});
