/**
 * Wire constants of berth-monitor (native/MONITOR.md): sync fd messages (`u32 type | u32 len | payload`,
 * as the executor channel) and attach/ctl frames (`u8 type | u32 len | data`, little-endian).
 */
export const SYNC_MONITOR = 1;
export const SYNC_READY = 2;
export const SYNC_FAILED = 3;

export const F_STDIN = 0;
export const F_STDOUT = 1;
export const F_STDERR = 2;
export const F_RESIZE = 3;
export const F_CLOSE_STDIN = 4;
export const F_REOPEN_LOG = 5;
export const F_STATUS = 6;
export const F_EXIT = 7;
export const F_USE_STDIN = 8;

/** Largest data the monitor accepts in one frame (STDIN); larger writes are split. */
export const FRAME_DATA_MAX = 1024 * 1024;

export interface Frame {
  type: number;
  data: Buffer;
}

export function encodeFrame(type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const hdr = Buffer.allocUnsafe(5);
  hdr.writeUInt8(type, 0);
  hdr.writeUInt32LE(data.length, 1);
  return Buffer.concat([hdr, data]);
}

export function resizeFrame(rows: number, cols: number): Buffer {
  const d = Buffer.alloc(4);
  d.writeUInt16LE(Math.max(0, Math.min(0xffff, Math.trunc(rows))), 0);
  d.writeUInt16LE(Math.max(0, Math.min(0xffff, Math.trunc(cols))), 2);
  return encodeFrame(F_RESIZE, d);
}

/** Splits a byte stream into frames; push() returns the complete frames so far. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly maxData = 4 * FRAME_DATA_MAX) {}

  push(chunk: Buffer): Frame[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Frame[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32LE(1);
      if (len > this.maxData) throw new Error(`monitor frame of ${len} bytes is too large`);
      if (this.buf.length < 5 + len) break;
      out.push({ type: this.buf.readUInt8(0), data: Buffer.from(this.buf.subarray(5, 5 + len)) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }
}
