/**
 * The plan compiler: a validated Spec (spec/validate.ts) plus runtime options -> a Plan the C executor
 * runs without making decisions. Pure apart from reading the host filesystem (stat of the rootfs and of
 * bind sources, namespace files, the host's cgroup mounts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, ConfigError, isErrno } from '../errors';
import type * as SeccompCompiler from '../seccomp/compile';
import type { LinuxSeccomp } from '../seccomp/spec';
import { parseCpuList } from '../spec/cpulist';
import { sysctlNamespace } from '../spec/validate';
import type { Spec, SpecHook, SpecLinux, SpecProcess } from '../spec/types';
import { compileMount } from './compile-mounts';
import {
  CAPABILITIES,
  CLONE_NEWUSER,
  DEVICE_TYPES,
  IOPRIO_CLASSES,
  NAMESPACES,
  PERSONALITY_DOMAINS,
  RLIM_INFINITY,
  RLIMITS,
  ROOTFS_PROPAGATION,
  S_IFCHR,
  SCHED_FLAGS,
  SCHED_POLICIES,
  TIME_NS_CLOCKS,
} from './linux';
import type { NamespaceType } from './linux';
import type {
  Plan,
  PlanCapabilities,
  PlanDevice,
  PlanHook,
  PlanMount,
  PlanNamespaceJoin,
  PlanProcess,
  PlanRlimit,
  PlanSymlink,
  PlanSysctl,
} from './types';

/**
 * The seccomp compiler and its syscall tables load only for a spec with a seccomp section: they cost
 * milliseconds of every start-up otherwise (bench/oci-startup.md).
 */
function compileSeccomp(s: LinuxSeccomp): ReturnType<typeof SeccompCompiler.compileSeccomp> {
  return (require('../seccomp/compile') as typeof SeccompCompiler).compileSeccomp(s);
}

export interface CompileOptions {
  /** Absolute bundle dir; root.path and relative bind sources are relative to it. */
  bundle: string;
  /** '' for none. */
  execFifo: string;
  /** '' for none. */
  consoleSocket: string;
  preserveFds: number;
  noPivot: boolean;
  noNewKeyring: boolean;
  foreground: boolean;
  /**
   * The container's cgroup path relative to each hierarchy's root, as in /proc/PID/cgroup (e.g.
   * "/berth/abc"). Accepted for callers' convenience; the executor currently derives the cgroup
   * directories for cgroup mounts from its own /proc/self/cgroup once it has been placed, so the plan
   * does not carry it.
   */
  cgroupPath?: string;
}

export interface ExecContext {
  /** Host pid of the container's init process (its namespaces are joined). */
  pid: number;
  /** The container's spec. */
  spec: Spec;
  foreground: boolean;
  consoleSocket: string;
  preserveFds: number;
  /** Seccomp for the exec'd process: undefined = the container's, null = none. */
  seccomp?: LinuxSeccomp | null;
}

/** The devices every container gets (config-linux.md, "Default Devices"). */
export const DEFAULT_DEVICES: readonly { path: string; major: number; minor: number }[] = [
  { path: '/dev/null', major: 1, minor: 3 },
  { path: '/dev/zero', major: 1, minor: 5 },
  { path: '/dev/full', major: 1, minor: 7 },
  { path: '/dev/random', major: 1, minor: 8 },
  { path: '/dev/urandom', major: 1, minor: 9 },
  { path: '/dev/tty', major: 5, minor: 0 },
];

// ---- helpers --------------------------------------------------------------------------------------

/** A uint64 from JSON: values that JSON.parse rounded to 2^64 (i.e. 2^64-1) are all ones. */
function u64(n: number): bigint {
  if (n >= 2 ** 64) return RLIM_INFINITY;
  return BigInt(Math.trunc(n));
}

function normPath(p: string): string {
  return path.posix.normalize(p).replace(/(.)\/+$/, '$1');
}

/**
 * Name -> number. Specs from validateConfig only hold known names; this guards specs built in code
 * (image config conversion, CRI) so an unknown name is a ConfigError, never an undefined in the plan.
 */
function lookup<T>(table: Readonly<Record<string, T>>, name: string, at: string, what: string): T {
  const v = Object.prototype.hasOwnProperty.call(table, name) ? table[name] : undefined;
  if (v === undefined) throw new ConfigError(at, `unknown ${what} ${JSON.stringify(name)}`);
  return v;
}

