/** Foreground `run` forwarding signals, and `events` streaming stats and OOM events. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import { isRoot } from '../helpers/bundle';
import { BERTH_OCI, leftoverCgroups, ociEnv, waitFor } from '../helpers/oci';

const skip = !isRoot() && 'needs root';

function collect(child: ReturnType<typeof spawn>): { out: () => string; err: () => string; done: Promise<number> } {
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const done = new Promise<number>((resolve) => child.on('close', (code, sig) => resolve(code ?? 128 + (sig ? 1 : 0))));
  return { out: () => out, err: () => err, done };
}

test('foreground run forwards SIGTERM to the container and exits with its status', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'trap "echo got-term; exit 42" TERM; echo ready; while :; do sleep 0.1; done']);
  const child = spawn(BERTH_OCI, ['--root', env.root, 'run', '--bundle', env.bundle.dir, env.id], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const io = collect(child);
  assert.ok(await waitFor(() => io.out().includes('ready'), 15_000), `container started: ${io.err()}`);
  child.kill('SIGTERM');
  const code = await io.done;
  assert.equal(code, 42, io.err());
  assert.match(io.out(), /got-term/);
  assert.equal(fs.existsSync(`${env.root}/${env.id}`), false, 'deleted after exit');
  assert.deepEqual(leftoverCgroups(env.id), []);
});

test('events streams stats every interval and reports an OOM kill', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sh', '-c', 'sleep 2; x=0123456789; while :; do x="$x$x"; done'], (spec) => {
    spec.linux!.resources = { ...(spec.linux!.resources ?? {}), memory: { limit: 16 * 1024 * 1024, swap: 16 * 1024 * 1024 } };
  });
  assert.equal(env.oci(['run', '-d', '--bundle', env.bundle.dir, env.id]).code, 0);
  const child = spawn(BERTH_OCI, ['--root', env.root, 'events', '--interval', '500ms', env.id], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const io = collect(child);
  const timer = setTimeout(() => child.kill('SIGTERM'), 30_000);
  const code = await io.done;
  clearTimeout(timer);
  assert.equal(code, 0, io.err());
  const events = io
    .out()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; id: string; data?: { memory?: { usage?: { limit?: number } } } });
  const stats = events.filter((e) => e.type === 'stats');
  assert.ok(stats.length >= 2, `several stats events before the OOM: ${events.length}`);
  assert.equal(stats[0]!.id, env.id);
  assert.equal(stats[0]!.data?.memory?.usage?.limit, 16 * 1024 * 1024);
  assert.ok(events.some((e) => e.type === 'oom' && e.id === env.id), io.out());
  assert.equal(env.state()?.status, 'stopped', 'events ends when the container stops');
});

test('a create killed with SIGKILL mid-way leaves a stopped container that delete cleans up', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60'], (spec) => {
    // The create stalls in its prestart hook, after the container process exists.
    spec.hooks = { prestart: [{ path: '/bin/sleep', args: ['sleep', '3'] }] };
  });
  const child = spawn(BERTH_OCI, ['--root', env.root, 'create', '--bundle', env.bundle.dir, env.id], { stdio: 'ignore' });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  assert.ok(await waitFor(() => (env.state()?.pid ?? 0) > 0, 15_000), 'the process exists while create waits on the hook');
  const s = env.state()!;
  assert.equal(s.status, 'creating');
  const exited = new Promise((r) => child.on('exit', r));
  child.kill('SIGKILL');
  // 'exit', not 'close': the container process still holds the stderr pipe.
  await exited;
  assert.equal(env.state()?.status, 'stopped', 'a create whose creator died is not creating any more');
  const d = env.oci(['delete', env.id]);
  assert.equal(d.code, 0, d.stderr);
  assert.ok(await waitFor(() => !fs.existsSync(`/proc/${s.pid}`) || fs.readFileSync(`/proc/${s.pid}/stat`, 'utf8').includes(') Z')), 'the container process was killed');
  assert.equal(env.state(), null);
  assert.deepEqual(leftoverCgroups(env.id), []);
});

test('concurrent creates of one id: exactly one wins, the loser leaves the winner intact', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60']);
  const spawnCreate = () => {
    const c = spawn(BERTH_OCI, ['--root', env.root, 'create', '--bundle', env.bundle.dir, env.id], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return new Promise<{ code: number; err: string }>((resolve) => c.on('exit', (code) => resolve({ code: code ?? -1, err })));
  };
  const results = await Promise.all([spawnCreate(), spawnCreate(), spawnCreate()]);
  const winners = results.filter((r) => r.code === 0);
  assert.equal(winners.length, 1, JSON.stringify(results));
  for (const r of results.filter((x) => x.code !== 0)) assert.match(r.err, /exists/);
  assert.equal(env.state()?.status, 'created');
  assert.equal(env.oci(['start', env.id]).code, 0);
  assert.equal(env.state()?.status, 'running');
});

/** A console-socket receiver (Node cannot receive SCM_RIGHTS, so a few lines of python3 do). */
const RECEIVER = `
import socket, os, sys, array, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
fds = array.array('i')
msg, anc, flags, addr = c.recvmsg(4096, socket.CMSG_LEN(4 * fds.itemsize))
for level, typ, data in anc:
    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
        fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
out = b''
end = time.time() + 10
while time.time() < end and b'TTYOK' not in out:
    try:
        b = os.read(fds[0], 4096)
    except OSError:
        break
    if not b:
        break
    out += b
print("fds=%d name=%s" % (len(fds), msg.decode()), flush=True)
print(out.decode(errors="replace"), flush=True)
`;

