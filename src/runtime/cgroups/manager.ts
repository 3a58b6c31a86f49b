/**
 * The cgroup manager: one container's cgroup(s), created, joined, limited, frozen, measured and
 * removed through cgroupfs files. The C executor never touches cgroups: TypeScript places the pid
 * (apply) when the executor reports it.
 *
 * createCgroupManager is synchronous and cheap: it reads mountinfo (and /proc/self/cgroup only for a
 * relative cgroupsPath); no cgroup file is touched until a method is called.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../errors';
import { CgroupMounts, parseCgroupMountinfo, parseProcCgroup, scanCgroupRoot } from './mountinfo';
import { LinuxResources } from './spec';
import { CgroupStats, emptyStats } from './stats';
import { V1Manager } from './v1';
import { V2Manager } from './v2';

export const DEFAULT_CGROUP_ROOT = '/sys/fs/cgroup';

export type CgroupMode = 'v1' | 'hybrid' | 'v2';
export type FreezerState = 'thawed' | 'frozen' | 'freezing';
export type CgroupDriver = 'cgroupfs' | 'systemd' | 'disabled';

export interface CgroupManager {
  /** 'v1' (also on hybrid hosts), 'v2', or 'disabled'. */
  readonly mode: 'v1' | 'v2' | 'disabled';
  /** controller -> absolute dir (v1; co-mounted controllers share a dir), or {'': dir} (v2). */
  readonly paths: Record<string, string>;
  /** Notes about requested settings that were ignored (e.g. kernel memory on kernels without it). */
  readonly warnings: string[];
  /** mkdir -p in every hierarchy (v1 cpuset: cpus/mems initialised from the parent; v2: controllers enabled). */
  create(): Promise<void>;
  /** Write pid to cgroup.procs in every hierarchy. */
  apply(pid: number): Promise<void>;
  /** Write the limits; errors name the spec key and the file. */
  set(resources: LinuxResources): Promise<void>;
  /** Like set, for `update` (honours memory.checkBeforeUpdate). */
  update(resources: LinuxResources): Promise<void>;
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  freezerState(): Promise<FreezerState>;
  /** Every pid in the cgroup and its descendants. */
  pids(): Promise<number[]>;
  stats(): Promise<CgroupStats>;
  oomKillCount(): Promise<number>;
  /** Signal every process (v1: freeze, kill each, thaw; v2 SIGKILL: cgroup.kill when present). */
  killAll(signal: NodeJS.Signals | number): Promise<void>;
  /** rmdir in every hierarchy (children first, brief retry on EBUSY). Kills nothing. */
  destroy(): Promise<void>;
  exists(): Promise<boolean>;
}

export interface CgroupManagerOptions {
  /** linux.cgroupsPath from the spec. */
  cgroupsPath: string;
  containerId: string;
  driver: CgroupDriver;
  /** cgroupfs root (default /sys/fs/cgroup); tests point it at a fake tree. */
  root?: string;
  /** mountinfo text (default: /proc/self/mountinfo when root is the default; a scan of root otherwise). */
  mountinfo?: string;
  /** /proc/self/cgroup text, for a relative cgroupsPath (default: read it). */
  procSelfCgroup?: string;
  /** Marker directory of a running systemd (default /run/systemd/system). */
  systemdRunDir?: string;
}

/** Which cgroup layout is mounted at root: pure v2, hybrid (v1 controllers + a v2 mount), or v1. */
export function detectCgroupMode(root: string = DEFAULT_CGROUP_ROOT): CgroupMode {
  if (fs.existsSync(path.join(root, 'cgroup.controllers'))) return 'v2';
  if (fs.existsSync(path.join(root, 'unified', 'cgroup.controllers'))) return 'hybrid';
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch (err) {
    throw new BerthError('UNSUPPORTED', `cgroups: no cgroup filesystem at ${root}`, { cause: err });
  }
  if (!entries.some((e) => e.isDirectory())) throw new BerthError('UNSUPPORTED', `cgroups: no cgroup filesystem at ${root}`);
  return 'v1';
}

/** True when systemd is the running init (the marker directory sd_booted() checks exists). */
export function systemdRunning(runDir = '/run/systemd/system'): boolean {
  try {
    return fs.statSync(runDir).isDirectory();
  } catch {
    return false;
  }
}

