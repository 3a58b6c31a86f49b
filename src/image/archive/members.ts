/**
 * Reading an archive's members, from a tar (file or stream, optionally gzip- or zstd-compressed) or
 * from a directory, without ever extracting anything to disk.
 *
 * Every member name is normalised ("./a//b" -> "a/b") and refused when it is absolute, contains "..",
 * a NUL or a backslash, or is duplicated. Links (symbolic or hard) are reported with their target
 * resolved lexically inside the archive; one that points outside is refused. Device nodes and FIFOs
 * are refused. The consumer must read each member's body to its end (or call `skip`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import * as tar from 'tar-stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { BerthError, isErrno } from '../../runtime/errors';
import { sniffCompression } from '../pull/decode';

/** Where an archive is read from: a path (directory or tar file), or explicitly one of them, or a stream. */
export type ArchiveSource = string | { dir: string } | { tarPath: string } | { stream: Readable };

export type MemberType = 'file' | 'dir' | 'link';

export interface ArchiveMember {
  /** Normalised relative name ("blobs/sha256/<hex>", "manifest.json"). */
  name: string;
  type: MemberType;
  /** Size in bytes of a file member. */
  size: number;
  /** For links: the normalised archive name the link resolves to. */
  target?: string;
  /** The bytes of a file member (empty for others); read it to the end. */
  body: AsyncIterable<Buffer>;
}

export class ArchiveFormatError extends BerthError {
  constructor(message: string, cause?: unknown) {
    super('INVALID_ARGUMENT', message, cause === undefined ? undefined : { cause });
    this.name = 'ArchiveFormatError';
  }
}

/** Normalise an archive member name; throws ArchiveFormatError for hostile names. "" is the root. */
export function safeMemberName(raw: string): string {
  if (raw.includes('\0')) throw new ArchiveFormatError(`archive member name ${JSON.stringify(raw)} contains a NUL byte`);
  if (raw.includes('\\')) throw new ArchiveFormatError(`archive member name ${JSON.stringify(raw)} contains a backslash`);
  if (raw.startsWith('/')) throw new ArchiveFormatError(`archive member ${JSON.stringify(raw)} has an absolute path`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new ArchiveFormatError(`archive member ${JSON.stringify(raw)} contains ".."`);
  return parts.join('/');
}

/**
 * Resolve a link's target inside the archive. Hard link names are relative to the archive root,
 * symbolic link targets to the link's directory; neither may be absolute or leave the archive.
 */
export function resolveLinkTarget(member: string, linkname: string, hard: boolean): string {
  if (linkname === '' || linkname.includes('\0')) throw new ArchiveFormatError(`archive link ${JSON.stringify(member)} has an empty or invalid target`);
  if (linkname.startsWith('/')) throw new ArchiveFormatError(`archive link ${JSON.stringify(member)} points to an absolute path ${JSON.stringify(linkname)}`);
  const base = hard ? [] : member.split('/').slice(0, -1);
  const out = [...base];
  for (const p of linkname.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (out.length === 0) throw new ArchiveFormatError(`archive link ${JSON.stringify(member)} -> ${JSON.stringify(linkname)} points outside the archive`);
      out.pop();
    } else out.push(p);
  }
  const t = out.join('/');
  if (t === '') throw new ArchiveFormatError(`archive link ${JSON.stringify(member)} points at the archive root`);
  return t;
}

/** Re-chunk a byte stream into pieces of at least `min` bytes (fewer writes and hash calls). */
export async function* coalesce(body: AsyncIterable<Buffer>, min = 1 << 20): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    parts.push(c);
    n += c.length;
    if (n >= min) {
      yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
      parts = [];
      n = 0;
    }
  }
  if (n > 0) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
}

export async function drain(body: AsyncIterable<Buffer>): Promise<void> {
  for await (const c of body) void c;
}