test('--console-socket receives the pty master of a terminal container', { skip: skip || (!fs.existsSync('/usr/bin/python3') && 'needs python3') }, async (t) => {
  const env = ociEnv(t);
  const sock = `${env.bundle.dir}/console.sock`;
  env.config(['sh', '-c', 'tty; echo TTYOK; sleep 5'], (spec) => {
    spec.process!.terminal = true;
  });
  const rx = spawn('/usr/bin/python3', ['-c', RECEIVER, sock], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (rx.exitCode === null) rx.kill('SIGKILL');
  });
  const io = collect(rx);
  assert.ok(await waitFor(() => io.out().includes('listening'), 10_000), io.err());
  const r = env.oci(['run', '-d', '--console-socket', sock, '--bundle', env.bundle.dir, env.id]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await io.done, 0, io.err());
  assert.match(io.out(), /fds=1 name=\/dev\/pts\/\d+/);
  assert.match(io.out(), /\/dev\/pts\/\d+\r?\nTTYOK/);
});

test('concurrent starts: exactly one succeeds and none hangs', { skip }, async (t) => {
  const env = ociEnv(t);
  env.config(['sleep', '60']);
  assert.equal(env.oci(['create', '--bundle', env.bundle.dir, env.id]).code, 0);
  const startOnce = () =>
    new Promise<number>((resolve) => {
      const c = spawn(BERTH_OCI, ['--root', env.root, 'start', env.id], { stdio: 'ignore' });
      const timer = setTimeout(() => c.kill('SIGKILL'), 20_000);
      c.on('exit', (code) => {
        clearTimeout(timer);
        resolve(code ?? -1);
      });
    });
  const codes = await Promise.all([startOnce(), startOnce(), startOnce()]);
  assert.equal(codes.filter((c) => c === 0).length, 1, JSON.stringify(codes));
  assert.deepEqual(codes.filter((c) => c !== 0), [1, 1]);
  assert.equal(env.state()?.status, 'running');
});

test('run --config uses the given file instead of the bundle config.json (as crun)', { skip }, (t) => {
  const env = ociEnv(t);
  const spec = env.config(['sh', '-c', 'exit 3']);
  spec.process!.args = ['sh', '-c', 'exit 5'];
  const alt = `${env.bundle.dir}/alt-config.json`;
  fs.writeFileSync(alt, JSON.stringify(spec));
  assert.equal(env.oci(['run', '--bundle', env.bundle.dir, '--config', alt, env.id]).code, 5);
  const missing = env.oci(['run', '--bundle', env.bundle.dir, '--config', `${alt}.nope`, env.id]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /alt-config\.json\.nope: config file does not exist/);
  assert.equal(env.oci(['run', '--bundle', env.bundle.dir, env.id]).code, 3);
});
