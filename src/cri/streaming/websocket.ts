/**
 * The Kubernetes "channel" websocket protocols (channel.k8s.io family): every message carries one
 * stream. Binary variants prefix the payload with the channel number as one byte; base64 variants
 * send text messages: the channel as an ASCII digit ('0' + n) followed by the payload in base64.
 * v5.channel.k8s.io adds a close signal from the client: a message [255, channel] half-closes that
 * channel (end of stdin). The client learns that output streams ended only when the whole websocket
 * closes (normal closure, code 1000).
 */
import type { IncomingMessage } from 'node:http';
import { Duplex, Writable } from 'node:stream';
import type { WebSocket, RawData } from 'ws';

/** The close-signal channel of v5.channel.k8s.io. */
export const CLOSE_SIGNAL_CHANNEL = 255;

export interface ChannelProtocol {
  /** Subprotocol name as negotiated ('' when the client asked for none). */
  name: string;
  base64: boolean;
  /** 1 (no status object), 4 (metav1.Status on the error channel) or 5 (plus the close signal). */
  version: number;
}

/** Subprotocols of the exec/attach endpoints, kubelet's set. */
export const REMOTECOMMAND_WS_PROTOCOLS: readonly ChannelProtocol[] = [
  { name: 'v5.channel.k8s.io', base64: false, version: 5 },
  { name: 'v4.channel.k8s.io', base64: false, version: 4 },
  { name: 'v4.base64.channel.k8s.io', base64: true, version: 4 },
  { name: 'channel.k8s.io', base64: false, version: 1 },
  { name: 'base64.channel.k8s.io', base64: true, version: 1 },
  { name: '', base64: false, version: 1 },
];

/** Subprotocols of the port-forward endpoint. */
export const PORTFORWARD_WS_PROTOCOLS: readonly ChannelProtocol[] = [
  { name: 'v4.channel.k8s.io', base64: false, version: 4 },
  { name: 'v4.base64.channel.k8s.io', base64: true, version: 4 },
  { name: 'channel.k8s.io', base64: false, version: 1 },
  { name: 'base64.channel.k8s.io', base64: true, version: 1 },
  { name: '', base64: false, version: 1 },
];

/** The client's offered subprotocols (Sec-WebSocket-Protocol, comma separated, in order). */
export function offeredSubprotocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  const joined = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return joined
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
}

/**
 * The first offered protocol we support (the client's order wins, as in kubelet); the '' entry when
 * the client offered none; undefined when it offered only unsupported ones.
 */
export function chooseSubprotocol(offered: string[], supported: readonly ChannelProtocol[]): ChannelProtocol | undefined {
  if (offered.length === 0) return supported.find((p) => p.name === '');
  for (const name of offered) {
    const p = supported.find((s) => s.name === name && name !== '');
    if (p) return p;
  }
  return undefined;
}

export interface ChannelMuxHandlers {
  /** A data message for channel `channel` (already decoded). */
  onData(channel: number, data: Buffer): void;
  /** v5 close signal for channel `channel`. */
  onCloseSignal?(channel: number): void;
  /** The websocket is gone (either side). */
  onClose(): void;
}

/** Splits one websocket into numbered channels. */
export class ChannelMux {
  private closed = false;

  constructor(
    readonly ws: WebSocket,
    readonly protocol: ChannelProtocol,
    private readonly handlers: ChannelMuxHandlers,
  ) {
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('close', () => this.onGone());
    ws.on('error', () => this.onGone());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sends one message on a channel; resolves when it is handed to the socket. */
  send(channel: number, data: Buffer): Promise<void> {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return Promise.reject(new Error('websocket is closed'));
    const frame = this.protocol.base64
      ? String.fromCharCode(48 + channel) + data.toString('base64')
      : Buffer.concat([Buffer.from([channel]), data]);
    return new Promise<void>((resolve, reject) => {
      this.ws.send(frame, { binary: !this.protocol.base64 }, (err?: Error) => (err ? reject(err) : resolve()));
    });
  }

  /** A Writable whose chunks go out on `channel` (end() sends nothing: channels close with the socket). */
  writable(channel: number): Writable {
    const w = new Writable({
      highWaterMark: 64 * 1024,
      write: (chunk: Buffer, _enc, cb) => {
        this.send(channel, chunk).then(() => cb(), (err: Error) => cb(err));
      },
    });
    w.on('error', () => undefined);
    return w;
  }

  /** Normal closure (1000) once queued messages are sent. */
  close(code = 1000, reason = ''): void {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close(code, reason);
    const timer = setTimeout(() => this.ws.terminate(), 5000);
    timer.unref();
    this.ws.once('close', () => clearTimeout(timer));
  }

  terminate(): void {
    this.ws.terminate();
    this.onGone();
  }

  pause(): void {
    if (!this.closed) this.ws.pause();
  }

  resume(): void {
    if (!this.closed) this.ws.resume();
  }

  private onMessage(raw: RawData, isBinary: boolean): void {
    if (this.closed) return;
    const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
    if (buf.length === 0) return;
    if (this.protocol.version >= 5 && buf[0] === CLOSE_SIGNAL_CHANNEL && (isBinary || !this.protocol.base64)) {
      if (buf.length !== 2) {
        this.close(1002, 'bad close signal');
        return;
      }
      this.handlers.onCloseSignal?.(buf[1]);
      return;
    }
    if (this.protocol.base64) {
      const channel = buf[0] - 48;
      if (channel < 0 || channel > 9) return;
      const text = buf.subarray(1).toString('latin1');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return;
      this.handlers.onData(channel, Buffer.from(text, 'base64'));
      return;
    }
    this.handlers.onData(buf[0], buf.subarray(1));
  }

  private onGone(): void {
    if (this.closed) return;
    this.closed = true;
    this.handlers.onClose();
  }
}

/** Prefix of the subprotocols that tunnel a SPDY connection through a websocket (client-go). */
export const SPDY_TUNNEL_PREFIX = 'SPDY/3.1+';

/** The tunneled protocol ('portforward.k8s.io') when the client offers one we support. */
export function chooseTunnelProtocol(offered: string[], inner: readonly string[]): string | undefined {
  for (const p of offered) {
    if (p.startsWith(SPDY_TUNNEL_PREFIX) && inner.includes(p.slice(SPDY_TUNNEL_PREFIX.length))) return p;
  }
  return undefined;
}

/**
 * A byte stream over a websocket: binary messages in order make the stream (each write is one
 * message). Ending it closes the websocket normally; the peer's close ends the readable side.
 */
export class WebSocketByteStream extends Duplex {
  constructor(private readonly ws: WebSocket) {
    super({ allowHalfOpen: false, highWaterMark: 64 * 1024 });
    this.on('error', () => undefined);
    ws.on('message', (raw: RawData, isBinary: boolean) => {
      if (!isBinary) {
        this.destroy();
        ws.terminate();
        return;
      }
      const buf = Array.isArray(raw) ? Buffer.concat(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
      if (!this.push(buf)) ws.pause();
    });
    ws.on('close', () => {
      this.push(null);
      this.destroy();
    });
    ws.on('error', () => this.destroy());
  }

  override _read(): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState !== this.ws.OPEN) {
      cb(new Error('websocket is closed'));
      return;
    }
    this.ws.send(chunk, { binary: true }, (err?: Error) => cb(err ?? null));
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000);
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(1000);
    const t = setTimeout(() => this.ws.terminate(), 2000);
    t.unref();
    this.ws.once('close', () => clearTimeout(t));
    cb(err);
  }
}