/** Read a small member into memory, refusing more than `max` bytes. */
export async function readSmall(m: ArchiveMember, max: number): Promise<Buffer> {
  if (m.size > max) {
    await drain(m.body);
    throw new ArchiveFormatError(`archive member ${m.name} is ${m.size} bytes, more than the ${max} allowed for metadata`);
  }
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of m.body) {
    n += c.length;
    if (n > max) throw new ArchiveFormatError(`archive member ${m.name} is larger than ${max} bytes`);
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export class ZstdTransform extends Transform {
  private readonly z: ZstdDecompress;
  constructor() {
    super();
    this.z = new ZstdDecompress((data) => {
      this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.z.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      cb();
    } catch (err) {
      cb(new ArchiveFormatError(`corrupt zstd archive: ${(err as Error).message}`, err));
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.z.push(new Uint8Array(0), true);
      cb();
    } catch (err) {
      cb(new ArchiveFormatError(`corrupt zstd archive: ${(err as Error).message}`, err));
    }
  }
}

/** Wrap a byte stream so gzip- or zstd-compressed input comes out as the plain tar. */
export function decompressed(input: Readable): Readable {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  async function* gen(): AsyncGenerator<Buffer> {
    const head: Buffer[] = [];
    let n = 0;
    let done = false;
    while (n < 4) {
      const r = await it.next();
      if (r.done) {
        done = true;
        break;
      }
      head.push(r.value);
      n += r.value.length;
    }
    const first = Buffer.concat(head);
    const mode = sniffCompression(first);
    if (mode === 'none') {
      if (first.length) yield first;
      while (!done) {
        const r = await it.next();
        if (r.done) break;
        yield r.value;
      }
      return;
    }
    const dec: Transform = mode === 'gzip' ? zlib.createGunzip() : new ZstdTransform();
    const feed = (async () => {
      try {
        const write = (c: Buffer): Promise<void> =>
          dec.write(c) ? Promise.resolve() : new Promise<void>((resolve) => dec.once('drain', resolve));
        await write(first);
        for (;;) {
          const r = await it.next();
          if (r.done) break;
          await write(r.value);
        }
        dec.end();
      } catch (err) {
        dec.destroy(err as Error);
      }
    })();
    try {
      for await (const c of dec) yield c as Buffer;
    } catch (err) {
      if (err instanceof BerthError) throw err;
      throw new ArchiveFormatError(`corrupt ${mode}-compressed archive: ${(err as Error).message}`, err);
    }
    await feed;
  }
  return Readable.from(gen(), { objectMode: false });
}

function tarError(err: unknown): Error {
  if (err instanceof BerthError) return err;
  const msg = (err as Error)?.message ?? String(err);
  if (/invalid tar header|unexpected end of data|invalid header|header exceeds/i.test(msg)) {
    return new ArchiveFormatError(`not a tar archive, or a corrupt one: ${msg}`, err);
  }
  return err instanceof Error ? err : new Error(msg);
}

/** Iterate over the members of a tar stream (compressed or not). */
export async function* tarMembers(input: Readable): AsyncGenerator<ArchiveMember> {
  const ex = tar.extract();
  const plain = decompressed(input);
  plain.on('error', (e) => ex.destroy(e));
  input.on('error', (e) => plain.destroy(e));
  plain.pipe(ex as unknown as NodeJS.WritableStream);
  const seen = new Set<string>();
  try {
    for await (const entry of ex) {
      const h = entry.header;
      const name = safeMemberName(h.name);
      const body = entry as unknown as AsyncIterable<Buffer>;
      if (name === '') {
        await drain(body);
        continue;
      }
      if (seen.has(name) && h.type !== 'directory') throw new ArchiveFormatError(`archive member ${JSON.stringify(name)} appears more than once`);
      seen.add(name);
      let m: ArchiveMember;
      switch (h.type) {
        case 'file':
        case 'contiguous-file':
          m = { name, type: 'file', size: h.size, body };
          break;
        case 'directory':
          m = { name, type: 'dir', size: 0, body };
          break;
        case 'symlink':
        case 'link':
          m = { name, type: 'link', size: 0, target: resolveLinkTarget(name, h.linkname ?? '', h.type === 'link'), body };
          break;
        default:
          throw new ArchiveFormatError(`archive member ${JSON.stringify(name)} is a ${h.type}; image archives hold only files, directories and links`);
      }
      yield m;
      // Whatever the consumer left unread.
      await drain(body);
    }
  } catch (err) {
    throw tarError(err);
  } finally {
    plain.unpipe(ex as unknown as NodeJS.WritableStream);
    if (!ex.destroyed) ex.destroy();
    plain.destroy();
    input.destroy();
  }
}

/** A file's bytes, opened without following a symbolic link, refusing anything but a regular file. */
export async function* dirFileBody(file: string): AsyncGenerator<Buffer> {
  let fd: fs.promises.FileHandle;
  try {
    fd = await fs.promises.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    if (isErrno(err, 'ELOOP')) throw new ArchiveFormatError(`${file} became a symbolic link while being read`);
    throw err;
  }
  try {
    const st = await fd.stat();
    if (!st.isFile()) throw new ArchiveFormatError(`${file} is not a regular file`);
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await fd.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      yield Buffer.from(buf.subarray(0, bytesRead));
    }
  } finally {
    await fd.close();
  }
}

const EMPTY: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) };

