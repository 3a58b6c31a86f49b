/**
 * berth-monitor with plain shell commands standing in for a runtime's create: CMD starts the
 * "container" in the background, writes its pid file and exits, as `runc create` does.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { isRoot } from '../helpers/bundle';
import { waitFor } from '../helpers/oci';
import { attach, queryStatus, reopenLog } from '../../src/monitor/attach';
import { parseCriLog, parseCriLogLine } from '../../src/monitor/cri-log';
import { readExitFile, type ExitRecord } from '../../src/monitor/exit-file';
import { MonitorError, defaultMonitorPath, spawnMonitor, startMonitor, type SpawnMonitorOptions } from '../../src/monitor/start';

const skip = (!isRoot() && 'needs root') || (!fs.existsSync(defaultMonitorPath()) && 'berth-monitor is not built');

interface After {
  after(fn: () => void | Promise<void>): void;
}

/** Alive and not a zombie (an exited monitor waits for pid 1 to reap it). */
function alive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/s.test(stat);
  } catch {
    return false;
  }
}

function killPid(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}

/** A temp dir with the monitor's files; every pid registered is killed and the dir removed after. */
function env(t: After) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-mon-'));
  const pids: number[] = [];
  t.after(async () => {
    for (const p of pids) killPid(p);
    await waitFor(() => pids.every((p) => !alive(p)), 3000);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const f = (name: string): string => path.join(dir, name);
  /**
   * CMD: runs `script` in the background as the container, writes its pid, exits 0. Stdin goes
   * through fd 3 (dash gives background jobs /dev/null); the container waits for the pid file and CMD
   * ends with exec, so CMD cannot reap the container before it exits (as runc create never does).
   */
  const background = (script: string): string[] => [
    '/bin/sh',
    '-c',
    `exec 3<&0; /bin/sh -c 'while [ ! -s ${f('pid')} ]; do sleep 0.01; done; ${script}' <&3 3<&- & echo $! > ${f('pid')}; exec /bin/true`,
  ];
  const opts = (script: string, extra: Partial<SpawnMonitorOptions> = {}): SpawnMonitorOptions => ({
    command: background(script),
    pidFile: f('pid'),
    exitFile: f('exit'),
    logPath: f('log'),
    attachSocket: f('attach'),
    ctlSocket: f('ctl'),
    ...extra,
  });
  const start = async (o: SpawnMonitorOptions) => {
    const r = await startMonitor({ ...o, timeoutMs: 10_000 });
    pids.push(r.monitorPid, r.containerPid);
    return r;
  };
  const exited = async (timeoutMs = 10_000): Promise<ExitRecord> => {
    assert.ok(await waitFor(() => fs.existsSync(f('exit')), timeoutMs), 'exit file written');
    const rec = await readExitFile(f('exit'));
    assert.ok(rec);
    return rec;
  };
  return { dir, f, pids, opts, start, exited };
}

/** Rss, Pss and Private_* of a process, in kB (smaps_rollup). */
function memKb(pid: number): { rss: number; pss: number; private: number } {
  const text = fs.readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const get = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? -1);
  return { rss: get('Rss'), pss: get('Pss'), private: get('Private_Clean') + get('Private_Dirty') };
}

