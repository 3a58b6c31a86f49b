/**
 * Strict validation of an OCI runtime-spec config.json. Every fault is a ConfigError naming the JSON
 * path of the fault (`process.args: must be a non-empty array of strings`). Unknown properties are
 * ignored, as the spec requires; JSON null for an optional field counts as absent (as Go decoding does).
 *
 * Validation is pure: it touches no filesystem. Checks that need the host (bind sources, namespace
 * paths, the rootfs directory) are done by the plan compiler.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, ConfigError, isErrno } from '../errors';
import {
  CAPABILITIES,
  DEVICE_TYPES,
  IOPRIO_CLASSES,
  isNamespaceType,
  MOUNT_OPTIONS,
  PERSONALITY_DOMAINS,
  RLIMITS,
  ROOTFS_PROPAGATION,
  SCHED_FLAGS,
  SCHED_POLICIES,
  TIME_NS_CLOCKS,
} from '../plan/linux';
import type { NamespaceType } from '../plan/linux';
import { SECCOMP_ACTIONS, SECCOMP_ARCHES, SECCOMP_FILTER_FLAGS, SECCOMP_OPERATORS } from '../seccomp/spec';
import { parseCpuList } from './cpulist';
import type {
  CapabilitySet,
  DeviceType,
  LinuxResources,
  LinuxSeccomp,
  RootfsPropagation,
  Spec,
  SpecCapabilities,
  SpecDevice,
  SpecHook,
  SpecHooks,
  SpecIdMapping,
  SpecIntelRdt,
  SpecLinux,
  SpecMemoryPolicy,
  SpecMount,
  SpecNamespace,
  SpecNetDevice,
  SpecPersonality,
  SpecProcess,
  SpecRlimit,
  SpecScheduler,
  SpecTimeOffset,
} from './types';

/** Major version of the runtime-spec this runtime understands. */
export const SUPPORTED_MAJOR = 1;

type Obj = Record<string, unknown>;

// ---- primitive readers ----------------------------------------------------------------------------

function key(p: string, k: string): string {
  if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) return p ? `${p}.${k}` : k;
  return `${p}[${JSON.stringify(k)}]`;
}

function idx(p: string, i: number): string {
  return `${p}[${i}]`;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, p: string): Obj {
  if (!isObj(v)) throw new ConfigError(p, 'must be an object');
  return v;
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

/** Apply `fn` to o[k] when it is present; undefined otherwise. */
function opt<T>(o: Obj, k: string, p: string, fn: (v: unknown, p: string) => T): T | undefined {
  const v = o[k];
  return present(v) ? fn(v, key(p, k)) : undefined;
}

function req<T>(o: Obj, k: string, p: string, fn: (v: unknown, p: string) => T): T {
  const v = o[k];
  if (!present(v)) throw new ConfigError(key(p, k), 'is required');
  return fn(v, key(p, k));
}

function str(v: unknown, p: string): string {
  if (typeof v !== 'string') throw new ConfigError(p, 'must be a string');
  if (v.includes('\0')) throw new ConfigError(p, 'must not contain NUL bytes');
  return v;
}

function bool(v: unknown, p: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(p, 'must be a boolean');
  return v;
}

function int(v: unknown, p: string, min: number, max: number, what = 'an integer'): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ConfigError(p, `must be ${what}`);
  if (v < min || v > max) throw new ConfigError(p, `must be ${what} in [${min}, ${max}], got ${v}`);
  return v;
}

const U32_MAX = 0xffffffff;
const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;
/** 2^64 as a double: JSON.parse turns 18446744073709551615 into this. */
const U64_LIMIT = 2 ** 64;
const I64_LIMIT = 2 ** 63;

const u32 = (v: unknown, p: string): number => int(v, p, 0, U32_MAX, 'an unsigned 32-bit integer');
const i32 = (v: unknown, p: string): number => int(v, p, I32_MIN, I32_MAX, 'a 32-bit integer');
const u64 = (v: unknown, p: string): number => int(v, p, 0, U64_LIMIT, 'an unsigned 64-bit integer');
const i64 = (v: unknown, p: string): number => int(v, p, -I64_LIMIT, I64_LIMIT, 'a 64-bit integer');

function arr(v: unknown, p: string, what = 'an array'): unknown[] {
  if (!Array.isArray(v)) throw new ConfigError(p, `must be ${what}`);
  return v;
}

function strArray(v: unknown, p: string): string[] {
  const a = arr(v, p, 'an array of strings');
  return a.map((e, i) => str(e, idx(p, i)));
}

