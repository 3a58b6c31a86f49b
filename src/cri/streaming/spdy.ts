/**
 * SPDY/3.1 framing and connections, as spoken by Kubernetes clients (client-go over moby/spdystream)
 * for exec, attach and port-forward. Written from the SPDY Protocol draft 3.1:
 *
 *   control frame: |1|version(15)|type(16)|flags(8)|length(24)|payload...
 *   data frame:    |0|stream id(31)|flags(8)|length(24)|data...
 *
 * Name/value header blocks are zlib-compressed with the SPDY/3 dictionary; each direction of a
 * connection has one compression context for its whole life, flushed with Z_SYNC_FLUSH after every
 * block. Flow control: each stream starts with a 64 KiB window in each direction. We send
 * WINDOW_UPDATE frames as the reader consumes what we received; we hold our own sends to the peer's
 * window only once the peer shows it does flow control (it sent a WINDOW_UPDATE or an initial window
 * SETTING): moby/spdystream, which kubectl and crictl use, never sends WINDOW_UPDATE and does not
 * limit its own sends, so enforcing windows against it would stall every transfer at 64 KiB.
 * Against such peers memory is bounded by pausing the socket while a stream's unread data is large.
 */
import { EventEmitter } from 'node:events';
import { Duplex } from 'node:stream';
import * as zlib from 'node:zlib';
import { SPDY3_HEADER_DICTIONARY } from './spdy-dictionary';

export const SPDY_VERSION = 3;

export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;
export const FLAG_SETTINGS_CLEAR = 0x01;

export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

export const SETTINGS_INITIAL_WINDOW_SIZE = 7;
export const DEFAULT_WINDOW = 64 * 1024;
export const MAX_FRAME_LENGTH = 0xffffff;
const MAX_WINDOW = 0x7fffffff;

export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

// ---------------------------------------------------------------------------------------------
// Raw frames

export interface RawControlFrame {
  control: true;
  version: number;
  type: number;
  flags: number;
  payload: Buffer;
}

export interface RawDataFrame {
  control: false;
  streamId: number;
  flags: number;
  payload: Buffer;
}

export type RawFrame = RawControlFrame | RawDataFrame;

export function encodeControlFrame(type: number, flags: number, payload: Buffer, version = SPDY_VERSION): Buffer {
  if (payload.length > MAX_FRAME_LENGTH) throw new SpdyProtocolError(`control frame too long (${payload.length})`);
  const out = Buffer.allocUnsafe(8 + payload.length);
  out.writeUInt16BE(0x8000 | (version & 0x7fff), 0);
  out.writeUInt16BE(type & 0xffff, 2);
  out.writeUInt32BE((((flags & 0xff) << 24) | payload.length) >>> 0, 4);
  payload.copy(out, 8);
  return out;
}

export function encodeDataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  if (data.length > MAX_FRAME_LENGTH) throw new SpdyProtocolError(`data frame too long (${data.length})`);
  const out = Buffer.allocUnsafe(8 + data.length);
  out.writeUInt32BE(streamId & 0x7fffffff, 0);
  out.writeUInt32BE((((flags & 0xff) << 24) | data.length) >>> 0, 4);
  data.copy(out, 8);
  return out;
}

export interface FrameParserLimits {
  /** Largest control frame payload accepted (default 64 KiB). */
  maxControlPayload?: number;
  /** Largest data frame payload accepted (default the protocol maximum, 16 MiB - 1). */
  maxDataPayload?: number;
}

/** Incremental frame splitter: push bytes, get whole frames. Throws SpdyProtocolError on bad input. */
export class FrameParser {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly maxControl: number;
  private readonly maxData: number;

  constructor(limits: FrameParserLimits = {}) {
    this.maxControl = limits.maxControlPayload ?? 64 * 1024;
    this.maxData = limits.maxDataPayload ?? MAX_FRAME_LENGTH;
  }

  push(chunk: Buffer): RawFrame[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: RawFrame[] = [];
    for (;;) {
      if (this.buffered < 8) break;
      const head = this.peek(8);
      const word0 = head.readUInt32BE(0);
      const word1 = head.readUInt32BE(4);
      const flags = word1 >>> 24;
      const length = word1 & 0xffffff;
      const control = (word0 & 0x80000000) !== 0;
      if (control && length > this.maxControl) throw new SpdyProtocolError(`control frame of ${length} bytes is too large`);
      if (!control && length > this.maxData) throw new SpdyProtocolError(`data frame of ${length} bytes is too large`);
      if (this.buffered < 8 + length) break;
      const whole = this.take(8 + length);
      const payload = whole.subarray(8);
      if (control) {
        frames.push({ control: true, version: (word0 >>> 16) & 0x7fff, type: word0 & 0xffff, flags, payload });
      } else {
        frames.push({ control: false, streamId: word0 & 0x7fffffff, flags, payload });
      }
    }
    return frames;
  }