test('logs in CRI format, both streams in order, exit code 7, files and sockets cleaned up', { skip }, async (t) => {
  const e = env(t);
  const script = 'echo out; sleep 0.1; echo err >&2; sleep 0.1; printf "a b  c\\n\\nno newline"; exit 7';
  const { monitorPid, containerPid } = await e.start(e.opts(script));
  assert.notEqual(monitorPid, containerPid);
  const mem = memKb(monitorPid);
  t.diagnostic(`berth-monitor memory: Rss ${mem.rss} kB, Pss ${mem.pss} kB, private ${mem.private} kB`);
  assert.ok(mem.rss > 0 && mem.rss <= 1536, `monitor RSS ${mem.rss} kB (goal <= 1.5 MB)`);
  assert.ok(mem.private > 0 && mem.private <= 512, `monitor private memory ${mem.private} kB`);
  const rec = await e.exited();
  assert.equal(rec.exitCode, 7);
  assert.equal(rec.signal, null);
  assert.equal(rec.pid, containerPid);
  assert.equal(rec.createFailed, false);
  assert.ok(await waitFor(() => !alive(monitorPid)), 'the monitor exits after the container');
  const raw = fs.readFileSync(e.f('log'));
  const lines = raw.toString().split('\n');
  assert.equal(lines.pop(), '', 'the log ends with a newline');
  for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [PF] /);
  const recs = lines.map((l) => parseCriLogLine(l));
  assert.deepEqual(
    recs.map((r) => [r?.stream, r?.partial, r?.message.toString()]),
    [
      ['stdout', false, 'out'],
      ['stderr', false, 'err'],
      ['stdout', false, 'a b  c'],
      ['stdout', false, ''],
      ['stdout', true, 'no newline'],
    ],
  );
  const times = recs.map((r) => r!.timeNs);
  assert.deepEqual([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)), times, 'timestamps ascend');
  assert.equal(fs.existsSync(e.f('attach')), false, 'attach socket removed');
  assert.equal(fs.existsSync(e.f('ctl')), false, 'ctl socket removed');
  assert.deepEqual(fs.readdirSync(e.dir).sort(), ['exit', 'log', 'pid'], 'no temp files left');
});

test('a long line becomes 16 KiB P records and a final F; plain format writes raw bytes', { skip }, async (t) => {
  const e = env(t);
  // 40000 x's then newline: 16384 P, 16384 P, 7232 F
  await e.start(e.opts('head -c 40000 /dev/zero | tr "\\0" x; echo; echo tail'));
  await e.exited();
  const recs = fs.readFileSync(e.f('log'), 'utf8').trimEnd().split('\n').map((l) => parseCriLogLine(l)!);
  assert.deepEqual(recs.map((r) => [r.partial, r.message.length]), [[true, 16384], [true, 16384], [false, 7232], [false, 4]]);
  const entries = parseCriLog(fs.readFileSync(e.f('log')));
  assert.equal(entries[0]!.message.toString(), 'x'.repeat(40000));

  const e2 = env(t);
  await e2.start(e2.opts('echo one; printf two; echo three >&2', { logFormat: 'plain' }));
  await e2.exited();
  const plain = fs.readFileSync(e2.f('log'), 'utf8');
  assert.ok(['one\ntwothree\n', 'one\nthree\ntwo'].includes(plain) || plain.length === 'one\ntwothree\n'.length, plain);
  assert.ok(plain.includes('one\n') && plain.includes('two') && plain.includes('three\n'));
});

test('attach: live output to two clients, stdin echoed, close-stdin ends the container, EXIT frame', { skip }, async (t) => {
  const e = env(t);
  const script = 'while read l; do echo "got $l"; echo "warn $l" >&2; done; echo bye; exit 3';
  await e.start(e.opts(script, { stdin: true }));
  const out1 = new PassThrough();
  const err1 = new PassThrough();
  const out2 = new PassThrough();
  let o1 = '';
  let e1 = '';
  let o2 = '';
  out1.on('data', (d: Buffer) => (o1 += d.toString()));
  err1.on('data', (d: Buffer) => (e1 += d.toString()));
  out2.on('data', (d: Buffer) => (o2 += d.toString()));
  const a1 = await attach(e.f('attach'), { stdout: out1, stderr: err1 });
  const a2 = await attach(e.f('attach'), { stdout: out2 });
  const st = await queryStatus(e.f('ctl'));
  assert.equal(st.running, true);
  assert.equal(st.attachClients, 2);
  a1.write('hello\n');
  assert.ok(await waitFor(() => o1.includes('got hello\n') && o2.includes('got hello\n') && e1.includes('warn hello\n')));
  a2.write('second\n');
  assert.ok(await waitFor(() => o1.includes('got second\n')), 'output is live before the container ends');
  a1.closeStdin();
  const [d1, d2] = await Promise.all([a1.done, a2.done]);
  assert.equal(d1?.exitCode, 3);
  assert.equal(d2?.exitCode, 3);
  assert.ok(o1.endsWith('bye\n'));
  const rec = await e.exited();
  assert.equal(rec.exitCode, 3);
  const log = parseCriLog(fs.readFileSync(e.f('log')));
  assert.deepEqual(
    log.filter((l) => l.stream === 'stdout').map((l) => l.message.toString()),
    ['got hello', 'got second', 'bye'],
  );
});

