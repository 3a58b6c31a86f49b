/**
 * Named volumes (docker's "local" driver): <root>/engine/volumes/<name>/_data holds the content and
 * <name>/volume.json the metadata (written with the shared atomic writer). `-v name:/path` creates
 * the volume on first use and, while it was never mounted, copies the image's content at that path
 * into it (docker's behaviour; `volume-nocopy` turns it off). A volume a container record names is in
 * use: rm refuses it. Anonymous volumes (`-v /path`) get a 64-hex name and go with `rm -v` / `--rm`.
 *
 * Mutations run under the engine lock in the callers (create/rm commands, run); the functions here do
 * not take it themselves so the engine can call them while it holds it.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../runtime/errors';
import { writeFileAtomic } from '../util/atomic-file';
import { resolveInRoot } from '../image/unpack';
import { RecordStore } from './store';
import type { ContainerRecord } from './types';

/** docker's volume name rule. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

export interface VolumeMeta {
  version: 1;
  name: string;
  driver: 'local';
  /** ISO. */
  createdAt: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  anonymous: boolean;
  /** Mounted at least once (the image's content was copied then, if any). */
  populated: boolean;
}

export interface VolumeInfo extends VolumeMeta {
  /** <dir>/<name>/_data */
  mountpoint: string;
}

export function validateVolumeName(name: string): void {
  if (!VOLUME_NAME.test(name) || name.length > 255) {
    throw new BerthError('INVALID_ARGUMENT', `invalid volume name ${JSON.stringify(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters`);
  }
}

/** A volume name or a host path? docker: a source with a '/' (or starting with '.' or '~') is a path. */
export function isVolumeName(source: string): boolean {
  return source !== '' && !source.includes('/') && !source.startsWith('.') && !source.startsWith('~');
}

export class VolumeStore {
  /** dir: <root>/engine/volumes; records: <root>/engine/records (to know which volumes are in use). */
  constructor(
    readonly dir: string,
    private readonly recordsDir?: string,
  ) {}

  private metaFile(name: string): string {
    validateVolumeName(name);
    return path.join(this.dir, name, 'volume.json');
  }

  mountpoint(name: string): string {
    validateVolumeName(name);
    return path.join(this.dir, name, '_data');
  }

