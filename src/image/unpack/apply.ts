/**
 * applyLayer: a streaming, hostile-input-safe extractor for one uncompressed layer tar.
 *
 * Containment: see paths.ts. Every entry name is cleaned (`..` clamped, leading `/` dropped) and its
 * parents resolved with lstat inside the target, following in-tree symlinks with chroot semantics;
 * the final component is never followed (an existing entry there is removed first, then the new
 * one created with O_EXCL|O_NOFOLLOW). Hard links must name an existing non-directory inside the
 * target (resolved the same way). Before anything is removed or replaced, all queued work is
 * finished and the resolution cache dropped, so a symlink that replaces a directory can never
 * redirect work that was resolved earlier.
 *
 * Whiteouts: `.wh.<name>` and `.wh..wh..opq` either delete for real (`whiteouts: 'delete'`, for a
 * tree that already holds the lower layers) or become overlayfs whiteouts (`'overlay'`: a 0:0 char
 * device, and trusted.overlay.opaque=y on the directory).
 *
 * Streaming: file data is never buffered beyond 1 MiB per file; files up to that size are written
 * by background tasks (at most 16 in flight) while the parser moves on, larger files are written in
 * order as their data arrives. Devices, fifos and xattrs use batched spawns (special.ts).
 * Directory modes and times are set at the end, deepest first, after their contents.
 *
 * Sparse files: GNU sparse PAX formats 0.0, 0.1 and 1.0 are expanded with holes (positioned writes
 * plus ftruncate). The old GNU 'S' header form is refused (tar-stream does not expose its map).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import * as tar from 'tar-stream';
import { BerthError, isErrno } from '../../runtime/errors';
import { cleanComponents, lookupLower, resolveParent, type LowerEntry } from './paths';
import { installRawPax, parseSparseMap, sparseOf, xattrsOf, type PaxRecords, type SparseInfo } from './pax';
import { describeFailures, runSpecialOps, type SpecialOp } from './special';

export type WhiteoutMode = 'delete' | 'overlay';

export interface ApplyOptions {
  /** How whiteouts are applied (default 'delete'). */
  whiteouts?: WhiteoutMode;
  /** Compute the diff ID (default true). Turn off only when the source verifies it already. */
  digest?: boolean;
  /** Files up to 1 MiB: written inline with synchronous calls (default) or by background async tasks. */
  smallFiles?: 'inline' | 'background';
  /** Largest size one entry may declare (default 64 GiB). */
  maxEntrySize?: number;
  /** Largest sum of entry sizes (default 1 TiB). */
  maxTotalSize?: number;
  /** Most entries one layer may hold (default 10 million). */
  maxEntries?: number;
  /** Apply uid/gid from the tar (default: when running as root). */
  ownership?: boolean;
  /** Device nodes: create them, skip them with a warning, or fail (default: create as root, else skip). */
  devices?: 'create' | 'skip' | 'reject';
  /** Apply xattrs from PAX headers (default true). trusted.overlay.* is never taken from a layer. */
  xattrs?: boolean;
  /**
   * Overlay mode: the lower layers' directories, topmost first. Used to give directories this
   * layer creates implicitly the mode and owner they have below, and to satisfy a hard link whose
   * target lives in a lower layer (the file is copied).
   */
  lowerDirs?: readonly string[];
  /**
   * Overlay mode, when the lower layers are not all on disk yet (parallel unpack): returns them
   * (topmost first) once they are. Called at most once, and only when an entry needs them: a
   * parent component missing from this layer (resolved through the lower layers' merged view, so
   * that a lower `bin -> usr/bin` symlink is followed) or a hard link to a file not in this layer.
   * Layers that carry headers for all their directories never wait.
   */
  lowerDirsLater?: () => Promise<readonly string[]>;
  /**
   * Use targetDir as given instead of its realpath: for a directory reached through a magic link such
   * as /proc/PID/root/... (`berth cp` into a running container), which realpath would turn into a
   * host path. The caller resolved it safely (symlinks inside the container's root) already.
   */
  keepTargetPath?: boolean;
}

export interface ApplyResult {
  /**
   * sha256 of the tar bytes as consumed ("sha256:<hex>"): the layer's diff ID; '' with
   * `digest: false`.
   */
  diffId: string;
  /** Bytes of tar consumed. */
  size: number;
  entries: number;
  /** Regular-file bytes written. */
  fileBytes: number;
  /**
   * Directories this layer created implicitly (no header) that no lower dir (of `lowerDirs`) gave
   * metadata to. When `lowerDirs` was incomplete (parallel unpack), the caller fixes them later.
   */
  implicitDirs: string[];
  /** Things skipped or degraded (devices skipped, foreign xattrs dropped, unknown entry types...). */
  warnings: string[];
}

