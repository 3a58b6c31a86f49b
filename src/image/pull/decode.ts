/**
 * Streaming layer decoder: sniffs gzip / zstd / uncompressed from the first bytes, decompresses
 * chunk by chunk (zlib for gzip, fzstd for zstd), hashes the uncompressed bytes (the layer's diff_id)
 * and optionally forwards them to a writable (an unpacker) with backpressure.
 */
import * as zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import type { Writable } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { BerthError } from '../../runtime/errors';
import type { LayerCompression } from '../manifest/types';

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

export function sniffCompression(head: Buffer): LayerCompression {
  if (head.length >= 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1]) return 'gzip';
  if (head.length >= 4 && ZSTD_MAGIC.every((b, i) => head[i] === b)) return 'zstd';
  return 'none';
}

function corrupt(what: string, err: unknown): BerthError {
  return new BerthError('INVALID_ARGUMENT', `corrupt ${what} layer data: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

export class LayerDecoder {
  private readonly hash = createHash('sha256');
  private head: Buffer[] = [];
  private headLen = 0;
  private mode: LayerCompression | undefined;
  private gunzip: zlib.Gunzip | undefined;
  private zstd: ZstdDecompress | undefined;
  private error: unknown;
  private outWaits: Promise<void>[] = [];
  private outWaiting = false;
  private gunzipEnded: Promise<void> | undefined;
  /** Uncompressed bytes produced. */
  uncompressedSize = 0;

  /** `out` receives uncompressed bytes; it is neither ended nor destroyed by the decoder. */
  constructor(private readonly out?: Writable) {}

  get compression(): LayerCompression | undefined {
    return this.mode;
  }

  private emit(data: Buffer): void {
    this.hash.update(data);
    this.uncompressedSize += data.length;
    const out = this.out;
    if (!out) return;
    if (out.destroyed) {
      this.error ??= new BerthError('INTERNAL', 'layer consumer closed its stream');
      return;
    }
    // One waiter per backpressure episode: writes refused before 'drain' share it (a listener
    // per chunk would pile up on the stream, MaxListenersExceededWarning).
    if (!out.write(data) && !this.outWaiting) {
      this.outWaiting = true;
      this.outWaits.push(
        new Promise<void>((resolve) => {
          const done = (): void => {
            out.off('drain', done);
            out.off('close', done);
            this.outWaiting = false;
            resolve();
          };
          out.on('drain', done);
          out.on('close', done);
        }),
      );
    }
  }

  private async waitOut(): Promise<void> {
    while (this.outWaits.length) {
      const w = this.outWaits;
      this.outWaits = [];
      await Promise.all(w);
    }
    if (this.out?.destroyed && this.error === undefined) this.error = new BerthError('INTERNAL', 'layer consumer closed its stream');
  }

  private start(mode: LayerCompression): void {
    this.mode = mode;
    if (mode === 'gzip') {
      const g = zlib.createGunzip({ chunkSize: 256 * 1024 });
      g.on('data', (d: Buffer) => {
        this.emit(d);
        if (this.outWaits.length) {
          g.pause();
          void this.waitOut().then(() => g.resume());
        }
      });
      g.on('error', (e) => {
        this.error ??= corrupt('gzip', e);
      });
      this.gunzipEnded = new Promise<void>((resolve) => {
        g.on('end', resolve);
        g.on('error', () => resolve());
        g.on('close', resolve);
      });
      this.gunzip = g;
    } else if (mode === 'zstd') {
      this.zstd = new ZstdDecompress((data) => {
        this.emit(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      });
    }
  }

  private async feed(chunk: Buffer): Promise<void> {
    if (this.mode === 'gzip') {
      const g = this.gunzip!;
      if (!g.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            g.off('drain', done);
            g.off('error', done);
            g.off('close', done);
            resolve();
          };
          g.on('drain', done);
          g.on('error', done);
          g.on('close', done);
        });
      }
    } else if (this.mode === 'zstd') {
      try {
        this.zstd!.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      } catch (e) {
        this.error ??= corrupt('zstd', e);
      }
    } else {
      this.emit(chunk);
    }
    await this.waitOut();
    if (this.error !== undefined) throw this.error;
  }

  /** Feed compressed bytes. */
  async push(chunk: Buffer): Promise<void> {
    if (this.error !== undefined) throw this.error;
    if (chunk.length === 0) return;
    if (this.mode === undefined) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen < 4) return;
      const head = Buffer.concat(this.head);
      this.head = [];
      this.start(sniffCompression(head));
      await this.feed(head);
      return;
    }
    await this.feed(chunk);
  }

  /** End of input: flush and return the uncompressed digest ("sha256:<hex>"). */
  async finish(): Promise<string> {
    if (this.error !== undefined) throw this.error;
    if (this.mode === undefined) {
      const head = Buffer.concat(this.head);
      this.head = [];
      this.start(head.length ? sniffCompression(head) : 'none');
      if (head.length) await this.feed(head);
    }
    if (this.mode === 'gzip') {
      this.gunzip!.end();
      await this.gunzipEnded;
    } else if (this.mode === 'zstd') {
      try {
        this.zstd!.push(new Uint8Array(0), true);
      } catch (e) {
        this.error ??= corrupt('zstd', e);
      }
    }
    await this.waitOut();
    if (this.error !== undefined) throw this.error;
    return `sha256:${this.hash.digest('hex')}`;
  }

  /** Release resources after a failure. */
  destroy(): void {
    this.gunzip?.destroy();
  }
}

/** Chain IDs (OCI image-spec): chain[0] = diff[0]; chain[n] = sha256(chain[n-1] + " " + diff[n]). */
export function chainIds(diffIds: string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}
