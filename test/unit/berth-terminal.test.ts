import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { DetachKeyFilter, attachSession, parseDetachKeys } from '../../src/cli/berth/terminal';
import { F_CLOSE_STDIN, F_EXIT, F_RESIZE, F_STDIN, F_STDOUT, F_USE_STDIN, FrameDecoder, encodeFrame, type Frame } from '../../src/monitor/protocol';

test('parseDetachKeys: docker syntax', () => {
  assert.deepEqual([...parseDetachKeys('ctrl-p,ctrl-q')], [16, 17]);
  assert.deepEqual([...parseDetachKeys('ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_')], [0, 27, 28, 29, 30, 31]);
  assert.deepEqual([...parseDetachKeys('a,ctrl-A')], [97, 1]);
  assert.equal(parseDetachKeys('').length, 0);
  assert.throws(() => parseDetachKeys('ctrl-1'), /invalid detach keys/);
  assert.throws(() => parseDetachKeys('ab'), /invalid detach keys/);
});

test('DetachKeyFilter: holds a partial sequence, releases it on mismatch, detaches on the whole', () => {
  const f = new DetachKeyFilter(parseDetachKeys('ctrl-p,ctrl-q'));
  let r = f.push(Buffer.from('ab\x10'));
  assert.deepEqual(r, { forward: Buffer.from('ab'), detach: false });
  r = f.push(Buffer.from('x'));
  assert.deepEqual(r, { forward: Buffer.from('\x10x'), detach: false });
  r = f.push(Buffer.from('\x10\x10'));
  assert.deepEqual(r, { forward: Buffer.from('\x10'), detach: false });
  r = f.push(Buffer.from('\x11rest'));
  assert.deepEqual(r, { forward: Buffer.alloc(0), detach: true });
  const none = new DetachKeyFilter(Buffer.alloc(0));
  assert.deepEqual(none.push(Buffer.from('\x10\x11')), { forward: Buffer.from('\x10\x11'), detach: false });
});