test('stdin from a stream, --stdin-once: the first stdin client detaching closes stdin', { skip }, async (t) => {
  const e = env(t);
  await e.start(e.opts('cat; echo eof; exit 0', { stdin: true, stdinOnce: true }));
  const watcher = await attach(e.f('attach'), {});
  let out = '';
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (out += d.toString()));
  const input = new PassThrough();
  const a = await attach(e.f('attach'), { stdin: input, stdout: sink, keepStdinOpen: true });
  input.write('abc\n');
  assert.ok(await waitFor(() => out.includes('abc\n')));
  watcher.detach(); // a client without stdin leaving does not close it
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await queryStatus(e.f('ctl'))).running, true);
  a.detach();
  const rec = await e.exited();
  assert.equal(rec.exitCode, 0);
  assert.ok(fs.readFileSync(e.f('log'), 'utf8').includes(' stdout F eof\n'));
});

test('reopen log: rename, reopen over ctl, new lines go to the new file; SIGUSR1 does the same', { skip }, async (t) => {
  const e = env(t);
  const { monitorPid } = await e.start(e.opts('read a; echo one; read b; echo two; read c; echo three', { stdin: true }));
  const a = await attach(e.f('attach'), {});
  const logHas = (file: string, s: string) => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(s);
  a.write('\n');
  assert.ok(await waitFor(() => logHas(e.f('log'), ' F one\n')));
  fs.renameSync(e.f('log'), e.f('log.1'));
  await reopenLog(e.f('ctl'));
  a.write('\n');
  assert.ok(await waitFor(() => logHas(e.f('log'), ' F two\n')));
  fs.renameSync(e.f('log'), e.f('log.2'));
  process.kill(monitorPid, 'SIGUSR1');
  assert.ok(await waitFor(() => fs.existsSync(e.f('log'))), 'SIGUSR1 reopened the log');
  a.write('\n');
  await e.exited();
  assert.match(fs.readFileSync(e.f('log.1'), 'utf8'), /^\S+ stdout F one\n$/);
  assert.match(fs.readFileSync(e.f('log.2'), 'utf8'), /^\S+ stdout F two\n$/);
  assert.match(fs.readFileSync(e.f('log'), 'utf8'), /^\S+ stdout F three\n$/);
});

test('the monitor survives its parent being killed -9; a new client reconnects; exit file afterwards', { skip }, async (t) => {
  const e = env(t);
  const o = e.opts('read x; echo done; exit 42', { stdin: true });
  // the parent: a node process that starts the monitor, prints the pids and waits
  const script = `
    const { startMonitor } = require(${JSON.stringify(path.resolve(__dirname, '../../src/monitor/start.js'))});
    startMonitor(${JSON.stringify(o)}).then((r) => { console.log(JSON.stringify(r)); setInterval(() => {}, 1000); },
      (err) => { console.error(String(err)); process.exit(1); });`;
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => killPid(parent.pid!));
  let text = '';
  parent.stdout.on('data', (d: Buffer) => (text += d.toString()));
  assert.ok(await waitFor(() => text.includes('\n'), 10_000), 'parent started the monitor');
  const { monitorPid, containerPid } = JSON.parse(text) as { monitorPid: number; containerPid: number };
  e.pids.push(monitorPid, containerPid);
  const parentExit = new Promise((r) => parent.once('exit', r));
  process.kill(parent.pid!, 'SIGKILL');
  await parentExit;
  await new Promise((r) => setTimeout(r, 100));
  assert.ok(alive(monitorPid) && alive(containerPid), 'monitor and container outlive the parent');
  const st = await queryStatus(e.f('ctl'));
  assert.equal(st.monitorPid, monitorPid);
  assert.equal(st.containerPid, containerPid);
  let out = '';
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (out += d.toString()));
  const a = await attach(e.f('attach'), { stdout: sink });
  a.write('go\n');
  const rec = await a.done;
  assert.equal(rec?.exitCode, 42);
  assert.equal(out, 'done\n');
  assert.equal((await e.exited()).exitCode, 42);
});

