/**
 * Small clients for the CRI streaming server, for tests: exec/attach and port-forward over SPDY/3.1
 * (the way client-go's SPDY executor and port forwarder talk), and exec/attach over the websocket
 * channel protocols (the way client-go's websocket executor talks).
 *
 *   const r = await spdyExec(url, { stdin: 'hello', tty: false });   // {stdout, stderr, exitCode}
 *   const pf = await spdyPortForward(url, 8080, 'GET / HTTP/1.0\r\n\r\n'); // {data, error}
 *   const w = await wsExec(url, { stdin: 'x' });
 */
import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket } from 'ws';
import { SpdyConnection, type SpdyStream } from '../../src/cri/streaming/spdy';

export const DEFAULT_EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'];

export interface UpgradedSpdy {
  conn: SpdyConnection;
  /** The subprotocol the server chose (X-Stream-Protocol-Version of the 101 answer). */
  protocol: string;
}

export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`upgrade refused: HTTP ${status}: ${body.trim()}`);
  }
}

/** POSTs an upgrade to SPDY/3.1 offering `protocols`; resolves with a client SPDY connection. */
export function spdyConnect(url: string, protocols: string[], timeoutMs = 10_000): Promise<UpgradedSpdy> {
  return new Promise<UpgradedSpdy>((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': protocols },
      timeout: timeoutMs,
    });
    req.on('timeout', () => req.destroy(new Error('upgrade timed out')));
    req.on('error', reject);
    req.on('upgrade', (res: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const protocol = String(res.headers['x-stream-protocol-version'] ?? '');
      const conn = new SpdyConnection(socket, { role: 'client', head, onStream: () => false });
      resolve({ conn, protocol });
    });
    req.on('response', (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => reject(new UpgradeRefused(res.statusCode ?? 0, Buffer.concat(chunks).toString())));
      res.on('error', reject);
    });
    req.end();
  });
}

export interface ExecOptions {
  /** Sent to stdin, then stdin is closed. Omit for no stdin stream. */
  stdin?: string | Buffer;
  /** Keep stdin open until the output ends (instead of closing it after the data). */
  holdStdin?: boolean;
  tty?: boolean;
  /** Default true. */
  stdout?: boolean;
  /** Default true unless tty. */
  stderr?: boolean;
  /** Terminal sizes sent on the resize stream (tty only). */
  resize?: Array<{ width: number; height: number }>;
  protocols?: string[];
  timeoutMs?: number;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exit code the server reported (0 on success); null when it reported another failure. */
  exitCode: number | null;
  /** The raw error stream / channel contents. */
  errorText: string;
  /** A Failure status's message (or the whole text before v4). */
  error?: string;
  protocol: string;
}

function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Interprets the error stream the way client-go does. */
export function interpretStatus(protocolVersion: number, text: string): { exitCode: number | null; error?: string } {
  if (text.length === 0) return { exitCode: 0 };
  if (protocolVersion < 4) return { exitCode: null, error: text };
  const status = JSON.parse(text) as {
    status?: string;
    reason?: string;
    message?: string;
    details?: { causes?: Array<{ reason?: string; message?: string }> };
  };
  if (status.status === 'Success') return { exitCode: 0 };
  if (status.reason === 'NonZeroExitCode') {
    const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
    if (cause?.message !== undefined) return { exitCode: Number(cause.message), error: status.message };
  }
  return { exitCode: null, error: status.message ?? text };
}

