/**
 * berth's own executor under the monitor: berth-init as CMD with its sync socket passed through
 * (--pass-fd), the PROTOCOL.md exchange done here by hand (what launch() would do), the pid file
 * written after PID. Pipes, and a terminal over the monitor's console socket.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { isRoot, makeBundle } from '../helpers/bundle';
import { basePlan } from '../helpers/init-plan';
import { waitFor } from '../helpers/oci';
import { MSG_GO, MSG_PID, MSG_PLAN, MSG_READY, MessageReader, sendMessage } from '../../src/runtime/init/channel';
import { defaultInitPath } from '../../src/runtime/init/launch';
import { encodePlan } from '../../src/runtime/plan/encode';
import type { Plan } from '../../src/runtime/plan/types';
import { attach } from '../../src/monitor/attach';
import { parseCriLog } from '../../src/monitor/cri-log';
import { readExitFile } from '../../src/monitor/exit-file';
import { defaultMonitorPath, spawnMonitor, type SpawnMonitorOptions } from '../../src/monitor/start';

const skip =
  (!isRoot() && 'needs root') ||
  (!fs.existsSync(defaultMonitorPath()) && 'berth-monitor is not built') ||
  (!fs.existsSync(defaultInitPath()) && 'berth-init is not built');

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

interface After {
  after(fn: () => void | Promise<void>): void;
}

/** Spawns the monitor around berth-init and runs the create exchange; returns the pids. */
async function launchUnderMonitor(t: After, plan: Plan, dir: string, extra: Partial<SpawnMonitorOptions>) {
  const pidFile = path.join(dir, 'pid');
  const m = spawnMonitor({
    command: [defaultInitPath(), '3'],
    pidFile,
    pidFileTimeoutMs: 10_000,
    exitFile: path.join(dir, 'exit'),
    logPath: path.join(dir, 'log'),
    attachSocket: path.join(dir, 'attach'),
    passFds: ['pipe'],
    env: {},
    ...extra,
  });
  const pids: number[] = [];
  t.after(() => pids.forEach(killPid));
  m.monitorPid.then((p) => pids.push(p), () => undefined);
  const sock = m.passSockets[0] as net.Socket;
  const reader = new MessageReader(sock);
  sendMessage(sock, MSG_PLAN, encodePlan(plan));
  const pidMsg = await reader.next();
  assert.equal(pidMsg?.type, MSG_PID, pidMsg ? pidMsg.payload.subarray(4).toString() : 'EOF');
  const pid = pidMsg.payload.readUInt32LE(0);
  pids.push(pid);
  // what launch() would add: the pid file, atomically, before GO
  fs.writeFileSync(`${pidFile}.tmp`, String(pid));
  fs.renameSync(`${pidFile}.tmp`, pidFile);
  sendMessage(sock, MSG_GO, Buffer.alloc(0));
  const ready = await reader.next();
  assert.equal(ready?.type, MSG_READY);
  sock.destroy();
  const containerPid = await m.ready;
  assert.equal(containerPid, pid);
  return { monitorPid: await m.monitorPid, containerPid };
}

function setup(t: After) {
  const b = makeBundle('berth-mon-init-');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-mon-init-'));
  t.after(() => {
    b.remove();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { b, dir, f: (n: string) => path.join(dir, n) };
}

test('berth-init (not foreground) under the monitor: pipes, logs, exit code', { skip }, async (t) => {
  const { b, dir, f } = setup(t);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'echo "pid $$"; echo err >&2; exit 6']);
  plan.foreground = false;
  const { containerPid } = await launchUnderMonitor(t, plan, dir, {});
  assert.ok(await waitFor(() => fs.existsSync(f('exit')), 10_000));
  const rec = await readExitFile(f('exit'));
  assert.equal(rec?.exitCode, 6);
  assert.equal(rec?.pid, containerPid);
  const log = parseCriLog(fs.readFileSync(f('log')));
  assert.deepEqual(log.map((l) => [l.stream, l.message.toString()]).sort(), [['stderr', 'err'], ['stdout', 'pid 1']]);
});

test('berth-init with a terminal: the container sends its pty master to the monitor; resize, stdin', { skip }, async (t) => {
  const { b, dir, f } = setup(t);
  const plan = basePlan(b.rootfs, ['sh', '-c', 'read l; echo "got $l"; stty size; exit 4']);
  plan.foreground = false;
  plan.process.terminal = true;
  plan.process.consoleSocket = f('console.sock');
  const { containerPid } = await launchUnderMonitor(t, plan, dir, {
    terminal: true,
    consoleSocket: f('console.sock'),
    stdin: true,
  });
  assert.ok(containerPid > 0);
  assert.ok(await waitFor(() => !fs.existsSync(f('console.sock'))), 'the master arrived');
  let out = '';
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (out += d.toString()));
  const a = await attach(f('attach'), { stdout: sink });
  a.resize(21, 99);
  a.write('yo\r');
  const rec = await a.done;
  assert.equal(rec?.exitCode, 4);
  assert.match(out, /got yo\r\n/);
  assert.match(out, /21 99\r\n/);
});