test('signals: a killed container records 128+9 and SIGKILL; SIGTERM to the monitor reaches the container', { skip }, async (t) => {
  const e = env(t);
  const { containerPid } = await e.start(e.opts('exec sleep 30'));
  process.kill(containerPid, 'SIGKILL');
  const rec = await e.exited();
  assert.equal(rec.exitCode, 137);
  assert.equal(rec.signal, 'SIGKILL');

  const e2 = env(t);
  const r2 = await e2.start(e2.opts('trap "exit 9" TERM; echo trapped; while :; do sleep 0.05; done'));
  assert.ok(await waitFor(() => fs.readFileSync(e2.f('log'), 'utf8').includes('trapped')));
  process.kill(r2.monitorPid, 'SIGTERM');
  assert.equal((await e2.exited()).exitCode, 9);
});

test('create failures: CMD exits 1, CMD not found, no pid file; the container exiting before the pid is read', { skip }, async (t) => {
  const e = env(t);
  await assert.rejects(
    startMonitor({ ...e.opts(''), command: ['/bin/sh', '-c', 'echo nope >&2; exit 1'] }),
    (err: unknown) => err instanceof MonitorError && err.status === 1 && /sh exited with status 1: nope$/.test(err.message),
  );
  const rec = await e.exited();
  assert.equal(rec.createFailed, true);
  assert.equal(rec.exitCode, 1);
  assert.ok(fs.readFileSync(e.f('log'), 'utf8').includes(' stderr F nope\n'), 'CMD output is logged');

  const e2 = env(t);
  await assert.rejects(startMonitor({ ...e2.opts(''), command: ['/nonexistent/runtime'] }), (err: unknown) => err instanceof MonitorError && err.status === 127);

  const e3 = env(t);
  await assert.rejects(
    startMonitor({ ...e3.opts(''), command: ['/bin/true'], pidFileTimeoutMs: 200 }),
    (err: unknown) => err instanceof MonitorError && /did not appear/.test(err.message),
  );

  // the pid file is written late, after the "container" already exited: its status is not lost.
  // A subshell starts the container and execs at once (so no shell can reap it): the container is
  // reparented to the monitor and exits 0.2 s later; the pid file appears at 0.6 s.
  const e4 = env(t);
  const tmp = e4.f('pid.tmp');
  const late = [
    '/bin/sh',
    '-c',
    `(/bin/sh -c 'sleep 0.2; exit 5' & echo $! > ${tmp}; exec /bin/true); (sleep 0.6; mv ${tmp} ${e4.f('pid')}) & exec /bin/true`,
  ];
  const r4 = await startMonitor({ ...e4.opts(''), command: late, timeoutMs: 5000 });
  e4.pids.push(r4.monitorPid);
  assert.equal((await e4.exited()).exitCode, 5);

  await assert.rejects(startMonitor({ ...e4.opts(''), command: ['x'], logFormat: 'json' as 'cri' }), /unknown log format/);
});

test('--pass-fd: CMD gets a passed socket at the same number, the monitor keeps no copy', { skip }, async (t) => {
  const e = env(t);
  const m = spawnMonitor({
    command: ['/bin/sh', '-c', 'echo "fd3 ok" >&3; read reply <&3; echo "reply $reply"; sleep 0.2'],
    cmdIsContainer: true,
    exitFile: e.f('exit'),
    logPath: e.f('log'),
    passFds: ['pipe'],
  });
  assert.deepEqual(m.passFdNumbers, [3]);
  const sock = m.passSockets[0]!;
  let got = '';
  const ended = new Promise<void>((r) => sock.on('end', () => r()));
  sock.on('data', (d: Buffer) => {
    got += d.toString();
    if (got.includes('\n') && !got.includes('sent')) {
      sock.write('pong\n');
      got += 'sent';
    }
  });
  const pid = await m.ready;
  e.pids.push(await m.monitorPid, pid);
  await ended; // EOF only once CMD is gone: the monitor closed its copy
  assert.ok(got.startsWith('fd3 ok\n'));
  assert.equal((await e.exited()).exitCode, 0);
  assert.ok(fs.readFileSync(e.f('log'), 'utf8').includes(' stdout F reply pong\n'));
  sock.destroy();
});

test('--log-size-max truncates the log and keeps writing', { skip }, async (t) => {
  const e = env(t);
  await e.start(e.opts('i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done', { logSizeMax: 2000 }));
  await e.exited();
  const log = fs.readFileSync(e.f('log'), 'utf8');
  assert.ok(log.length <= 2000, `log is ${log.length} bytes`);
  assert.ok(log.endsWith(' stdout F line 199\n'));
});