/** "a-b-c.slice" -> "/a.slice/a-b.slice/a-b-c.slice"; "" or "-.slice" -> "". */
export function expandSlice(slice: string): string {
  if (slice === '' || slice === '-.slice') return '';
  if (!slice.endsWith('.slice') || slice.includes('/')) {
    throw new BerthError('INVALID_CONFIG', `cgroups: linux.cgroupsPath: ${JSON.stringify(slice)} is not a systemd slice name`);
  }
  const name = slice.slice(0, -'.slice'.length);
  if (name === '' || name.startsWith('-') || name.endsWith('-') || name.includes('--')) {
    throw new BerthError('INVALID_CONFIG', `cgroups: linux.cgroupsPath: ${JSON.stringify(slice)} is not a valid slice name`);
  }
  const parts = name.split('-');
  let out = '';
  let prefix = '';
  for (const p of parts) {
    prefix = prefix === '' ? p : `${prefix}-${p}`;
    out += `/${prefix}.slice`;
  }
  return out;
}

/** systemd "slice:prefix:name" -> the cgroup path it denotes (e.g. /system.slice/berth-abc.scope). */
export function systemdCgroupPath(cgroupsPath: string, containerId: string): string {
  const raw = cgroupsPath === '' ? `system.slice:berth:${containerId}` : cgroupsPath;
  const parts = raw.split(':');
  if (parts.length !== 3) {
    throw new BerthError('INVALID_CONFIG', `cgroups: linux.cgroupsPath: ${JSON.stringify(raw)} must be "slice:prefix:name" for the systemd driver`);
  }
  const [slice, prefix, name] = parts;
  if (name === '' || name.includes('/')) {
    throw new BerthError('INVALID_CONFIG', `cgroups: linux.cgroupsPath: unit name ${JSON.stringify(name)} is invalid`);
  }
  const unit = name.endsWith('.slice') ? name : `${prefix === '' ? '' : `${prefix}-`}${name}.scope`;
  return `${expandSlice(slice === '' ? 'system.slice' : slice)}/${unit}`;
}

/**
 * The cgroup path the spec asks for. Absolute: relative to the hierarchy root. Relative: relative to
 * the caller's own cgroup (returned with relative=true). Empty: "/<containerId>".
 */
export function normalizeCgroupsPath(cgroupsPath: string, containerId: string): { path: string; relative: boolean } {
  if (cgroupsPath.includes('\0')) throw new BerthError('INVALID_CONFIG', 'cgroups: linux.cgroupsPath: contains a NUL byte');
  if (cgroupsPath === '') {
    if (containerId === '' || containerId.includes('/') || containerId === '.' || containerId === '..') {
      throw new BerthError('INVALID_ARGUMENT', `cgroups: container id ${JSON.stringify(containerId)} cannot name a cgroup`);
    }
    return { path: `/${containerId}`, relative: false };
  }
  if (cgroupsPath.startsWith('/')) {
    const abs = path.posix.resolve(cgroupsPath);
    // The hierarchy root is everybody's parent: destroy() would sweep other cgroups away.
    if (abs === '/') throw new BerthError('INVALID_CONFIG', `cgroups: linux.cgroupsPath: ${JSON.stringify(cgroupsPath)} names the root cgroup`);
    return { path: abs, relative: false };
  }
  // Clean a relative path without letting '..' climb above the caller's cgroup.
  const cleaned = path.posix.resolve('/', cgroupsPath).slice(1);
  if (cleaned === '') throw new BerthError('INVALID_CONFIG', `cgroups: linux.cgroupsPath: ${JSON.stringify(cgroupsPath)} names no cgroup`);
  return { path: cleaned, relative: true };
}

/** Map a cgroup path (as seen in /proc/self/cgroup) to the directory under a mount of that hierarchy. */
export function hierarchyDir(mountPoint: string, mountRoot: string, cgroupPath: string): string {
  let rel = cgroupPath;
  if (mountRoot !== '/' && (cgroupPath === mountRoot || cgroupPath.startsWith(mountRoot + '/'))) {
    rel = cgroupPath.slice(mountRoot.length);
  }
  const dir = path.posix.join(mountPoint, rel === '' ? '/' : rel);
  if (dir !== mountPoint && !dir.startsWith(mountPoint.endsWith('/') ? mountPoint : mountPoint + '/')) {
    throw new BerthError('INVALID_CONFIG', `cgroups: linux.cgroupsPath: ${JSON.stringify(cgroupPath)} escapes ${mountPoint}`);
  }
  return dir;
}

function loadMounts(root: string, mountinfo: string | undefined): CgroupMounts {
  if (mountinfo !== undefined) return parseCgroupMountinfo(mountinfo, root);
  if (path.resolve(root) === DEFAULT_CGROUP_ROOT) {
    return parseCgroupMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'), root);
  }
  return scanCgroupRoot(root);
}

