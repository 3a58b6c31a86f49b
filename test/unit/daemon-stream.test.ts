/**
 * The streaming runtime's parts that need no root: the exec'd process (env, user, cwd, terminal),
 * stream_address parsing, the CRI Exec/Attach/PortForward validation over fake managers,
 * port-forward of a host-network pod (half-close, refused), and berth-netns-connect in the caller's
 * namespace ("-": relay with half-close, exit 2 on a refused connection, 1 on a bad namespace file).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Duplex } from 'node:stream';
import type { ExecRequest, PortForwardRequest, StreamingServer, AttachRequest } from '../../src/cri/streaming/types';
import { defaultNetnsConnectPath, execSpecProcess, forwardPort, type RunExecOptions } from '../../src/daemon/container-stream';
import { criStreamingService } from '../../src/daemon/containers-cri';
import type { ContainerManager } from '../../src/daemon/containers';
import { parseStreamAddress } from '../../src/daemon/daemon';
import type { PodManager } from '../../src/daemon/pods';
import { BerthError } from '../../src/runtime/errors';
import type { SpecProcess } from '../../src/runtime/spec/types';

const base: SpecProcess = { args: ['sleep', '1000'], cwd: '/etc', user: { uid: 0, gid: 0, additionalGids: [10] }, env: ['PATH=/bin', 'GREETING=hi'], terminal: false };
const opts = (o: Partial<RunExecOptions>): RunExecOptions => ({ cmd: ['sh'], tty: false, stdin: false, stdout: true, stderr: true, ...o });

test('execSpecProcess: command, env overrides, numeric user, cwd, terminal size', async () => {
  const p = await execSpecProcess(base, opts({ cmd: ['ls', '-l'], env: ['GREETING=hello', 'NEW=1'], user: '1000:1001', cwd: '/tmp', tty: true, size: { width: 80, height: 24 } }), '/nonexistent');
  assert.deepEqual(p.args, ['ls', '-l']);
  assert.deepEqual(p.env, ['PATH=/bin', 'GREETING=hello', 'NEW=1']);
  assert.deepEqual(p.user, { uid: 1000, gid: 1001, additionalGids: [] });
  assert.equal(p.cwd, '/tmp');
  assert.equal(p.terminal, true);
  assert.deepEqual(p.consoleSize, { width: 80, height: 24 });
  assert.deepEqual(base.env, ['PATH=/bin', 'GREETING=hi'], 'the base is not changed');
  const q = await execSpecProcess(base, opts({}), '/nonexistent');
  assert.equal(q.terminal, false);
  assert.equal(q.consoleSize, undefined);
  assert.equal(q.cwd, '/etc', "the container's cwd is the default");
  assert.deepEqual(q.user, base.user);
});

test('execSpecProcess: a user name from the container rootfs; bad input', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'h2rootfs-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'etc'));
  fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nweb:x:33:44:web:/var/www:/bin/sh\n');
  fs.writeFileSync(path.join(root, 'etc', 'group'), 'root:x:0:\nwww:x:44:\nextra:x:50:web\n');
  const p = await execSpecProcess(base, opts({ user: 'web' }), root);
  assert.deepEqual(p.user, { uid: 33, gid: 44, additionalGids: [50] });
  const u = await execSpecProcess(base, opts({ user: '33' }), root);
  assert.equal(u.user.uid, 33);
  assert.equal(u.user.gid, 44, 'the primary group of uid 33 from /etc/passwd');
  await assert.rejects(execSpecProcess(base, opts({ user: 'nobody-here' }), root), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND');
  await assert.rejects(execSpecProcess(base, opts({ cmd: [] }), root), /cmd/);
  await assert.rejects(execSpecProcess(base, opts({ cwd: 'relative' }), root), /absolute/);
  await assert.rejects(execSpecProcess(base, opts({ env: ['=x'] }), root), /env/);
});

test('parseStreamAddress', () => {
  assert.deepEqual(parseStreamAddress('127.0.0.1:0'), { address: '127.0.0.1', port: 0 });
  assert.deepEqual(parseStreamAddress('[::1]:10010'), { address: '::1', port: 10010 });
  assert.deepEqual(parseStreamAddress('localhost:8080'), { address: 'localhost', port: 8080 });
});

interface FakeContainer {
  state: string;
}

function fakes(containers: Record<string, FakeContainer>, pods: Record<string, string>): { mgr: ContainerManager; podMgr: PodManager; server: StreamingServer; urls: string[] } {
  const urls: string[] = [];
  const mgr = {
    status: async (id: string) => {
      const c = containers[id];
      if (!c) throw new BerthError('NOT_FOUND', `container ${id} not found`);
      return { meta: { id }, state: c.state };
    },
  } as unknown as ContainerManager;
  const podMgr = {
    require: (id: string) => {
      if (pods[id] === undefined) throw new BerthError('NOT_FOUND', `pod ${id} not found`);
      return { id, state: pods[id] };
    },
    stateOf: (rec: { state: string }) => rec.state,
  } as unknown as PodManager;
  const server: StreamingServer = {
    baseUrl: 'http://127.0.0.1:1',
    execUrl: (r: ExecRequest) => {
      urls.push(`exec ${r.containerId} ${r.cmd.join(' ')} ${r.tty} ${r.stdin}`);
      return 'http://127.0.0.1:1/exec/t';
    },
    attachUrl: (r: AttachRequest) => {
      urls.push(`attach ${r.containerId}`);
      return 'http://127.0.0.1:1/attach/t';
    },
    portForwardUrl: (r: PortForwardRequest) => {
      urls.push(`pf ${r.podSandboxId} ${r.ports.join(',')}`);
      return 'http://127.0.0.1:1/portforward/t';
    },
    close: async () => undefined,
  };
  return { mgr, podMgr, server, urls };
}

async function rejectsCode(p: Promise<unknown>, code: string, re?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof BerthError, String(e));
    assert.equal(e.code, code, e.message);
    if (re) assert.match(e.message, re);
    return true;
  });
}

test('criStreamingService: validation and URLs', async () => {
  const { mgr, podMgr, server, urls } = fakes({ run: { state: 'CONTAINER_RUNNING' }, done: { state: 'CONTAINER_EXITED' } }, { pod: 'SANDBOX_READY', gone: 'SANDBOX_NOTREADY' });
  const s = criStreamingService(mgr, podMgr, () => server);
  const ex = (r: Partial<{ container_id: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }>) =>
    s.Exec({ container_id: 'run', cmd: ['sh'], tty: false, stdin: false, stdout: true, stderr: false, ...r }, {} as never);
  assert.deepEqual(await ex({ tty: true, stdin: true }), { url: 'http://127.0.0.1:1/exec/t' });
  await rejectsCode(ex({ container_id: '' }), 'INVALID_ARGUMENT', /container_id/);
  await rejectsCode(ex({ tty: true, stderr: true }), 'INVALID_ARGUMENT', /tty and stderr/);
  await rejectsCode(ex({ stdout: false }), 'INVALID_ARGUMENT', /stdin, stdout, or stderr/);
  await rejectsCode(ex({ cmd: [] }), 'INVALID_ARGUMENT', /cmd/);
  await rejectsCode(ex({ container_id: 'nope' }), 'NOT_FOUND');
  await rejectsCode(ex({ container_id: 'done' }), 'FAILED_PRECONDITION', /not running/);
  const at = (r: Partial<{ container_id: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }>) =>
    s.Attach({ container_id: 'run', tty: false, stdin: true, stdout: true, stderr: true, ...r }, {} as never);
  assert.deepEqual(await at({}), { url: 'http://127.0.0.1:1/attach/t' });
  await rejectsCode(at({ tty: true }), 'INVALID_ARGUMENT');
  await rejectsCode(at({ container_id: 'done' }), 'FAILED_PRECONDITION');
  const pf = (r: Partial<{ pod_sandbox_id: string; port: number[] }>) => s.PortForward({ pod_sandbox_id: 'pod', port: [80], ...r }, {} as never);
  assert.deepEqual(await pf({ port: [80, 443] }), { url: 'http://127.0.0.1:1/portforward/t' });
  await rejectsCode(pf({ pod_sandbox_id: '' }), 'INVALID_ARGUMENT');
  await rejectsCode(pf({ pod_sandbox_id: 'missing' }), 'NOT_FOUND');
  await rejectsCode(pf({ pod_sandbox_id: 'gone' }), 'FAILED_PRECONDITION', /not ready/);
  await rejectsCode(pf({ port: [70000] }), 'INVALID_ARGUMENT');
  assert.deepEqual(urls, ['exec run sh true true', 'attach run', 'pf pod 80,443']);
});

/** A TCP server on 127.0.0.1 that answers "echo:<everything received>" after the client half-closes. */
async function echoServer(t: { after(fn: () => void | Promise<void>): void }): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (c) => {
    const chunks: Buffer[] = [];
    c.on('data', (b: Buffer) => chunks.push(b));
    c.on('end', () => c.end(Buffer.concat([Buffer.from('echo:'), ...chunks])));
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  t.after(() => new Promise<void>((r) => srv.close(() => r())));
  return (srv.address() as net.AddressInfo).port;
}

