/**
 * Exec and attach sessions (the channel.k8s.io protocols), over SPDY and over websockets.
 *
 * SPDY: after the upgrade the client opens one stream per channel, each with a `streamType` header:
 * error, stdin, stdout, stderr (not with a tty), resize (tty, v3+). We wait (with a timeout) until
 * every stream the request calls for exists, then run the command. When it ends we finish stdout and
 * stderr (FIN), write the outcome on the error stream and FIN it: the client reads the error stream
 * to its end. From v4 on the outcome is a metav1.Status: Success, or Failure with reason
 * NonZeroExitCode and a cause {reason: ExitCode, message: "N"}; before v4 it is plain text, and
 * nothing on success. Resize messages are JSON objects {"Width":W,"Height":H}, one after another.
 *
 * Websockets: channels 0 stdin, 1 stdout, 2 stderr, 3 error, 4 resize; see websocket.ts.
 */
import { PassThrough, type Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { ResizeSource, StreamIO, TerminalSize } from './types';
import { SpdyConnection, type SpdyStream } from './spdy';
import { ChannelMux, type ChannelProtocol } from './websocket';

export const STREAM_PROTOCOL_V1 = 'channel.k8s.io';
export const STREAM_PROTOCOL_V2 = 'v2.channel.k8s.io';
export const STREAM_PROTOCOL_V3 = 'v3.channel.k8s.io';
export const STREAM_PROTOCOL_V4 = 'v4.channel.k8s.io';
export const STREAM_PROTOCOL_V5 = 'v5.channel.k8s.io';

/** SPDY subprotocols we accept for exec/attach, with their version numbers. */
export const REMOTECOMMAND_SPDY_PROTOCOLS: ReadonlyMap<string, number> = new Map([
  [STREAM_PROTOCOL_V5, 5],
  [STREAM_PROTOCOL_V4, 4],
  [STREAM_PROTOCOL_V3, 3],
  [STREAM_PROTOCOL_V2, 2],
  [STREAM_PROTOCOL_V1, 1],
]);

/** How long a tty session waits for the client's first terminal size before starting. */
export const FIRST_RESIZE_WAIT_MS = 250;

export const CHANNEL_STDIN = 0;
export const CHANNEL_STDOUT = 1;
export const CHANNEL_STDERR = 2;
export const CHANNEL_ERROR = 3;
export const CHANNEL_RESIZE = 4;

export interface RemoteCommandOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/** Runs the command or attach with the client's streams; an exit code of 0 (or none) is success. */
export type RemoteCommandRunner = (io: StreamIO) => Promise<{ exitCode: number } | void>;

export type SessionOutcome = { kind: 'exit'; exitCode: number } | { kind: 'error'; message: string };

/** What goes on the error stream for an outcome (null: nothing, just close it). */
export function encodeOutcome(version: number, outcome: SessionOutcome): Buffer | null {
  if (version >= 4) {
    let status: Record<string, unknown>;
    if (outcome.kind === 'exit' && outcome.exitCode === 0) {
      status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
    } else if (outcome.kind === 'exit') {
      // The client parses the code as an unsigned 8-bit number, like a shell's $?.
      const code = outcome.exitCode & 0xff || 1;
      status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `command terminated with non-zero exit code: exit status ${code}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
      };
    } else {
      status = {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: outcome.message,
        reason: 'InternalError',
        details: { causes: [{ message: outcome.message }] },
        code: 500,
      };
    }
    return Buffer.from(JSON.stringify(status));
  }
  if (outcome.kind === 'exit' && outcome.exitCode === 0) return null;
  if (outcome.kind === 'exit') return Buffer.from(`command terminated with non-zero exit code: exit status ${outcome.exitCode}`);
  return Buffer.from(outcome.message);
}

/**
 * Terminal sizes from a resize stream: a run of JSON objects. Sizes that arrive before anyone
 * listens are not lost: a new listener is called with the latest size during onResize itself, so a
 * runtime can read the size it should create the terminal with right away.
 */
export class ResizeQueue implements ResizeSource {
  private listeners: Array<(size: TerminalSize) => void> = [];
  private firstWaiters: Array<() => void> = [];
  private last: TerminalSize | null = null;
  private buf = '';

  /** The latest size received, if any. */
  get current(): TerminalSize | null {
    return this.last;
  }

  /** Resolves when a first size has arrived, or after timeoutMs (whichever comes first). */
  waitFirst(timeoutMs: number): Promise<void> {
    if (this.last) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.firstWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** A listener registered after a size arrived is called with the latest size at once (synchronously). */
  onResize(listener: (size: TerminalSize) => void): void {
    this.listeners.push(listener);
    if (this.last) {
      try {
        listener(this.last);
      } catch {
        // a listener's fault is not the session's
      }
    }
  }

  /** Feeds raw bytes of the resize stream. */
  feed(chunk: Buffer): void {
    this.buf += chunk.toString('utf8');
    if (this.buf.length > 4096) this.buf = this.buf.slice(-4096);
    for (;;) {
      const start = this.buf.indexOf('{');
      if (start < 0) {
        this.buf = '';
        return;
      }
      const end = this.buf.indexOf('}', start);
      if (end < 0) {
        this.buf = this.buf.slice(start);
        return;
      }
      const text = this.buf.slice(start, end + 1);
      this.buf = this.buf.slice(end + 1);
      this.handle(text);
    }
  }

  private handle(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof value !== 'object' || value === null) return;
    const o = value as Record<string, unknown>;
    const width = o.Width ?? o.width;
    const height = o.Height ?? o.height;
    if (!isDimension(width) || !isDimension(height)) return;
    const size = { width, height };
    this.last = size;
    const waiters = this.firstWaiters;
    this.firstWaiters = [];
    for (const w of waiters) w();
    for (const l of this.listeners) {
      try {
        l(size);
      } catch {
        // a listener's fault is not the session's
      }
    }
  }
}

function isDimension(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

/** Ends a writable and waits (bounded) until it is flushed or gone. */
export function endAndWait(w: Writable | null, timeoutMs = 10_000): Promise<void> {
  if (!w) return Promise.resolve();
  return new Promise<void>((resolve) => {
    if (w.destroyed || w.writableFinished) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      w.off('finish', done);
      w.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    timer.unref();
    w.on('finish', done);
    w.on('close', done);
    if (!w.writableEnded) w.end();
  });
}

async function runSession(run: RemoteCommandRunner, io: StreamIO): Promise<SessionOutcome> {
  try {
    const r = await run(io);
    return { kind: 'exit', exitCode: r ? r.exitCode : 0 };
  } catch (err) {
    return { kind: 'error', message: err instanceof Error ? err.message : String(err) };
  }
}

export interface SpdySessionOptions {
  /** How long the client has to open the streams the request calls for (default 30 s). */
  streamCreationTimeoutMs?: number;
  /** After the outcome is sent, how long we wait for the client to hang up (default 5 s). */
  lingerMs?: number;
}

/** Stream types the request calls for, in the order client-go opens them. */
export function expectedStreamTypes(version: number, opts: RemoteCommandOptions): string[] {
  const types = ['error'];
  if (opts.stdin) types.push('stdin');
  if (opts.stdout) types.push('stdout');
  if (opts.stderr && !opts.tty) types.push('stderr');
  if (opts.tty && version >= 3) types.push('resize');
  return types;
}

const KNOWN_STREAM_TYPES = new Set(['error', 'stdin', 'stdout', 'stderr', 'resize']);

/** Serves one exec/attach over an upgraded socket speaking SPDY. */
export function serveRemoteCommandSpdy(
  socket: Duplex,
  head: Buffer,
  version: number,
  opts: RemoteCommandOptions,
  run: RemoteCommandRunner,
  sessionOpts: SpdySessionOptions = {},
): SpdyConnection {
  const got = new Map<string, SpdyStream>();
  const expected = expectedStreamTypes(version, opts);
  let started = false;
  const conn = new SpdyConnection(socket, {
    role: 'server',
    head,
    maxStreams: 16,
    onStream: (stream) => {
      const type = stream.header('streamtype');
      if (started || type === undefined || !KNOWN_STREAM_TYPES.has(type) || got.has(type)) return false;
      got.set(type, stream);
      if (expected.every((t) => got.has(t))) {
        started = true;
        clearTimeout(timer);
        start().catch(() => conn.destroy());
      }
      return true;
    },
  });
  const timer = setTimeout(() => {
    if (started) return;
    const errStream = got.get('error');
    const payload = encodeOutcome(version, { kind: 'error', message: 'timed out waiting for client to create streams' });
    if (errStream && payload) errStream.write(payload);
    void endAndWait(errStream ?? null, 2000).then(() => conn.close());
  }, sessionOpts.streamCreationTimeoutMs ?? 30_000);
  timer.unref();
  conn.once('close', () => clearTimeout(timer));

  const start = async (): Promise<void> => {
    const resizeStream = got.get('resize') ?? null;
    let resize: ResizeQueue | null = null;
    if (opts.tty) {
      resize = new ResizeQueue();
      const q = resize;
      resizeStream?.on('data', (chunk: Buffer) => q.feed(chunk));
    } else {
      resizeStream?.resume();
    }
    const stdout = opts.stdout ? (got.get('stdout') ?? null) : null;
    const stderr = opts.stderr && !opts.tty ? (got.get('stderr') ?? null) : null;
    const io: StreamIO = {
      stdin: opts.stdin ? (got.get('stdin') ?? null) : null,
      stdout,
      stderr,
      resize,
    };
    // The client never writes on the error stream; drain it in case, and a stdin the request did
    // not ask for (its unread data would otherwise hold up the connection).
    const errStream = got.get('error');
    errStream?.resume();
    if (!opts.stdin) got.get('stdin')?.resume();
    // client-go sends the terminal size right after opening the streams: give it a moment so the
    // command starts with the right size (`stty size` as the first thing would otherwise see 0 0).
    if (resize && resizeStream) await resize.waitFirst(FIRST_RESIZE_WAIT_MS);
    if (conn.closed) return;
    const outcome = await runSession(run, io);
    if (conn.closed) return;
    await Promise.all([endAndWait(stdout), endAndWait(stderr)]);
    for (const [type, s] of got) {
      if (type !== 'error' && type !== 'stdin' && !s.writableEnded) s.end();
    }
    if (errStream && !errStream.destroyed) {
      const payload = encodeOutcome(version, outcome);
      if (payload) errStream.write(payload);
      await endAndWait(errStream);
    }
    // The client hangs up once it has read everything; close it ourselves if it does not.
    const linger = setTimeout(() => void conn.close(), sessionOpts.lingerMs ?? 5000);
    linger.unref();
    conn.once('close', () => clearTimeout(linger));
  };
  return conn;
}

/** Serves one exec/attach over an accepted websocket (channel protocols). */
export function serveRemoteCommandWebSocket(
  ws: WebSocket,
  protocol: ChannelProtocol,
  opts: RemoteCommandOptions,
  run: RemoteCommandRunner,
): ChannelMux {
  const stdin = opts.stdin ? new PassThrough({ highWaterMark: 64 * 1024 }) : null;
  stdin?.on('error', () => undefined);
  const resize = opts.tty ? new ResizeQueue() : null;
  let paused = false;
  const mux = new ChannelMux(ws, protocol, {
    onData: (channel, data) => {
      if (channel === CHANNEL_STDIN && stdin && !stdin.writableEnded && !stdin.destroyed) {
        if (!stdin.write(data) && !paused) {
          paused = true;
          mux.pause();
          stdin.once('drain', () => {
            paused = false;
            mux.resume();
          });
        }
      } else if (channel === CHANNEL_RESIZE && resize) {
        resize.feed(data);
      }
    },
    onCloseSignal: (channel) => {
      if (channel === CHANNEL_STDIN && stdin && !stdin.writableEnded) stdin.end();
    },
    onClose: () => {
      stdin?.destroy();
      stdout?.destroy();
      stderr?.destroy();
    },
  });
  const stdout = opts.stdout ? mux.writable(CHANNEL_STDOUT) : null;
  const stderr = opts.stderr && !opts.tty ? mux.writable(CHANNEL_STDERR) : null;
  // kubelet sends an empty message on the lowest writable channel to tell the client it is ready.
  const first = stdout ? CHANNEL_STDOUT : stderr ? CHANNEL_STDERR : CHANNEL_ERROR;
  mux.send(first, Buffer.alloc(0)).catch(() => undefined);
  const io: StreamIO = { stdin, stdout, stderr, resize };
  void (async () => {
    if (resize) await resize.waitFirst(FIRST_RESIZE_WAIT_MS);
    if (mux.isClosed) return;
    const outcome = await runSession(run, io);
    if (mux.isClosed) return;
    await Promise.all([endAndWait(stdout), endAndWait(stderr)]);
    const payload = encodeOutcome(protocol.version, outcome);
    if (payload) await mux.send(CHANNEL_ERROR, payload).catch(() => undefined);
    mux.close(1000);
  })().catch(() => mux.terminate());
  return mux;
}