  /** Bytes held that do not yet make a whole frame. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    const joined = Buffer.concat(this.chunks);
    this.chunks = [joined];
    return joined.subarray(0, n);
  }

  private take(n: number): Buffer {
    let first = this.chunks[0];
    if (first.length < n) {
      first = Buffer.concat(this.chunks);
      this.chunks = [first];
    }
    const out = Buffer.from(first.subarray(0, n));
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Control frame payloads

export interface SynStream {
  streamId: number;
  associatedStreamId: number;
  priority: number;
  slot: number;
  /** Compressed name/value block. */
  headerBlock: Buffer;
}

export interface SettingsEntry {
  flags: number;
  id: number;
  value: number;
}

function need(payload: Buffer, n: number, what: string): void {
  if (payload.length < n) throw new SpdyProtocolError(`${what} frame too short (${payload.length} bytes)`);
}

export function encodeSynStreamPayload(f: SynStream): Buffer {
  const head = Buffer.alloc(10);
  head.writeUInt32BE(f.streamId & 0x7fffffff, 0);
  head.writeUInt32BE(f.associatedStreamId & 0x7fffffff, 4);
  head[8] = (f.priority & 0x7) << 5;
  head[9] = f.slot & 0xff;
  return Buffer.concat([head, f.headerBlock]);
}

export function parseSynStreamPayload(payload: Buffer): SynStream {
  need(payload, 10, 'SYN_STREAM');
  return {
    streamId: payload.readUInt32BE(0) & 0x7fffffff,
    associatedStreamId: payload.readUInt32BE(4) & 0x7fffffff,
    priority: payload[8] >>> 5,
    slot: payload[9],
    headerBlock: payload.subarray(10),
  };
}

/** SYN_REPLY and HEADERS share this layout: stream id, then the header block. */
export function encodeStreamHeadersPayload(streamId: number, headerBlock: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(streamId & 0x7fffffff, 0);
  return Buffer.concat([head, headerBlock]);
}

export function parseStreamHeadersPayload(payload: Buffer, what: string): { streamId: number; headerBlock: Buffer } {
  need(payload, 4, what);
  return { streamId: payload.readUInt32BE(0) & 0x7fffffff, headerBlock: payload.subarray(4) };
}

export function encodeRstStreamPayload(streamId: number, status: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(streamId & 0x7fffffff, 0);
  b.writeUInt32BE(status >>> 0, 4);
  return b;
}

export function parseRstStreamPayload(payload: Buffer): { streamId: number; status: number } {
  need(payload, 8, 'RST_STREAM');
  return { streamId: payload.readUInt32BE(0) & 0x7fffffff, status: payload.readUInt32BE(4) };
}

export function encodeSettingsPayload(entries: SettingsEntry[]): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    b.writeUInt32BE((((e.flags & 0xff) << 24) | (e.id & 0xffffff)) >>> 0, 4 + 8 * i);
    b.writeUInt32BE(e.value >>> 0, 8 + 8 * i);
  });
  return b;
}

export function parseSettingsPayload(payload: Buffer): SettingsEntry[] {
  need(payload, 4, 'SETTINGS');
  const n = payload.readUInt32BE(0);
  if (payload.length !== 4 + 8 * n) throw new SpdyProtocolError(`SETTINGS frame length does not match ${n} entries`);
  const out: SettingsEntry[] = [];
  for (let i = 0; i < n; i++) {
    const w = payload.readUInt32BE(4 + 8 * i);
    out.push({ flags: w >>> 24, id: w & 0xffffff, value: payload.readUInt32BE(8 + 8 * i) });
  }
  return out;
}

export function encodePingPayload(id: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(id >>> 0, 0);
  return b;
}

export function parsePingPayload(payload: Buffer): number {
  if (payload.length !== 4) throw new SpdyProtocolError('PING frame must be 4 bytes');
  return payload.readUInt32BE(0);
}

export function encodeGoAwayPayload(lastGoodStreamId: number, status: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  b.writeUInt32BE(status >>> 0, 4);
  return b;
}

export function parseGoAwayPayload(payload: Buffer): { lastGoodStreamId: number; status: number } {
  if (payload.length !== 8) throw new SpdyProtocolError('GOAWAY frame must be 8 bytes');
  return { lastGoodStreamId: payload.readUInt32BE(0) & 0x7fffffff, status: payload.readUInt32BE(4) };
}