  get(name: string): VolumeInfo | null {
    let text: string;
    try {
      text = fs.readFileSync(this.metaFile(name), 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
    const m = JSON.parse(text) as VolumeMeta;
    return { ...m, mountpoint: this.mountpoint(name) };
  }

  /** The volume; NOT_FOUND with docker's message when it does not exist. */
  inspect(name: string): VolumeInfo {
    const v = isVolumeName(name) && VOLUME_NAME.test(name) ? this.get(name) : null;
    if (v === null) throw new BerthError('NOT_FOUND', `no such volume: ${name}`);
    return v;
  }

  list(): VolumeInfo[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const out: VolumeInfo[] = [];
    for (const n of names.sort()) {
      if (!VOLUME_NAME.test(n)) continue;
      try {
        const v = this.get(n);
        if (v !== null) out.push(v);
      } catch {
        /* a half-made or damaged volume: skipped */
      }
    }
    return out;
  }

  /**
   * Creates a volume (name '' or undefined: anonymous, a random 64-hex name). An existing volume of
   * that name is returned as is (docker: create is idempotent).
   */
  async create(name?: string, opts: { labels?: Record<string, string>; options?: Record<string, string>; anonymous?: boolean } = {}): Promise<{ volume: VolumeInfo; created: boolean }> {
    const anonymous = name === undefined || name === '' || opts.anonymous === true;
    const n = name === undefined || name === '' ? randomBytes(32).toString('hex') : name;
    validateVolumeName(n);
    for (const k of Object.keys(opts.options ?? {})) {
      throw new BerthError('INVALID_ARGUMENT', `volume option ${JSON.stringify(k)} is not supported by the local driver of berth`);
    }
    const existing = this.get(n);
    if (existing !== null) return { volume: existing, created: false };
    const data = this.mountpoint(n);
    await fs.promises.mkdir(path.dirname(data), { recursive: true, mode: 0o711 });
    await fs.promises.mkdir(data, { recursive: true, mode: 0o755 });
    const meta: VolumeMeta = {
      version: 1,
      name: n,
      driver: 'local',
      createdAt: new Date().toISOString(),
      labels: opts.labels ?? {},
      options: {},
      anonymous,
      populated: false,
    };
    await writeFileAtomic(this.metaFile(n), JSON.stringify(meta, null, 1) + '\n', 0o600);
    return { volume: { ...meta, mountpoint: data }, created: true };
  }

  /** Records (containers) naming the volume. */
  users(name: string, records?: readonly ContainerRecord[]): ContainerRecord[] {
    const all = records ?? (this.recordsDir !== undefined ? new RecordStore(this.recordsDir).loadAll() : []);
    return all.filter((r) => (r.volumes ?? []).some((v) => v.name === name));
  }

  /** Removes a volume; refused while a container uses it (force does not override that, as docker). */
  async remove(name: string, opts: { records?: readonly ContainerRecord[] } = {}): Promise<void> {
    this.inspect(name);
    const users = this.users(name, opts.records);
    if (users.length > 0) {
      const who = users.map((r) => (r.name !== '' ? r.name : r.id.slice(0, 12))).join(', ');
      throw new BerthError('FAILED_PRECONDITION', `remove ${name}: volume is in use by container(s) ${who}`);
    }
    // metadata first: a half-removed volume is no longer listed
    await fs.promises.rm(this.metaFile(name), { force: true });
    await fs.promises.rm(path.join(this.dir, name), { recursive: true, force: true });
  }

  /** Removes unused volumes: anonymous ones only unless all. Returns the names removed and bytes freed. */
  async prune(opts: { all?: boolean; records?: readonly ContainerRecord[]; labels?: string[] } = {}): Promise<{ removed: string[]; reclaimed: number }> {
    const records = opts.records ?? (this.recordsDir !== undefined ? new RecordStore(this.recordsDir).loadAll() : []);
    const removed: string[] = [];
    let reclaimed = 0;
    for (const v of this.list()) {
      if (opts.all !== true && !v.anonymous) continue;
      if (!labelsMatch(v.labels, opts.labels ?? [])) continue;
      if (this.users(v.name, records).length > 0) continue;
      const size = await dirSize(v.mountpoint);
      await this.remove(v.name, { records });
      removed.push(v.name);
      reclaimed += size;
    }
    return { removed, reclaimed };
  }

  /**
   * Before a container first mounts the volume: when it was never populated, copy what the image holds
   * at the mount's target (resolved safely inside `imageRoot`, e.g. the container's rootfs before it
   * starts) into the empty volume, keeping owners, modes, links and times. Marks it populated.
   */
  async populate(name: string, imageRoot: string | null, target: string): Promise<boolean> {
    const v = this.inspect(name);
    if (v.populated) return false;
    let copied = false;
    if (imageRoot !== null) {
      const rel = await resolveInRoot(imageRoot, target);
      if (rel !== null && rel !== '') {
        const src = path.join(imageRoot, rel);
        const st = await fs.promises.lstat(src).catch(() => null);
        const empty = (await fs.promises.readdir(v.mountpoint)).length === 0;
        if (st !== null && st.isDirectory() && empty) {
          await copyTree(src, v.mountpoint);
          // the volume's root takes the directory's owner and mode, as docker
          await fs.promises.chown(v.mountpoint, st.uid, st.gid);
          await fs.promises.chmod(v.mountpoint, st.mode & 0o7777);
          copied = true;
        }
      }
    }
    const meta: VolumeMeta = { version: 1, name: v.name, driver: 'local', createdAt: v.createdAt, labels: v.labels, options: v.options, anonymous: v.anonymous, populated: true };
    await writeFileAtomic(this.metaFile(name), JSON.stringify(meta, null, 1) + '\n', 0o600);
    return copied;
  }
}

function labelsMatch(labels: Record<string, string>, filters: readonly string[]): boolean {
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq < 0 ? !(f in labels) : labels[f.slice(0, eq)] !== f.slice(eq + 1)) return false;
  }
  return true;
}

/** `cp -a SRC/. DST` (coreutils): owners, modes, symlinks as links, hard links, times, xattrs. */
export function copyTree(src: string, dst: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('cp', ['-a', '--', `${src}/.`, dst], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.setEncoding('utf8');
    p.stderr.on('data', (s: string) => {
      if (err.length < 2000) err += s;
    });
    p.on('error', (e) => reject(new BerthError('INTERNAL', `cp: ${e.message}`, { cause: e })));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new BerthError('INTERNAL', `copy ${src} -> ${dst}: ${err.trim() || `cp exit ${code}`}`))));
  });
}

/** Bytes used under dir (allocated blocks, each inode once), not following symlinks. */
export async function dirSize(dir: string): Promise<number> {
  let total = 0;
  const seen = new Set<string>();
  const walk = async (d: string): Promise<void> => {
    let ents: fs.Dirent[];
    try {
      ents = await fs.promises.readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      const p = path.join(d, e.name);
      let st: fs.Stats;
      try {
        st = await fs.promises.lstat(p);
      } catch {
        continue;
      }
      const key = `${st.dev}:${st.ino}`;
      if (!seen.has(key)) {
        seen.add(key);
        total += st.blocks * 512;
      }
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return total;
}

/**
 * What the engine needs for a `-v`/`--mount` of type volume: the volume (created when missing; an
 * empty source makes an anonymous one) and the host path to bind. The caller records
 * { name, anonymous } in the container record and calls populate() once the rootfs exists.
 */
export async function resolveVolume(store: VolumeStore, source: string, labels?: Record<string, string>): Promise<{ name: string; anonymous: boolean; hostPath: string; created: boolean }> {
  if (source !== '' && !isVolumeName(source)) throw new BerthError('INVALID_ARGUMENT', `${JSON.stringify(source)} is a path, not a volume name`);
  if (source !== '') validateVolumeName(source);
  const { volume, created } = await store.create(source, labels !== undefined ? { labels } : {});
  return { name: volume.name, anonymous: volume.anonymous, hostPath: volume.mountpoint, created };
}