/** A fake monitor attach socket: records client frames, lets the test send frames. */
async function fakeMonitor(t: { after: (fn: () => void) => void }): Promise<{ sock: string; frames: Frame[]; client: Promise<net.Socket>; waitFor: (pred: (f: Frame[]) => boolean) => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-term-'));
  const sock = path.join(dir, 'attach.sock');
  const frames: Frame[] = [];
  const waiters: (() => void)[] = [];
  let resolveClient!: (s: net.Socket) => void;
  const client = new Promise<net.Socket>((r) => (resolveClient = r));
  const server = net.createServer((c) => {
    const dec = new FrameDecoder();
    c.on('data', (d: Buffer) => {
      frames.push(...dec.push(d));
      for (const w of waiters.splice(0)) w();
    });
    c.on('error', () => undefined);
    resolveClient(c);
  });
  await new Promise<void>((r) => server.listen(sock, r));
  t.after(() => {
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const waitFor = async (pred: (f: Frame[]) => boolean): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!pred(frames)) {
      if (Date.now() > deadline) throw new Error(`timeout; frames ${JSON.stringify(frames.map((f) => [f.type, f.data.toString()]))}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 50);
      });
    }
  };
  return { sock, frames, client, waitFor };
}

const EXIT = JSON.stringify({ pid: 9, exitCode: 3, signal: null, coreDumped: false, exitedAt: '2026-11-23T06:06:10.1Z', createFailed: false });

test('attachSession: tty, raw mode, size, input, exit code; terminal restored', async (t) => {
  const m = await fakeMonitor(t);
  const stdin = new PassThrough() as PassThrough & { isTTY: boolean; setRawMode: (b: boolean) => void };
  const modes: boolean[] = [];
  stdin.isTTY = true;
  stdin.setRawMode = (b: boolean) => void modes.push(b);
  const stdout = new PassThrough() as PassThrough & { isTTY: boolean; getWindowSize: () => [number, number] };
  stdout.isTTY = true;
  let size: [number, number] = [80, 24];
  stdout.getWindowSize = () => size;
  const proc = new EventEmitter();
  const out: Buffer[] = [];
  stdout.on('data', (d: Buffer) => out.push(d));
  const session = attachSession({ attachSocket: m.sock, stdin, stdout, stderr: new PassThrough(), tty: true, openStdin: true, proc, resizeRetriesMs: [] });
  const c = await m.client;
  await m.waitFor((f) => f.some((x) => x.type === F_RESIZE));
  assert.deepEqual(modes, [true]);
  const rs = m.frames.find((x) => x.type === F_RESIZE)!;
  assert.deepEqual([rs.data.readUInt16LE(0), rs.data.readUInt16LE(2)], [24, 80]);
  assert.ok(m.frames.some((x) => x.type === F_USE_STDIN));
  stdin.write('ls\r');
  await m.waitFor((f) => f.some((x) => x.type === F_STDIN));
  assert.equal(Buffer.concat(m.frames.filter((x) => x.type === F_STDIN).map((x) => x.data)).toString(), 'ls\r');
  size = [100, 30];
  proc.emit('SIGWINCH');
  await m.waitFor((f) => f.filter((x) => x.type === F_RESIZE).length === 2);
  const rs2 = m.frames.filter((x) => x.type === F_RESIZE)[1]!;
  assert.deepEqual([rs2.data.readUInt16LE(0), rs2.data.readUInt16LE(2)], [30, 100]);
  c.write(encodeFrame(F_STDOUT, Buffer.from('hello\r\n')));
  c.end(encodeFrame(F_EXIT, Buffer.from(EXIT)));
  const r = await session;
  assert.deepEqual(r, { detached: false, exitCode: 3 });
  assert.equal(Buffer.concat(out).toString(), 'hello\r\n');
  assert.deepEqual(modes, [true, false]);
  assert.equal(proc.listenerCount('SIGWINCH'), 0);
  assert.equal(proc.listenerCount('exit'), 0);
});

test('attachSession: ctrl-p ctrl-q detaches; bytes before it are delivered', async (t) => {
  const m = await fakeMonitor(t);
  const stdin = new PassThrough();
  const proc = new EventEmitter();
  const session = attachSession({ attachSocket: m.sock, stdin, stdout: new PassThrough(), stderr: new PassThrough(), tty: true, openStdin: true, proc, resizeRetriesMs: [] });
  const c = await m.client;
  const closed = new Promise<void>((r) => c.on('close', () => r()));
  stdin.write('echo hi\r\x10\x11');
  const r = await session;
  assert.deepEqual(r, { detached: true, exitCode: null });
  await closed;
  assert.equal(Buffer.concat(m.frames.filter((x) => x.type === F_STDIN).map((x) => x.data)).toString(), 'echo hi\r');
});

test('attachSession: no tty: signals proxied, stdin EOF closes the container stdin', async (t) => {
  const m = await fakeMonitor(t);
  const stdin = new PassThrough();
  const proc = new EventEmitter();
  const got: string[] = [];
  const session = attachSession({
    attachSocket: m.sock,
    stdin,
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    tty: false,
    openStdin: true,
    proc,
    onSignal: (s) => void got.push(s),
  });
  const c = await m.client;
  await m.waitFor((f) => f.some((x) => x.type === F_USE_STDIN));
  proc.emit('SIGINT');
  proc.emit('SIGTERM');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(got, ['SIGINT', 'SIGTERM']);
  stdin.end('data');
  await m.waitFor((f) => f.some((x) => x.type === F_CLOSE_STDIN));
  assert.ok(!m.frames.some((x) => x.type === F_RESIZE), 'no resize without a tty');
  c.end(encodeFrame(F_EXIT, Buffer.from(EXIT.replace('"exitCode":3', '"exitCode":130'))));
  assert.deepEqual(await session, { detached: false, exitCode: 130 });
  assert.equal(proc.listenerCount('SIGINT'), 0);
});

test('attachSession: no monitor socket -> not attached, no exit code', async () => {
  const r = await attachSession({ attachSocket: '/nonexistent/berth/attach.sock', stdin: new PassThrough(), stdout: new PassThrough(), stderr: new PassThrough(), tty: false, openStdin: false });
  assert.deepEqual(r, { detached: false, exitCode: null });
});
