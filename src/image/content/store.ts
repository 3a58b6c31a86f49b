/**
 * Content-addressed blob store.
 *
 * Layout under `root`:
 *   blobs/sha256/<hex>           committed blobs (read-only once renamed into place)
 *   ingest/<hex>/data            bytes received so far for an ingest of blob <hex>
 *   ingest/<hex>/meta.json       sidecar: expected digest and size, start and update times
 *   locks/<hex>.lock             exclusive ingest lock per digest ("<pid> <starttime>")
 *   labels/<hex>.json            small per-blob facts (e.g. a layer's verified uncompressed digest)
 *
 * An ingest is resumable: a restarted ingest re-hashes the bytes already in data and continues after
 * them. Commit verifies size and digest, fsyncs, renames into blobs/ and fsyncs the directory, so a
 * blob path either does not exist or holds exactly the bytes its name promises.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash, Hash } from 'node:crypto';
import { BerthError, isErrno } from '../../runtime/errors';
import { validateDigest } from '../ref/reference';
import { fsyncDir, readJsonFile, writeFileAtomic } from './fsutil';
import { AcquireOptions, FileLock, acquireLock, lockHeld } from './lock';

export interface BlobRef {
  digest: string;
  size: number;
}

interface IngestMeta {
  digest: string;
  size: number;
  startedAt: string;
  updatedAt: string;
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

function hexOf(digest: string): string {
  validateDigest(digest);
  const [alg, hex] = digest.split(':') as [string, string];
  if (alg !== 'sha256') throw new BerthError('UNSUPPORTED', `digest algorithm ${alg} is not supported by the content store`);
  return hex;
}

export class DigestMismatchError extends BerthError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
    this.name = 'DigestMismatchError';
  }
}

export class ContentStore {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
    for (const d of ['blobs/sha256', 'ingest', 'locks', 'labels', 'leases']) fs.mkdirSync(path.join(root, d), { recursive: true });
  }

  blobPath(digest: string): string {
    return path.join(this.root, 'blobs', 'sha256', hexOf(digest));
  }

  ingestDir(digest: string): string {
    return path.join(this.root, 'ingest', hexOf(digest));
  }

  lockPath(digest: string): string {
    return path.join(this.root, 'locks', `${hexOf(digest)}.lock`);
  }

  /** Size of a committed blob, or undefined. */
  async stat(digest: string): Promise<number | undefined> {
    try {
      return (await fs.promises.stat(this.blobPath(digest))).size;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async has(digest: string): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }

  /** Read a whole blob (manifests, configs) and verify it against its digest. */
  async readBlob(digest: string, maxSize = 64 * 1024 * 1024): Promise<Buffer> {
    const p = this.blobPath(digest);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(p);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `blob ${digest} not found in the content store`);
      throw err;
    }
    if (st.size > maxSize) throw new BerthError('INVALID_ARGUMENT', `blob ${digest} is ${st.size} bytes, more than ${maxSize}`);
    const data = await fs.promises.readFile(p);
    if (sha256Digest(data) !== digest) throw new DigestMismatchError(`blob ${digest} in the content store is corrupt`);
    return data;
  }

  createReadStream(digest: string, start = 0): fs.ReadStream {
    return fs.createReadStream(this.blobPath(digest), { start, highWaterMark: 1 << 20 });
  }

  /** Store a small in-memory blob (verified against `expected` when given). */
  async putBlob(data: Buffer, expected?: Partial<BlobRef>): Promise<BlobRef> {
    const digest = sha256Digest(data);
    if (expected?.digest !== undefined && expected.digest !== digest) {
      throw new DigestMismatchError(`digest mismatch: expected ${expected.digest}, got ${digest}`);
    }
    if (expected?.size !== undefined && expected.size !== data.length) {
      throw new DigestMismatchError(`size mismatch for ${digest}: expected ${expected.size}, got ${data.length}`);
    }
    if (await this.has(digest)) return { digest, size: data.length };
    const ing = await this.openIngest({ digest, size: data.length });
    if (!ing) return { digest, size: data.length };
    try {
      await ing.reset();
      await ing.write(data);
      await ing.commit();
    } finally {
      await ing.close();
    }
    return { digest, size: data.length };
  }

  /**
   * Start (or resume) ingesting blob `expected.digest`. Waits for any other ingest of the same digest
   * (in this or another process) to finish. Returns undefined when the blob is (now) present.
   * The caller must `close()` the returned ingest.
   */
  async openIngest(expected: BlobRef, opts: AcquireOptions = {}): Promise<Ingest | undefined> {
    hexOf(expected.digest);
    if (!Number.isSafeInteger(expected.size) || expected.size < 0) {
      throw new BerthError('INVALID_ARGUMENT', `invalid blob size ${expected.size} for ${expected.digest}`);
    }
    if (await this.has(expected.digest)) return undefined;
    const lock = await acquireLock(this.lockPath(expected.digest), opts);
    try {
      if (await this.has(expected.digest)) {
        await lock.release();
        return undefined;
      }
      const ing = new Ingest(this, expected, lock);
      await ing.open();
      return ing;
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  async deleteBlob(digest: string): Promise<void> {
    await fs.promises.rm(this.blobPath(digest), { force: true });
    await fs.promises.rm(path.join(this.root, 'labels', `${hexOf(digest)}.json`), { force: true });
  }

  /** Digests of all committed blobs. */
  async listBlobs(): Promise<string[]> {
    const names = await fs.promises.readdir(path.join(this.root, 'blobs', 'sha256'));
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /** Ingests on disk: digest, bytes so far, and whether a live process is writing it. */
  async listIngests(): Promise<Array<{ digest: string; offset: number; active: boolean; updatedAt?: string }>> {
    const out: Array<{ digest: string; offset: number; active: boolean; updatedAt?: string }> = [];
    for (const n of await fs.promises.readdir(path.join(this.root, 'ingest'))) {
      if (!/^[a-f0-9]{64}$/.test(n)) continue;
      const digest = `sha256:${n}`;
      let offset = 0;
      try {
        offset = (await fs.promises.stat(path.join(this.root, 'ingest', n, 'data'))).size;
      } catch {
        /* no data yet */
      }
      const meta = await readJsonFile<IngestMeta>(path.join(this.root, 'ingest', n, 'meta.json')).catch(() => undefined);
      const e: { digest: string; offset: number; active: boolean; updatedAt?: string } = {
        digest,
        offset,
        active: lockHeld(this.lockPath(digest)),
      };
      if (meta?.updatedAt) e.updatedAt = meta.updatedAt;
      out.push(e);
    }
    return out;
  }

  /** Remove an ingest nobody is writing (returns false if it is active). */
  async removeIngest(digest: string): Promise<boolean> {
    if (lockHeld(this.lockPath(digest))) return false;
    await fs.promises.rm(this.ingestDir(digest), { recursive: true, force: true });
    return true;
  }

  async getLabels(digest: string): Promise<Record<string, string>> {
    return (await readJsonFile<Record<string, string>>(path.join(this.root, 'labels', `${hexOf(digest)}.json`))) ?? {};
  }

  async setLabel(digest: string, key: string, value: string): Promise<void> {
    const labels = await this.getLabels(digest);
    labels[key] = value;
    await writeFileAtomic(path.join(this.root, 'labels', `${hexOf(digest)}.json`), JSON.stringify(labels));
  }
}

/** One blob being written. Obtain with ContentStore.openIngest; always close(). */
const INGEST_WRITE_BATCH = 1 << 20;

export class Ingest {
  readonly digest: string;
  readonly size: number;
  private readonly store: ContentStore;
  private readonly lock: FileLock;
  private readonly dir: string;
  private readonly dataPath: string;
  private fh: fs.promises.FileHandle | undefined;
  private hash: Hash = createHash('sha256');
  private _offset = 0;
  /** Chunks accepted (hashed, counted in offset) but not written yet: written in ~1 MiB writev()s. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private committed = false;
  private closed = false;

  constructor(store: ContentStore, expected: BlobRef, lock: FileLock) {
    this.store = store;
    this.digest = expected.digest;
    this.size = expected.size;
    this.lock = lock;
    this.dir = store.ingestDir(expected.digest);
    this.dataPath = path.join(this.dir, 'data');
  }

  /** Bytes written so far (verified-hashed). */
  get offset(): number {
    return this._offset;
  }

  /** @internal */
  async open(): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true });
    const metaPath = path.join(this.dir, 'meta.json');
    const meta = await readJsonFile<IngestMeta>(metaPath).catch(() => undefined);
    const now = new Date().toISOString();
    if (!meta || meta.digest !== this.digest || meta.size !== this.size) {
      await fs.promises.rm(this.dataPath, { force: true });
      const m: IngestMeta = { digest: this.digest, size: this.size, startedAt: now, updatedAt: now };
      await writeFileAtomic(metaPath, JSON.stringify(m));
    }
    this.fh = await fs.promises.open(this.dataPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  }

  /** Bytes a previous attempt left on disk (before resume()). */
  async existingBytes(): Promise<number> {
    return (await this.handle().stat()).size;
  }

  private handle(): fs.promises.FileHandle {
    if (!this.fh || this.closed) throw new BerthError('FAILED_PRECONDITION', `ingest of ${this.digest} is closed`);
    return this.fh;
  }

  /**
   * Continue from the bytes a previous attempt left on disk: re-hash them (passing each chunk to
   * `onChunk`, e.g. a decompressor) and return the new offset. Data longer than the expected size is
   * discarded.
   */
  async resume(onChunk?: (chunk: Buffer) => void | Promise<void>): Promise<number> {
    const fh = this.handle();
    let size = (await fh.stat()).size;
    if (size > this.size) {
      await fh.truncate(0);
      size = 0;
    }
    this.hash = createHash('sha256');
    this._offset = 0;
    const buf = Buffer.allocUnsafe(1 << 20);
    while (this._offset < size) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - this._offset), this._offset);
      if (bytesRead === 0) break;
      const chunk = buf.subarray(0, bytesRead);
      this.hash.update(chunk);
      this._offset += bytesRead;
      if (onChunk) await onChunk(Buffer.from(chunk));
    }
    if (this._offset < size) await fh.truncate(this._offset);
    return this._offset;
  }

  /** Drop everything written so far. */
  async reset(): Promise<void> {
    this.pending = [];
    this.pendingBytes = 0;
    await this.handle().truncate(0);
    this.hash = createHash('sha256');
    this._offset = 0;
  }

  async write(chunk: Buffer): Promise<void> {
    const fh = this.handle();
    if (this._offset + chunk.length > this.size) {
      throw new DigestMismatchError(`blob ${this.digest} is larger than its descriptor's size ${this.size}`);
    }
    if (chunk.length === 0) return;
    // Network chunks are small (16-64 KiB): one write syscall each cost a measurable share of the
    // main thread. They are combined into ~1 MiB positioned writev()s instead.
    this.hash.update(chunk);
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this._offset += chunk.length;
    if (this.pendingBytes >= INGEST_WRITE_BATCH) await this.flush(fh);
  }

  /** Writes the pending chunks at their place (offset minus what is pending). */
  private async flush(fh: fs.promises.FileHandle): Promise<void> {
    if (this.pendingBytes === 0) return;
    let list = this.pending;
    let pos = this._offset - this.pendingBytes;
    let left = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    while (left > 0) {
      const { bytesWritten } = await fh.writev(list, pos);
      left -= bytesWritten;
      pos += bytesWritten;
      if (left <= 0) break;
      let skip = bytesWritten; // short write: drop what was written
      const rest: Buffer[] = [];
      for (const b of list) {
        if (skip >= b.length) {
          skip -= b.length;
          continue;
        }
        rest.push(skip > 0 ? b.subarray(skip) : b);
        skip = 0;
      }
      list = rest;
    }
  }

  /** Verify size and digest, fsync, and move into blobs/. On a mismatch the partial data is deleted. */
  async commit(): Promise<void> {
    const fh = this.handle();
    await this.flush(fh);
    if (this._offset !== this.size) {
      throw new DigestMismatchError(`blob ${this.digest}: got ${this._offset} bytes, descriptor says ${this.size}`);
    }
    const got = `sha256:${this.hash.copy().digest('hex')}`;
    if (got !== this.digest) {
      await fh.truncate(0);
      this._offset = 0;
      this.hash = createHash('sha256');
      throw new DigestMismatchError(`digest mismatch: expected ${this.digest}, got ${got}`);
    }
    await fh.sync();
    await fh.close();
    this.fh = undefined;
    const target = this.store.blobPath(this.digest);
    await fs.promises.chmod(this.dataPath, 0o444);
    await fs.promises.rename(this.dataPath, target);
    await fsyncDir(path.dirname(target));
    this.committed = true;
    await fs.promises.rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Release the lock. Uncommitted bytes stay on disk for a later resume unless `discard` is set.
   */
  async close(discard = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.fh) {
        // Keep what arrived for a later resume (the on-disk bytes are all a resume trusts).
        if (!discard) await this.flush(this.fh).catch(() => undefined);
        this.pending = [];
        this.pendingBytes = 0;
        if (this._offset > 0 && !discard) await this.fh.datasync().catch(() => undefined);
        await this.fh.close();
        this.fh = undefined;
      }
      if (discard && !this.committed) await fs.promises.rm(this.dir, { recursive: true, force: true });
    } finally {
      await this.lock.release();
    }
  }
}