/** Iterate over the files of a directory (an unpacked archive), depth first, sorted. */
export async function* dirMembers(root: string): AsyncGenerator<ArchiveMember> {
  async function* walk(rel: string): AsyncGenerator<ArchiveMember> {
    const names = (await fs.promises.readdir(path.join(root, rel))).sort();
    for (const n of names) {
      const name = rel === '' ? n : `${rel}/${n}`;
      const full = path.join(root, name);
      const st = await fs.promises.lstat(full);
      if (st.isDirectory()) {
        yield { name, type: 'dir', size: 0, body: EMPTY };
        yield* walk(name);
      } else if (st.isFile()) {
        yield { name, type: 'file', size: st.size, body: dirFileBody(full) };
      } else if (st.isSymbolicLink()) {
        yield { name, type: 'link', size: 0, target: resolveLinkTarget(name, await fs.promises.readlink(full), false), body: EMPTY };
      } else {
        throw new ArchiveFormatError(`${full} is neither a file, a directory nor a symbolic link`);
      }
    }
  }
  yield* walk('');
}

export type ResolvedSource = { kind: 'dir'; dir: string } | { kind: 'tar'; open: () => Readable; label: string };

export async function resolveSource(src: ArchiveSource): Promise<ResolvedSource> {
  if (typeof src === 'string') {
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(src);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new BerthError('NOT_FOUND', `${src}: no such file or directory`);
      throw err;
    }
    return st.isDirectory() ? { kind: 'dir', dir: src } : resolveSource({ tarPath: src });
  }
  if ('dir' in src) {
    const st = await fs.promises.stat(src.dir).catch(() => undefined);
    if (!st?.isDirectory()) throw new BerthError('NOT_FOUND', `${src.dir} is not a directory`);
    return { kind: 'dir', dir: src.dir };
  }
  if ('tarPath' in src) {
    const p = src.tarPath;
    const st = await fs.promises.stat(p).catch(() => undefined);
    if (!st) throw new BerthError('NOT_FOUND', `${p}: no such file`);
    if (st.isDirectory()) throw new ArchiveFormatError(`${p} is a directory, not a tar archive`);
    return { kind: 'tar', open: () => fs.createReadStream(p, { highWaterMark: 1 << 20 }), label: p };
  }
  let used = false;
  return {
    kind: 'tar',
    label: 'stream',
    open: () => {
      if (used) throw new BerthError('INTERNAL', 'an archive stream can be read only once');
      used = true;
      return src.stream;
    },
  };
}

export function members(src: ResolvedSource): AsyncGenerator<ArchiveMember> {
  return src.kind === 'dir' ? dirMembers(src.dir) : tarMembers(src.open());
}