function absPath(v: unknown, p: string): string {
  const s = str(v, p);
  if (!s.startsWith('/')) throw new ConfigError(p, `must be an absolute path, got ${JSON.stringify(s)}`);
  return s;
}

function oneOf<T extends string>(v: unknown, p: string, allowed: readonly T[], what: string): T {
  const s = str(v, p);
  if (!(allowed as readonly string[]).includes(s)) {
    throw new ConfigError(p, `unknown ${what} ${JSON.stringify(s)} (one of ${allowed.join(', ')})`);
  }
  return s as T;
}

function strMap(v: unknown, p: string): Record<string, string> {
  const o = obj(v, p);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(o)) {
    if (k === '') throw new ConfigError(p, 'keys must not be empty');
    out[k] = str(val, key(p, k));
  }
  return out;
}

/** Drop keys whose value is undefined, so results compare and serialise cleanly. */
function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// ---- top level ------------------------------------------------------------------------------------

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

function ociVersion(v: unknown, p: string): string {
  const s = str(v, p);
  const m = SEMVER.exec(s);
  if (!m) throw new ConfigError(p, `${JSON.stringify(s)} is not a SemVer 2.0.0 version`);
  if (Number(m[1]) !== SUPPORTED_MAJOR) {
    throw new ConfigError(p, `unsupported major version ${m[1]} in ${JSON.stringify(s)} (this runtime implements ${SUPPORTED_MAJOR}.x)`);
  }
  return s;
}

/** Validate a whole config.json document (already parsed) and return it typed. */
export function validateConfig(raw: unknown): Spec {
  const o = obj(raw, 'config');
  const spec: Spec = clean({
    ociVersion: req(o, 'ociVersion', '', ociVersion),
    process: opt(o, 'process', '', validateProcess),
    root: req(o, 'root', '', (v, p) => {
      const r = obj(v, p);
      const rp = req(r, 'path', p, str);
      if (rp === '') throw new ConfigError(key(p, 'path'), 'must not be empty');
      return clean({ path: rp, readonly: opt(r, 'readonly', p, bool) });
    }),
    hostname: opt(o, 'hostname', '', str),
    domainname: opt(o, 'domainname', '', str),
    mounts: opt(o, 'mounts', '', (v, p) => arr(v, p).map((m, i) => validateMount(m, idx(p, i)))),
    hooks: opt(o, 'hooks', '', validateHooks),
    annotations: opt(o, 'annotations', '', strMap),
    linux: opt(o, 'linux', '', validateLinux),
  });
  crossChecks(spec);
  return spec;
}

// ---- process --------------------------------------------------------------------------------------

const CAP_SETS: readonly CapabilitySet[] = ['bounding', 'effective', 'inheritable', 'permitted', 'ambient'];

/**
 * Validate a process object: `process` of config.json, or a process.json given to `exec`
 * (pass its own root path, e.g. 'process').
 */
