/**
 * Port forwarding (portforward.k8s.io).
 *
 * SPDY: for each forwarded connection the client opens two streams with the same `port` and
 * `requestID` headers: streamType=error (which it half-closes at once) then streamType=data. Once
 * both exist we connect the data stream to the port in the pod. When the forward ends we FIN the data
 * stream; a failure is written as text on the error stream; then the error stream is FIN'd (the
 * client reads it to its end). Old clients send no requestID: then the error stream's id names the
 * pair and the data stream's id is that plus 2.
 *
 * Websockets: the ports are those of the request (or `port` query parameters). Port number i uses
 * channel 2i for data and 2i+1 for errors; the first message we send on each channel carries the port
 * as 2 bytes, little endian. Each port carries one connection; the socket closes when all are done.
 */
import { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { SpdyConnection, type SpdyStream } from './spdy';
import { ChannelMux, type ChannelProtocol } from './websocket';

export const PORTFORWARD_PROTOCOL_V1 = 'portforward.k8s.io';

/** Connects `stream` to `port` in the pod; rejects with the reason when it cannot. */
export type PortForwarder = (port: number, stream: Duplex) => Promise<void>;

export interface PortForwardSessionOptions {
  /** Ports the request named; empty allows any. */
  allowedPorts: number[];
  /** Pod name used in error messages. */
  podSandboxId: string;
  /** How long the second stream of a pair may take (default 30 s). */
  streamCreationTimeoutMs?: number;
  /** Close an idle connection (no streams) after this long (default 4 h, as kubelet). */
  idleTimeoutMs?: number;
}

export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return undefined;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : undefined;
}

function forwardError(port: number, pod: string, err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return `error forwarding port ${port} to pod ${pod}: ${msg}`;
}

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** Serves port forwarding over an upgraded socket speaking SPDY. */
export function servePortForwardSpdy(
  socket: Duplex,
  head: Buffer,
  forward: PortForwarder,
  opts: PortForwardSessionOptions,
): SpdyConnection {
  const pairs = new Map<string, Pair>();
  let active = 0;
  let idleTimer: NodeJS.Timeout | null = null;
  const idleMs = opts.idleTimeoutMs ?? 4 * 60 * 60 * 1000;
  const armIdle = (): void => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = active === 0 && pairs.size === 0 ? setTimeout(() => void conn.close(), idleMs) : null;
    idleTimer?.unref();
  };

  const conn = new SpdyConnection(socket, {
    role: 'server',
    head,
    maxStreams: 512,
    onStream: (stream) => {
      const type = stream.header('streamtype');
      if (type !== 'error' && type !== 'data') return false;
      let requestId = stream.header('requestid');
      if (requestId === undefined) requestId = `#${type === 'error' ? stream.id : stream.id - 2}`;
      const pair = pairs.get(requestId) ?? {
        timer: setTimeout(() => {
          const p = pairs.get(requestId as string);
          if (!p) return;
          pairs.delete(requestId as string);
          p.error?.destroy();
          p.data?.destroy();
          armIdle();
        }, opts.streamCreationTimeoutMs ?? 30_000),
      };
      pair.timer.unref();
      if (pair[type] !== undefined) return false;
      pair[type] = stream;
      pairs.set(requestId, pair);
      if (pair.error && pair.data) {
        pairs.delete(requestId);
        clearTimeout(pair.timer);
        handlePair(pair.error, pair.data).catch(() => conn.destroy());
      }
      armIdle();
      return true;
    },
  });
  conn.once('close', () => {
    if (idleTimer) clearTimeout(idleTimer);
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
  });
  armIdle();

  const handlePair = async (errStream: SpdyStream, data: SpdyStream): Promise<void> => {
    active++;
    armIdle();
    errStream.resume(); // the client sends nothing there
    const port = parsePort(data.header('port'));
    let failure: string | null = null;
    if (port === undefined) {
      failure = `invalid port ${JSON.stringify(data.header('port') ?? '')}`;
    } else if (opts.allowedPorts.length > 0 && !opts.allowedPorts.includes(port)) {
      failure = `port ${port} was not requested for forwarding`;
    } else {
      try {
        await forward(port, data);
      } catch (err) {
        failure = forwardError(port, opts.podSandboxId, err);
      }
    }
    if (!data.destroyed && !data.writableEnded) data.end();
    if (!errStream.destroyed) {
      if (failure !== null) errStream.write(failure);
      errStream.end();
    }
    active--;
    armIdle();
  };
  return conn;
}

/** A Duplex over a websocket channel pair, as handed to the runtime for one port. */
class ChannelDuplex extends Duplex {
  private prefixSent = false;

  constructor(
    private readonly mux: ChannelMux,
    private readonly channel: number,
    private readonly port: number,
  ) {
    super({ allowHalfOpen: true, highWaterMark: 64 * 1024 });
    this.on('error', () => undefined);
  }

  /** Sends the port prefix (first message of the channel). */
  sendPrefix(): Promise<void> {
    if (this.prefixSent) return Promise.resolve();
    this.prefixSent = true;
    return this.mux.send(this.channel, portPrefix(this.port));
  }

  override _read(): void {
    this.mux.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.sendPrefix()
      .then(() => this.mux.send(this.channel, chunk))
      .then(() => cb(), (err: Error) => cb(err));
  }

  /** @internal */
  receive(data: Buffer): void {
    if (this.destroyed || this.readableEnded) return;
    if (!this.push(data)) this.mux.pause();
  }
}

export function portPrefix(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port, 0);
  return b;
}

/** Serves port forwarding over an accepted websocket. */
export function servePortForwardWebSocket(
  ws: WebSocket,
  protocol: ChannelProtocol,
  ports: number[],
  forward: PortForwarder,
  opts: PortForwardSessionOptions,
): ChannelMux {
  const duplexes: ChannelDuplex[] = [];
  const mux = new ChannelMux(ws, protocol, {
    onData: (channel, data) => {
      // Only data channels (even numbers) carry anything from the client.
      if (channel % 2 === 0) duplexes[channel / 2]?.receive(data);
    },
    onClose: () => {
      for (const d of duplexes) d.destroy();
    },
  });
  ports.forEach((port, i) => duplexes.push(new ChannelDuplex(mux, 2 * i, port)));
  void (async () => {
    try {
      await Promise.all(
        duplexes.map(async (d, i) => {
          await d.sendPrefix();
          await mux.send(2 * i + 1, portPrefix(ports[i]));
        }),
      );
    } catch {
      mux.terminate();
      return;
    }
    await Promise.all(
      duplexes.map(async (d, i) => {
        try {
          await forward(ports[i], d);
        } catch (err) {
          await mux.send(2 * i + 1, Buffer.from(forwardError(ports[i], opts.podSandboxId, err))).catch(() => undefined);
        }
      }),
    );
    mux.close(1000);
  })().catch(() => mux.terminate());
  return mux;
}