function readProcSelfCgroup(opts: CgroupManagerOptions): Record<string, string> {
  return parseProcCgroup(opts.procSelfCgroup ?? fs.readFileSync('/proc/self/cgroup', 'utf8'));
}

class DisabledManager implements CgroupManager {
  readonly mode = 'disabled' as const;
  readonly paths: Record<string, string> = {};
  readonly warnings: string[] = [];
  async create(): Promise<void> {}
  async apply(_pid: number): Promise<void> {}
  async set(resources: LinuxResources): Promise<void> {
    const asked = Object.entries(resources).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0));
    if (asked.length > 0) {
      throw new BerthError('UNSUPPORTED', `cgroups: linux.resources.${asked[0][0]}: cgroups are disabled (cgroup driver "disabled")`);
    }
  }
  async update(resources: LinuxResources): Promise<void> {
    await this.set(resources);
  }
  async freeze(): Promise<void> {
    throw new BerthError('UNSUPPORTED', 'cgroups: cannot freeze: cgroups are disabled');
  }
  async thaw(): Promise<void> {
    throw new BerthError('UNSUPPORTED', 'cgroups: cannot thaw: cgroups are disabled');
  }
  async freezerState(): Promise<FreezerState> {
    return 'thawed';
  }
  async pids(): Promise<number[]> {
    return [];
  }
  async stats(): Promise<CgroupStats> {
    return emptyStats();
  }
  async oomKillCount(): Promise<number> {
    return 0;
  }
  async killAll(_signal: NodeJS.Signals | number): Promise<void> {
    throw new BerthError('UNSUPPORTED', 'cgroups: cannot signal every process: cgroups are disabled');
  }
  async destroy(): Promise<void> {}
  async exists(): Promise<boolean> {
    return false;
  }
}

export function createCgroupManager(opts: CgroupManagerOptions): CgroupManager {
  if (opts.driver === 'disabled') return new DisabledManager();
  const root = opts.root ?? DEFAULT_CGROUP_ROOT;
  const warnings: string[] = [];
  let wanted: { path: string; relative: boolean };
  if (opts.driver === 'systemd') {
    if (!systemdRunning(opts.systemdRunDir)) {
      throw new BerthError('UNSUPPORTED', 'systemd cgroup driver: systemd is not running on this host');
    }
    // No D-Bus client: the unit's cgroup is managed directly through cgroupfs.
    wanted = { path: systemdCgroupPath(opts.cgroupsPath, opts.containerId), relative: false };
    warnings.push('systemd cgroup driver: no transient unit is registered; the cgroup is managed through cgroupfs');
  } else if (opts.driver === 'cgroupfs') {
    wanted = normalizeCgroupsPath(opts.cgroupsPath, opts.containerId);
  } else {
    throw new BerthError('INVALID_ARGUMENT', `cgroups: unknown cgroup driver ${JSON.stringify(opts.driver)}`);
  }
  const mode = detectCgroupMode(root);
  const mounts = loadMounts(root, opts.mountinfo);
  const self = wanted.relative ? readProcSelfCgroup(opts) : undefined;

  if (mode === 'v2') {
    const m = mounts.v2 ?? { mountPoint: root, root: '/' };
    const base = self ? self[''] ?? '/' : '/';
    const cg = wanted.relative ? path.posix.join(base, wanted.path) : wanted.path;
    const mgr = new V2Manager(m.mountPoint, hierarchyDir(m.mountPoint, m.root, cg));
    mgr.warnings.push(...warnings);
    return mgr;
  }
  const paths: Record<string, string> = {};
  for (const h of mounts.v1) {
    const key = h.controllers[0];
    const base = self ? self[key] ?? '/' : '/';
    const cg = wanted.relative ? path.posix.join(base, wanted.path) : wanted.path;
    const dir = hierarchyDir(h.mountPoint, h.root, cg);
    for (const c of h.controllers) paths[c] = dir;
  }
  if (Object.keys(paths).length === 0) throw new BerthError('UNSUPPORTED', `cgroups: no cgroup v1 hierarchy is mounted under ${root}`);
  const mounted: Record<string, string> = {};
  for (const h of mounts.v1) for (const c of h.controllers) mounted[c] = h.mountPoint;
  const mgr = new V1Manager(paths, mounted);
  mgr.warnings.push(...warnings);
  return mgr;
}