export function validateProcess(v: unknown, p = 'process'): SpecProcess {
  const o = obj(v, p);
  const argsP = key(p, 'args');
  const args = o.args;
  if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string')) {
    throw new ConfigError(argsP, 'must be a non-empty array of strings');
  }
  strArray(args, argsP); // NUL checks
  if (args[0] === '') throw new ConfigError(idx(argsP, 0), 'must not be empty');

  const env = opt(o, 'env', p, (ev, ep) =>
    strArray(ev, ep).map((e, i) => {
      if (e.indexOf('=') <= 0) throw new ConfigError(idx(ep, i), `must be of the form KEY=value, got ${JSON.stringify(e)}`);
      return e;
    }),
  );

  const user = req(o, 'user', p, (uv, up) => {
    const u = obj(uv, up);
    return clean({
      uid: req(u, 'uid', up, u32),
      gid: req(u, 'gid', up, u32),
      umask: opt(u, 'umask', up, (mv, mp) => int(mv, mp, 0, 0o777, 'a umask (0..0777)')),
      additionalGids: opt(u, 'additionalGids', up, (gv, gp) => arr(gv, gp).map((g, i) => u32(g, idx(gp, i)))),
    });
  });

  const capabilities = opt(o, 'capabilities', p, (cv, cp): SpecCapabilities => {
    const c = obj(cv, cp);
    const out: SpecCapabilities = {};
    for (const set of CAP_SETS) {
      const names = opt(c, set, cp, strArray);
      if (names === undefined) continue;
      names.forEach((n, i) => {
        if (!CAPABILITIES.has(n)) throw new ConfigError(idx(key(cp, set), i), `unknown capability ${JSON.stringify(n)}`);
      });
      out[set] = names;
    }
    return out;
  });

  const rlimits = opt(o, 'rlimits', p, (rv, rp) => {
    const seen = new Set<string>();
    return arr(rv, rp).map((e, i): SpecRlimit => {
      const ip = idx(rp, i);
      const r = obj(e, ip);
      const type = req(r, 'type', ip, str);
      if (RLIMITS[type] === undefined) throw new ConfigError(key(ip, 'type'), `unknown rlimit ${JSON.stringify(type)}`);
      if (seen.has(type)) throw new ConfigError(key(ip, 'type'), `duplicate rlimit ${JSON.stringify(type)}`);
      seen.add(type);
      const soft = req(r, 'soft', ip, u64);
      const hard = req(r, 'hard', ip, u64);
      if (soft > hard) throw new ConfigError(key(ip, 'soft'), `must not exceed hard (${soft} > ${hard})`);
      return { type, soft, hard };
    });
  });

  const scheduler = opt(o, 'scheduler', p, (sv, sp): SpecScheduler => {
    const s = obj(sv, sp);
    const policy = req(s, 'policy', sp, (pv, pp) => oneOf(pv, pp, Object.keys(SCHED_POLICIES), 'scheduler policy'));
    const nice = opt(s, 'nice', sp, (nv, np) => int(nv, np, -20, 19, 'a nice value'));
    const priority = opt(s, 'priority', sp, i32);
    const flags = opt(s, 'flags', sp, (fv, fp) =>
      strArray(fv, fp).map((f, i) => oneOf(f, idx(fp, i), Object.keys(SCHED_FLAGS), 'scheduler flag')),
    );
    const realtime = policy === 'SCHED_FIFO' || policy === 'SCHED_RR';
    if (priority !== undefined && priority !== 0 && !realtime) {
      throw new ConfigError(key(sp, 'priority'), `must be 0 for ${policy} (only SCHED_FIFO and SCHED_RR use a static priority)`);
    }
    if (realtime && priority !== undefined && (priority < 1 || priority > 99)) {
      throw new ConfigError(key(sp, 'priority'), `must be in [1, 99] for ${policy}, got ${priority}`);
    }
    return clean({
      policy,
      nice,
      priority,
      flags,
      runtime: opt(s, 'runtime', sp, u64),
      deadline: opt(s, 'deadline', sp, u64),
      period: opt(s, 'period', sp, u64),
    });
  });

  const ioPriority = opt(o, 'ioPriority', p, (iv, ip) => {
    const io = obj(iv, ip);
    return {
      class: req(io, 'class', ip, (cv, cp) => oneOf(cv, cp, Object.keys(IOPRIO_CLASSES), 'I/O priority class')),
      priority: req(io, 'priority', ip, (pv, pp) => int(pv, pp, 0, 7, 'an I/O priority level')),
    };
  });

  const execCPUAffinity = opt(o, 'execCPUAffinity', p, (av, ap) => {
    const a = obj(av, ap);
    const list = (lv: unknown, lp: string): string => {
      const s = str(lv, lp);
      try {
        parseCpuList(s);
      } catch (err) {
        throw new ConfigError(lp, (err as Error).message);
      }
      return s;
    };
    return clean({ initial: opt(a, 'initial', ap, list), final: opt(a, 'final', ap, list) });
  });

  const terminal = opt(o, 'terminal', p, bool);
  const consoleSize = opt(o, 'consoleSize', p, (cv, cp) => {
    const c = obj(cv, cp);
    return {
      height: req(c, 'height', cp, (hv, hp) => int(hv, hp, 0, 0xffff, 'a terminal size (0..65535)')),
      width: req(c, 'width', cp, (wv, wp) => int(wv, wp, 0, 0xffff, 'a terminal size (0..65535)')),
    };
  });

  return clean({
    terminal,
    consoleSize,
    user,
    args: args as string[],
    commandLine: opt(o, 'commandLine', p, str),
    env,
    cwd: req(o, 'cwd', p, absPath),
    capabilities,
    rlimits,
    noNewPrivileges: opt(o, 'noNewPrivileges', p, bool),
    apparmorProfile: opt(o, 'apparmorProfile', p, str),
    oomScoreAdj: opt(o, 'oomScoreAdj', p, (sv, sp) => int(sv, sp, -1000, 1000, 'an OOM score adjustment')),
    scheduler,
    selinuxLabel: opt(o, 'selinuxLabel', p, str),
    ioPriority,
    execCPUAffinity,
  });
}

