/**
 * The streaming server end to end with a fake runtime: SPDY and websocket clients from
 * test/helpers/spdy-client.ts, no root, loopback only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Duplex, PassThrough } from 'node:stream';
import { WebSocket } from 'ws';
import { startStreamingServer } from '../../src/cri/streaming';
import { startStreamingServer as startWithTuning } from '../../src/cri/streaming/server';
import { SpdyConnection } from '../../src/cri/streaming/spdy';
import type { AttachRequest, ExecRequest, StreamIO, StreamingRuntime, StreamingServer, TerminalSize } from '../../src/cri/streaming';
import { UpgradeRefused, forwardOnce, spdyConnect, spdyExec, spdyPortForward, wsExec } from '../helpers/spdy-client';

interface Fake {
  runtime: StreamingRuntime;
  execs: ExecRequest[];
  attaches: AttachRequest[];
  sizes: TerminalSize[];
  stdinClosed: Promise<void>;
}

function readStdin(io: StreamIO): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    if (!io.stdin) {
      resolve('');
      return;
    }
    io.stdin.on('data', (d: Buffer) => (text += d.toString()));
    io.stdin.on('end', () => resolve(text));
    io.stdin.on('close', () => resolve(text));
  });
}

function fakeRuntime(echoPort: number): Fake {
  const execs: ExecRequest[] = [];
  const attaches: AttachRequest[] = [];
  const sizes: TerminalSize[] = [];
  let markStdinClosed: () => void = () => undefined;
  const stdinClosed = new Promise<void>((r) => (markStdinClosed = r));
  const runtime: StreamingRuntime = {
    async exec(req, io) {
      execs.push(req);
      const [cmd, ...args] = req.cmd;
      switch (cmd) {
        case 'echo':
          io.stdout?.end(`${args.join(' ')}\n`);
          return { exitCode: 0 };
        case 'fail':
          io.stdout?.end('partial\n');
          io.stderr?.end('oops\n');
          return { exitCode: Number(args[0]) };
        case 'cat': {
          const input = await readStdin(io);
          io.stdout?.end(input);
          return { exitCode: 0 };
        }
        case 'big': {
          const n = Number(args[0]);
          await new Promise<void>((r) => io.stdout?.end(Buffer.alloc(n, 'x'), () => r()));
          return { exitCode: 0 };
        }
        case 'tty': {
          assert.equal(io.stderr, null);
          io.resize?.onResize((s) => sizes.push(s));
          const input = await readStdin(io);
          io.stdout?.end(`tty:${input}`);
          return { exitCode: 0 };
        }
        case 'hang':
          io.stdin?.on('close', () => markStdinClosed());
          io.stdout?.write('started\n');
          await new Promise<void>((r) => io.stdout?.on('close', () => r()));
          return { exitCode: 0 };
        case 'throw':
          throw new Error('container c1 is not running');
        default:
          return { exitCode: 127 };
      }
    },
    async attach(req, io) {
      attaches.push(req);
      io.stdout?.write('attached\n');
      const input = await readStdin(io);
      io.stdout?.end(input);
    },
    portForward(_pod, port, stream: Duplex) {
      return new Promise<void>((resolve, reject) => {
        const s = net.connect(port === 1 ? 1 : echoPort, '127.0.0.1');
        s.on('error', (e) => reject(e));
        stream.on('close', () => s.destroy());
        s.on('connect', () => {
          stream.pipe(s);
          s.pipe(stream);
          s.on('close', () => resolve());
        });
      });
    },
  };
  return { runtime, execs, attaches, sizes, stdinClosed };
}

async function setup(
  t: { after: (fn: () => Promise<void> | void) => void },
  tuning = {},
): Promise<{ server: StreamingServer; fake: Fake }> {
  const echo = net.createServer((c) => {
    // Answers each chunk at once (websocket clients cannot half-close), and ends after the client.
    c.on('data', (d: Buffer) => c.write(`echo:${d.toString()}`));
    c.on('end', () => c.end());
    c.on('error', () => undefined);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
  const fake = fakeRuntime((echo.address() as net.AddressInfo).port);
  const server = await startWithTuning({ runtime: fake.runtime, tokenTtlMs: 5000 }, tuning);
  t.after(async () => {
    await server.close();
    echo.close();
  });
  return { server, fake };
}

const execReq = (cmd: string[], o: Partial<ExecRequest> = {}): ExecRequest => ({
  containerId: 'c1',
  cmd,
  tty: false,
  stdin: false,
  stdout: true,
  stderr: true,
  ...o,
});

function httpStatus(url: string, method = 'GET'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('binds loopback by default and exports the API', async (t) => {
  assert.equal(typeof startStreamingServer, 'function');
  const { server } = await setup(t);
  assert.match(server.baseUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.match(server.execUrl(execReq(['x'])), /\/exec\/[A-Za-z0-9_-]{43}$/);
  assert.match(server.attachUrl({ containerId: 'c', tty: false, stdin: false, stdout: true, stderr: false }), /\/attach\//);
  assert.match(server.portForwardUrl({ podSandboxId: 'p', ports: [80] }), /\/portforward\//);
});

test('SPDY exec: stdout, stderr and exit codes (v5/v4 status objects)', async (t) => {
  const { server, fake } = await setup(t);
  const ok = await spdyExec(server.execUrl(execReq(['echo', 'hello', 'world'])));
  assert.equal(ok.protocol, 'v5.channel.k8s.io');
  assert.equal(ok.stdout, 'hello world\n');
  assert.equal(ok.exitCode, 0);
  assert.equal(JSON.parse(ok.errorText).status, 'Success');
  const bad = await spdyExec(server.execUrl(execReq(['fail', '42'])), { protocols: ['v4.channel.k8s.io'] });
  assert.equal(bad.protocol, 'v4.channel.k8s.io');
  assert.deepEqual([bad.stdout, bad.stderr, bad.exitCode], ['partial\n', 'oops\n', 42]);
  const status = JSON.parse(bad.errorText);
  assert.equal(status.reason, 'NonZeroExitCode');
  assert.deepEqual(status.details.causes, [{ reason: 'ExitCode', message: '42' }]);
  assert.deepEqual(fake.execs[1].cmd, ['fail', '42']);
});

test('SPDY exec: stdin, large output, runtime failure', async (t) => {
  const { server } = await setup(t);
  const cat = await spdyExec(server.execUrl(execReq(['cat'], { stdin: true })), { stdin: 'some input\n' });
  assert.equal(cat.stdout, 'some input\n');
  const big = await spdyExec(server.execUrl(execReq(['big', String(3 * 1024 * 1024)])));
  assert.equal(big.stdout.length, 3 * 1024 * 1024);
  const thrown = await spdyExec(server.execUrl(execReq(['throw'])));
  assert.equal(thrown.exitCode, null);
  assert.match(thrown.error ?? '', /container c1 is not running/);
});

test('SPDY exec with a tty: no stderr stream, resizes reach the runtime', async (t) => {
  const { server, fake } = await setup(t);
  const r = await spdyExec(server.execUrl(execReq(['tty'], { tty: true, stdin: true, stderr: false })), {
    tty: true,
    stdin: 'ls\n',
    resize: [
      { width: 80, height: 24 },
      { width: 120, height: 40 },
    ],
  });
  assert.equal(r.stdout, 'tty:ls\n');
  assert.equal(r.exitCode, 0);
  assert.deepEqual(fake.sizes, [
    { width: 80, height: 24 },
    { width: 120, height: 40 },
  ]);
});

test('SPDY exec with pre-v4 protocols: plain-text errors', async (t) => {
  const { server } = await setup(t);
  const r = await spdyExec(server.execUrl(execReq(['fail', '3'])), { protocols: ['v3.channel.k8s.io', 'v2.channel.k8s.io'] });
  assert.equal(r.protocol, 'v3.channel.k8s.io');
  assert.match(r.errorText, /non-zero exit code: exit status 3/);
  const ok = await spdyExec(server.execUrl(execReq(['echo', 'x'])), { protocols: ['v2.channel.k8s.io'] });
  assert.equal(ok.errorText, '');
  assert.equal(ok.exitCode, 0);
});

test('SPDY attach', async (t) => {
  const { server, fake } = await setup(t);
  const r = await spdyExec(server.attachUrl({ containerId: 'c9', tty: false, stdin: true, stdout: true, stderr: true }), { stdin: 'in' });
  assert.equal(r.stdout, 'attached\nin');
  assert.equal(r.exitCode, 0);
  assert.equal(fake.attaches[0].containerId, 'c9');
});

test('tokens: single use, unknown -> 404, plain requests refused, protocol mismatch -> 403', async (t) => {
  const { server } = await setup(t);
  const url = server.execUrl(execReq(['echo', 'once']));
  assert.equal((await spdyExec(url)).stdout, 'once\n');
  await assert.rejects(spdyExec(url), (e: unknown) => e instanceof UpgradeRefused && e.status === 404);
  await assert.rejects(spdyExec(`${server.baseUrl}/exec/${randomBytes(32).toString('base64url')}`), (e: unknown) => e instanceof UpgradeRefused && e.status === 404);
  // an exec token on the attach route is not valid (and is used up)
  const wrong = server.execUrl(execReq(['echo']));
  await assert.rejects(spdyExec(wrong.replace('/exec/', '/attach/')), (e: unknown) => e instanceof UpgradeRefused && e.status === 404);
  assert.equal(await httpStatus(`${server.baseUrl}/nothing`), 404);
  const plain = server.execUrl(execReq(['echo']));
  assert.equal(await httpStatus(plain, 'POST'), 400);
  assert.equal(await httpStatus(plain, 'POST'), 404);
  await assert.rejects(spdyConnect(server.execUrl(execReq(['echo'])), ['v9.channel.k8s.io']), (e: unknown) => e instanceof UpgradeRefused && e.status === 403);
});

test('streams the client never opens time out', async (t) => {
  const { server, fake } = await setup(t, { streamCreationTimeoutMs: 200 });
  const { conn } = await spdyConnect(server.execUrl(execReq(['echo'], { stdin: true })), ['v4.channel.k8s.io']);
  t.after(() => conn.destroy());
  const err = await conn.openStream({ streamType: 'error' });
  const chunks: Buffer[] = [];
  err.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((r) => conn.once('close', () => r()));
  assert.match(Buffer.concat(chunks).toString(), /timed out waiting for client to create streams/);
  assert.equal(fake.execs.length, 0);
});

test('a client that goes away mid-session closes the runtime streams; garbage does not crash the server', async (t) => {
  const { server, fake } = await setup(t);
  const { conn } = await spdyConnect(server.execUrl(execReq(['hang'], { stdin: true, stderr: false })), ['v4.channel.k8s.io']);
  await conn.openStream({ streamType: 'error' });
  await conn.openStream({ streamType: 'stdin' });
  const out = await conn.openStream({ streamType: 'stdout' });
  await new Promise<void>((r) => out.once('data', () => r()));
  conn.destroy();
  await fake.stdinClosed;

  for (let i = 0; i < 10; i++) {
    const { conn: c2 } = await spdyConnect(server.execUrl(execReq(['echo'])), ['v4.channel.k8s.io']);
    const sock = (c2 as unknown as { socket: net.Socket }).socket;
    sock.write(randomBytes(64 + i * 50));
    c2.destroy();
  }
  const after = await spdyExec(server.execUrl(execReq(['echo', 'still', 'alive'])));
  assert.equal(after.stdout, 'still alive\n');
});

test('SPDY port-forward: data, errors, several connections on one session', async (t) => {
  const { server } = await setup(t);
  const ok = await spdyPortForward(server.portForwardUrl({ podSandboxId: 'p1', ports: [] }), 8080, 'ping');
  assert.deepEqual([ok.data.toString(), ok.error], ['echo:ping', '']);
  const refused = await spdyPortForward(server.portForwardUrl({ podSandboxId: 'p1', ports: [] }), 1, 'x');
  assert.match(refused.error, /error forwarding port 1 to pod p1: .*ECONNREFUSED/);
  const notAsked = await spdyPortForward(server.portForwardUrl({ podSandboxId: 'p1', ports: [80] }), 81, 'x');
  assert.match(notAsked.error, /port 81 was not requested/);
  const { conn } = await spdyConnect(server.portForwardUrl({ podSandboxId: 'p1', ports: [80] }), ['portforward.k8s.io']);
  t.after(() => conn.destroy());
  const results = await Promise.all([forwardOnce(conn, 80, 'a', 0), forwardOnce(conn, 80, 'b', 1), forwardOnce(conn, 80, 'c', 2)]);
  assert.deepEqual(
    results.map((r) => r.data.toString()),
    ['echo:a', 'echo:b', 'echo:c'],
  );
});

test('websocket exec: v5 binary with close signal, v4 base64, tty resize', async (t) => {
  const { server, fake } = await setup(t);
  const v5 = await wsExec(server.execUrl(execReq(['cat'], { stdin: true })), { stdin: 'ws input' });
  assert.deepEqual([v5.protocol, v5.stdout, v5.exitCode], ['v5.channel.k8s.io', 'ws input', 0]);
  const b64 = await wsExec(server.execUrl(execReq(['fail', '5'])), { subprotocols: ['v4.base64.channel.k8s.io'] });
  assert.deepEqual([b64.protocol, b64.stdout, b64.stderr, b64.exitCode], ['v4.base64.channel.k8s.io', 'partial\n', 'oops\n', 5]);
  const tty = await wsExec(server.execUrl(execReq(['tty'], { tty: true, stdin: true, stderr: false })), {
    tty: true,
    stdin: 'x',
    resize: [{ width: 90, height: 33 }],
  });
  assert.equal(tty.stdout, 'tty:x');
  assert.deepEqual(fake.sizes, [{ width: 90, height: 33 }]);
  await assert.rejects(wsExec(server.execUrl(execReq(['echo'])), { subprotocols: ['nope.k8s.io'] }));
});

test('websocket port-forward: two channels per port, 2-byte little-endian port prefix', async (t) => {
  const { server } = await setup(t);
  const url = server.portForwardUrl({ podSandboxId: 'p1', ports: [8080] }).replace(/^http/, 'ws');
  const ws = new WebSocket(url, ['v4.channel.k8s.io']);
  t.after(() => ws.terminate());
  const byChannel = new Map<number, Buffer[]>();
  const closed = new Promise<void>((resolve, reject) => {
    ws.on('message', (raw: Buffer) => {
      const list = byChannel.get(raw[0]) ?? [];
      list.push(raw.subarray(1));
      byChannel.set(raw[0], list);
    });
    ws.on('close', () => resolve());
    ws.on('error', reject);
  });
  await new Promise<void>((r) => ws.on('open', () => r()));
  ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello')]));
  for (let i = 0; i < 100 && (byChannel.get(0)?.length ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 20));
  ws.close(); // the client is done: the forward to the echo server ends with the socket
  await closed;
  const data = byChannel.get(0) ?? [];
  const errs = byChannel.get(1) ?? [];
  assert.deepEqual([...data[0]], [0x90, 0x1f]); // 8080 little endian
  assert.deepEqual([...errs[0]], [0x90, 0x1f]);
  assert.equal(Buffer.concat(data.slice(1)).toString(), 'echo:hello');
  assert.equal(errs.length, 1, 'no error message');
});

/**
 * A minimal websocket client (RFC 6455 framing, masked binary frames) for the SPDY-over-websocket
 * tunnel: the ws package's client refuses the subprotocol name 'SPDY/3.1+portforward.k8s.io'.
 */