function capMask(names: readonly string[] | undefined, at: string): bigint {
  let mask = 0n;
  (names ?? []).forEach((n, i) => {
    const num = CAPABILITIES.get(n);
    if (num === undefined) throw new ConfigError(`${at}[${i}]`, `unknown capability ${JSON.stringify(n)}`);
    mask |= 1n << BigInt(num);
  });
  return mask;
}

function compileCapabilities(proc: SpecProcess, at: string): PlanCapabilities {
  const c = proc.capabilities ?? {};
  const permitted = capMask(c.permitted, `${at}.capabilities.permitted`);
  const inheritable = capMask(c.inheritable, `${at}.capabilities.inheritable`);
  return {
    bounding: capMask(c.bounding, `${at}.capabilities.bounding`),
    effective: capMask(c.effective, `${at}.capabilities.effective`),
    permitted,
    inheritable,
    // The kernel admits a capability to the ambient set only when it is both permitted and
    // inheritable; others are left out, as runc does (its own `spec` lists ambient capabilities
    // without inheritable ones, and such configs must run).
    ambient: capMask(c.ambient, `${at}.capabilities.ambient`) & permitted & inheritable,
  };
}

function compileHook(h: SpecHook): PlanHook {
  return { path: h.path, args: h.args && h.args.length > 0 ? [...h.args] : [h.path], env: [...(h.env ?? [])], timeout: h.timeout ?? 0 };
}

function cpuList(text: string | undefined, p: string): number[] {
  if (text === undefined) return [];
  try {
    return parseCpuList(text);
  } catch (err) {
    throw new ConfigError(p, (err as Error).message);
  }
}

/** The root field ("net:[4026532255]") of the topmost nsfs mount on `file`, or '' when there is none. */
function nsfsMountRoot(file: string): string {
  let real: string;
  let text: string;
  try {
    real = fs.realpathSync(file);
    text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return '';
  }
  let root = '';
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    const point = (f[4] ?? '').replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (sep > 0 && point === real && f[sep + 1] === 'nsfs') root = f[3];
  }
  return root;
}

/**
 * Check that `file` is a namespace file of the given type: open it and read the link of the open fd,
 * which for nsfs files reads "<type>:[<inode>]" (this works for /proc/PID/ns/* and bind-mounted ones).
 */
function checkNamespaceFile(file: string, type: NamespaceType, p: string): void {
  const want = NAMESPACES[type].procName;
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOCTTY);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw new ConfigError(p, `namespace file ${JSON.stringify(file)} does not exist`);
    throw new ConfigError(p, `cannot open namespace file ${JSON.stringify(file)}: ${(err as Error).message}`);
  }
  let link = '';
  try {
    link = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    link = '';
  } finally {
    fs.closeSync(fd);
  }
  // a bind-mounted namespace file (a pod's pinned namespace) reads as its own path: its nsfs mount's
  // root field in mountinfo names the namespace instead
  const m = /^([a-z_]+):\[\d+\]$/.exec(link) ?? /^([a-z_]+):\[\d+\]$/.exec(nsfsMountRoot(file));
  if (!m) throw new ConfigError(p, `${JSON.stringify(file)} is not a namespace file`);
  const got = m[1].replace(/_for_children$/, '');
  if (got !== want) throw new ConfigError(p, `${JSON.stringify(file)} is a ${got} namespace, not ${type}`);
}

/**
 * Whether a namespace file is the namespace this runtime runs in, or the one pid 1 is in (the host,
 * from where the runtime stands; skipped when pid 1 cannot be looked at).
 */
function isHostNamespace(file: string, type: NamespaceType): boolean {
  let a: fs.Stats;
  try {
    a = fs.statSync(file);
  } catch {
    return false;
  }
  for (const pid of ['self', '1']) {
    try {
      const b = fs.statSync(`/proc/${pid}/ns/${NAMESPACES[type].procName}`);
      if (a.ino === b.ino && a.dev === b.dev) return true;
    } catch {
      // not visible: cannot tell
    }
  }
  return false;
}

/**
 * Settings that change a namespace's global state (sysctls, hostname) must not reach the host's
 * namespace through a joined namespace path.
 */