// ---- mounts ---------------------------------------------------------------------------------------

function idMappings(v: unknown, p: string): SpecIdMapping[] {
  const maps = arr(v, p).map((e, i) => {
    const ip = idx(p, i);
    const m = obj(e, ip);
    const mapping = {
      containerID: req(m, 'containerID', ip, u32),
      hostID: req(m, 'hostID', ip, u32),
      size: req(m, 'size', ip, u32),
    };
    if (mapping.size === 0) throw new ConfigError(key(ip, 'size'), 'must be greater than 0');
    if (mapping.containerID + mapping.size - 1 > U32_MAX) throw new ConfigError(ip, 'container id range exceeds 2^32-1');
    if (mapping.hostID + mapping.size - 1 > U32_MAX) throw new ConfigError(ip, 'host id range exceeds 2^32-1');
    return mapping;
  });
  // The kernel refuses overlapping ranges on either side.
  for (let i = 0; i < maps.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = maps[i];
      const b = maps[j];
      const overlap = (x: number, y: number): boolean => x < y + b.size && y < x + a.size;
      if (overlap(a.containerID, b.containerID)) throw new ConfigError(idx(p, i), `container id range overlaps ${idx(p, j)}`);
      if (overlap(a.hostID, b.hostID)) throw new ConfigError(idx(p, i), `host id range overlaps ${idx(p, j)}`);
    }
  }
  return maps;
}

function validateMount(v: unknown, p: string): SpecMount {
  const m = obj(v, p);
  const destination = req(m, 'destination', p, absPath);
  if (path.posix.normalize(destination) === '/') throw new ConfigError(key(p, 'destination'), 'must not be "/" (the root filesystem is set by root.path)');
  const options = opt(m, 'options', p, strArray);
  const type = opt(m, 'type', p, str);
  const source = opt(m, 'source', p, str);
  let bind = type === 'bind';
  (options ?? []).forEach((o, i) => {
    const known = MOUNT_OPTIONS.get(o);
    if (known?.kind === 'unsupported') throw new ConfigError(idx(key(p, 'options'), i), known.reason);
    if (o === 'bind' || o === 'rbind') bind = true;
  });
  if (present(m.uidMappings) || present(m.gidMappings)) {
    const which = present(m.uidMappings) ? 'uidMappings' : 'gidMappings';
    throw new ConfigError(key(p, which), 'id-mapped mounts are not supported by this runtime');
  }
  if (bind && (source === undefined || source === '')) throw new ConfigError(key(p, 'source'), 'is required for a bind mount');
  if (!bind && (type === undefined || type === '' || type === 'none')) {
    throw new ConfigError(key(p, 'type'), 'is required for a mount that is not a bind mount (add "bind" or "rbind" to options for a bind mount)');
  }
  return clean({ destination, type, source, options });
}

// ---- hooks ----------------------------------------------------------------------------------------

const HOOK_KINDS: readonly (keyof SpecHooks)[] = [
  'prestart',
  'createRuntime',
  'createContainer',
  'startContainer',
  'poststart',
  'poststop',
];

function validateHook(v: unknown, p: string): SpecHook {
  const h = obj(v, p);
  return clean({
    path: req(h, 'path', p, absPath),
    args: opt(h, 'args', p, strArray),
    env: opt(h, 'env', p, strArray),
    timeout: opt(h, 'timeout', p, (tv, tp) => int(tv, tp, 1, I32_MAX, 'a positive number of seconds')),
  });
}

function validateHooks(v: unknown, p: string): SpecHooks {
  const o = obj(v, p);
  const out: SpecHooks = {};
  for (const k of HOOK_KINDS) {
    const list = opt(o, k, p, (lv, lp) => arr(lv, lp).map((h, i) => validateHook(h, idx(lp, i))));
    if (list !== undefined) out[k] = list;
  }
  return out;
}

// ---- linux ----------------------------------------------------------------------------------------

