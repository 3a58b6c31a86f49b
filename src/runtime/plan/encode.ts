/**
 * Serialises a Plan into the binary wire format of native/PROTOCOL.md ("Plan encoding"), which
 * native/init/plan.c decodes. Fields go in a fixed order with no tags; everything is little-endian.
 * The encoder checks the same limits as the decoder so a bad plan fails here, with a field name,
 * rather than as an ERROR from the executor.
 */
import { BerthError } from '../errors';
import type {
  Plan,
  PlanHook,
  PlanIdMapping,
  PlanMount,
  PlanProcess,
} from './types';

export const PLAN_MAGIC = 0x50545242;
export const PLAN_VERSION = 1;
export const PLAN_MAX_SIZE = 16 * 1024 * 1024;
export const PLAN_MAX_STR = 131072;
export const PLAN_MAX_LIST = 65536;
export const PLAN_MAX_CPU = 8192;
export const PLAN_MAX_BPF_INSNS = 4096;

const U32_MAX = 0xffffffff;
const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

function bad(field: string, message: string): never {
  throw new BerthError('INVALID_ARGUMENT', `plan.${field}: ${message}`);
}

class Writer {
  private buf = Buffer.allocUnsafe(4096);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(field: string, v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) bad(field, `${v} is not a u8`);
    this.room(1);
    this.buf[this.len++] = v;
  }

  bool(v: boolean): void {
    this.room(1);
    this.buf[this.len++] = v ? 1 : 0;
  }

  u32(field: string, v: number): void {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) bad(field, `${v} is not a u32`);
    this.room(4);
    this.buf.writeUInt32LE(v, this.len);
    this.len += 4;
  }

  i32(field: string, v: number): void {
    if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) bad(field, `${v} is not an i32`);
    this.room(4);
    this.buf.writeInt32LE(v, this.len);
    this.len += 4;
  }

  u64(field: string, v: bigint): void {
    if (v < 0n || v > U64_MAX) bad(field, `${v} is not a u64`);
    this.room(8);
    this.buf.writeBigUInt64LE(v, this.len);
    this.len += 8;
  }

  i64(field: string, v: bigint): void {
    if (v < I64_MIN || v > I64_MAX) bad(field, `${v} is not an i64`);
    this.room(8);
    this.buf.writeBigInt64LE(v, this.len);
    this.len += 8;
  }

  str(field: string, s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (n > PLAN_MAX_STR) bad(field, `string of ${n} bytes is longer than ${PLAN_MAX_STR}`);
    if (s.includes('\0')) bad(field, 'string contains a NUL byte');
    this.u32(field, n);
    this.room(n);
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  bytes(field: string, b: Uint8Array): void {
    this.u32(field, b.length);
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  list<T>(field: string, items: readonly T[], each: (item: T, field: string) => void): void {
    if (items.length > PLAN_MAX_LIST) bad(field, `${items.length} items is more than ${PLAN_MAX_LIST}`);
    this.u32(field, items.length);
    items.forEach((item, i) => each(item, `${field}[${i}]`));
  }

  strs(field: string, items: readonly string[]): void {
    this.list(field, items, (s, f) => this.str(f, s));
  }

  u32s(field: string, items: readonly number[], max = U32_MAX): void {
    this.list(field, items, (v, f) => {
      if (v > max) bad(f, `${v} is more than ${max}`);
      this.u32(f, v);
    });
  }

  done(): Buffer {
    if (this.len > PLAN_MAX_SIZE) bad('', `encoded plan of ${this.len} bytes is larger than ${PLAN_MAX_SIZE}`);
    return this.buf.subarray(0, this.len);
  }
}

function idMaps(w: Writer, field: string, maps: readonly PlanIdMapping[]): void {
  w.list(field, maps, (m, f) => {
    w.u32(`${f}.containerId`, m.containerId);
    w.u32(`${f}.hostId`, m.hostId);
    w.u32(`${f}.size`, m.size);
  });
}

function mount(w: Writer, m: PlanMount, f: string): void {
  w.str(`${f}.source`, m.source);
  w.str(`${f}.destination`, m.destination);
  w.str(`${f}.fstype`, m.fstype);
  w.u32(`${f}.flags`, m.flags >>> 0);
  w.u32s(`${f}.propagation`, m.propagation.map((p) => p >>> 0));
  w.str(`${f}.data`, m.data);
  w.u32(`${f}.recAttrSet`, m.recAttrSet >>> 0);
  w.u32(`${f}.recAttrClr`, m.recAttrClr >>> 0);
  w.u8(`${f}.destType`, m.destType === 'file' ? 1 : 0);
  w.u8(`${f}.kind`, m.kind === 'cgroup' ? 2 : m.kind === 'bind' ? 1 : 0);
}

function hooks(w: Writer, field: string, list: readonly PlanHook[]): void {
  w.list(field, list, (h, f) => {
    w.str(`${f}.path`, h.path);
    w.strs(`${f}.args`, h.args);
    w.strs(`${f}.env`, h.env);
    w.u32(`${f}.timeout`, h.timeout);
  });
}

function processFields(w: Writer, pr: PlanProcess): void {
  if (pr.args.length === 0) bad('process.args', 'no arguments');
  w.strs('process.args', pr.args);
  w.strs('process.env', pr.env);
  w.str('process.cwd', pr.cwd);
  w.u32('process.user.uid', pr.user.uid);
  w.u32('process.user.gid', pr.user.gid);
  w.u32s('process.user.additionalGids', pr.user.additionalGids);
  if (pr.user.umask < -1 || pr.user.umask > 0o777) bad('process.user.umask', `${pr.user.umask} is out of range`);
  w.i32('process.user.umask', pr.user.umask);
  w.bool(pr.terminal);
  w.str('process.consoleSocket', pr.consoleSocket);
  if (pr.consoleHeight > 0xffff || pr.consoleWidth > 0xffff) bad('process.consoleSize', 'out of range');
  w.u32('process.consoleHeight', pr.consoleHeight);
  w.u32('process.consoleWidth', pr.consoleWidth);
  w.list('process.rlimits', pr.rlimits, (r, f) => {
    w.u32(`${f}.resource`, r.resource);
    w.u64(`${f}.soft`, r.soft);
    w.u64(`${f}.hard`, r.hard);
  });
  const c = pr.capabilities;
  w.u64('process.capabilities.bounding', c.bounding);
  w.u64('process.capabilities.effective', c.effective);
  w.u64('process.capabilities.permitted', c.permitted);
  w.u64('process.capabilities.inheritable', c.inheritable);
  w.u64('process.capabilities.ambient', c.ambient);
  w.bool(pr.noNewPrivileges);
  w.bool(pr.scheduler !== null);
  if (pr.scheduler) {
    const s = pr.scheduler;
    w.u32('process.scheduler.policy', s.policy);
    w.i32('process.scheduler.nice', s.nice);
    w.u32('process.scheduler.priority', s.priority);
    w.u64('process.scheduler.flags', s.flags);
    w.u64('process.scheduler.runtime', s.runtime);
    w.u64('process.scheduler.deadline', s.deadline);
    w.u64('process.scheduler.period', s.period);
  }
  w.bool(pr.ioPriority !== null);
  if (pr.ioPriority) {
    w.u32('process.ioPriority.class', pr.ioPriority.ioClass);
    w.u32('process.ioPriority.priority', pr.ioPriority.priority);
  }
  w.u32s('process.cpuAffinityInitial', pr.cpuAffinityInitial, PLAN_MAX_CPU - 1);
  w.u32s('process.cpuAffinityFinal', pr.cpuAffinityFinal, PLAN_MAX_CPU - 1);
  w.i32('process.personality', pr.personality);
  w.str('process.apparmorProfile', pr.apparmorProfile);
  w.str('process.selinuxLabel', pr.selinuxLabel);
  w.bool(pr.seccomp !== null);
  if (pr.seccomp) {
    const s = pr.seccomp;
    const n = s.program.length;
    if (n === 0 || n % 8 !== 0 || n / 8 > PLAN_MAX_BPF_INSNS) {
      bad('process.seccomp.program', `${n} bytes is not 1..${PLAN_MAX_BPF_INSNS} instructions of 8 bytes`);
    }
    w.bytes('process.seccomp.program', s.program);
    w.u32('process.seccomp.flags', s.flags >>> 0);
    w.str('process.seccomp.listenerPath', s.listenerPath);
    w.str('process.seccomp.listenerMetadata', s.listenerMetadata);
  }
}

/** Encodes a plan for the PLAN message. Throws BerthError('INVALID_ARGUMENT') naming the bad field. */
export function encodePlan(plan: Plan): Buffer {
  const w = new Writer();
  w.u32('magic', PLAN_MAGIC);
  w.u32('version', PLAN_VERSION);
  w.u8('mode', plan.mode === 'exec' ? 1 : 0);
  w.bool(plan.foreground);
  w.u32('cloneFlags', plan.cloneFlags >>> 0);
  w.list('joinNamespaces', plan.joinNamespaces, (j, f) => {
    w.u32(`${f}.flag`, j.flag >>> 0);
    w.str(`${f}.path`, j.path);
  });
  w.bool(plan.userNamespaceMapped);
  idMaps(w, 'uidMappings', plan.uidMappings);
  idMaps(w, 'gidMappings', plan.gidMappings);
  w.list('timeOffsets', plan.timeOffsets, (t, f) => {
    w.u32(`${f}.clockId`, t.clockId);
    w.i64(`${f}.secs`, t.secs);
    if (t.nanosecs >= 1e9) bad(`${f}.nanosecs`, `${t.nanosecs} is not below 1e9`);
    w.u32(`${f}.nanosecs`, t.nanosecs);
  });
  w.str('hostname', plan.hostname);
  w.str('domainname', plan.domainname);
  w.str('rootfs', plan.rootfs);
  w.bool(plan.rootReadonly);
  w.u32('rootfsPropagation', plan.rootfsPropagation >>> 0);
  w.bool(plan.noPivot);
  w.list('mounts', plan.mounts, (m, f) => mount(w, m, f));
  w.list('devices', plan.devices, (d, f) => {
    w.str(`${f}.path`, d.path);
    w.u32(`${f}.mode`, d.mode);
    w.u32(`${f}.major`, d.major);
    w.u32(`${f}.minor`, d.minor);
    w.u32(`${f}.uid`, d.uid);
    w.u32(`${f}.gid`, d.gid);
    w.bool(d.bind);
  });
  w.list('symlinks', plan.symlinks, (s, f) => {
    w.str(`${f}.target`, s.target);
    w.str(`${f}.path`, s.path);
  });
  w.strs('maskedPaths', plan.maskedPaths);
  w.strs('readonlyPaths', plan.readonlyPaths);
  w.list('sysctls', plan.sysctls, (s, f) => {
    w.str(`${f}.path`, s.path);
    w.str(`${f}.value`, s.value);
  });
  w.str('execFifo', plan.execFifo);
  const fc = plan.execFifoCreate;
  w.bool(fc !== undefined);
  if (fc !== undefined) {
    if (!Number.isInteger(fc.mode) || fc.mode < 0 || fc.mode > 0o777) bad('execFifoCreate.mode', `${fc.mode} is not a permission mode`);
    w.u32('execFifoCreate.mode', fc.mode);
    w.u32('execFifoCreate.uid', fc.uid);
    w.u32('execFifoCreate.gid', fc.gid);
  }
  if (plan.preserveFds > PLAN_MAX_LIST) bad('preserveFds', `${plan.preserveFds} is too many`);
  w.u32('preserveFds', plan.preserveFds);
  w.bool(plan.newKeyring);
  hooks(w, 'createContainerHooks', plan.createContainerHooks);
  hooks(w, 'startContainerHooks', plan.startContainerHooks);
  processFields(w, plan.process);
  return w.done();
}