export function encodeWindowUpdatePayload(streamId: number, delta: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(streamId & 0x7fffffff, 0);
  b.writeUInt32BE(delta & 0x7fffffff, 4);
  return b;
}

export function parseWindowUpdatePayload(payload: Buffer): { streamId: number; delta: number } {
  if (payload.length !== 8) throw new SpdyProtocolError('WINDOW_UPDATE frame must be 8 bytes');
  return { streamId: payload.readUInt32BE(0) & 0x7fffffff, delta: payload.readUInt32BE(4) & 0x7fffffff };
}

// ---------------------------------------------------------------------------------------------
// Name/value header blocks

/** Header names are lower case; a name may carry several values (NUL-separated on the wire). */
export type SpdyHeaders = Map<string, string[]>;

export type HeaderInput = SpdyHeaders | Record<string, string | string[]>;

export function toHeaderMap(input: HeaderInput): SpdyHeaders {
  const out: SpdyHeaders = new Map();
  const entries: Iterable<[string, string | string[]]> = input instanceof Map ? input.entries() : Object.entries(input);
  for (const [name, value] of entries) {
    const key = name.toLowerCase();
    const values = Array.isArray(value) ? value : [value];
    out.set(key, [...(out.get(key) ?? []), ...values]);
  }
  return out;
}