function checkNoHostChanges(spec: Spec): void {
  const linux = spec.linux ?? {};
  const joined = new Map<string, { path: string; index: number }>();
  (linux.namespaces ?? []).forEach((n, index) => {
    if (n.path !== undefined) joined.set(n.type, { path: n.path, index });
  });
  const guard = (type: NamespaceType, what: string, at: string): void => {
    const j = joined.get(type);
    if (j && isHostNamespace(j.path, type)) {
      throw new ConfigError(at, `${what} would change the host: linux.namespaces[${j.index}].path ${JSON.stringify(j.path)} is the host's ${type} namespace`);
    }
  };
  for (const name of Object.keys(linux.sysctl ?? {})) {
    const type = sysctlNamespace(name);
    if (type) guard(type, `sysctl ${JSON.stringify(name)}`, `linux.sysctl[${JSON.stringify(name)}]`);
  }
  if (spec.hostname) guard('uts', 'setting the hostname', 'hostname');
  if (spec.domainname) guard('uts', 'setting the domainname', 'domainname');
}

// ---- process --------------------------------------------------------------------------------------

interface ProcessContext {
  consoleSocket: string;
  seccomp: LinuxSeccomp | undefined;
  linux: SpecLinux;
  /** execCPUAffinity applies to exec'd processes only. */
  applyAffinity: boolean;
  /** JSON path of the process object, for errors. */
  at: string;
}

function compileProcess(proc: SpecProcess, ctx: ProcessContext): PlanProcess {
  const at = ctx.at;
  const rlimits: PlanRlimit[] = (proc.rlimits ?? []).map((r, i) => ({
    resource: lookup(RLIMITS, r.type, `${at}.rlimits[${i}].type`, 'rlimit'),
    soft: u64(r.soft),
    hard: u64(r.hard),
  }));
  const s = proc.scheduler;
  let flags = 0n;
  (s?.flags ?? []).forEach((f, i) => (flags |= lookup(SCHED_FLAGS, f, `${at}.scheduler.flags[${i}]`, 'scheduler flag')));
  const terminal = proc.terminal === true;
  const personality = ctx.linux.personality;
  return {
    args: [...proc.args],
    env: [...(proc.env ?? [])],
    cwd: normPath(proc.cwd),
    user: {
      uid: proc.user.uid,
      gid: proc.user.gid,
      additionalGids: [...(proc.user.additionalGids ?? [])],
      umask: proc.user.umask ?? -1,
    },
    terminal,
    consoleSocket: terminal ? ctx.consoleSocket : '',
    consoleHeight: terminal ? (proc.consoleSize?.height ?? 0) : 0,
    consoleWidth: terminal ? (proc.consoleSize?.width ?? 0) : 0,
    rlimits,
    capabilities: compileCapabilities(proc, at),
    noNewPrivileges: proc.noNewPrivileges === true,
    scheduler: s
      ? {
          policy: lookup(SCHED_POLICIES, s.policy, `${at}.scheduler.policy`, 'scheduler policy'),
          nice: s.nice ?? 0,
          priority: s.priority ?? 0,
          flags,
          runtime: u64(s.runtime ?? 0),
          deadline: u64(s.deadline ?? 0),
          period: u64(s.period ?? 0),
        }
      : null,
    ioPriority: proc.ioPriority
      ? { ioClass: lookup(IOPRIO_CLASSES, proc.ioPriority.class, `${at}.ioPriority.class`, 'I/O priority class'), priority: proc.ioPriority.priority }
      : null,
    cpuAffinityInitial: ctx.applyAffinity ? cpuList(proc.execCPUAffinity?.initial, `${at}.execCPUAffinity.initial`) : [],
    cpuAffinityFinal: ctx.applyAffinity ? cpuList(proc.execCPUAffinity?.final, `${at}.execCPUAffinity.final`) : [],
    personality: personality ? lookup(PERSONALITY_DOMAINS, personality.domain, 'linux.personality.domain', 'personality domain') : -1,
    apparmorProfile: proc.apparmorProfile ?? '',
    selinuxLabel: proc.selinuxLabel ?? '',
    seccomp: ctx.seccomp ? compileSeccomp(ctx.seccomp) : null,
  };
}

// ---- create ---------------------------------------------------------------------------------------

function sysctlPath(name: string): string {
  return name.includes('/') ? name.replace(/^\/+/, '') : name.replace(/\./g, '/');
}