/** A free port with nothing listening. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A Duplex that sends `payload` then ends, and collects what it is written. */
function clientStream(payload: string): { stream: Duplex; got: () => string; finished: Promise<void> } {
  let got = '';
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let sent = false;
  const stream = new Duplex({
    read() {
      if (sent) return;
      sent = true;
      this.push(payload);
      this.push(null);
    },
    write(chunk: Buffer, _e, cb) {
      got += chunk.toString();
      cb();
    },
    final(cb) {
      done();
      cb();
    },
  });
  return { stream, got: () => got, finished };
}

test('forwardPort: a host-network pod, half-close, refused, unknown pod', async (t) => {
  const port = await echoServer(t);
  const pods = {
    require: (id: string) => {
      if (id !== 'hostpod') throw new BerthError('NOT_FOUND', `pod ${id} not found`);
      return { id, namespaceOptions: { network: 'NODE' }, netns: null };
    },
    stateOf: () => 'SANDBOX_READY',
  } as unknown as PodManager;
  const c = clientStream('hello');
  await forwardPort(pods, 'hostpod', port, c.stream);
  await c.finished;
  assert.equal(c.got(), 'echo:hello');
  const refused = await closedPort();
  await rejectsCode(forwardPort(pods, 'hostpod', refused, clientStream('x').stream), 'FAILED_PRECONDITION', /ECONNREFUSED|refused/);
  await rejectsCode(forwardPort(pods, 'nope', port, clientStream('x').stream), 'NOT_FOUND');
  await rejectsCode(forwardPort(pods, 'hostpod', 0, clientStream('x').stream), 'INVALID_ARGUMENT');
});

const helper = defaultNetnsConnectPath();

test('berth-netns-connect: relay with half-close, exit status 2 when refused, 1 for a bad namespace', { skip: !fs.existsSync(helper) && 'berth-netns-connect is not built' }, async (t) => {
  const run = (args: string[], input: string): Promise<{ code: number | null; out: string; err: string }> =>
    new Promise((resolve) => {
      const child = spawn(helper, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.on('close', (code) => resolve({ code, out, err }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(input);
    });
  const port = await echoServer(t);
  const big = 'x'.repeat(300_000);
  let r = await run(['-', String(port)], big);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, `echo:${big}`, 'all bytes both ways, the answer after our half-close');
  r = await run(['-', String(await closedPort())], 'x');
  assert.equal(r.code, 2);
  assert.match(r.err, /failed to connect to localhost:\d+ .*Connection refused/);
  r = await run(['/nonexistent/netns', String(port)], '');
  assert.equal(r.code, 1);
  assert.match(r.err, /open network namespace/);
  r = await run(['-', '99999'], '');
  assert.equal(r.code, 1);
});