/** The uncompressed block: count, then (length, name, length, values joined by NUL) per name. */
export function encodeHeaderBlock(headers: HeaderInput): Buffer {
  const map = toHeaderMap(headers);
  const parts: Buffer[] = [];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(map.size, 0);
  parts.push(count);
  for (const [name, values] of map) {
    const n = Buffer.from(name, 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    const nl = Buffer.alloc(4);
    nl.writeUInt32BE(n.length, 0);
    const vl = Buffer.alloc(4);
    vl.writeUInt32BE(v.length, 0);
    parts.push(nl, n, vl, v);
  }
  return Buffer.concat(parts);
}

export interface HeaderBlockLimits {
  maxPairs?: number;
}

export function decodeHeaderBlock(block: Buffer, limits: HeaderBlockLimits = {}): SpdyHeaders {
  const maxPairs = limits.maxPairs ?? 256;
  need(block, 4, 'header block');
  const n = block.readUInt32BE(0);
  if (n > maxPairs) throw new SpdyProtocolError(`header block has too many pairs (${n})`);
  const out: SpdyHeaders = new Map();
  let off = 4;
  const readString = (): string => {
    if (off + 4 > block.length) throw new SpdyProtocolError('truncated header block');
    const len = block.readUInt32BE(off);
    off += 4;
    if (len > block.length - off) throw new SpdyProtocolError('truncated header block');
    const s = block.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  for (let i = 0; i < n; i++) {
    const name = readString().toLowerCase();
    if (name.length === 0) throw new SpdyProtocolError('empty header name');
    const value = readString();
    out.set(name, [...(out.get(name) ?? []), ...value.split('\0')]);
  }
  if (off !== block.length) throw new SpdyProtocolError('trailing bytes after header block');
  return out;
}

export function headerValue(headers: SpdyHeaders, name: string): string | undefined {
  return headers.get(name.toLowerCase())?.[0];
}

/**
 * One direction's zlib context. Calls are serialized; each returns exactly the output of its input
 * (every call ends with a Z_SYNC_FLUSH). After a zlib error the context is dead: every later call
 * rejects (the peer's stream is out of sync, so the connection must go).
 */
export class HeaderCodec {
  private readonly z: zlib.Deflate | zlib.Inflate;
  private chain: Promise<unknown> = Promise.resolve();
  private sink: ((chunk: Buffer) => void) | null = null;
  private failure: Error | null = null;
  private onFail: ((err: Error) => void) | null = null;

  private constructor(z: zlib.Deflate | zlib.Inflate, private readonly maxOutput: number) {
    this.z = z;
    z.on('data', (chunk: Buffer) => this.sink?.(chunk));
    z.on('error', (err: Error) => {
      this.failure = err;
      this.onFail?.(err);
    });
  }

  static compressor(): HeaderCodec {
    return new HeaderCodec(zlib.createDeflate({ dictionary: SPDY3_HEADER_DICTIONARY, level: 6 }), Number.MAX_SAFE_INTEGER);
  }

  /** maxOutput bounds one decompressed block (a larger one is a protocol error). */
  static decompressor(maxOutput = 64 * 1024): HeaderCodec {
    return new HeaderCodec(zlib.createInflate({ dictionary: SPDY3_HEADER_DICTIONARY }), maxOutput);
  }

  process(input: Buffer): Promise<Buffer> {
    const run = (): Promise<Buffer> =>
      new Promise<Buffer>((resolve, reject) => {
        if (this.failure) {
          reject(this.failure);
          return;
        }
        const chunks: Buffer[] = [];
        let total = 0;
        this.sink = (chunk) => {
          total += chunk.length;
          if (total <= this.maxOutput) chunks.push(chunk);
        };
        this.onFail = (err) => {
          this.sink = null;
          this.onFail = null;
          reject(err);
        };
        this.z.write(input);
        this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
          this.sink = null;
          this.onFail = null;
          if (this.failure) reject(this.failure);
          else if (total > this.maxOutput) {
            this.failure = new SpdyProtocolError(`header block larger than ${this.maxOutput} bytes`);
            reject(this.failure);
          } else resolve(Buffer.concat(chunks));
        });
      });
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  close(): void {
    this.failure ??= new Error('header codec closed');
    this.z.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Streams and connections

export interface SpdyConnectionOptions {
  role: 'client' | 'server';
  /**
   * Called for each stream the peer opens (SYN_STREAM). Return true to accept it (a SYN_REPLY is
   * sent before any data the handler writes), false to refuse it (RST_STREAM REFUSED_STREAM).
   */
  onStream?: (stream: SpdyStream) => boolean;
  /** Bytes read from the socket before the upgrade that belong to SPDY. */
  head?: Buffer;
  /** Our receive window per stream (default 64 KiB). */
  initialWindow?: number;
  /** Largest decompressed header block (default 64 KiB). */
  maxHeaderBytes?: number;
  /** Most streams open at once (default 256). */
  maxStreams?: number;
  /** Unread bytes one stream may hold before the socket is paused (default 1 MiB). */
  maxBufferedPerStream?: number;
}

export class SpdyStream extends Duplex {
  /** Whether we sent FIN (or the stream is unidirectional toward us). */
  localFin = false;
  /** Whether the peer sent FIN. */
  remoteFin = false;
  /** Whether either side reset the stream. */
  isReset = false;
  /** Bytes we may still send (peer's window). */
  sendWindow: number;
  private unacked = 0;
  private windowWaiters: Array<() => void> = [];
  /** @internal resolves when the opening frame (SYN_STREAM or SYN_REPLY) is queued for sending. */
  opened: Promise<void>;
  /** @internal */
  markOpened: () => void = () => undefined;

  constructor(
    private readonly conn: SpdyConnection,
    readonly id: number,
    readonly headers: SpdyHeaders,
    sendWindow: number,
    private readonly recvWindow: number,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
    this.sendWindow = sendWindow;
    this.opened = new Promise<void>((resolve) => {
      this.markOpened = resolve;
    });
    // Users of a stream see resets as 'close' without 'end'; never crash on a stray error.
    this.on('error', () => undefined);
  }

  header(name: string): string | undefined {
    return headerValue(this.headers, name);
  }

  override _read(): void {
    this.ackConsumed();
    this.conn.streamDrained(this);
  }

  // Every way of consuming a Readable (flowing 'data', read(), pipe, async iteration) goes through
  // read(); _read alone is not enough: Node does not call it again until we push.
  // (Typed as NodeJS.ReadableStream types it; like Readable.read it returns null when empty.)
  override read(size?: number): string | Buffer {
    const chunk = super.read(size) as string | Buffer;
    if (chunk !== null && this.unacked > 0) {
      this.ackConsumed();
      if (this.readableLength <= this.readableHighWaterMark) this.conn.streamDrained(this);
    }
    return chunk;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.conn.sendData(this, chunk, false).then(() => cb(), (err: Error) => cb(err));
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.conn.sendData(this, Buffer.alloc(0), true).then(() => cb(), (err: Error) => cb(err));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.conn.streamDestroyed(this);
    this.wakeWindowWaiters();
    cb(err);
  }

  /** @internal data arrived from the peer */
  receive(data: Buffer): void {
    if (this.destroyed || this.remoteFin) return;
    if (data.length > 0) {
      this.unacked += data.length;
      this.push(data);
      this.ackConsumed();
    }
  }

  /** @internal the peer sent FIN */
  receiveFin(): void {
    if (this.remoteFin) return;
    this.remoteFin = true;
    if (!this.destroyed) this.push(null);
  }

  /** @internal */
  addSendWindow(delta: number): boolean {
    this.sendWindow += delta;
    this.wakeWindowWaiters();
    return this.sendWindow <= MAX_WINDOW;
  }

  /** @internal */
  waitWindow(): Promise<void> {
    if (this.sendWindow > 0 || this.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => this.windowWaiters.push(resolve));
  }

  private wakeWindowWaiters(): void {
    const waiters = this.windowWaiters;
    this.windowWaiters = [];
    for (const w of waiters) w();
  }

  /** Sends a WINDOW_UPDATE for data the reader took, once half the window is used. */
  private ackConsumed(): void {
    if (this.remoteFin || this.destroyed || this.unacked === 0) return;
    // What the reader took: received but no longer buffered.
    const consumed = this.unacked - Math.min(this.unacked, this.readableLength);
    if (consumed >= this.recvWindow / 2) {
      this.unacked -= consumed;
      this.conn.sendWindowUpdate(this.id, consumed);
    }
  }
}

interface PendingOpen {
  resolve: (s: SpdyStream) => void;
  reject: (e: Error) => void;
}

/**
 * A SPDY/3.1 session over a connected socket, as client (odd stream ids) or server (even ids).
 * Emits 'close' (once) when the socket is gone; never emits 'error'.
 */
export class SpdyConnection extends EventEmitter {
  private readonly streams = new Map<number, SpdyStream>();
  private readonly pendingOpens = new Map<number, PendingOpen>();
  private readonly pendingPings = new Map<number, { start: bigint; resolve: (rttMs: number) => void; reject: (e: Error) => void }>();
  private readonly parser: FrameParser;
  private readonly compressor = HeaderCodec.compressor();
  private readonly decompressor: HeaderCodec;
  private readonly onStream: (stream: SpdyStream) => boolean;
  private readonly initialRecvWindow: number;
  private readonly maxStreams: number;
  private readonly maxBufferedPerStream: number;
  private peerInitialWindow = DEFAULT_WINDOW;
  private enforceSendWindow = false;
  private nextStreamId: number;
  private nextPingId: number;
  private lastPeerStreamId = 0;
  private outChain: Promise<void> = Promise.resolve();
  private inChain: Promise<void> = Promise.resolve();
  private inQueued = 0;
  private readonly blockedStreams = new Set<SpdyStream>();
  private socketPausedForInput = false;
  private goneAway = false;
  private peerGoneAway = false;
  private isClosed = false;

  constructor(
    private readonly socket: Duplex,
    opts: SpdyConnectionOptions,
  ) {
    super();
    const server = opts.role === 'server';
    this.nextStreamId = server ? 2 : 1;
    this.nextPingId = server ? 2 : 1;
    this.onStream = opts.onStream ?? (() => false);
    this.initialRecvWindow = opts.initialWindow ?? DEFAULT_WINDOW;
    this.maxStreams = opts.maxStreams ?? 256;
    this.maxBufferedPerStream = opts.maxBufferedPerStream ?? 1024 * 1024;
    this.decompressor = HeaderCodec.decompressor(opts.maxHeaderBytes ?? 64 * 1024);
    this.parser = new FrameParser({ maxControlPayload: 64 * 1024 });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    socket.on('end', () => this.teardown());
    if (opts.head && opts.head.length > 0) {
      const head = opts.head;
      queueMicrotask(() => this.onData(head));
    }
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Number of open streams. */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Opens a stream (SYN_STREAM) and resolves when the peer accepts it (SYN_REPLY). */
  openStream(headers: HeaderInput, opts: { fin?: boolean; priority?: number } = {}): Promise<SpdyStream> {
    if (this.isClosed || this.goneAway || this.peerGoneAway) return Promise.reject(new Error('SPDY connection is closed'));
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const map = toHeaderMap(headers);
    const stream = new SpdyStream(this, id, map, this.peerInitialWindow, this.initialRecvWindow);
    this.streams.set(id, stream);
    const flags = opts.fin ? FLAG_FIN : 0;
    if (opts.fin) stream.localFin = true;
    const block = encodeHeaderBlock(map);
    const compressed = this.compressor.process(block);
    compressed.catch(() => undefined); // awaited below; failures drop the connection there
    this.enqueue(async () => {
      const headerBlock = await compressed;
      return encodeControlFrame(
        FrameType.SYN_STREAM,
        flags,
        encodeSynStreamPayload({ streamId: id, associatedStreamId: 0, priority: opts.priority ?? 0, slot: 0, headerBlock }),
      );
    });
    stream.markOpened();
    return new Promise<SpdyStream>((resolve, reject) => {
      this.pendingOpens.set(id, { resolve, reject });
    });
  }

  /** Round trip time of a PING (ms). */
  ping(timeoutMs = 10_000): Promise<number> {
    if (this.isClosed) return Promise.reject(new Error('SPDY connection is closed'));
    const id = this.nextPingId;
    this.nextPingId = this.nextPingId + 2 > 0x7fffffff ? (id % 2 === 1 ? 1 : 2) : this.nextPingId + 2;
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pendingPings.delete(id);
        reject(new Error('SPDY ping timed out'));
      }, timeoutMs);
      timer.unref();
      this.pendingPings.set(id, {
        start: process.hrtime.bigint(),
        resolve: (rtt) => {
          clearTimeout(timer);
          resolve(rtt);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.enqueue(() => encodeControlFrame(FrameType.PING, 0, encodePingPayload(id)));
    });
  }

  /** Sends SETTINGS (e.g. an initial window). */
  sendSettings(entries: SettingsEntry[]): void {
    this.enqueue(() => encodeControlFrame(FrameType.SETTINGS, 0, encodeSettingsPayload(entries)));
  }

  /** Tells the peer no new streams will be accepted. */
  goAway(status: number = GoAwayStatus.OK): void {
    if (this.goneAway || this.isClosed) return;
    this.goneAway = true;
    const last = this.lastPeerStreamId;
    this.enqueue(() => encodeControlFrame(FrameType.GOAWAY, 0, encodeGoAwayPayload(last, status)));
  }

  /**
   * Graceful close: GOAWAY, flush what is queued, end our side of the socket, and destroy it if the
   * peer has not closed within graceMs.
   */
  close(graceMs = 2000): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.isClosed) {
        resolve();
        return;
      }
      this.once('close', () => resolve());
      this.goAway(GoAwayStatus.OK);
      const chain = this.outChain;
      void chain.then(() => {
        this.socket.end();
      });
      const timer = setTimeout(() => this.destroy(), graceMs);
      timer.unref();
    });
  }

  /** Drops the connection at once. */
  destroy(): void {
    this.socket.destroy();
    this.teardown();
  }

  // ---- internals used by SpdyStream -------------------------------------------------------

  /** @internal */
  async sendData(stream: SpdyStream, data: Buffer, fin: boolean): Promise<void> {
    await stream.opened;
    if (stream.isReset || this.isClosed) throw new Error(`SPDY stream ${stream.id} is closed`);
    if (stream.localFin) {
      if (fin) return;
      throw new Error(`SPDY stream ${stream.id} is half-closed`);
    }
    const maxChunk = 32 * 1024;
    let off = 0;
    do {
      if (this.enforceSendWindow && data.length > 0) {
        while (stream.sendWindow <= 0) {
          await stream.waitWindow();
          if (stream.isReset || stream.destroyed || this.isClosed) throw new Error(`SPDY stream ${stream.id} is closed`);
        }
      }
      let n = Math.min(maxChunk, data.length - off);
      if (this.enforceSendWindow) n = Math.min(n, Math.max(stream.sendWindow, 0));
      const piece = data.subarray(off, off + n);
      off += n;
      const last = off >= data.length;
      stream.sendWindow -= n;
      const flags = fin && last ? FLAG_FIN : 0;
      if (flags) stream.localFin = true;
      await this.enqueue(() => encodeDataFrame(stream.id, flags, piece));
      if (this.isClosed) throw new Error('SPDY connection is closed');
    } while (off < data.length);
    if (fin) this.maybeForget(stream);
  }

  /** @internal */
  sendWindowUpdate(streamId: number, delta: number): void {
    if (this.isClosed || delta <= 0) return;
    this.enqueue(() => encodeControlFrame(FrameType.WINDOW_UPDATE, 0, encodeWindowUpdatePayload(streamId, delta)));
  }

  /** @internal */
  streamDestroyed(stream: SpdyStream): void {
    if (this.streams.get(stream.id) === stream) {
      this.streams.delete(stream.id);
      if (!stream.isReset && !(stream.localFin && stream.remoteFin) && !this.isClosed) {
        stream.isReset = true;
        this.sendRst(stream.id, RstStatus.CANCEL);
      }
    }
    this.streamDrained(stream);
  }

  /** @internal the reader of a stream wants more: resume the socket if it was paused for it */
  streamDrained(stream: SpdyStream): void {
    if (this.blockedStreams.delete(stream)) this.updatePause();
  }

  // ---- frame I/O --------------------------------------------------------------------------

  private enqueue(produce: () => Buffer | Promise<Buffer>): Promise<void> {
    const run = async (): Promise<void> => {
      if (this.isClosed) return;
      const buf = await produce();
      if (this.isClosed) return;
      if (!this.socket.write(buf)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            this.socket.off('drain', done);
            this.socket.off('close', done);
            resolve();
          };
          this.socket.on('drain', done);
          this.socket.on('close', done);
        });
      }
    };
    const p = this.outChain.then(run);
    this.outChain = p.catch(() => {
      // A header codec failure leaves the peer's decompressor out of sync: drop the connection.
      this.destroy();
    });
    return p;
  }

  private sendRst(streamId: number, status: number): void {
    this.enqueue(() => encodeControlFrame(FrameType.RST_STREAM, 0, encodeRstStreamPayload(streamId, status)));
  }

  private onData(chunk: Buffer): void {
    if (this.isClosed) return;
    let frames: RawFrame[];
    try {
      frames = this.parser.push(chunk);
    } catch {
      this.protocolError();
      return;
    }
    for (const frame of frames) {
      this.inQueued++;
      this.inChain = this.inChain
        .then(() => this.handleFrame(frame))
        .catch(() => this.protocolError())
        .finally(() => {
          this.inQueued--;
          this.updatePause();
        });
    }
    this.updatePause();
  }

  private updatePause(): void {
    if (this.isClosed) return;
    const shouldPause = this.inQueued > 64 || this.blockedStreams.size > 0;
    if (shouldPause && !this.socketPausedForInput) {
      this.socketPausedForInput = true;
      this.socket.pause();
    } else if (!shouldPause && this.socketPausedForInput) {
      this.socketPausedForInput = false;
      this.socket.resume();
    }
  }

  private protocolError(): void {
    if (this.isClosed) return;
    this.goAway(GoAwayStatus.PROTOCOL_ERROR);
    void this.outChain.then(() => this.destroy());
    const t = setTimeout(() => this.destroy(), 1000);
    t.unref();
  }

  private isPeerStreamId(id: number): boolean {
    // The peer of a server is a client (odd ids) and vice versa.
    return (id % 2 === 1) === (this.nextStreamId % 2 === 0);
  }

  private async handleFrame(frame: RawFrame): Promise<void> {
    if (this.isClosed) return;
    if (!frame.control) {
      this.handleDataFrame(frame);
      return;
    }
    if (frame.version !== SPDY_VERSION) {
      if (frame.type === FrameType.SYN_STREAM && frame.payload.length >= 4) {
        this.sendRst(frame.payload.readUInt32BE(0) & 0x7fffffff, RstStatus.UNSUPPORTED_VERSION);
        return;
      }
      throw new SpdyProtocolError(`unsupported SPDY version ${frame.version}`);
    }
    switch (frame.type) {
      case FrameType.SYN_STREAM:
        await this.handleSynStream(frame);
        return;
      case FrameType.SYN_REPLY: {
        const f = parseStreamHeadersPayload(frame.payload, 'SYN_REPLY');
        await this.decodeHeaders(f.headerBlock);
        const pending = this.pendingOpens.get(f.streamId);
        const stream = this.streams.get(f.streamId);
        if (!pending || !stream) return;
        this.pendingOpens.delete(f.streamId);
        pending.resolve(stream);
        if (frame.flags & FLAG_FIN) this.finFromPeer(stream);
        return;
      }
      case FrameType.HEADERS: {
        const f = parseStreamHeadersPayload(frame.payload, 'HEADERS');
        await this.decodeHeaders(f.headerBlock);
        const stream = this.streams.get(f.streamId);
        if (stream && frame.flags & FLAG_FIN) this.finFromPeer(stream);
        return;
      }
      case FrameType.RST_STREAM: {
        const f = parseRstStreamPayload(frame.payload);
        const stream = this.streams.get(f.streamId);
        if (!stream) return;
        stream.isReset = true;
        this.streams.delete(f.streamId);
        const pending = this.pendingOpens.get(f.streamId);
        if (pending) {
          this.pendingOpens.delete(f.streamId);
          pending.reject(new Error(`stream ${f.streamId} reset by peer (status ${f.status})`));
        }
        stream.destroy();
        return;
      }
      case FrameType.SETTINGS: {
        for (const e of parseSettingsPayload(frame.payload)) {
          if (e.id === SETTINGS_INITIAL_WINDOW_SIZE && e.value <= MAX_WINDOW) {
            const delta = e.value - this.peerInitialWindow;
            this.peerInitialWindow = e.value;
            this.enforceSendWindow = true;
            for (const s of this.streams.values()) s.addSendWindow(delta);
          }
        }
        return;
      }
      case FrameType.PING: {
        const id = parsePingPayload(frame.payload);
        if (id % 2 === this.nextPingId % 2) {
          const p = this.pendingPings.get(id);
          if (p) {
            this.pendingPings.delete(id);
            p.resolve(Number(process.hrtime.bigint() - p.start) / 1e6);
          }
        } else {
          this.enqueue(() => encodeControlFrame(FrameType.PING, 0, encodePingPayload(id)));
        }
        return;
      }
      case FrameType.GOAWAY: {
        const f = parseGoAwayPayload(frame.payload);
        this.peerGoneAway = true;
        for (const [id, s] of this.streams) {
          if (!this.isPeerStreamId(id) && id > f.lastGoodStreamId) {
            const pending = this.pendingOpens.get(id);
            if (pending) {
              this.pendingOpens.delete(id);
              pending.reject(new Error('SPDY peer went away'));
            }
            s.isReset = true;
            this.streams.delete(id);
            s.destroy();
          }
        }
        this.emit('goaway', f.status);
        return;
      }
      case FrameType.WINDOW_UPDATE: {
        const f = parseWindowUpdatePayload(frame.payload);
        if (f.delta === 0) throw new SpdyProtocolError('WINDOW_UPDATE with zero delta');
        if (f.streamId === 0) return; // session window (SPDY/3.1): we do not limit the session
        const stream = this.streams.get(f.streamId);
        if (!stream) return;
        this.enforceSendWindow = true;
        if (!stream.addSendWindow(f.delta)) {
          stream.isReset = true;
          this.streams.delete(stream.id);
          this.sendRst(stream.id, RstStatus.FLOW_CONTROL_ERROR);
          stream.destroy();
        }
        return;
      }
      default:
        return; // unknown control frames are ignored
    }
  }

  private decodeHeaders(block: Buffer): Promise<SpdyHeaders> {
    return this.decompressor.process(block).then((raw) => decodeHeaderBlock(raw));
  }

  private async handleSynStream(frame: RawControlFrame): Promise<void> {
    const f = parseSynStreamPayload(frame.payload);
    // Always inflate, even for a stream we refuse: the context must follow the peer's.
    const headers = await this.decodeHeaders(f.headerBlock);
    if (f.streamId === 0 || !this.isPeerStreamId(f.streamId) || f.streamId <= this.lastPeerStreamId) {
      if (this.streams.has(f.streamId)) this.sendRst(f.streamId, RstStatus.STREAM_IN_USE);
      else this.sendRst(f.streamId, RstStatus.PROTOCOL_ERROR);
      return;
    }
    this.lastPeerStreamId = f.streamId;
    if (this.goneAway || this.streams.size >= this.maxStreams) {
      this.sendRst(f.streamId, RstStatus.REFUSED_STREAM);
      return;
    }
    const stream = new SpdyStream(this, f.streamId, headers, this.peerInitialWindow, this.initialRecvWindow);
    this.streams.set(f.streamId, stream);
    if (frame.flags & FLAG_UNIDIRECTIONAL) stream.localFin = true;
    let accepted = false;
    try {
      accepted = this.onStream(stream);
    } catch {
      accepted = false;
    }
    if (!accepted) {
      stream.isReset = true;
      this.streams.delete(f.streamId);
      this.sendRst(f.streamId, RstStatus.REFUSED_STREAM);
      stream.destroy();
      return;
    }
    const compressed = this.compressor.process(encodeHeaderBlock(new Map()));
    compressed.catch(() => undefined); // awaited below; failures drop the connection there
    this.enqueue(async () => encodeControlFrame(FrameType.SYN_REPLY, 0, encodeStreamHeadersPayload(f.streamId, await compressed)));
    stream.markOpened();
    if (frame.flags & FLAG_FIN) this.finFromPeer(stream);
  }

  private handleDataFrame(frame: RawDataFrame): void {
    const stream = this.streams.get(frame.streamId);
    if (!stream || stream.remoteFin) return;
    stream.receive(frame.payload);
    if (stream.readableLength > this.maxBufferedPerStream) {
      this.blockedStreams.add(stream);
      this.updatePause();
    }
    if (frame.flags & FLAG_FIN) this.finFromPeer(stream);
  }

  private finFromPeer(stream: SpdyStream): void {
    stream.receiveFin();
    this.maybeForget(stream);
  }

  private maybeForget(stream: SpdyStream): void {
    if (stream.localFin && stream.remoteFin && this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
  }

  private teardown(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const err = new Error('SPDY connection closed');
    for (const p of this.pendingOpens.values()) p.reject(err);
    this.pendingOpens.clear();
    for (const p of this.pendingPings.values()) p.reject(err);
    this.pendingPings.clear();
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) {
      s.isReset = true;
      s.destroy();
    }
    this.compressor.close();
    this.decompressor.close();
    if (!this.socket.destroyed) this.socket.destroy();
    this.emit('close');
  }
}