/** Compile a container's spec into a 'create' plan. */
export function compilePlan(spec: Spec, opts: CompileOptions): Plan {
  const linux = spec.linux ?? {};
  const proc = spec.process;
  if (!proc) throw new ConfigError('process', 'is required to create a container');
  if (linux.memoryPolicy) throw new ConfigError('linux.memoryPolicy', 'is not supported by this runtime');
  if (!path.isAbsolute(opts.bundle)) throw new BerthError('INVALID_ARGUMENT', `bundle must be an absolute path, got ${JSON.stringify(opts.bundle)}`);

  // Root filesystem.
  const rootfs = path.resolve(opts.bundle, spec.root.path);
  let rootSt: fs.Stats;
  try {
    rootSt = fs.statSync(rootfs);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw new ConfigError('root.path', `root filesystem ${JSON.stringify(rootfs)} does not exist`);
    throw new ConfigError('root.path', `cannot stat root filesystem ${JSON.stringify(rootfs)}: ${(err as Error).message}`);
  }
  if (!rootSt.isDirectory()) throw new ConfigError('root.path', `root filesystem ${JSON.stringify(rootfs)} is not a directory`);
  if (rootfs === '/') throw new ConfigError('root.path', 'must not be the host root directory');

  // Namespaces.
  const namespaces = linux.namespaces ?? [];
  if (!namespaces.some((n) => n.type === 'mount')) {
    throw new ConfigError('linux.namespaces', 'a mount namespace is required (add {"type": "mount"})');
  }
  let cloneFlags = 0;
  const joins: PlanNamespaceJoin[] = [];
  namespaces.forEach((n, i) => {
    const info = lookup(NAMESPACES, n.type, `linux.namespaces[${i}].type`, 'namespace type');
    if (n.path === undefined) {
      cloneFlags |= info.flag;
      return;
    }
    checkNamespaceFile(n.path, n.type, `linux.namespaces[${i}].path`);
    joins.push({ flag: info.flag, path: n.path });
  });
  checkNoHostChanges(spec);
  // The user namespace is joined first.
  joins.sort((a, b) => Number(b.flag === CLONE_NEWUSER) - Number(a.flag === CLONE_NEWUSER));
  const newUserNs = (cloneFlags & CLONE_NEWUSER) !== 0;
  const hasUserNs = namespaces.some((n) => n.type === 'user');

  // Mounts.
  const mountCtx = { bundle: opts.bundle };
  const mounts: PlanMount[] = [];
  (spec.mounts ?? []).forEach((m, i) => mounts.push(...compileMount(m, i, mountCtx)));

  // Devices: defaults unless /dev comes from the host, then linux.devices (same path overrides).
  const devBound = mounts.some((m) => m.destination === '/dev' && m.kind === 'bind');
  const devices = new Map<string, PlanDevice>();
  if (!devBound) {
    for (const d of DEFAULT_DEVICES) {
      devices.set(d.path, { path: d.path, mode: S_IFCHR | 0o666, major: d.major, minor: d.minor, uid: 0, gid: 0, bind: hasUserNs });
    }
  }
  (linux.devices ?? []).forEach((d, i) => {
    const p = normPath(d.path);
    const type = lookup(DEVICE_TYPES, d.type, `linux.devices[${i}].type`, 'device type');
    devices.delete(p);
    devices.set(p, {
      path: p,
      mode: type | ((d.fileMode ?? 0o666) & 0o7777),
      major: d.type === 'p' ? 0 : (d.major ?? 0),
      minor: d.type === 'p' ? 0 : (d.minor ?? 0),
      uid: d.uid ?? 0,
      gid: d.gid ?? 0,
      bind: hasUserNs,
    });
  });

  // Symlinks in /dev.
  const symlinks: PlanSymlink[] = [];
  if (!devBound) {
    symlinks.push(
      { target: '/proc/self/fd', path: '/dev/fd' },
      { target: '/proc/self/fd/0', path: '/dev/stdin' },
      { target: '/proc/self/fd/1', path: '/dev/stdout' },
      { target: '/proc/self/fd/2', path: '/dev/stderr' },
    );
    if (mounts.some((m) => m.destination === '/proc' && m.fstype === 'proc')) symlinks.push({ target: '/proc/kcore', path: '/dev/core' });
    if (mounts.some((m) => m.destination === '/dev/pts' && m.fstype === 'devpts') && !devices.has('/dev/ptmx')) {
      symlinks.push({ target: 'pts/ptmx', path: '/dev/ptmx' });
    }
  }

  const sysctls: PlanSysctl[] = Object.entries(linux.sysctl ?? {}).map(([k, value]) => ({ path: sysctlPath(k), value }));

  return {
    mode: 'create',
    foreground: opts.foreground,
    cloneFlags,
    joinNamespaces: joins,
    userNamespaceMapped: newUserNs,
    uidMappings: newUserNs ? (linux.uidMappings ?? []).map((m) => ({ containerId: m.containerID, hostId: m.hostID, size: m.size })) : [],
    gidMappings: newUserNs ? (linux.gidMappings ?? []).map((m) => ({ containerId: m.containerID, hostId: m.hostID, size: m.size })) : [],
    timeOffsets: Object.entries(linux.timeOffsets ?? {}).map(([clock, t]) => ({
      clockId: lookup(TIME_NS_CLOCKS, clock, `linux.timeOffsets.${clock}`, 'clock'),
      secs: BigInt(Math.trunc(t.secs ?? 0)),
      nanosecs: t.nanosecs ?? 0,
    })),
    hostname: spec.hostname ?? '',
    domainname: spec.domainname ?? '',
    rootfs,
    rootReadonly: spec.root.readonly === true,
    rootfsPropagation: linux.rootfsPropagation ? lookup(ROOTFS_PROPAGATION, linux.rootfsPropagation, 'linux.rootfsPropagation', 'rootfs propagation') : 0,
    noPivot: opts.noPivot,
    mounts,
    devices: [...devices.values()],
    symlinks,
    maskedPaths: (linux.maskedPaths ?? []).map(normPath),
    readonlyPaths: (linux.readonlyPaths ?? []).map(normPath),
    sysctls,
    execFifo: opts.execFifo,
    preserveFds: opts.preserveFds,
    newKeyring: !opts.noNewKeyring,
    createContainerHooks: (spec.hooks?.createContainer ?? []).map(compileHook),
    startContainerHooks: (spec.hooks?.startContainer ?? []).map(compileHook),
    process: compileProcess(proc, {
      consoleSocket: opts.consoleSocket,
      seccomp: linux.seccomp,
      linux,
      applyAffinity: false,
      at: 'process',
    }),
  };
}