const SMALL_FILE = 1 << 20;
// process.umask() with no argument reads the mask (it is set back at once); read once, at load.
const UMASK = process.umask();
const EUID = typeof process.geteuid === 'function' ? process.geteuid() : -1;
const EGID = typeof process.getegid === 'function' ? process.getegid() : -1;

function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}
const MAX_IN_FLIGHT = 16;
const WRITE_BATCH = 1 << 20;
const SPECIAL_BATCH = 8192;

interface DirMeta {
  mode: number;
  atime: number;
  mtime: number;
}

interface EntryMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  atime: number;
  xattrs: Map<string, Buffer>;
}

function fail(name: string, msg: string, code: 'INVALID_ARGUMENT' | 'UNSUPPORTED' = 'INVALID_ARGUMENT'): BerthError {
  return new BerthError(code, `layer entry ${JSON.stringify(name)}: ${msg}`);
}

function paxNumber(pax: PaxRecords | null | undefined, key: string): number | undefined {
  const v = pax?.[key];
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/** An entry's data stream (tar-stream's streamx Readable). */
type EntryStream = AsyncIterable<Buffer> & {
  on(event: string, fn: (arg: never) => void): unknown;
  resume(): unknown;
};

/**
 * Reads a whole entry with 'data' events (several times cheaper per entry than async iteration).
 * `keep` false discards the data.
 */
function collect(stream: EntryStream, keep: boolean): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const bufs: Buffer[] = [];
    let ended = false;
    if (keep) stream.on('data', (b: Buffer) => bufs.push(b));
    stream.on('end', () => {
      ended = true;
      resolve(bufs);
    });
    stream.on('error', (err: Error) => reject(err));
    stream.on('close', () => {
      if (!ended) reject(new Error('tar entry ended early'));
    });
    stream.resume();
  });
}

async function drain(stream: EntryStream): Promise<void> {
  await collect(stream, false);
}

class Extractor {
  private readonly whiteouts: WhiteoutMode;
  private readonly maxEntrySize: number;
  private readonly maxTotalSize: number;
  private readonly maxEntries: number;
  private readonly ownership: boolean;
  private readonly devices: 'create' | 'skip' | 'reject';
  private readonly xattrs: boolean;
  private lowerDirs: readonly string[];
  private lowersReady: boolean;
  private readonly lowerDirsLater: (() => Promise<readonly string[]>) | undefined;
  /** Rejects when the layer's source fails (so that waiting for lower layers ends too). */
  sourceFailed: Promise<never> = new Promise<never>(() => undefined);
  private readonly smallFiles: 'inline' | 'background';
  /** Directories that may carry setgid (new files in them take the directory's group). */
  private readonly setgidDirs = new Set<string>();

  readonly warnings: string[] = [];
  private dropped = 0;

  /** Records a warning (the first 100; then only a count). */
  warn(msg: string): void {
    if (this.warnings.length < 100) this.warnings.push(msg);
    else this.dropped++;
  }

  finalWarnings(): string[] {
    return this.dropped > 0 ? [...this.warnings, `... and ${this.dropped} more warnings`] : this.warnings;
  }
  entries = 0;
  fileBytes = 0;
  private declared = 0;
  /** Whether the target was empty at the start: then a path not in `created` does not exist. */
  private fresh = false;
  private readonly created = new Set<string>();
  private readonly parentCache = new Map<string, string>();
  private readonly tasks = new Set<Promise<void>>();
  private readonly taskPaths = new Set<string>();
  private taskError: unknown = null;
  private special: SpecialOp[] = [];
  private readonly specialTimes: Array<[string, number, number]> = [];
  private readonly dirs = new Map<string, DirMeta>();
  /**
   * Directories without a header in this layer whose times must survive the layer: existing ones
   * we add to or delete from, and implicit ones given a lower layer's metadata. (GNU tar and umoci
   * behave the same way; a layer only changes the times it carries.)
   */
  private readonly keepTimes = new Map<string, [number, number]>();
  /** See ApplyResult.implicitDirs. */
  readonly implicitDirs = new Set<string>();