function validateNamespaces(v: unknown, p: string): SpecNamespace[] {
  const seen = new Map<string, number>();
  return arr(v, p).map((e, i) => {
    const ip = idx(p, i);
    const n = obj(e, ip);
    const type = req(n, 'type', ip, str);
    if (!isNamespaceType(type)) throw new ConfigError(key(ip, 'type'), `unknown namespace type ${JSON.stringify(type)}`);
    const prev = seen.get(type);
    if (prev !== undefined) throw new ConfigError(key(ip, 'type'), `duplicate namespace ${JSON.stringify(type)} (also ${idx(p, prev)})`);
    seen.set(type, i);
    const nsPath = opt(n, 'path', ip, absPath);
    return clean({ type, path: nsPath === '' ? undefined : nsPath });
  });
}

function validateDevices(v: unknown, p: string): SpecDevice[] {
  const seen = new Map<string, number>();
  return arr(v, p).map((e, i) => {
    const ip = idx(p, i);
    const d = obj(e, ip);
    const devPath = req(d, 'path', ip, absPath);
    const norm = path.posix.normalize(devPath);
    if (norm === '/') throw new ConfigError(key(ip, 'path'), 'must name a file, not "/"');
    const prev = seen.get(norm);
    if (prev !== undefined) throw new ConfigError(key(ip, 'path'), `duplicate device path ${JSON.stringify(devPath)} (also ${idx(p, prev)})`);
    seen.set(norm, i);
    const type = req(d, 'type', ip, (tv, tp) => oneOf(tv, tp, Object.keys(DEVICE_TYPES) as DeviceType[], 'device type'));
    const num = (nv: unknown, np: string): number => int(nv, np, 0, U32_MAX, 'a device number (0..2^32-1)');
    const major = type === 'p' ? opt(d, 'major', ip, num) : req(d, 'major', ip, num);
    const minor = type === 'p' ? opt(d, 'minor', ip, num) : req(d, 'minor', ip, num);
    return clean({
      path: devPath,
      type,
      major,
      minor,
      // Only the permission bits (07777) are used; some tools send Go os.FileMode values with type bits.
      fileMode: opt(d, 'fileMode', ip, (mv, mp) => int(mv, mp, 0, U32_MAX, 'a file mode (a decimal number, e.g. 438 for 0666)')),
      uid: opt(d, 'uid', ip, u32),
      gid: opt(d, 'gid', ip, u32),
    });
  });
}

function validateTimeOffsets(v: unknown, p: string): Record<string, SpecTimeOffset> {
  const o = obj(v, p);
  const out: Record<string, SpecTimeOffset> = {};
  for (const [clock, val] of Object.entries(o)) {
    const cp = key(p, clock);
    if (TIME_NS_CLOCKS[clock] === undefined) {
      throw new ConfigError(cp, `unknown clock ${JSON.stringify(clock)} (one of ${Object.keys(TIME_NS_CLOCKS).join(', ')})`);
    }
    const t = obj(val, cp);
    out[clock] = clean({
      secs: opt(t, 'secs', cp, i64),
      nanosecs: opt(t, 'nanosecs', cp, (nv, np) => int(nv, np, 0, 999_999_999, 'nanoseconds (0..999999999)')),
    });
  }
  return out;
}

const IFNAME = /^[^\s/:]{1,15}$/;

function validateNetDevices(v: unknown, p: string): Record<string, SpecNetDevice> {
  const o = obj(v, p);
  const out: Record<string, SpecNetDevice> = {};
  for (const [name, val] of Object.entries(o)) {
    const np = key(p, name);
    if (!IFNAME.test(name) || name === '.' || name === '..') throw new ConfigError(np, `invalid network interface name ${JSON.stringify(name)}`);
    const d = obj(val, np);
    const newName = opt(d, 'name', np, str);
    if (newName !== undefined && newName !== '' && (!IFNAME.test(newName) || newName === '.' || newName === '..')) {
      throw new ConfigError(key(np, 'name'), `invalid network interface name ${JSON.stringify(newName)}`);
    }
    out[name] = clean({ name: newName });
  }
  return out;
}

