/**
 * Snapshots: committed layers keyed by chain ID, and containers' writable layers keyed by name.
 *
 * Layout under `root`:
 *   driver                          "overlay" or "copy", fixed when the store is created
 *   snapshots/<n>/fs                a snapshot's tree (n: a small number, so overlay options stay short)
 *   snapshots/<n>/work              overlay workdir (active snapshots)
 *   snapshots/<n>/ref               "committed <chain hex>" or "active <key hex>": owner of the dir
 *   snapshots/tmp-<pid>-<rand>/     work in progress; removed on open when <pid> is gone
 *   meta/committed/<chain hex>.json the commit point of a layer (written temp+fsync+rename)
 *   meta/active/<sha256(key)>.json  the commit point of an active snapshot
 *   locks/<name>                    cross-process locks (lock.ts)
 *
 * A layer is unpacked into a temp dir, renamed to the first free snapshots/<n> (rename onto an
 * existing, non-empty directory fails, so concurrent committers never collide), then its metadata
 * is written. A crash leaves temp dirs or an unreferenced snapshots/<n>; both are removed on open.
 * Concurrent unpackers of one chain ID serialise on the lock `chain-<hex>`; the loser finds the
 * metadata and does nothing.
 *
 * overlay driver: each layer dir holds only that layer, whiteouts in overlay form; a container's
 * rootfs is overlay(lowerdir=layers, upperdir, workdir). mount(8) runs with its cwd in snapshots/,
 * so lowerdir holds short relative names ("12/fs:11/fs:3/fs"): about 4000/(digits+4) layers fit
 * the kernel's one-page option limit; the kernel also caps the stack at 500 layers. More is an
 * UNSUPPORTED error.
 * copy driver (no overlay): each layer dir holds the full merged tree (a copy of its parent's tree,
 * `cp -a --reflink=auto`, with the layer applied and whiteouts deleted); a container's rootfs is
 * another copy, bind-mounted. A layer whose parent is not committed yet is spooled to a temp file
 * while the parent is waited for (so every stream of a pull keeps being read).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { BerthError, isErrno } from '../../runtime/errors';
import { applyLayer, type ApplyOptions, type ApplyResult } from '../unpack/apply';
import { lstatStrict } from '../unpack/paths';
import { writeFileAtomic } from '../../util/atomic-file';
import { chainIdOf, assertDigest } from './chain';
import { lock, tryLock } from './lock';
import { doMount, doUnmount, mountPoints, runOk, type Mount } from './mount';
import { overlayListed, probeOverlay } from './overlay';

export type SnapshotDriver = 'overlay' | 'copy';

export interface SnapshotterOptions {
  root: string;
  /** 'auto' (default): the store's recorded driver, else overlay when a trial mount works, else copy. */
  driver?: SnapshotDriver | 'auto';
  /** syncfs the store's filesystem before each layer commit (default false, like containerd). */
  syncLayers?: boolean;
  /** How long to wait for another unpacker of the same layer (default 30 min). */
  lockTimeoutMs?: number;
}

export interface LayerInfo {
  kind: 'committed';
  chainId: string;
  parent?: string;
  diffId: string;
  /** Snapshot directory number. */
  id: number;
  /** Uncompressed tar size. */
  size: number;
  created: string;
  /**
   * Overlay layers unpacked before their parents: directories the layer created without a header,
   * still to be given the lower layers' mode, owner and times (see settle()).
   */
  pendingDirs?: string[];
}

export interface ActiveInfo {
  kind: 'active';
  key: string;
  parent?: string;
  id: number;
  readonly: boolean;
  created: string;
}

export type SnapshotInfo = LayerInfo | ActiveInfo;

export interface UnpackRequest {
  diffId: string;
  /** Parent chain ID (absent for the bottom layer). */
  parent?: string;
  /** Checked against parent+diffId when given. */
  chainId?: string;
  /** The uncompressed tar. A function is only called when the layer is not present yet; a stream
   * given directly is read and discarded when the layer already exists. */
  source: Readable | (() => Readable | Promise<Readable>);
  apply?: Omit<ApplyOptions, 'whiteouts' | 'lowerDirs' | 'lowerDirsLater' | 'digest'>;
  /**
   * The source itself verifies the diff ID and fails the stream (destroys it with an error) on a
   * mismatch, as the pull does: then the tar is not hashed a second time here.
   */
  sourceVerifiesDiffId?: boolean;
}