  constructor(
    private readonly root: string,
    opts: ApplyOptions,
  ) {
    this.whiteouts = opts.whiteouts ?? 'delete';
    this.maxEntrySize = opts.maxEntrySize ?? 64 * 2 ** 30;
    this.maxTotalSize = opts.maxTotalSize ?? 2 ** 40;
    this.maxEntries = opts.maxEntries ?? 10_000_000;
    this.ownership = opts.ownership ?? isRoot();
    this.devices = opts.devices ?? (isRoot() ? 'create' : 'skip');
    this.xattrs = opts.xattrs ?? true;
    this.lowerDirs = opts.lowerDirs ?? [];
    this.lowerDirsLater = opts.lowerDirsLater;
    this.lowersReady = opts.lowerDirsLater === undefined;
    this.smallFiles = opts.smallFiles ?? 'inline';
  }

  async init(): Promise<void> {
    const names = await fsp.readdir(this.root);
    this.fresh = names.length === 0;
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  // ---- background work -------------------------------------------------------------------------

  private startTask(rel: string, fn: () => Promise<void>): void {
    this.taskPaths.add(rel);
    const p: Promise<void> = fn()
      .catch((err: unknown) => {
        if (this.taskError === null) this.taskError = err;
      })
      .finally(() => {
        this.tasks.delete(p);
        this.taskPaths.delete(rel);
      });
    this.tasks.add(p);
  }

  private async waitSlot(): Promise<void> {
    while (this.tasks.size >= MAX_IN_FLIGHT) await Promise.race(this.tasks);
    this.checkTaskError();
  }

  private checkTaskError(): void {
    if (this.taskError !== null) throw this.taskError;
  }

  private async drainTasks(): Promise<void> {
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
    this.checkTaskError();
  }

  /** Finishes every queued operation (file tasks, then mknod/setxattr batches). */
  private async flush(): Promise<void> {
    await this.drainTasks();
    if (this.special.length > 0) {
      const ops = this.special;
      this.special = [];
      const failures = await runSpecialOps(ops);
      // Device nodes, whiteouts and the opaque marker are the layer's content: their failure fails
      // the layer. Other xattrs are metadata some filesystems refuse (user.* on a symlink, ...):
      // like GNU tar, warn and go on.
      const fatal = failures.filter((f) => f.op.op === 'mknod' || f.op.name.startsWith('trusted.overlay.') || f.op.name === 'security.capability');
      if (fatal.length > 0) throw new BerthError('INTERNAL', describeFailures(fatal));
      for (const f of failures) if (f.op.op === 'xattr') this.warn(`xattr ${f.op.name} on ${f.op.path} not set: ${f.message}`);
    }
  }

  /** Queues a mknod/setxattr; batches run from the foreground (see entry()) and at flush. */
  private queueSpecial(op: SpecialOp): void {
    this.special.push(op);
  }

  /** Removes whatever is at `rel` (after finishing all queued work). */
  private async remove(rel: string): Promise<void> {
    await this.flush();
    this.parentCache.clear();
    await fsp.rm(this.abs(rel), { recursive: true, force: true });
    const prefix = `${rel}/`;
    for (const d of this.dirs.keys()) if (d === rel || d.startsWith(prefix)) this.dirs.delete(d);
    for (const d of this.implicitDirs) if (d === rel || d.startsWith(prefix)) this.implicitDirs.delete(d);
    this.created.delete(rel);
  }

  private async lstatOrNull(rel: string) {
    if (this.fresh && !this.created.has(rel)) return null;
    try {
      return fs.lstatSync(this.abs(rel));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
  }

  /** Makes room for a new non-directory at `rel`: anything there is removed. */
  private async clearFinal(rel: string): Promise<void> {
    if (this.taskPaths.has(rel)) await this.drainTasks();
    const st = await this.lstatOrNull(rel);
    if (st) await this.remove(rel);
  }

  // ---- resolution ------------------------------------------------------------------------------

  /** The lower layers, waiting for them when they are not all on disk yet. */
  private async lowers(): Promise<readonly string[]> {
    if (!this.lowersReady && this.lowerDirsLater) {
      const later = this.lowerDirsLater();
      later.catch(() => undefined);
      this.lowerDirs = await Promise.race([later, this.sourceFailed]);
      this.lowersReady = true;
    }
    return this.lowerDirs;
  }

  private readonly lowerLookup = async (rel: string): Promise<LowerEntry | null> => {
    if (this.lowersReady && this.lowerDirs.length === 0) return null;
    return lookupLower(await this.lowers(), rel.split('/'));
  };

  private async resolveParentRel(comps: string[], mkdirs: boolean): Promise<string | null> {
    const key = comps.slice(0, -1).join('/');
    if (key === '') return '';
    const cached = this.parentCache.get(key);
    if (cached !== undefined) return cached;
    // Common case: the grandparent is resolved and the parent is a real directory in it.
    const slash = key.lastIndexOf('/');
    const up = slash < 0 ? '' : this.parentCache.get(key.slice(0, slash));
    if (up !== undefined) {
      const rel = up === '' ? key.slice(slash + 1) : `${up}/${key.slice(slash + 1)}`;
      let st: fs.Stats | undefined;
      if (!this.fresh || this.created.has(rel)) {
        try {
          st = fs.lstatSync(this.abs(rel));
        } catch {
          st = undefined;
        }
      }
      if (st?.isDirectory()) {
        this.parentCache.set(key, rel);
        return rel;
      }
    }
    const r = await resolveParent(this.root, comps, {
      mkdirs,
      lower: this.lowerLookup,
      onMkdir: async (rel, abs, lower) => {
        this.created.add(rel);
        this.setDirMeta(rel, abs, lower);
      },
    });
    // Without mkdirs the result may pass through lower-layer directories not in this tree yet.
    if (r !== null && mkdirs) {
      this.parentCache.set(key, r);
      this.created.add(r);
    }
    return r;
  }

  private async copyLowerDirMeta(rel: string, abs: string): Promise<void> {
    const below = this.lowersReady && this.lowerDirs.length === 0 ? null : lookupLower(await this.lowers(), rel.split('/'));
    this.setDirMeta(rel, abs, below?.kind === 'dir' ? below.st : null);
  }

  /** Gives an implicitly created directory the metadata the lower layers have for it. */
  private setDirMeta(rel: string, abs: string, st: fs.Stats | null): void {
    if (!st) {
      this.implicitDirs.add(rel);
      return;
    }
    this.implicitDirs.delete(rel);
    if (this.ownership) fs.lchownSync(abs, st.uid, st.gid);
    fs.chmodSync(abs, st.mode & 0o7777);
    if (st.mode & 0o2000) this.setgidDirs.add(rel);
    this.keepTimes.set(rel, [st.atimeMs / 1000, st.mtimeMs / 1000]);
  }

  /** Remembers the times of an existing directory this layer is about to change. */
  private noteParent(rel: string): void {
    if (this.keepTimes.has(rel) || this.dirs.has(rel)) return;
    if (this.fresh && (rel === '' || this.created.has(rel))) return; // ours: nothing to keep
    try {
      const st = fs.lstatSync(this.abs(rel));
      if (st.isDirectory()) this.keepTimes.set(rel, [st.atimeMs / 1000, st.mtimeMs / 1000]);
    } catch {
      // gone: nothing to keep
    }
  }

  // ---- entries ---------------------------------------------------------------------------------

  async entry(h: tar.Header, stream: EntryStream): Promise<void> {
    const data = stream;
    this.checkTaskError();
    if (this.special.length >= SPECIAL_BATCH) await this.flush();
    if (++this.entries > this.maxEntries) throw fail(h.name, `more than ${this.maxEntries} entries in one layer`);
    const pax = (h.pax ?? null) as PaxRecords | null;
    const type = h.type as string | null;
    const isFile = type === 'file' || type === 'contiguous-file';
    const sparse = isFile ? sparseOf(pax) : null;
    const name = sparse?.name ?? h.name;
    const size = h.size ?? 0;
    if (!(size >= 0) || size > this.maxEntrySize) {
      throw fail(name, `declared size ${size} exceeds the limit of ${this.maxEntrySize} bytes`);
    }
    if (sparse && !(sparse.realSize >= 0 && sparse.realSize <= this.maxEntrySize)) {
      throw fail(name, `sparse file size ${sparse.realSize} exceeds the limit of ${this.maxEntrySize} bytes`);
    }
    this.declared += size;
    if (this.declared > this.maxTotalSize) throw fail(name, `layer exceeds the limit of ${this.maxTotalSize} bytes`);

    const mtime = paxNumber(pax, 'mtime') ?? (h.mtime ? h.mtime.getTime() / 1000 : 0);
    const meta: EntryMeta = {
      mode: (h.mode ?? 0o644) & 0o7777,
      uid: paxNumber(pax, 'uid') ?? h.uid ?? 0,
      gid: paxNumber(pax, 'gid') ?? h.gid ?? 0,
      mtime,
      atime: paxNumber(pax, 'atime') ?? mtime,
      xattrs: this.xattrs ? xattrsOf(pax) : new Map(),
    };
    for (const k of [...meta.xattrs.keys()]) {
      if (k.startsWith('trusted.overlay.')) {
        meta.xattrs.delete(k);
        this.warn(`${name}: xattr ${k} ignored`);
      }
    }

    const comps = cleanComponents(name);
    if (name.startsWith('/') || /(^|\/)\.\.(\/|$)/.test(name)) {
      this.warn(`${JSON.stringify(name)} points outside the layer; extracted as ${JSON.stringify(comps.join('/'))}`);
    }
    if (comps.length === 0) {
      if (type === 'directory') this.dirs.set('', { mode: meta.mode, atime: meta.atime, mtime: meta.mtime });
      await drain(data);
      return;
    }
    const base = comps[comps.length - 1];
    if (base.startsWith('.wh.')) {
      await drain(data);
      await this.whiteout(name, comps, base);
      return;
    }

    switch (type) {
      case 'directory':
        await drain(data);
        return this.directory(comps, meta);
      case 'file':
      case 'contiguous-file':
        return this.file(name, comps, meta, data, size, sparse);
      case 'symlink':
        await drain(data);
        return this.symlink(comps, meta, h.linkname ?? '');
      case 'link':
        await drain(data);
        return this.hardlink(name, comps, h.linkname ?? '');
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await drain(data);
        return this.special_(name, comps, meta, type, h.devmajor ?? 0, h.devminor ?? 0);
      default:
        throw fail(name, `unsupported tar entry type ${String(type)} (old GNU sparse or multi-volume?)`, 'UNSUPPORTED');
    }
  }

  private async target(comps: string[]): Promise<string> {
    const parent = (await this.resolveParentRel(comps, true)) as string;
    if (!this.fresh || this.keepTimes.size > 0) this.noteParent(parent);
    const base = comps[comps.length - 1];
    return parent ? `${parent}/${base}` : base;
  }

  private applyXattrs(rel: string, xattrs: Map<string, Buffer>): void {
    for (const [name, value] of xattrs) this.queueSpecial({ op: 'xattr', path: this.abs(rel), name, value });
  }

  private async directory(comps: string[], meta: EntryMeta): Promise<void> {
    const rel = await this.target(comps);
    const abs = this.abs(rel);
    if (this.taskPaths.has(rel)) await this.drainTasks();
    const st = await this.lstatOrNull(rel);
    if (st && !st.isDirectory()) await this.remove(rel);
    if (!st || !st.isDirectory()) fs.mkdirSync(abs, 0o700);
    this.created.add(rel);
    this.implicitDirs.delete(rel);
    if (this.ownership && (meta.uid !== EUID || meta.gid !== EGID || !this.fresh || this.setgidDirs.has(parentOf(rel)))) fs.lchownSync(abs, meta.uid, meta.gid);
    this.dirs.set(rel, { mode: meta.mode, atime: meta.atime, mtime: meta.mtime });
    this.applyXattrs(rel, meta.xattrs);
  }

  private async symlink(comps: string[], meta: EntryMeta, linkname: string): Promise<void> {
    const rel = await this.target(comps);
    await this.clearFinal(rel);
    const abs = this.abs(rel);
    fs.symlinkSync(linkname, abs);
    this.created.add(rel);
    if (this.ownership && (meta.uid !== EUID || meta.gid !== EGID || !this.fresh || this.setgidDirs.has(parentOf(rel)))) fs.lchownSync(abs, meta.uid, meta.gid);
    fs.lutimesSync(abs, meta.atime, meta.mtime);
    this.applyXattrs(rel, meta.xattrs);
  }

  private async hardlink(name: string, comps: string[], linkname: string): Promise<void> {
    const tcomps = cleanComponents(linkname);
    if (tcomps.length === 0) throw fail(name, `hard link target ${JSON.stringify(linkname)} is the root`);
    const tparent = await this.resolveParentRel(tcomps, false);
    const tbase = tcomps[tcomps.length - 1];
    const trel = tparent === null ? null : tparent ? `${tparent}/${tbase}` : tbase;
    if (trel !== null && this.taskPaths.has(trel)) await this.drainTasks();
    const tst = trel === null ? null : await this.lstatOrNull(trel);
    const rel = await this.target(comps);
    if (tst) {
      if (tst.isDirectory()) throw fail(name, `hard link target ${JSON.stringify(linkname)} is a directory`);
      if (trel === rel) return;
      await this.clearFinal(rel);
      fs.linkSync(this.abs(trel as string), this.abs(rel));
      this.created.add(rel);
      return;
    }
    // Overlay layers: the target may live in a lower layer; the link becomes a copy. Its parent was
    // resolved through the merged view (root-relative, like an in-tree path); the lower layers are
    // looked into without following any symlink, and the file is opened with O_NOFOLLOW.
    const below = trel === null || (this.lowersReady && this.lowerDirs.length === 0) ? null : lookupLower(await this.lowers(), trel.split('/'));
    if (below?.kind === 'other' && below.st.isFile()) {
      const lst = below.st;
      await this.clearFinal(rel);
      const abs = this.abs(rel);
      const src = await fsp.open(path.join(below.dir, trel as string), C.O_RDONLY | C.O_NOFOLLOW);
      try {
        const dst = await fsp.open(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        try {
          const buf = Buffer.allocUnsafe(1 << 20);
          for (;;) {
            const { bytesRead } = await src.read(buf, 0, buf.length);
            if (bytesRead === 0) break;
            await writeAll(dst, [buf.subarray(0, bytesRead)], bytesRead);
          }
          if (this.ownership) await dst.chown(lst.uid, lst.gid);
          await dst.chmod(lst.mode & 0o7777);
          await dst.utimes(lst.atime, lst.mtime);
        } finally {
          await dst.close();
        }
      } finally {
        await src.close();
      }
      this.created.add(rel);
      return;
    }
    throw fail(name, `hard link target ${JSON.stringify(linkname)} does not exist in the layer`);
  }

  private async special_(
    name: string,
    comps: string[],
    meta: EntryMeta,
    type: 'character-device' | 'block-device' | 'fifo',
    major: number,
    minor: number,
  ): Promise<void> {
    if (type !== 'fifo') {
      if (this.devices === 'reject') throw fail(name, 'device nodes are not allowed');
      if (this.devices === 'skip') {
        this.warn(`${name}: device node skipped`);
        return;
      }
    }
    const rel = await this.target(comps);
    await this.clearFinal(rel);
    const kind = type === 'fifo' ? 'p' : type === 'block-device' ? 'b' : 'c';
    const owner = this.ownership ? { uid: meta.uid, gid: meta.gid } : {};
    this.queueSpecial({ op: 'mknod', path: this.abs(rel), kind, major, minor, mode: meta.mode, ...owner });
    this.created.add(rel);
    this.specialTimes.push([rel, meta.atime, meta.mtime]);
    this.applyXattrs(rel, meta.xattrs);
  }

  private async whiteout(name: string, comps: string[], base: string): Promise<void> {
    const overlay = this.whiteouts === 'overlay';
    if (base === '.wh..wh..opq') {
      const dirComps = comps.slice(0, -1);
      if (overlay) {
        const dir = dirComps.length === 0 ? '' : await this.target(dirComps);
        if (dir !== '') {
          const st = await this.lstatOrNull(dir);
          if (st && !st.isDirectory()) await this.remove(dir);
          if (!st || !st.isDirectory()) {
            await fsp.mkdir(this.abs(dir), 0o755);
            await this.copyLowerDirMeta(dir, this.abs(dir));
          }
          this.created.add(dir);
        }
        this.queueSpecial({ op: 'xattr', path: this.abs(dir), name: 'trusted.overlay.opaque', value: Buffer.from('y') });
        return;
      }
      const parent = await this.resolveParentRel(comps, false);
      if (parent === null) return;
      this.noteParent(parent);
      let names: string[];
      try {
        names = await fsp.readdir(this.abs(parent));
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return;
        throw err;
      }
      for (const n of names) {
        const child = parent ? `${parent}/${n}` : n;
        if (!this.created.has(child)) await this.remove(child);
      }
      return;
    }
    const victim = base.slice(4);
    if (victim === '' || victim === '.' || victim === '..') throw fail(name, 'malformed whiteout');
    const parent = await this.resolveParentRel(comps, overlay);
    if (parent === null) return;
    this.noteParent(parent);
    const rel = parent ? `${parent}/${victim}` : victim;
    await this.clearFinal(rel);
    if (overlay) {
      this.queueSpecial({ op: 'mknod', path: this.abs(rel), kind: 'c', major: 0, minor: 0, mode: 0 });
      this.created.add(rel);
    }
  }

  private async file(
    name: string,
    comps: string[],
    meta: EntryMeta,
    data: EntryStream,
    size: number,
    sparse: SparseInfo | null,
  ): Promise<void> {
    const rel = await this.target(comps);
    await this.clearFinal(rel);
    const abs = this.abs(rel);
    this.created.add(rel);
    if (sparse) return this.sparseFile(name, rel, meta, data[Symbol.asyncIterator](), sparse);
    if (size <= SMALL_FILE) {
      const bufs = await collect(data, true);
      let have = 0;
      for (const b of bufs) have += b.length;
      if (have !== size) throw fail(name, `truncated data (${have} of ${size} bytes)`);
      this.fileBytes += have;
      if (this.smallFiles === 'inline') {
        this.writeSmallSync(abs, bufs, have, meta, rel);
        this.applyXattrs(rel, meta.xattrs);
        return;
      }
      await this.waitSlot();
      this.startTask(rel, async () => {
        const fh = await fsp.open(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
        try {
          if (have > 0) await writeAll(fh, bufs, have);
          await this.finishFile(fh, meta);
        } finally {
          await fh.close();
        }
        this.applyXattrs(rel, meta.xattrs);
      });
      return;
    }
    const it = data[Symbol.asyncIterator]();
    let done = false;
    const fh = await fsp.open(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    let written = 0;
    try {
      let batch: Buffer[] = [];
      let batchBytes = 0;
      for (;;) {
        if (batchBytes >= WRITE_BATCH || done) {
          if (batchBytes > 0) await writeAll(fh, batch, batchBytes);
          written += batchBytes;
          batch = [];
          batchBytes = 0;
          if (done) break;
        }
        const r = await it.next();
        if (r.done) {
          done = true;
          continue;
        }
        batch.push(r.value);
        batchBytes += r.value.length;
      }
      if (written !== size) throw fail(name, `truncated data (${written} of ${size} bytes)`);
      this.fileBytes += written;
      await this.finishFile(fh, meta);
    } finally {
      await fh.close();
    }
    this.applyXattrs(rel, meta.xattrs);
  }

  /**
   * Small files are written with synchronous calls on the main thread: measured faster than
   * threadpool round trips (one per syscall) on a loaded 2-core host, and it leaves the threadpool
   * to zlib and the other layers. Each file costs open, write, futimes, close, plus fchown and
   * fchmod only when the open() mode and owner would not already be right.
   */
  private writeSmallSync(abs: string, bufs: Buffer[], have: number, meta: EntryMeta, rel: string): void {
    const plain = (meta.mode & 0o7000) === 0 && (meta.mode & UMASK) === 0;
    const fd = fs.openSync(abs, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, plain ? meta.mode : 0o600);
    try {
      let off = 0;
      for (const b of bufs) {
        let pos = 0;
        while (pos < b.length) pos += fs.writeSync(fd, b, pos, b.length - pos, off + pos);
        off += b.length;
      }
      if (off !== have) throw new Error('short write');
      const ownerOk = !this.ownership || (meta.uid === EUID && meta.gid === EGID && this.fresh && !this.setgidDirs.has(parentOf(rel)));
      if (!ownerOk) fs.fchownSync(fd, meta.uid, meta.gid);
      if (!plain || !ownerOk) fs.fchmodSync(fd, meta.mode);
      fs.futimesSync(fd, meta.atime, meta.mtime);
    } finally {
      fs.closeSync(fd);
    }
  }

  private async finishFile(fh: FileHandle, meta: EntryMeta): Promise<void> {
    if (this.ownership) await fh.chown(meta.uid, meta.gid);
    await fh.chmod(meta.mode);
    await fh.utimes(meta.atime, meta.mtime);
  }

  private async sparseFile(
    name: string,
    rel: string,
    meta: EntryMeta,
    it: AsyncIterator<Buffer>,
    sparse: SparseInfo,
  ): Promise<void> {
    let segments = sparse.segments;
    let pending: Buffer = Buffer.alloc(0);
    if (sparse.mapInData) {
      for (;;) {
        const parsed = parseSparseMap(pending);
        if (parsed) {
          segments = parsed.segments;
          pending = pending.subarray(parsed.consumed);
          break;
        }
        if (pending.length > 64 << 20) throw fail(name, 'sparse map too large');
        const r = await it.next();
        if (r.done) throw fail(name, 'truncated sparse map');
        pending = Buffer.concat([pending, r.value]);
      }
    }
    for (const [off, len] of segments) {
      if (!(off >= 0 && len >= 0 && off + len <= sparse.realSize)) throw fail(name, 'sparse segment outside the file');
    }
    const fh = await fsp.open(this.abs(rel), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      let seg = 0;
      let segDone = 0;
      const put = async (buf: Buffer): Promise<void> => {
        let pos = 0;
        while (pos < buf.length) {
          while (seg < segments.length && segDone >= segments[seg][1]) {
            seg++;
            segDone = 0;
          }
          if (seg >= segments.length) throw fail(name, 'sparse data longer than its map');
          const n = Math.min(buf.length - pos, segments[seg][1] - segDone);
          await fh.write(buf, pos, n, segments[seg][0] + segDone);
          segDone += n;
          pos += n;
          this.fileBytes += n;
        }
      };
      if (pending.length) await put(pending);
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        await put(r.value);
      }
      await fh.truncate(sparse.realSize);
      await this.finishFile(fh, meta);
    } finally {
      await fh.close();
    }
    this.applyXattrs(rel, meta.xattrs);
  }

  /** Ends the layer: queued work, device times, then directory modes and times (deepest first). */
  async finish(): Promise<void> {
    await this.flush();
    for (const [rel, atime, mtime] of this.specialTimes) {
      try {
        await fsp.lutimes(this.abs(rel), atime, mtime);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    }
    const dirs = [...this.dirs.entries()].sort((a, b) => b[0].length - a[0].length);
    for (const [rel, m] of dirs) {
      const abs = this.abs(rel);
      const st = fs.lstatSync(abs);
      if (!st.isDirectory()) continue; // replaced meanwhile: never chmod through a symlink
      fs.chmodSync(abs, m.mode);
      fs.utimesSync(abs, m.atime, m.mtime);
    }
    for (const [rel, [atime, mtime]] of this.keepTimes) {
      if (this.dirs.has(rel)) continue;
      const abs = this.abs(rel);
      let st: fs.Stats;
      try {
        st = fs.lstatSync(abs);
      } catch {
        continue;
      }
      if (st.isDirectory()) fs.utimesSync(abs, atime, mtime);
    }
  }

  /** After a failure: let in-flight tasks settle so nothing writes after applyLayer returns. */
  async settle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
  }
}

async function writeAll(fh: FileHandle, bufs: Buffer[], total: number): Promise<void> {
  let list = bufs;
  let left = total;
  while (left > 0) {
    const { bytesWritten } = await fh.writev(list);
    left -= bytesWritten;
    if (left <= 0) break;
    // Short write: drop what was written.
    let skip = bytesWritten;
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

/**
 * Extracts one uncompressed layer tar from `tarStream` into `targetDir` (which must exist).
 * Consumes the stream to its end (the diff ID covers every byte), or destroys it on failure.
 */
export async function applyLayer(tarStream: Readable, targetDir: string, opts: ApplyOptions = {}): Promise<ApplyResult> {
  const root = opts.keepTargetPath === true ? targetDir : await fsp.realpath(targetDir);
  const x = new Extractor(root, opts);
  await x.init();
  if (opts.lowerDirsLater) {
    let ended = false;
    x.sourceFailed = new Promise<never>((_, reject) => {
      tarStream.once('end', () => (ended = true));
      tarStream.once('error', (err: unknown) => reject(err instanceof Error ? err : new Error(String(err))));
      tarStream.once('close', () => {
        if (!ended) reject(new BerthError('INTERNAL', 'layer source closed while waiting for the lower layers'));
      });
    });
    x.sourceFailed.catch(() => undefined);
  }
  const ex = tar.extract();
  if (!installRawPax(ex)) x.warn('tar-stream internals changed: binary xattr values may be damaged');
  const hash = opts.digest === false ? null : createHash('sha256');
  let size = 0;
  let failure: unknown = null;

  const finished = new Promise<void>((resolve, reject) => {
    ex.on('error', (err: unknown) => {
      if (failure === null) failure = err;
      reject(failure);
    });
    ex.on('finish', () => resolve());
    ex.on('close', () => {
      if (failure !== null) reject(failure);
      else resolve();
    });
  });
  finished.catch(() => undefined);

  ex.on('entry', (header, stream, next) => {
    stream.on('error', () => undefined); // errors surface through the iteration and the extract stream
    x.entry(header, stream as unknown as EntryStream).then(
      () => next(),
      (err: unknown) => {
        if (failure === null) failure = err;
        stream.resume();
        next(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });

  try {
    for await (const chunk of tarStream as AsyncIterable<Buffer>) {
      if (failure !== null) break;
      hash?.update(chunk);
      size += chunk.length;
      if (!ex.write(chunk)) {
        await Promise.race([new Promise<void>((resolve) => ex.once('drain', () => resolve())), finished]);
      }
    }
    if (failure !== null) throw failure;
    (ex as unknown as { end(): void }).end();
    await finished;
    if (failure !== null) throw failure;
    await x.finish();
  } catch (err) {
    tarStream.destroy();
    ex.destroy();
    await x.settle();
    if (err instanceof BerthError) throw err;
    const msg = err instanceof Error ? err.message : String(err);
    const osError = typeof err === 'object' && err !== null && typeof (err as NodeJS.ErrnoException).syscall === 'string';
    throw new BerthError(osError ? 'INTERNAL' : 'INVALID_ARGUMENT', `applying layer: ${msg}`, { cause: err });
  }
  return {
    diffId: hash ? `sha256:${hash.digest('hex')}` : '',
    size,
    entries: x.entries,
    fileBytes: x.fileBytes,
    implicitDirs: [...x.implicitDirs].sort(),
    warnings: x.finalWarnings(),
  };
}