function validateIntelRdt(v: unknown, p: string): SpecIntelRdt {
  const o = obj(v, p);
  const noNewline = (sv: unknown, sp: string): string => {
    const s = str(sv, sp);
    if (s.includes('\n')) throw new ConfigError(sp, 'must not contain newlines');
    return s;
  };
  const closID = opt(o, 'closID', p, str);
  if (closID !== undefined && (closID.includes('\n') || (closID !== '/' && (closID.includes('/') || closID === '.' || closID === '..')))) {
    throw new ConfigError(key(p, 'closID'), `invalid CLOS id ${JSON.stringify(closID)}`);
  }
  const memBwSchema = opt(o, 'memBwSchema', p, noNewline);
  if (memBwSchema !== undefined && memBwSchema !== '' && !memBwSchema.startsWith('MB:')) {
    throw new ConfigError(key(p, 'memBwSchema'), 'must start with "MB:"');
  }
  return clean({
    closID,
    l3CacheSchema: opt(o, 'l3CacheSchema', p, noNewline),
    memBwSchema,
    schemata: opt(o, 'schemata', p, (sv, sp) => arr(sv, sp).map((s, i) => noNewline(s, idx(sp, i)))),
    enableMonitoring: opt(o, 'enableMonitoring', p, bool),
    enableCMT: opt(o, 'enableCMT', p, bool),
    enableMBM: opt(o, 'enableMBM', p, bool),
  });
}

const MPOL_MODES = [
  'MPOL_DEFAULT',
  'MPOL_BIND',
  'MPOL_INTERLEAVE',
  'MPOL_WEIGHTED_INTERLEAVE',
  'MPOL_PREFERRED',
  'MPOL_PREFERRED_MANY',
  'MPOL_LOCAL',
] as const;
const MPOL_FLAGS = ['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES'] as const;

function validateMemoryPolicy(v: unknown, p: string): SpecMemoryPolicy {
  const o = obj(v, p);
  const nodes = opt(o, 'nodes', p, (nv, np) => {
    const s = str(nv, np);
    try {
      parseCpuList(s);
    } catch (err) {
      throw new ConfigError(np, (err as Error).message.replace(/CPU/g, 'node'));
    }
    return s;
  });
  return clean({
    mode: req(o, 'mode', p, (mv, mp) => oneOf(mv, mp, MPOL_MODES, 'memory policy mode')),
    nodes,
    flags: opt(o, 'flags', p, (fv, fp) => strArray(fv, fp).map((f, i) => oneOf(f, idx(fp, i), MPOL_FLAGS, 'memory policy flag'))),
  });
}

function validatePersonality(v: unknown, p: string): SpecPersonality {
  const o = obj(v, p);
  const domain = req(o, 'domain', p, (dv, dp) => oneOf(dv, dp, Object.keys(PERSONALITY_DOMAINS), 'personality domain'));
  const flags = opt(o, 'flags', p, strArray);
  if (flags !== undefined && flags.length > 0) {
    throw new ConfigError(idx(key(p, 'flags'), 0), `unsupported personality flag ${JSON.stringify(flags[0])} (no flags are supported)`);
  }
  return clean({ domain, flags });
}

/**
 * Structural check of linux.seccomp, with the spec's enumerations (actions, operators, architectures,
 * flags); syscall names are checked by the seccomp compiler.
 */
function validateSeccomp(v: unknown, p: string): LinuxSeccomp {
  const o = obj(v, p);
  const action = (av: unknown, ap: string): string => oneOf(av, ap, SECCOMP_ACTIONS, 'seccomp action');
  req(o, 'defaultAction', p, action);
  opt(o, 'defaultErrnoRet', p, u32);
  opt(o, 'architectures', p, (av, ap) => strArray(av, ap).forEach((a, i) => oneOf(a, idx(ap, i), SECCOMP_ARCHES, 'seccomp architecture')));
  opt(o, 'flags', p, (fv, fp) =>
    strArray(fv, fp).forEach((f, i) => oneOf(f, idx(fp, i), Object.keys(SECCOMP_FILTER_FLAGS), 'seccomp flag')),
  );
  const listenerPath = opt(o, 'listenerPath', p, str);
  const listenerMetadata = opt(o, 'listenerMetadata', p, str);
  if (listenerMetadata !== undefined && listenerMetadata !== '' && !listenerPath) {
    throw new ConfigError(key(p, 'listenerMetadata'), 'must not be set without listenerPath');
  }
  opt(o, 'syscalls', p, (sv, sp) =>
    arr(sv, sp).forEach((e, i) => {
      const ip = idx(sp, i);
      const s = obj(e, ip);
      const names = req(s, 'names', ip, strArray);
      if (names.length === 0) throw new ConfigError(key(ip, 'names'), 'must contain at least one syscall name');
      req(s, 'action', ip, action);
      opt(s, 'errnoRet', ip, u32);
      opt(s, 'args', ip, (av, ap) =>
        arr(av, ap).forEach((a, j) => {
          const jp = idx(ap, j);
          const ao = obj(a, jp);
          req(ao, 'index', jp, (xv, xp) => int(xv, xp, 0, 5, 'a syscall argument index (0..5)'));
          req(ao, 'value', jp, u64);
          opt(ao, 'valueTwo', jp, u64);
          req(ao, 'op', jp, (ov, op) => oneOf(ov, op, SECCOMP_OPERATORS, 'seccomp operator'));
        }),
      );
    }),
  );
  return o as unknown as LinuxSeccomp;
}

