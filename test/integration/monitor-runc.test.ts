/**
 * berth-monitor driving runc: `runc create` as CMD (pipes, and a terminal over --console-socket),
 * `runc start`, logs, attach, exit code, `runc delete`.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { isRoot, makeBundle } from '../helpers/bundle';
import { leftoverCgroups, newId, waitFor } from '../helpers/oci';
import { defaultSpec } from '../../src/runtime/spec/default';
import { attach } from '../../src/monitor/attach';
import { parseCriLog } from '../../src/monitor/cri-log';
import { readExitFile } from '../../src/monitor/exit-file';
import { MonitorError, defaultMonitorPath, startMonitor } from '../../src/monitor/start';

const hasRunc = spawnSync('runc', ['--version']).status === 0;
const skip =
  (!isRoot() && 'needs root') || (!hasRunc && 'runc not installed') || (!fs.existsSync(defaultMonitorPath()) && 'berth-monitor is not built');

interface After {
  after(fn: () => void | Promise<void>): void;
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

function runcEnv(t: After, args: string[], terminal: boolean) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-mon-runc-'));
  const root = path.join(dir, 'runc-root');
  const bundle = makeBundle('berth-mon-bundle-');
  const id = newId();
  const pids: number[] = [];
  const runc = (...a: string[]) => spawnSync('runc', ['--root', root, ...a], { encoding: 'utf8', timeout: 30_000 });
  t.after(async () => {
    runc('delete', '--force', id);
    for (const p of pids) killPid(p);
    await waitFor(() => pids.every((p) => !fs.existsSync(`/proc/${p}`) || /\) Z/.test(fs.readFileSync(`/proc/${p}/stat`, 'utf8'))), 3000);
    bundle.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const spec = defaultSpec({ rootless: false });
  spec.process!.terminal = terminal;
  spec.process!.args = args;
  spec.root = { path: 'rootfs', readonly: false };
  bundle.writeConfig(spec);
  const f = (n: string) => path.join(dir, n);
  return { dir, root, bundle, id, pids, runc, f };
}

test('runc create under the monitor with pipes: start, stdin by attach, logs, exit code, delete', { skip }, async (t) => {
  const e = runcEnv(t, ['sh', '-c', 'echo out; echo err >&2; read x; echo "in $x"; exit 5'], false);
  const { monitorPid, containerPid } = await startMonitor({
    command: ['runc', '--root', e.root, 'create', '--bundle', e.bundle.dir, '--pid-file', e.f('pid'), e.id],
    pidFile: e.f('pid'),
    exitFile: e.f('exit'),
    logPath: e.f('log'),
    attachSocket: e.f('attach'),
    stdin: true,
    timeoutMs: 30_000,
  });
  e.pids.push(monitorPid, containerPid);
  const state = JSON.parse(e.runc('state', e.id).stdout) as { status: string; pid: number };
  assert.equal(state.status, 'created');
  assert.equal(state.pid, containerPid);
  let out = '';
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (out += d.toString()));
  const a = await attach(e.f('attach'), { stdout: sink });
  const st = e.runc('start', e.id);
  assert.equal(st.status, 0, st.stderr);
  assert.ok(await waitFor(() => out.includes('out\n')), 'live output through attach');
  a.write('hi\n');
  const rec = await a.done;
  assert.equal(rec?.exitCode, 5);
  assert.ok(await waitFor(() => fs.existsSync(e.f('exit'))));
  const file = await readExitFile(e.f('exit'));
  assert.equal(file?.exitCode, 5);
  assert.equal(file?.pid, containerPid);
  const log = parseCriLog(fs.readFileSync(e.f('log')));
  assert.deepEqual(
    log.map((l) => [l.stream, l.message.toString()]).sort(),
    [['stderr', 'err'], ['stdout', 'in hi'], ['stdout', 'out']],
  );
  assert.equal(JSON.parse(e.runc('state', e.id).stdout).status, 'stopped');
  const d = e.runc('delete', e.id);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual(leftoverCgroups(e.id), []);
});

test('runc create with a terminal: the monitor receives the pty master, resize and stdin through attach', { skip }, async (t) => {
  const e = runcEnv(t, ['sh', '-c', 'read l; echo "got $l"; stty size; exit 4'], true);
  const sock = e.f('console.sock');
  const { monitorPid, containerPid } = await startMonitor({
    command: ['runc', '--root', e.root, 'create', '--bundle', e.bundle.dir, '--console-socket', sock, '--pid-file', e.f('pid'), e.id],
    pidFile: e.f('pid'),
    exitFile: e.f('exit'),
    logPath: e.f('log'),
    attachSocket: e.f('attach'),
    terminal: true,
    consoleSocket: sock,
    stdin: true,
    timeoutMs: 30_000,
  });
  e.pids.push(monitorPid, containerPid);
  assert.equal(fs.existsSync(sock), false, 'the console socket is removed once the master arrived');
  let out = '';
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (out += d.toString()));
  const a = await attach(e.f('attach'), { stdout: sink });
  assert.equal(e.runc('start', e.id).status, 0);
  a.resize(33, 77);
  a.write('hi\r');
  const rec = await a.done;
  assert.equal(rec?.exitCode, 4);
  assert.match(out, /got hi\r\n/);
  assert.match(out, /33 77\r\n/);
  const log = fs.readFileSync(e.f('log'), 'utf8');
  assert.match(log, / stdout F got hi\r\n/);
  assert.match(log, / stdout F 33 77\r\n/);
  assert.equal(e.runc('delete', e.id).status, 0);
  assert.deepEqual(leftoverCgroups(e.id), []);
});

test('runc create failing (no such executable): MonitorError with runc\'s message, exit file, nothing left', { skip }, async (t) => {
  const e = runcEnv(t, ['/no/such/binary'], false);
  await assert.rejects(
    startMonitor({
      command: ['runc', '--root', e.root, 'create', '--bundle', e.bundle.dir, '--pid-file', e.f('pid'), e.id],
      pidFile: e.f('pid'),
      exitFile: e.f('exit'),
      logPath: e.f('log'),
      timeoutMs: 30_000,
    }),
    (err: unknown) => err instanceof MonitorError && err.status === 1 && /no such file or directory|not found/i.test(err.message),
  );
  const rec = await readExitFile(e.f('exit'));
  assert.equal(rec?.createFailed, true);
  assert.notEqual(e.runc('state', e.id).status, 0, 'runc has no such container');
  assert.deepEqual(leftoverCgroups(e.id), []);
});
