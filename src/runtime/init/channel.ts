/**
 * Framing of the sync socket between TypeScript and berth-init (native/PROTOCOL.md "Messages"):
 * `u32 type | u32 length | payload`, little-endian.
 */
import type * as net from 'node:net';

export const MSG_PLAN = 1;
export const MSG_PID = 2;
export const MSG_GO = 3;
export const MSG_READY = 4;
export const MSG_ERROR = 5;

/** Largest payload accepted from the executor (ERROR messages are short). */
const MAX_INCOMING = 1 << 20;

export interface Message {
  type: number;
  payload: Buffer;
}

export function frame(type: number, payload: Buffer): Buffer {
  const hdr = Buffer.allocUnsafe(8);
  hdr.writeUInt32LE(type, 0);
  hdr.writeUInt32LE(payload.length, 4);
  return Buffer.concat([hdr, payload]);
}

export function sendMessage(sock: net.Socket, type: number, payload: Buffer): void {
  if (!sock.destroyed && sock.writable) sock.write(frame(type, payload));
}

/** Reads framed messages; next() resolves null at EOF, on a socket error or on a bad frame. */
export class MessageReader {
  private buf: Buffer = Buffer.alloc(0);
  private queue: Message[] = [];
  private ended = false;
  private waiter: ((m: Message | null) => void) | null = null;

  constructor(sock: net.Socket) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('end', () => this.onEnd());
    sock.on('close', () => this.onEnd());
    sock.on('error', () => this.onEnd());
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 8) {
      const type = this.buf.readUInt32LE(0);
      const len = this.buf.readUInt32LE(4);
      if (len > MAX_INCOMING) {
        this.onEnd();
        return;
      }
      if (this.buf.length < 8 + len) break;
      this.push({ type, payload: Buffer.from(this.buf.subarray(8, 8 + len)) });
      this.buf = this.buf.subarray(8 + len);
    }
  }

  private push(m: Message): void {
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(m);
    } else {
      this.queue.push(m);
    }
  }

  private onEnd(): void {
    this.ended = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w(null);
    }
  }

  next(): Promise<Message | null> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    if (this.ended) return Promise.resolve(null);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}