/** Shallow structural check of linux.resources; the cgroup managers check values. */
function validateResources(v: unknown, p: string): LinuxResources {
  const o = obj(v, p);
  for (const k of ['memory', 'cpu', 'pids', 'blockIO', 'network', 'rdma', 'unified']) opt(o, k, p, obj);
  for (const k of ['devices', 'hugepageLimits']) {
    opt(o, k, p, (av, ap) => arr(av, ap).forEach((e, i) => obj(e, idx(ap, i))));
  }
  opt(o, 'unified', p, strMap);
  return o as unknown as LinuxResources;
}

function validateLinux(v: unknown, p: string): SpecLinux {
  const o = obj(v, p);
  const pathList = (lv: unknown, lp: string): string[] => arr(lv, lp).map((e, i) => absPath(e, idx(lp, i)));
  return clean({
    namespaces: opt(o, 'namespaces', p, validateNamespaces),
    uidMappings: opt(o, 'uidMappings', p, idMappings),
    gidMappings: opt(o, 'gidMappings', p, idMappings),
    timeOffsets: opt(o, 'timeOffsets', p, validateTimeOffsets),
    devices: opt(o, 'devices', p, validateDevices),
    netDevices: opt(o, 'netDevices', p, validateNetDevices),
    cgroupsPath: opt(o, 'cgroupsPath', p, str),
    resources: opt(o, 'resources', p, validateResources),
    rootfsPropagation: opt(o, 'rootfsPropagation', p, (rv, rp) =>
      oneOf(rv, rp, Object.keys(ROOTFS_PROPAGATION) as RootfsPropagation[], 'rootfs propagation'),
    ),
    seccomp: opt(o, 'seccomp', p, validateSeccomp),
    sysctl: opt(o, 'sysctl', p, strMap),
    maskedPaths: opt(o, 'maskedPaths', p, pathList),
    readonlyPaths: opt(o, 'readonlyPaths', p, pathList),
    mountLabel: opt(o, 'mountLabel', p, str),
    intelRdt: opt(o, 'intelRdt', p, validateIntelRdt),
    memoryPolicy: opt(o, 'memoryPolicy', p, validateMemoryPolicy),
    personality: opt(o, 'personality', p, validatePersonality),
  });
}

// ---- sysctl policy --------------------------------------------------------------------------------

/**
 * Which namespace a sysctl belongs to, or null when it is not namespaced (setting it would change the
 * host). Keys may use '.' or '/' as separators.
 */
