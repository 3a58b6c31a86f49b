/**
 * Where an export goes: a directory (each file written temp + fsync + rename), a tar file (written
 * to a temp name and renamed into place when complete) or a caller's stream (tar-stream's pack).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import * as tar from 'tar-stream';
import { BerthError, isErrno } from '../../runtime/errors';
import { fsyncDir } from '../content/fsutil';

export type ArchiveDest = { dir: string } | { tarPath: string } | { stream: Writable };

export interface ArchiveWriter {
  /** Whether a file of this name and size is already there (directory merges). */
  has(name: string, size: number): Promise<boolean>;
  /** Read an existing file (directory merges); undefined if absent. */
  read(name: string): Promise<Buffer | undefined>;
  dir(name: string): Promise<void>;
  file(name: string, size: number, body: Buffer | AsyncIterable<Buffer>): Promise<void>;
  finish(): Promise<void>;
  abort(err: unknown): Promise<void>;
}

const MTIME = new Date(0);

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  yield b;
}

function sizeError(name: string, want: number, got: number): BerthError {
  return new BerthError('INTERNAL', `export of ${name}: expected ${want} bytes, the source gave ${got}`);
}

class DirWriter implements ArchiveWriter {
  constructor(private readonly root: string) {}

  private full(name: string): string {
    return path.join(this.root, ...name.split('/'));
  }

  async has(name: string, size: number): Promise<boolean> {
    const st = await fs.promises.lstat(this.full(name)).catch(() => undefined);
    return st !== undefined && st.isFile() && st.size === size;
  }

  async read(name: string): Promise<Buffer | undefined> {
    try {
      return await fs.promises.readFile(this.full(name), { flag: fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW });
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return undefined;
      throw err;
    }
  }

  async dir(name: string): Promise<void> {
    await fs.promises.mkdir(this.full(name), { recursive: true });
  }

  async file(name: string, size: number, body: Buffer | AsyncIterable<Buffer>): Promise<void> {
    const target = this.full(name);
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(path.dirname(target), `.tmp-${path.basename(target)}-${process.pid}-${randomBytes(4).toString('hex')}`);
    const fh = await fs.promises.open(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
    let n = 0;
    try {
      for await (const c of Buffer.isBuffer(body) ? once(body) : body) {
        let done = 0;
        while (done < c.length) done += (await fh.write(c, done, c.length - done)).bytesWritten;
        n += c.length;
      }
      if (n !== size) throw sizeError(name, size, n);
      await fh.sync();
      await fh.close();
      await fs.promises.rename(tmp, target);
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  }

  async finish(): Promise<void> {
    await fsyncDir(path.join(this.root, 'blobs', 'sha256'));
    await fsyncDir(this.root);
  }

  async abort(): Promise<void> {
    /* files written so far are complete blobs; index.json is written last */
  }
}

class TarWriter implements ArchiveWriter {
  private readonly pack = tar.pack();
  private readonly done: Promise<void>;
  private failed: unknown;

  constructor(out: Writable, private readonly onDone?: (ok: boolean) => Promise<void>) {
    this.done = new Promise<void>((resolve, reject) => {
      out.on('error', (e) => {
        this.failed ??= e;
        reject(e);
      });
      out.on('finish', resolve);
      out.on('close', () => (this.failed ? reject(this.failed) : resolve()));
      this.pack.on('error', (e: Error) => {
        this.failed ??= e;
        reject(e);
      });
    });
    this.done.catch(() => undefined);
    this.pack.pipe(out);
  }

  async has(): Promise<boolean> {
    return false;
  }

  async read(): Promise<Buffer | undefined> {
    return undefined;
  }

  private entry(h: tar.Header | (Partial<tar.Header> & { name: string }), body?: Buffer | AsyncIterable<Buffer>): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (body === undefined) {
        this.pack.entry(h, cb);
        return;
      }
      if (Buffer.isBuffer(body)) {
        this.pack.entry(h, body, cb);
        return;
      }
      const sink = this.pack.entry(h, cb);
      sink.on('error', () => undefined); // reported through cb / the pack's error
      void (async () => {
        let n = 0;
        try {
          for await (const c of body) {
            if (this.failed) throw this.failed;
            n += c.length;
            if (n > (h.size ?? 0)) throw sizeError(h.name, h.size ?? 0, n);
            if (!sink.write(c)) await new Promise<void>((r) => sink.once('drain', () => r()));
          }
          if (n !== h.size) throw sizeError(h.name, h.size ?? 0, n);
          sink.end(undefined);
        } catch (err) {
          sink.destroy(err as Error);
          this.pack.destroy(err as Error);
          reject(err);
        }
      })();
    });
  }

  async dir(name: string): Promise<void> {
    await this.entry({ name: `${name}/`, type: 'directory', mode: 0o755, mtime: MTIME, uid: 0, gid: 0 });
  }

  async file(name: string, size: number, body: Buffer | AsyncIterable<Buffer>): Promise<void> {
    await this.entry({ name, type: 'file', size, mode: 0o644, mtime: MTIME, uid: 0, gid: 0 }, body);
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
    await this.onDone?.(true);
  }

  async abort(err: unknown): Promise<void> {
    this.failed ??= err;
    this.pack.destroy(err instanceof Error ? err : new Error(String(err)));
    await this.onDone?.(false);
  }
}

export async function openWriter(dest: ArchiveDest): Promise<ArchiveWriter> {
  if ('dir' in dest) {
    await fs.promises.mkdir(dest.dir, { recursive: true });
    return new DirWriter(dest.dir);
  }
  if ('tarPath' in dest) {
    const target = dest.tarPath;
    const tmp = path.join(path.dirname(target), `.tmp-${path.basename(target)}-${process.pid}-${randomBytes(4).toString('hex')}`);
    const out = fs.createWriteStream(tmp, { flags: 'wx', mode: 0o644 });
    return new TarWriter(out, async (ok) => {
      if (!ok) {
        out.destroy();
        await fs.promises.rm(tmp, { force: true });
        return;
      }
      const fh = await fs.promises.open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.promises.rename(tmp, target);
      await fsyncDir(path.dirname(target));
    });
  }
  return new TarWriter(dest.stream);
}