// ---- exec -----------------------------------------------------------------------------------------

/**
 * Compile a process to run inside a running container: join every namespace type the container's spec
 * lists, through /proc/<pid>/ns/<type> (the user namespace first).
 */
export function compileExecPlan(proc: SpecProcess, ctx: ExecContext): Plan {
  if (!Number.isInteger(ctx.pid) || ctx.pid <= 0) throw new BerthError('INVALID_ARGUMENT', `invalid container pid ${ctx.pid}`);
  const linux = ctx.spec.linux ?? {};
  const joins: PlanNamespaceJoin[] = (linux.namespaces ?? []).map((n) => ({
    flag: NAMESPACES[n.type].flag,
    path: `/proc/${ctx.pid}/ns/${NAMESPACES[n.type].procName}`,
  }));
  joins.sort((a, b) => Number(b.flag === CLONE_NEWUSER) - Number(a.flag === CLONE_NEWUSER));
  const seccomp = ctx.seccomp === undefined ? linux.seccomp : (ctx.seccomp ?? undefined);
  const proc2 = compileProcess(proc, { consoleSocket: ctx.consoleSocket, seccomp, linux, applyAffinity: true, at: 'process' });
  return execModePlan(joins, proc2, { foreground: ctx.foreground, preserveFds: ctx.preserveFds, cloneFlags: 0 });
}

/**
 * An exec-mode plan: join `joins` (and create `cloneFlags` namespaces), no rootfs work, run `process`.
 * Shared by `exec` and by processes berth starts itself in existing namespaces (the pod's pause).
 */
export function execModePlan(
  joins: PlanNamespaceJoin[],
  process: PlanProcess,
  opts: { foreground: boolean; preserveFds: number; cloneFlags: number },
): Plan {
  return {
    mode: 'exec',
    foreground: opts.foreground,
    cloneFlags: opts.cloneFlags,
    joinNamespaces: joins,
    userNamespaceMapped: false,
    uidMappings: [],
    gidMappings: [],
    timeOffsets: [],
    hostname: '',
    domainname: '',
    rootfs: '',
    rootReadonly: false,
    rootfsPropagation: 0,
    noPivot: false,
    mounts: [],
    devices: [],
    symlinks: [],
    maskedPaths: [],
    readonlyPaths: [],
    sysctls: [],
    execFifo: '',
    preserveFds: opts.preserveFds,
    newKeyring: false,
    createContainerHooks: [],
    startContainerHooks: [],
    process,
  };
}