function protocolVersion(protocol: string): number {
  const m = /^v(\d+)\./.exec(protocol);
  return m ? Number(m[1]) : 1;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Exec (or attach: same protocol) over SPDY, as client-go's SPDY executor does it. */
export async function spdyExec(url: string, opts: ExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const { conn, protocol } = await spdyConnect(url, opts.protocols ?? DEFAULT_EXEC_PROTOCOLS, timeoutMs);
  const run = async (): Promise<ExecResult> => {
    const version = protocolVersion(protocol);
    const tty = opts.tty ?? false;
    const wantStdout = opts.stdout ?? true;
    const wantStderr = (opts.stderr ?? !tty) && !tty;
    const open = (type: string): Promise<SpdyStream> => conn.openStream({ streamType: type });
    const errStream = await open('error');
    const errText = readAll(errStream);
    const stdin = opts.stdin !== undefined ? await open('stdin') : null;
    const stdout = wantStdout ? await open('stdout') : null;
    const stderr = wantStderr ? await open('stderr') : null;
    const resize = tty && version >= 3 ? await open('resize') : null;
    const outP = stdout ? readAll(stdout) : Promise.resolve(Buffer.alloc(0));
    const errP = stderr ? readAll(stderr) : Promise.resolve(Buffer.alloc(0));
    stdin?.resume();
    if (resize) for (const s of opts.resize ?? []) resize.write(`${JSON.stringify({ Width: s.width, Height: s.height })}\n`);
    if (stdin && opts.stdin !== undefined) {
      stdin.write(opts.stdin);
      if (!opts.holdStdin) stdin.end();
    }
    const [out, err] = await Promise.all([outP, errP]);
    const text = (await errText).toString();
    stdin?.end();
    resize?.end();
    return { stdout: out.toString(), stderr: err.toString(), errorText: text, protocol, ...interpretStatus(version, text) };
  };
  try {
    return await withTimeout(run(), timeoutMs, 'spdyExec', () => conn.destroy());
  } finally {
    await conn.close(500);
  }
}

export interface PortForwardResult {
  /** Everything received on the data stream. */
  data: Buffer;
  /** Text of the error stream ('' when the forward worked). */
  error: string;
}

/**
 * One forwarded connection over SPDY, as client-go's port forwarder does it: error stream (closed
 * at once by us), data stream; sends payload, half-closes, reads until the server ends the stream.
 */
export async function spdyPortForward(
  url: string,
  port: number,
  payload: string | Buffer,
  opts: { timeoutMs?: number; requestId?: number } = {},
): Promise<PortForwardResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const { conn } = await spdyConnect(url, ['portforward.k8s.io'], timeoutMs);
  try {
    return await withTimeout(forwardOnce(conn, port, payload, opts.requestId ?? 0), timeoutMs, 'spdyPortForward', () => conn.destroy());
  } finally {
    await conn.close(500);
  }
}

/** One forwarded connection on an existing port-forward SPDY connection. */
export async function forwardOnce(conn: SpdyConnection, port: number, payload: string | Buffer, requestId: number): Promise<PortForwardResult> {
  const headers = { streamType: 'error', port: String(port), requestID: String(requestId) };
  const errStream = await conn.openStream(headers);
  errStream.end();
  const errText = readAll(errStream);
  const data = await conn.openStream({ ...headers, streamType: 'data' });
  const got = readAll(data);
  data.end(payload);
  const received = await got;
  data.destroy();
  return { data: received, error: (await errText).toString() };
}

export interface WsExecOptions extends ExecOptions {
  /** Subprotocols offered (default v5 then v4). */
  subprotocols?: string[];
}

/** Exec/attach over a websocket with the channel protocols (binary or base64). */
export function wsExec(url: string, opts: WsExecOptions = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const wsUrl = url.replace(/^http/, 'ws');
  const ws = new WebSocket(wsUrl, opts.subprotocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io']);
  const p = new Promise<ExecResult>((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const errorChan: Buffer[] = [];
    let protocol = '';
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res: http.IncomingMessage) => reject(new UpgradeRefused(res.statusCode ?? 0, '')));
    ws.on('open', () => {
      protocol = ws.protocol;
      const base64 = protocol.includes('base64');
      const send = (channel: number, data: Buffer): void => {
        if (base64) ws.send(String.fromCharCode(48 + channel) + data.toString('base64'));
        else ws.send(Buffer.concat([Buffer.from([channel]), data]));
      };
      if (opts.tty) for (const s of opts.resize ?? []) send(4, Buffer.from(JSON.stringify({ Width: s.width, Height: s.height })));
      if (opts.stdin !== undefined) {
        const input = Buffer.from(opts.stdin);
        for (let off = 0; off < input.length; off += 32 * 1024) send(0, input.subarray(off, off + 32 * 1024));
        if (protocol === 'v5.channel.k8s.io' && !opts.holdStdin) ws.send(Buffer.from([255, 0]));
      }
    });
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      let channel: number;
      let data: Buffer;
      if (isBinary) {
        channel = raw[0];
        data = raw.subarray(1);
      } else {
        const text = raw.toString();
        channel = text.charCodeAt(0) - 48;
        data = Buffer.from(text.slice(1), 'base64');
      }
      if (channel === 1) out.push(data);
      else if (channel === 2) err.push(data);
      else if (channel === 3) errorChan.push(data);
    });
    ws.on('close', (code: number) => {
      const text = Buffer.concat(errorChan).toString();
      const version = protocolVersion(protocol);
      if (code !== 1000 && text.length === 0) {
        reject(new Error(`websocket closed with code ${code}`));
        return;
      }
      resolve({
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        errorText: text,
        protocol,
        ...interpretStatus(version, text),
      });
    });
  });
  return withTimeout(p, timeoutMs, 'wsExec', () => ws.terminate());
}