export interface UnpackResult {
  info: LayerInfo;
  /** null when the layer was already there (unpacked by someone else). */
  applied: ApplyResult | null;
}

export interface Usage {
  bytes: number;
  inodes: number;
}

const hex = (d: string): string => d.slice('sha256:'.length);
const keyHex = (key: string): string => createHash('sha256').update(key).digest('hex');

export class Snapshotter {
  private readonly snapDir: string;
  private readonly metaDir: string;
  private readonly lockDir: string;
  private readonly inflight = new Map<string, Promise<UnpackResult>>();

  private constructor(
    readonly root: string,
    readonly driver: SnapshotDriver,
    private readonly opts: SnapshotterOptions,
  ) {
    this.snapDir = path.join(root, 'snapshots');
    this.metaDir = path.join(root, 'meta');
    this.lockDir = path.join(root, 'locks');
  }

  /** Opens (creating if needed) the store at `opts.root`, picks the driver and removes crash debris. */
  static async open(opts: SnapshotterOptions): Promise<Snapshotter> {
    const root = path.resolve(opts.root);
    for (const d of ['snapshots', 'meta/committed', 'meta/active', 'locks']) {
      await fsp.mkdir(path.join(root, d), { recursive: true, mode: 0o700 });
    }
    const driverFile = path.join(root, 'driver');
    let driver: SnapshotDriver | null = null;
    try {
      const d = (await fsp.readFile(driverFile, 'utf8')).trim();
      if (d === 'overlay' || d === 'copy') driver = d;
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    const wanted = opts.driver ?? 'auto';
    if (driver !== null && wanted !== 'auto' && wanted !== driver) {
      throw new BerthError('FAILED_PRECONDITION', `snapshot store ${root} uses the ${driver} driver, not ${wanted}`);
    }
    if (driver === null) {
      if (wanted !== 'auto') driver = wanted;
      else driver = (await overlayListed()) && (await probeOverlay(path.join(root, 'snapshots'))).ok ? 'overlay' : 'copy';
      await writeFileAtomic(driverFile, `${driver}\n`);
    }
    const s = new Snapshotter(root, driver, opts);
    await s.cleanup();
    return s;
  }

  // ---- metadata ----------------------------------------------------------------------------------

  private committedMeta(chainId: string): string {
    return path.join(this.metaDir, 'committed', `${hex(chainId)}.json`);
  }

  private activeMeta(key: string): string {
    return path.join(this.metaDir, 'active', `${keyHex(key)}.json`);
  }

  private fsDir(id: number): string {
    return path.join(this.snapDir, String(id), 'fs');
  }

  private static async readJson<T>(file: string): Promise<T | null> {
    try {
      return JSON.parse(await fsp.readFile(file, 'utf8')) as T;
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
  }

  /** The committed layer with this chain ID, or null. */
  async stat(chainId: string): Promise<LayerInfo | null> {
    assertDigest(chainId, 'chain ID');
    return Snapshotter.readJson<LayerInfo>(this.committedMeta(chainId));
  }

  /** The active snapshot `key`, or null. */
  async statActive(key: string): Promise<ActiveInfo | null> {
    return Snapshotter.readJson<ActiveInfo>(this.activeMeta(key));
  }

  async list(): Promise<SnapshotInfo[]> {
    const out: SnapshotInfo[] = [];
    for (const kind of ['committed', 'active']) {
      const dir = path.join(this.metaDir, kind);
      for (const f of await fsp.readdir(dir)) {
        if (!f.endsWith('.json') || f.startsWith('.')) continue;
        const info = await Snapshotter.readJson<SnapshotInfo>(path.join(dir, f));
        if (info) out.push(info);
      }
    }
    return out;
  }

  /** The fs dirs of `chainId` and its ancestors, topmost first. Throws NOT_FOUND when one is missing. */
  async layerDirs(chainId: string): Promise<string[]> {
    const dirs: string[] = [];
    let cur: string | undefined = chainId;
    while (cur !== undefined) {
      const info = await this.stat(cur);
      if (!info) throw new BerthError('NOT_FOUND', `layer ${cur} is not unpacked`);
      dirs.push(this.fsDir(info.id));
      if (this.driver === 'copy') break; // each copy layer is the whole tree
      cur = info.parent;
    }
    return dirs;
  }

  // ---- committing --------------------------------------------------------------------------------

  private async newTemp(): Promise<string> {
    const dir = path.join(this.snapDir, `tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /** Renames `tmp` to the first free snapshots/<n>; returns n. */
  private async place(tmp: string): Promise<number> {
    const names = await fsp.readdir(this.snapDir);
    let n = 1;
    for (const name of names) if (/^[0-9]+$/.test(name)) n = Math.max(n, Number(name) + 1);
    for (;; n++) {
      try {
        await fsp.rename(tmp, path.join(this.snapDir, String(n)));
        return n;
      } catch (err) {
        if (isErrno(err, 'ENOTEMPTY') || isErrno(err, 'EEXIST')) continue;
        throw err;
      }
    }
  }

  /**
   * Unpacks one layer (once per chain ID, whoever asks). Overlay layers do not need their parent
   * to be present; copy layers do (a parent being unpacked by this process is waited for).
   */
  async unpack(req: UnpackRequest): Promise<UnpackResult> {
    const chainId = chainIdOf(req.parent, req.diffId);
    if (req.chainId !== undefined && req.chainId !== chainId) {
      throw new BerthError('INVALID_ARGUMENT', `chain ID ${req.chainId} does not match parent ${req.parent ?? '(none)'} + ${req.diffId}`);
    }
    const running = this.inflight.get(chainId);
    if (running) {
      let info: LayerInfo;
      try {
        info = (await running).info;
      } catch {
        return this.unpack(req); // that attempt failed (its source broke?): try ours
      }
      if (typeof req.source !== 'function') discard(req.source);
      return { info, applied: null };
    }
    const p = this.unpackLocked(chainId, req).finally(() => this.inflight.delete(chainId));
    this.inflight.set(chainId, p);
    return p;
  }

  private async unpackLocked(chainId: string, req: UnpackRequest): Promise<UnpackResult> {
    const release = await lock(path.join(this.lockDir, `chain-${hex(chainId)}`), this.opts.lockTimeoutMs ?? 30 * 60_000);
    let tmp: string | null = null;
    try {
      const existing = await this.stat(chainId);
      if (existing) {
        if (typeof req.source !== 'function') discard(req.source);
        return { info: existing, applied: null };
      }
      tmp = await this.newTemp();
      const fs = path.join(tmp, 'fs');
      let lowerDirs: string[] = [];
      let lowersIncomplete = false;
      let lowerDirsLater: (() => Promise<string[]>) | undefined;
      let gotLowers = false;
      let source = req.source;
      if (this.driver === 'copy') {
        if (req.parent !== undefined) {
          if (!(await this.stat(req.parent))) {
            // The parent's tree is needed first. Keep reading this layer meanwhile (a pull streams
            // every layer at once and stalls if one is not read): spool it to a file.
            const spool = path.join(tmp, 'layer.tar');
            const input = typeof source === 'function' ? await source() : source;
            await pipeline(input, createWriteStream(spool));
            source = () => createReadStream(spool, { highWaterMark: 1 << 20 });
            await this.waitForLayer(req.parent);
          }
          const [parentFs] = await this.layerDirs(req.parent);
          await runOk('cp', ['-a', '--reflink=auto', '--', parentFs, fs]);
        } else {
          await fsp.mkdir(fs, 0o755);
        }
      } else {
        await fsp.mkdir(fs, 0o755);
        if (req.parent !== undefined) {
          try {
            lowerDirs = await this.layerDirs(req.parent);
          } catch {
            lowersIncomplete = true;
            // Entries whose parents must be resolved through the lower layers (a directory
            // without a header here may be a symlink below, e.g. usrmerge's bin -> usr/bin) wait
            // for every ancestor to be committed. Downloads queue in layer order, so the
            // ancestors' streams keep flowing meanwhile.
            const parent = req.parent;
            lowerDirsLater = async () => {
              await this.waitForChain(parent);
              await this.settle(parent);
              const dirs = await this.layerDirs(parent);
              gotLowers = true;
              return dirs;
            };
          }
        }
      }
      const stream = typeof source === 'function' ? await source() : source;
      const applied = await applyLayer(stream, fs, {
        ...req.apply,
        whiteouts: this.driver === 'overlay' ? 'overlay' : 'delete',
        lowerDirs,
        ...(lowerDirsLater ? { lowerDirsLater } : {}),
        digest: req.sourceVerifiesDiffId !== true,
      });
      if (req.sourceVerifiesDiffId === true) applied.diffId = req.diffId;
      else if (applied.diffId !== req.diffId) {
        throw new BerthError('INVALID_ARGUMENT', `layer content has diff ID ${applied.diffId}, expected ${req.diffId}`);
      }
      if (this.opts.syncLayers) await runOk('sync', ['-f', fs]);
      const id = await this.place(tmp);
      tmp = null;
      const info: LayerInfo = {
        kind: 'committed',
        chainId,
        ...(req.parent !== undefined ? { parent: req.parent } : {}),
        diffId: req.diffId,
        id,
        size: applied.size,
        created: new Date().toISOString(),
        ...(lowersIncomplete && !gotLowers && applied.implicitDirs.length > 0 ? { pendingDirs: applied.implicitDirs } : {}),
      };
      await fsp.writeFile(path.join(this.snapDir, String(id), 'ref'), `committed ${hex(chainId)}\n`);
      await writeFileAtomic(this.committedMeta(chainId), JSON.stringify(info));
      return { info, applied };
    } finally {
      if (tmp) await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      await release();
    }
  }

  /**
   * Completes layers unpacked before their parents (overlay, parallel unpack): directories they
   * created implicitly get the mode, owner and times the lower layers give them. Needs every
   * ancestor committed; prepare() calls it, and unpackLayers() once all layers are in.
   */
  async settle(chainId: string): Promise<void> {
    const info = await this.stat(chainId);
    if (!info || info.parent === undefined) return;
    await this.settle(info.parent);
    if (!info.pendingDirs || info.pendingDirs.length === 0) return;
    const lowers = await this.layerDirs(info.parent);
    const release = await lock(path.join(this.lockDir, `chain-${hex(chainId)}`), this.opts.lockTimeoutMs ?? 60_000);
    try {
      const cur = await this.stat(chainId);
      if (!cur || !cur.pendingDirs) return;
      const own = this.fsDir(cur.id);
      // Deepest first, so that fixing a directory's times is not undone by its children.
      for (const rel of [...cur.pendingDirs].sort((a, b) => b.length - a.length)) {
        const comps = rel.split('/');
        const mine = lstatStrict(own, comps);
        if (!mine || !mine.isDirectory()) continue;
        for (const lower of lowers) {
          const st = lstatStrict(lower, comps);
          if (!st) continue;
          if (st.isDirectory()) {
            const abs = path.join(own, ...comps);
            if (process.getuid?.() === 0) await fsp.lchown(abs, st.uid, st.gid);
            await fsp.chmod(abs, st.mode & 0o7777);
            await fsp.utimes(abs, st.atime, st.mtime);
          }
          break;
        }
      }
      const { pendingDirs: _done, ...rest } = cur;
      await writeFileAtomic(this.committedMeta(chainId), JSON.stringify(rest));
    } finally {
      await release();
    }
  }

  /** Waits until layer `chainId` and all its ancestors are committed. */
  private async waitForChain(chainId: string): Promise<void> {
    let cur: string | undefined = chainId;
    while (cur !== undefined) {
      await this.waitForLayer(cur);
      cur = (await this.stat(cur))?.parent;
    }
  }

  /** Waits until layer `chainId` is committed (by this process or another), up to the lock timeout. */
  private async waitForLayer(chainId: string): Promise<void> {
    const deadline = Date.now() + (this.opts.lockTimeoutMs ?? 30 * 60_000);
    for (;;) {
      const pending = this.inflight.get(chainId);
      if (pending) await pending;
      if (await this.stat(chainId)) return;
      if (Date.now() > deadline) throw new BerthError('NOT_FOUND', `parent layer ${chainId} was not unpacked in time`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  // ---- active snapshots --------------------------------------------------------------------------

  /**
   * Creates the writable (or, with readonly, a read-only view) snapshot `key` on top of the layer
   * chain `parent` (none: an empty tree) and returns its mounts.
   */
  async prepare(key: string, parent?: string, opts: { readonly?: boolean } = {}): Promise<Mount[]> {
    if (key === '') throw new BerthError('INVALID_ARGUMENT', 'snapshot key is empty');
    const release = await lock(path.join(this.lockDir, `active-${keyHex(key)}`), this.opts.lockTimeoutMs ?? 60_000);
    let tmp: string | null = null;
    try {
      if (await this.statActive(key)) throw new BerthError('ALREADY_EXISTS', `snapshot ${key} already exists`);
      const readonly = opts.readonly === true;
      if (parent !== undefined) {
        await this.layerDirs(parent); // NOT_FOUND early
        if (this.driver === 'overlay') await this.settle(parent);
      }
      tmp = await this.newTemp();
      if (this.driver === 'copy' && parent !== undefined) {
        const [parentFs] = await this.layerDirs(parent);
        await runOk('cp', ['-a', '--reflink=auto', '--', parentFs, path.join(tmp, 'fs')]);
      } else {
        await fsp.mkdir(path.join(tmp, 'fs'), 0o755);
        await fsp.mkdir(path.join(tmp, 'work'), 0o700);
      }
      const id = await this.place(tmp);
      tmp = null;
      const info: ActiveInfo = {
        kind: 'active',
        key,
        ...(parent !== undefined ? { parent } : {}),
        id,
        readonly,
        created: new Date().toISOString(),
      };
      await fsp.writeFile(path.join(this.snapDir, String(id), 'ref'), `active ${keyHex(key)}\n`);
      await writeFileAtomic(this.activeMeta(key), JSON.stringify(info));
      return (await this.mountsRel(info)).map((m) => this.absolute(m));
    } finally {
      if (tmp) await fsp.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
      await release();
    }
  }

  /** The mounts of active snapshot `key` (absolute paths; for an OCI runtime's root.mounts). */
  async mounts(key: string): Promise<Mount[]> {
    return (await this.mountsRel(await this.mustActive(key))).map((m) => this.absolute(m));
  }

  private async mustActive(key: string): Promise<ActiveInfo> {
    const info = await this.statActive(key);
    if (!info) throw new BerthError('NOT_FOUND', `no snapshot ${key}`);
    return info;
  }

  /** Mounts with paths relative to snapshots/ (mount(8) runs there). */
  private async mountsRel(info: ActiveInfo): Promise<Mount[]> {
    const ro = info.readonly ? ['ro'] : [];
    const own = `${info.id}/fs`;
    if (this.driver === 'copy' || info.parent === undefined) {
      return [{ type: 'bind', source: own, options: ['rbind', ...(info.readonly ? ['ro'] : ['rw'])] }];
    }
    const lowers = (await this.layerDirs(info.parent)).map((d) => path.relative(this.snapDir, d));
    if (lowers.length > 500) {
      throw new BerthError('UNSUPPORTED', `${lowers.length} layers: overlayfs stacks at most 500`);
    }
    if (info.readonly) {
      // A single lower cannot be mounted without an upper; add the (empty) own dir as the bottom.
      return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${[...lowers, own].join(':')}`, ...ro] }];
    }
    return [
      {
        type: 'overlay',
        source: 'overlay',
        options: [`lowerdir=${lowers.join(':')}`, `upperdir=${own}`, `workdir=${info.id}/work`],
      },
    ];
  }

  private absolute(m: Mount): Mount {
    const abs = (p: string): string => path.join(this.snapDir, p);
    if (m.type === 'bind') return { ...m, source: abs(m.source) };
    return {
      ...m,
      options: m.options.map((o) => {
        const eq = o.indexOf('=');
        if (eq < 0) return o;
        const k = o.slice(0, eq);
        const v = o.slice(eq + 1);
        if (k === 'lowerdir') return `${k}=${v.split(':').map(abs).join(':')}`;
        if (k === 'upperdir' || k === 'workdir') return `${k}=${abs(v)}`;
        return o;
      }),
    };
  }

  /** Mounts active snapshot `key` on `target` (an existing directory). */
  async mount(key: string, target: string): Promise<void> {
    const info = await this.mustActive(key);
    const ms = await this.mountsRel(info);
    const abs = await fsp.realpath(target);
    const file = path.join(this.snapDir, String(info.id), 'mounts');
    const known = await readMounts(file);
    if (!known.includes(abs)) await writeFileAtomic(file, JSON.stringify([...known, abs]));
    for (const m of ms) await doMount(m, abs, this.snapDir);
  }

  async unmount(target: string): Promise<void> {
    await doUnmount(target);
  }

  /** Where active snapshot `key` is mounted now (mounts made with mount() and still present). */
  async mountedAt(key: string): Promise<string[]> {
    const info = await this.mustActive(key);
    const known = await readMounts(path.join(this.snapDir, String(info.id), 'mounts'));
    if (known.length === 0) return [];
    const now = new Set(await mountPoints());
    return known.filter((m) => now.has(m));
  }

  /** Removes active snapshot `key`; refused while it is mounted (see mountedAt). */
  async remove(key: string): Promise<void> {
    const release = await lock(path.join(this.lockDir, `active-${keyHex(key)}`), this.opts.lockTimeoutMs ?? 60_000);
    try {
      const info = await this.mustActive(key);
      const mounted = await this.mountedAt(key);
      if (mounted.length > 0) {
        throw new BerthError('FAILED_PRECONDITION', `snapshot ${key} is still mounted at ${mounted.join(', ')}`);
      }
      await fsp.rm(this.activeMeta(key), { force: true });
      await this.discard(info.id);
    } finally {
      await release();
    }
  }

  /** Removes committed layer `chainId`; refused while a layer or active snapshot builds on it. */
  async removeLayer(chainId: string): Promise<void> {
    const release = await lock(path.join(this.lockDir, `chain-${hex(chainId)}`), this.opts.lockTimeoutMs ?? 60_000);
    try {
      const info = await this.stat(chainId);
      if (!info) throw new BerthError('NOT_FOUND', `layer ${chainId} is not unpacked`);
      const users = (await this.list()).filter((s) => s.parent === chainId);
      if (users.length > 0) {
        const names = users.map((u) => (u.kind === 'active' ? u.key : u.chainId)).join(', ');
        throw new BerthError('FAILED_PRECONDITION', `layer ${chainId} is in use by ${names}`);
      }
      await fsp.rm(this.committedMeta(chainId), { force: true });
      await this.discard(info.id);
    } finally {
      await release();
    }
  }

  private async discard(id: number): Promise<void> {
    const dir = path.join(this.snapDir, String(id));
    const aside = path.join(this.snapDir, `tmp-${process.pid}-rm-${randomBytes(6).toString('hex')}`);
    try {
      await fsp.rename(dir, aside);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    await fsp.rm(aside, { recursive: true, force: true });
  }

  /** Disk usage of a committed layer (by chain ID) or an active snapshot (by key). */
  async usage(keyOrChainId: string): Promise<Usage> {
    let id: number;
    if (/^sha256:[0-9a-f]{64}$/.test(keyOrChainId) && (await this.stat(keyOrChainId))) {
      id = (await this.stat(keyOrChainId) as LayerInfo).id;
    } else {
      id = (await this.mustActive(keyOrChainId)).id;
    }
    return du(this.fsDir(id));
  }

  /**
   * Runs `fn` with a read-only view of the merged tree of `chainId` (for reading /etc/passwd and
   * the like): the layer's own dir with the copy driver, a temporary overlay mount otherwise.
   */
  async withView<T>(chainId: string, fn: (dir: string) => Promise<T>): Promise<T> {
    const dirs = await this.layerDirs(chainId);
    if (this.driver === 'copy') return fn(dirs[0]);
    const key = `view-${process.pid}-${randomBytes(6).toString('hex')}`;
    await this.prepare(key, chainId, { readonly: true });
    const target = path.join(this.snapDir, `tmp-${process.pid}-view-${randomBytes(4).toString('hex')}`);
    let mounted = false;
    try {
      await fsp.mkdir(target);
      await this.mount(key, target);
      mounted = true;
      return await fn(target);
    } finally {
      if (mounted) await this.unmount(target).catch(() => undefined);
      await fsp.rm(target, { recursive: true, force: true }).catch(() => undefined);
      await this.remove(key).catch(() => undefined);
    }
  }

  // ---- crash recovery ----------------------------------------------------------------------------

  /** The snapshot dir numbers some metadata points to. */
  private async referencedIds(): Promise<Set<number>> {
    return new Set((await this.list()).map((i) => i.id));
  }

  /**
   * Removes temp dirs of dead processes and snapshot dirs no metadata points to. A dir is only
   * removed under its owner's lock (its `ref` names it) or, without a readable ref, once it is a
   * minute old; in both cases after checking again that no metadata points to it.
   */
  async cleanup(): Promise<void> {
    const referenced = await this.referencedIds();
    for (const name of await fsp.readdir(this.snapDir)) {
      const dir = path.join(this.snapDir, name);
      const tm = /^tmp-(\d+)-/.exec(name);
      if (tm) {
        if (Number(tm[1]) !== process.pid && !pidAlive(Number(tm[1]))) await rmUnmounted(dir);
        continue;
      }
      if (!/^[0-9]+$/.test(name) || referenced.has(Number(name))) continue;
      let ref = '';
      try {
        ref = (await fsp.readFile(path.join(dir, 'ref'), 'utf8')).trim();
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      const [kind, h] = ref.split(' ');
      const lockName = kind === 'committed' ? `chain-${h}` : kind === 'active' ? `active-${h}` : null;
      if (lockName === null || !/^[0-9a-f]{64}$/.test(h ?? '')) {
        const st = await fsp.stat(dir);
        if (Date.now() - st.mtimeMs > 60_000 && !(await this.referencedIds()).has(Number(name))) await rmUnmounted(dir);
        continue;
      }
      const release = await tryLock(path.join(this.lockDir, lockName));
      if (!release) continue;
      try {
        if (!(await this.referencedIds()).has(Number(name))) await rmUnmounted(dir);
      } finally {
        await release();
      }
    }
    for (const name of await fsp.readdir(this.lockDir)) {
      const m = /\.new-(\d+)-/.exec(name);
      if (/\.(stale|rel)-/.test(name) || (m && !pidAlive(Number(m[1])))) {
        await fsp.rm(path.join(this.lockDir, name), { recursive: true, force: true });
      }
    }
    for (const kind of ['committed', 'active']) {
      const dir = path.join(this.metaDir, kind);
      for (const name of await fsp.readdir(dir)) {
        const m = /^\.tmp-(\d+)-/.exec(name);
        if (m && !pidAlive(Number(m[1]))) await fsp.rm(path.join(dir, name), { force: true });
      }
    }
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

/** rm -rf that refuses to descend into a mount point (a leftover mount is an error, not a data loss). */
async function rmUnmounted(dir: string): Promise<void> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const prefix = `${dir}/`;
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && (mp === dir || mp.startsWith(prefix))) {
      throw new BerthError('FAILED_PRECONDITION', `${mp} is still mounted; not removing ${dir}`);
    }
  }
  await fsp.rm(dir, { recursive: true, force: true });
}

/** Disk usage like du: allocated bytes and inodes, hard links counted once. */
export async function du(dir: string): Promise<Usage> {
  const seen = new Set<string>();
  let bytes = 0;
  let inodes = 0;
  const walk = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    inodes++;
    bytes += Number(st.blocks) * 512;
    if (st.isDirectory()) {
      const names = await fsp.readdir(p);
      for (let i = 0; i < names.length; i += 64) {
        await Promise.all(names.slice(i, i + 64).map((n) => walk(path.join(p, n))));
      }
    }
  };
  await walk(dir);
  return { bytes, inodes };
}


/** Reads a stream we do not need to its end (its producer may depend on it being read). */
function discard(stream: Readable): void {
  stream.on('error', () => undefined);
  stream.resume();
}

async function readMounts(file: string): Promise<string[]> {
  try {
    const v: unknown = JSON.parse(await fsp.readFile(file, 'utf8'));
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
}