export function sysctlNamespace(name: string): NamespaceType | null {
  const k = name.replace(/\//g, '.');
  if (k === 'kernel.sem' || k.startsWith('kernel.msg') || k.startsWith('kernel.shm') || k.startsWith('fs.mqueue.')) return 'ipc';
  if (k === 'kernel.hostname' || k === 'kernel.domainname') return 'uts';
  if (k.startsWith('net.')) return 'network';
  return null;
}

function checkSysctls(sysctl: Record<string, string>, nsTypes: Set<string>): void {
  for (const name of Object.keys(sysctl)) {
    const p = key('linux.sysctl', name);
    const parts = name.replace(/\//g, '.').split('.');
    if (name.startsWith('/') || parts.some((s) => s === '' || s === '..')) {
      throw new ConfigError(p, `invalid sysctl name ${JSON.stringify(name)}`);
    }
    const ns = sysctlNamespace(name);
    if (ns === null) {
      throw new ConfigError(p, `sysctl ${JSON.stringify(name)} is not namespaced and would change the host; only kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.* (ipc), kernel.hostname, kernel.domainname (uts) and net.* (network) are allowed`);
    }
    if (!nsTypes.has(ns)) {
      throw new ConfigError(p, `sysctl ${JSON.stringify(name)} requires the container to have its own ${ns} namespace (add it to linux.namespaces)`);
    }
  }
}

// ---- cross-field checks ---------------------------------------------------------------------------

function isMapped(id: number, maps: SpecIdMapping[]): boolean {
  return maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

function crossChecks(spec: Spec): void {
  const linux = spec.linux ?? {};
  const namespaces = linux.namespaces ?? [];
  const nsTypes = new Set<string>(namespaces.map((n) => n.type));
  const userNs = namespaces.find((n) => n.type === 'user');
  const newUserNs = userNs !== undefined && userNs.path === undefined;

  if (!userNs) {
    if (linux.uidMappings?.length) throw new ConfigError('linux.uidMappings', 'requires a user namespace (add {"type": "user"} to linux.namespaces)');
    if (linux.gidMappings?.length) throw new ConfigError('linux.gidMappings', 'requires a user namespace (add {"type": "user"} to linux.namespaces)');
  }
  if (newUserNs) {
    if (!linux.uidMappings?.length) throw new ConfigError('linux.uidMappings', 'is required when a new user namespace is created');
    if (!linux.gidMappings?.length) throw new ConfigError('linux.gidMappings', 'is required when a new user namespace is created');
    const proc = spec.process;
    if (proc) {
      if (!isMapped(proc.user.uid, linux.uidMappings)) throw new ConfigError('process.user.uid', `${proc.user.uid} is not mapped by linux.uidMappings`);
      if (!isMapped(proc.user.gid, linux.gidMappings)) throw new ConfigError('process.user.gid', `${proc.user.gid} is not mapped by linux.gidMappings`);
      (proc.user.additionalGids ?? []).forEach((g, i) => {
        if (!isMapped(g, linux.gidMappings ?? [])) throw new ConfigError(`process.user.additionalGids[${i}]`, `${g} is not mapped by linux.gidMappings`);
      });
    }
  }

  if (spec.hostname && !nsTypes.has('uts')) {
    throw new ConfigError('hostname', 'cannot be set without a UTS namespace (add {"type": "uts"} to linux.namespaces)');
  }
  if (spec.domainname && !nsTypes.has('uts')) {
    throw new ConfigError('domainname', 'cannot be set without a UTS namespace (add {"type": "uts"} to linux.namespaces)');
  }

  if (linux.timeOffsets && Object.keys(linux.timeOffsets).length > 0) {
    const t = namespaces.find((n) => n.type === 'time');
    if (!t || t.path !== undefined) throw new ConfigError('linux.timeOffsets', 'requires a new time namespace ({"type": "time"} without a path)');
  }

  if (linux.sysctl) checkSysctls(linux.sysctl, nsTypes);

  if (linux.netDevices && Object.keys(linux.netDevices).length > 0 && !nsTypes.has('network')) {
    throw new ConfigError('linux.netDevices', 'requires a network namespace');
  }

  // A mount namespace is needed for anything that mounts.
  if (!nsTypes.has('mount') && (spec.mounts?.length || linux.maskedPaths?.length || linux.readonlyPaths?.length)) {
    throw new ConfigError('linux.namespaces', 'a mount namespace is required when mounts, maskedPaths or readonlyPaths are set');
  }
}

// ---- bundles --------------------------------------------------------------------------------------

/** Line and column (1-based) of a character offset in text. */
function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let last = -1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      last = i;
    }
  }
  return { line, col: offset - last };
}

/** Parse JSON text, turning a syntax error into a ConfigError with line and column. */
export function parseConfigJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const m = /position (\d+)/.exec(msg);
    const where = m ? (() => {
      const { line, col } = lineCol(text, Number(m[1]));
      return ` at line ${line} column ${col}`;
    })() : '';
    throw new ConfigError(file, `invalid JSON${where}: ${msg}`);
  }
}

/** Read and validate <bundleDir>/config.json. */
/** Reads and validates `<bundleDir>/config.json`, or `configFile` when given (crun's --config). */
export async function loadBundleConfig(bundleDir: string, configFile?: string): Promise<Spec> {
  const file = configFile !== undefined ? path.resolve(configFile) : path.join(bundleDir, 'config.json');
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) {
      const why =
        configFile !== undefined
          ? 'config file does not exist'
          : fs.existsSync(bundleDir)
            ? `no config.json in bundle ${bundleDir}`
            : `bundle directory ${bundleDir} does not exist`;
      throw new BerthError('NOT_FOUND', `${file}: ${why}`, { cause: err });
    }
    if (isErrno(err, 'EISDIR')) throw new ConfigError(file, 'is a directory, not a file');
    throw new BerthError('INVALID_CONFIG', `${file}: cannot read: ${(err as Error).message}`, { cause: err });
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return validateConfig(parseConfigJson(text, file));
}