test('flow control: 3 MiB of stdin to a slow reader all arrive, close-stdin waits for the queue', { skip }, async (t) => {
  const e = env(t);
  await e.start(e.opts('sleep 0.5; wc -c', { stdin: true }));
  const a = await attach(e.f('attach'), {});
  a.write(Buffer.alloc(3 * 1024 * 1024, 0x61));
  a.closeStdin();
  const rec = await a.done;
  assert.equal(rec?.exitCode, 0);
  const entries = parseCriLog(fs.readFileSync(e.f('log')));
  assert.deepEqual(entries.map((x) => x.message.toString().trim()), [String(3 * 1024 * 1024)]);
});

test('a client that never reads is dropped; the log and other clients get everything', { skip }, async (t) => {
  const e = env(t);
  await e.start(e.opts('read go; yes $(head -c 999 /dev/zero | tr "\\\\0" y) | head -n 4000; echo end', { stdin: true }));
  const net = await import('node:net');
  const stuck = net.createConnection(e.f('attach'));
  await new Promise((r) => stuck.once('connect', r));
  stuck.pause(); // never reads
  const stuckClosed = new Promise((r) => stuck.once('close', r));
  stuck.on('error', () => undefined);
  let n = 0;
  const sink = new PassThrough();
  sink.on('data', (d: Buffer) => (n += d.length));
  const a = await attach(e.f('attach'), { stdout: sink });
  a.write('\n');
  const rec = await a.done;
  assert.equal(rec?.exitCode, 0);
  assert.equal(n, 4000 * 1000 + 4, 'the reading client got every byte');
  const entries = parseCriLog(fs.readFileSync(e.f('log')));
  assert.equal(entries.length, 4001);
  assert.equal(entries[4000]!.message.toString(), 'end');
  let stuckGot = 0;
  stuck.on('data', (d: Buffer) => (stuckGot += d.length));
  stuck.resume();
  await stuckClosed;
  assert.ok(stuckGot < 4000 * 1000, `the stuck client was dropped (got ${stuckGot} bytes)`);
});

test('garbage on the sockets drops only that client; the monitor keeps serving', { skip }, async (t) => {
  const e = env(t);
  // no --stdin: random STDIN / CLOSE_STDIN frames have nothing to reach
  const { monitorPid, containerPid } = await e.start(e.opts('echo started; exec sleep 30'));
  const net = await import('node:net');
  const crypto = await import('node:crypto');
  for (let i = 0; i < 40; i++) {
    const s = net.createConnection(i % 2 ? e.f('ctl') : e.f('attach'));
    s.on('error', () => undefined);
    s.on('data', () => undefined);
    await new Promise((r) => s.once('connect', r));
    // random frames of small types with small lengths, then random bytes
    const parts: Buffer[] = [];
    for (let k = 0; k < 50; k++) {
      const len = crypto.randomInt(0, 20);
      const h = Buffer.from([crypto.randomInt(0, 12), len, 0, 0, 0]);
      parts.push(h, crypto.randomBytes(len));
    }
    parts.push(crypto.randomBytes(2048));
    s.write(Buffer.concat(parts));
    s.end();
    await new Promise((r) => s.once('close', r));
  }
  assert.ok(alive(monitorPid));
  const st = await queryStatus(e.f('ctl'));
  assert.equal(st.monitorPid, monitorPid);
  assert.equal(st.running, true);
  process.kill(containerPid, 'SIGKILL');
  assert.equal((await e.exited()).exitCode, 137);
  assert.ok(fs.readFileSync(e.f('log'), 'utf8').includes(' stdout F started\n'));
});

test('startMonitor timing out terminates CMD through the monitor', { skip }, async (t) => {
  const e = env(t);
  await assert.rejects(
    startMonitor({ ...e.opts(''), command: ['/bin/sh', '-c', 'exec sleep 30'], timeoutMs: 300 }),
    (err: unknown) => err instanceof Error && /not ready after 300 ms/.test(err.message),
  );
  const rec = await e.exited();
  assert.equal(rec.createFailed, true);
  assert.equal(rec.signal, 'SIGTERM');
});