function rawWebSocket(url: string, protocol: string): Promise<{ stream: Duplex; protocol: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Protocol': protocol,
      },
    });
    req.on('error', reject);
    req.on('response', (res) => reject(new Error(`HTTP ${res.statusCode}`)));
    req.on('upgrade', (res: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      const incoming = new PassThrough();
      let buf = head;
      const parse = (): void => {
        for (;;) {
          if (buf.length < 2) return;
          let len = buf[1] & 0x7f;
          let off = 2;
          if (len === 126) {
            if (buf.length < 4) return;
            len = buf.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buf.length < 10) return;
            len = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          if (buf.length < off + len) return;
          const opcode = buf[0] & 0x0f;
          const payload = buf.subarray(off, off + len);
          buf = buf.subarray(off + len);
          if (opcode === 2 || opcode === 0) incoming.write(payload);
          else if (opcode === 8) incoming.end();
        }
      };
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        parse();
      });
      socket.on('close', () => incoming.end());
      const frame = (opcode: number, data: Buffer): Buffer => {
        const mask = randomBytes(4);
        const head2 =
          data.length < 126
            ? Buffer.from([0x80 | opcode, 0x80 | data.length])
            : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 126]), Buffer.from([data.length >> 8, data.length & 0xff])]);
        const masked = Buffer.from(data);
        for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i % 4];
        return Buffer.concat([head2, mask, masked]);
      };
      const stream = new Duplex({
        read() {
          // data is pushed from `incoming`
        },
        write(chunk: Buffer, _enc, cb) {
          for (let off = 0; off < chunk.length; off += 60000) socket.write(frame(2, chunk.subarray(off, off + 60000)));
          cb();
        },
        final(cb) {
          socket.end(frame(8, Buffer.from([0x03, 0xe8])));
          cb();
        },
        destroy(err, cb) {
          socket.destroy();
          cb(err);
        },
      });
      incoming.on('data', (d: Buffer) => stream.push(d));
      incoming.on('end', () => stream.push(null));
      parse();
      resolve({ stream, protocol: String(res.headers['sec-websocket-protocol'] ?? '') });
    });
    req.end();
  });
}

test('port-forward over SPDY tunnelled in a websocket (SPDY/3.1+portforward.k8s.io)', async (t) => {
  const { server } = await setup(t);
  const url = server.portForwardUrl({ podSandboxId: 'p1', ports: [] });
  const { stream, protocol } = await rawWebSocket(url, 'SPDY/3.1+portforward.k8s.io');
  assert.equal(protocol, 'SPDY/3.1+portforward.k8s.io');
  const conn = new SpdyConnection(stream, { role: 'client' });
  t.after(() => conn.destroy());
  const ok = await forwardOnce(conn, 8080, 'tunnel', 0);
  assert.deepEqual([ok.data.toString(), ok.error], ['echo:tunnel', '']);
  const refused = await forwardOnce(conn, 1, 'x', 1);
  assert.match(refused.error, /ECONNREFUSED/);
});
