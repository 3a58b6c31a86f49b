/**
 * Compiles the OCI `linux.seccomp` section into a classic-BPF seccomp filter.
 *
 * Program layout (program order):
 *
 *     ld [arch]
 *     jeq AUDIT_ARCH_<a1> -> section a1      one per architecture in the filter
 *     ...
 *     ret KILL_PROCESS                       an architecture outside the filter
 *   section (per audit arch value):
 *     ld [nr]
 *     jge X32_SYSCALL_BIT -> x32 rules | KILL_PROCESS     (AUDIT_ARCH_X86_64 only)
 *     jeq nr1 -> rules of nr1                one compare per syscall that has rules
 *     ...
 *     ret <default action>
 *   rules of a syscall: its rules in the order given; a rule's argument checks are ANDed; the first rule
 *   whose checks all hold returns its action; when none holds, the default action.
 *
 * The program is emitted backwards (from its last instruction), so every jump target already exists
 * when the jump is emitted. Conditional jumps have 8-bit offsets: when a target is more than 255
 * instructions away, a return is duplicated next to the jump (for return targets) or a `ja` (32-bit
 * offset) trampoline is placed there. Arguments of 64-bit ABIs are compared as two 32-bit halves
 * (seccomp_data is little-endian here: low word at 16+8*i, high word at 20+8*i); on i386 only the low
 * word exists and values are truncated to 32 bits.
 *
 * Semantics follow the runtime-spec and runc/libseccomp where the spec is silent:
 * - the native architecture is always in the filter (libseccomp's filter starts with it), plus every
 *   listed one this compiler supports (x86_64, x86, x32, aarch64); other listed architectures are
 *   skipped, so their syscalls hit the bad-architecture action (KILL_PROCESS);
 * - syscall names an architecture lacks are ignored for that architecture (like runc); names that no
 *   supported architecture knows are ignored too and reported by compileSeccompDetailed;
 * - errnoRet defaults to EPERM for SCMP_ACT_ERRNO/SCMP_ACT_TRACE and is an error on other actions;
 *   defaultErrnoRet likewise for the default action;
 * - SCMP_ACT_NOTIFY needs listenerPath, is refused as the default action and for `write` and `sendmsg`
 *   (the executor uses them after loading the filter, before a supervisor can answer); the plan's flags
 *   then include SECCOMP_FILTER_FLAG_NEW_LISTENER (and TSYNC_ESRCH when TSYNC is asked for, which the
 *   kernel requires); SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV is dropped when nothing notifies (the
 *   kernel rejects it without NEW_LISTENER);
 * - syscall numbers above the highest one the profile names get ENOSYS (runc's behaviour; see
 *   CompileSeccompOptions.enosysAboveLast);
 * - on x32, arguments are compared as full 64-bit values (libseccomp compares only the low 32 bits).
 */
import { BerthError, ConfigError } from '../errors';
import type { PlanSeccomp } from '../plan/types';
import {
  BPF_ABS,
  BPF_ALU,
  BPF_AND,
  BPF_JA,
  BPF_JEQ,
  BPF_JGE,
  BPF_JGT,
  BPF_JMP,
  BPF_K,
  BPF_LD,
  BPF_MAXINSNS,
  BPF_RET,
  BPF_W,
  type BpfInsn,
  encodeProgram,
  OFF_ARCH,
  OFF_ARGS,
  OFF_NR,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
} from './bpf';
import {
  type LinuxSeccomp,
  type LinuxSeccompAction,
  type LinuxSeccompFlag,
  type LinuxSeccompOperator,
  SECCOMP_ACTIONS,
  SECCOMP_ARCHES,
  SECCOMP_FILTER_FLAG_NEW_LISTENER,
  SECCOMP_FILTER_FLAG_TSYNC_ESRCH,
  SECCOMP_FILTER_FLAGS,
  SECCOMP_OPERATORS,
} from './spec';
import { ARCHES, type ArchInfo, isKnownSyscall, isSupportedArch, nativeArch, type SupportedArch, X32_SYSCALL_BIT } from './syscalls';

const EPERM = 1;
/** What a syscall from an architecture outside the filter gets (libseccomp's bad-arch action). */
export const BAD_ARCH_ACTION = SECCOMP_RET_KILL_PROCESS;

export interface CompileSeccompOptions {
  /** SCMP_ARCH_* name (or a Node process.arch value: x64, arm64) of the host; default: this process's. */
  nativeArch?: string;
  /** JSON path prefix used in error messages; default `linux.seccomp`. */
  jsonPath?: string;
  /**
   * Syscall numbers above the highest one the profile names (per architecture) fail with ENOSYS instead
   * of taking the default action, so programs probing syscalls newer than the profile fall back (runc
   * does the same). Not applied when the default action is ALLOW, LOG or TRACE, or already ENOSYS.
   * Default true.
   */
  enosysAboveLast?: boolean;
}

export interface CompiledSeccomp {
  plan: PlanSeccomp;
  /** Number of BPF instructions. */
  instructions: number;
  /** Architectures in the filter, in dispatch order. */
  architectures: SupportedArch[];
  /** Listed architectures this compiler cannot build sections for (skipped). */
  skippedArchitectures: string[];
  /** Syscall names no supported architecture knows (ignored). */
  unknownSyscalls: string[];
}

type Op = LinuxSeccompOperator;

interface ArgCheck {
  index: number;
  op: Op;
  value: bigint;
  valueTwo: bigint;
}

interface Rule {
  ret: number;
  args: ArgCheck[];
  /** Position in the config (rules of one syscall number are tried in this order). */
  seq: number;
}

/** Validated, normalised form of the config. */
interface Normalised {
  defaultRet: number;
  /** The ENOSYS guard applies (see CompileSeccompOptions.enosysAboveLast). */
  enosysGuard: boolean;
  flags: number;
  notify: boolean;
  listenerPath: string;
  listenerMetadata: string;
  arches: SupportedArch[];
  skippedArches: string[];
  /** In order of first appearance: syscall name -> its rules in order. */
  rulesByName: Map<string, Rule[]>;
  unknownSyscalls: string[];
}

// ---------------------------------------------------------------------------------------------------
// Validation

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const UINT64_MAX = (1n << 64n) - 1n;

function toUint64(v: unknown, path: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n || v > UINT64_MAX) throw new ConfigError(path, `value ${v} is outside the uint64 range`);
    return v;
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0) throw new ConfigError(path, `must be a non-negative integer, got ${v}`);
    // JSON.parse turns 18446744073709551615 (2^64-1, "-1") into 2^64; numbers above 2^53 are approximate
    // in JSON anyway (spec/validate.ts accepts up to 2^64 the same way).
    if (v === 2 ** 64) return UINT64_MAX;
    const b = BigInt(v);
    if (b > UINT64_MAX) throw new ConfigError(path, `value ${v} is outside the uint64 range`);
    return b;
  }
  throw new ConfigError(path, `must be an unsigned integer, got ${typeof v}`);
}

function actionRet(action: unknown, errnoRet: unknown, path: string, errnoPath: string): { ret: number; action: LinuxSeccompAction } {
  if (typeof action !== 'string' || !(SECCOMP_ACTIONS as readonly string[]).includes(action)) {
    throw new ConfigError(path, `unknown action ${JSON.stringify(action)}`);
  }
  const act = action as LinuxSeccompAction;
  const takesData = act === 'SCMP_ACT_ERRNO' || act === 'SCMP_ACT_TRACE';
  let data = EPERM;
  if (errnoRet !== undefined && errnoRet !== null) {
    if (!takesData) throw new ConfigError(errnoPath, `is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not ${act}`);
    if (typeof errnoRet !== 'number' || !Number.isInteger(errnoRet) || errnoRet < 0 || errnoRet > 0xffff) {
      throw new ConfigError(errnoPath, `must be an integer in 0..65535, got ${JSON.stringify(errnoRet)}`);
    }
    data = errnoRet;
  }
  switch (act) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return { ret: SECCOMP_RET_KILL_THREAD, action: act };
    case 'SCMP_ACT_KILL_PROCESS':
      return { ret: SECCOMP_RET_KILL_PROCESS, action: act };
    case 'SCMP_ACT_TRAP':
      return { ret: SECCOMP_RET_TRAP, action: act };
    case 'SCMP_ACT_ERRNO':
      return { ret: (SECCOMP_RET_ERRNO | data) >>> 0, action: act };
    case 'SCMP_ACT_TRACE':
      return { ret: (SECCOMP_RET_TRACE | data) >>> 0, action: act };
    case 'SCMP_ACT_LOG':
      return { ret: SECCOMP_RET_LOG, action: act };
    case 'SCMP_ACT_ALLOW':
      return { ret: SECCOMP_RET_ALLOW, action: act };
    case 'SCMP_ACT_NOTIFY':
      return { ret: SECCOMP_RET_USER_NOTIF, action: act };
  }
}

function resolveNative(opt: string | undefined): SupportedArch {
  const n = opt === undefined ? nativeArch() : isSupportedArch(opt) ? opt : nativeArch(opt);
  if (n === undefined) {
    throw new BerthError('UNSUPPORTED', `seccomp: no syscall table for the native architecture ${opt ?? process.arch}`);
  }
  return n;
}

const ENOSYS = 38;
const NOTIFY_FORBIDDEN = ['write', 'sendmsg'];
const RET_ENOSYS = (SECCOMP_RET_ERRNO | ENOSYS) >>> 0;

function normalise(cfg: unknown, native: SupportedArch, p: string, enosysAboveLast: boolean): Normalised {
  if (!isObject(cfg)) throw new ConfigError(p, 'must be an object');
  const def = actionRet(cfg.defaultAction, cfg.defaultErrnoRet, `${p}.defaultAction`, `${p}.defaultErrnoRet`);
  if (def.action === 'SCMP_ACT_NOTIFY') {
    throw new ConfigError(`${p}.defaultAction`, 'SCMP_ACT_NOTIFY cannot be the default action');
  }

  // Architectures: native first, then listed ones in order.
  const arches: SupportedArch[] = [native];
  const skippedArches: string[] = [];
  if (cfg.architectures !== undefined && cfg.architectures !== null) {
    if (!Array.isArray(cfg.architectures)) throw new ConfigError(`${p}.architectures`, 'must be an array');
    cfg.architectures.forEach((a: unknown, i: number) => {
      if (typeof a !== 'string' || !(SECCOMP_ARCHES as readonly string[]).includes(a)) {
        throw new ConfigError(`${p}.architectures[${i}]`, `unknown architecture ${JSON.stringify(a)}`);
      }
      if (!isSupportedArch(a)) {
        if (!skippedArches.includes(a)) skippedArches.push(a);
      } else if (!arches.includes(a)) {
        arches.push(a);
      }
    });
  }

  let flags = 0;
  let tsync = false;
  let waitKillable = false;
  if (cfg.flags !== undefined && cfg.flags !== null) {
    if (!Array.isArray(cfg.flags)) throw new ConfigError(`${p}.flags`, 'must be an array');
    cfg.flags.forEach((f: unknown, i: number) => {
      if (typeof f !== 'string' || !Object.prototype.hasOwnProperty.call(SECCOMP_FILTER_FLAGS, f)) {
        throw new ConfigError(`${p}.flags[${i}]`, `unknown flag ${JSON.stringify(f)}`);
      }
      const name = f as LinuxSeccompFlag;
      if (name === 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV') waitKillable = true;
      else flags |= SECCOMP_FILTER_FLAGS[name];
      if (name === 'SECCOMP_FILTER_FLAG_TSYNC') tsync = true;
    });
  }

  for (const key of ['listenerPath', 'listenerMetadata'] as const) {
    const v = cfg[key];
    if (v !== undefined && v !== null && typeof v !== 'string') throw new ConfigError(`${p}.${key}`, 'must be a string');
  }
  const listenerPath = typeof cfg.listenerPath === 'string' ? cfg.listenerPath : '';
  const listenerMetadata = typeof cfg.listenerMetadata === 'string' ? cfg.listenerMetadata : '';

  const rulesByName = new Map<string, Rule[]>();
  const unknown = new Set<string>();
  let seq = 0;
  let notify = false;
  if (cfg.syscalls !== undefined && cfg.syscalls !== null) {
    if (!Array.isArray(cfg.syscalls)) throw new ConfigError(`${p}.syscalls`, 'must be an array');
    cfg.syscalls.forEach((sc: unknown, i: number) => {
      const sp = `${p}.syscalls[${i}]`;
      if (!isObject(sc)) throw new ConfigError(sp, 'must be an object');
      if (!Array.isArray(sc.names) || sc.names.length === 0) {
        throw new ConfigError(`${sp}.names`, 'must be a non-empty array of syscall names');
      }
      const names: string[] = [];
      sc.names.forEach((n: unknown, j: number) => {
        if (typeof n !== 'string' || n === '') throw new ConfigError(`${sp}.names[${j}]`, 'must be a non-empty string');
        names.push(n);
      });
      const act = actionRet(sc.action, sc.errnoRet, `${sp}.action`, `${sp}.errnoRet`);
      if (act.action === 'SCMP_ACT_NOTIFY') {
        notify = true;
        if (listenerPath === '') throw new ConfigError(`${sp}.action`, `SCMP_ACT_NOTIFY requires ${p}.listenerPath`);
        // The executor writes (like runc) and sends the listener fd with sendmsg after loading the filter:
        // notifying either would wait for a supervisor that has no listener fd yet.
        for (const forbidden of NOTIFY_FORBIDDEN) {
          const w = names.indexOf(forbidden);
          if (w >= 0) throw new ConfigError(`${sp}.names[${w}]`, `SCMP_ACT_NOTIFY cannot be used for ${forbidden}`);
        }
      }
      const args: ArgCheck[] = [];
      if (sc.args !== undefined && sc.args !== null) {
        if (!Array.isArray(sc.args)) throw new ConfigError(`${sp}.args`, 'must be an array');
        sc.args.forEach((a: unknown, j: number) => {
          const ap = `${sp}.args[${j}]`;
          if (!isObject(a)) throw new ConfigError(ap, 'must be an object');
          if (typeof a.index !== 'number' || !Number.isInteger(a.index) || a.index < 0 || a.index > 5) {
            throw new ConfigError(`${ap}.index`, `must be an integer in 0..5, got ${JSON.stringify(a.index)}`);
          }
          if (typeof a.op !== 'string' || !(SECCOMP_OPERATORS as readonly string[]).includes(a.op)) {
            throw new ConfigError(`${ap}.op`, `unknown operator ${JSON.stringify(a.op)}`);
          }
          const value = toUint64(a.value, `${ap}.value`);
          const valueTwo = a.valueTwo === undefined || a.valueTwo === null ? 0n : toUint64(a.valueTwo, `${ap}.valueTwo`);
          args.push({ index: a.index, op: a.op as Op, value, valueTwo });
        });
      }
      for (const name of names) {
        if (!isKnownSyscall(name)) unknown.add(name);
        let list = rulesByName.get(name);
        if (list === undefined) {
          list = [];
          rulesByName.set(name, list);
        }
        list.push({ ret: act.ret, args, seq: seq++ });
      }
    });
  }

  if (notify) {
    flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    if (tsync) flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    if (waitKillable) flags |= SECCOMP_FILTER_FLAGS.SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
  }

  const allowish = def.action === 'SCMP_ACT_ALLOW' || def.action === 'SCMP_ACT_LOG' || def.action === 'SCMP_ACT_TRACE';
  return {
    defaultRet: def.ret,
    enosysGuard: enosysAboveLast && !allowish && def.ret !== RET_ENOSYS,
    flags,
    notify,
    listenerPath: notify ? listenerPath : '',
    listenerMetadata: notify ? listenerMetadata : '',
    arches,
    skippedArches,
    rulesByName,
    unknownSyscalls: [...unknown],
  };
}

// ---------------------------------------------------------------------------------------------------
// Backward emitter

/** A position in the program, counted from its end: the instruction with `label` instructions from it to the end. */
type Label = number;
type Target = Label | { ret: number };

class Emitter {
  /** Instructions in reverse program order. */
  readonly rev: BpfInsn[] = [];
  private readonly retAt = new Map<number, Label>();

  get size(): number {
    return this.rev.length;
  }

  private push(ins: BpfInsn): Label {
    this.rev.push(ins);
    if (this.rev.length > BPF_MAXINSNS) {
      throw new BerthError('UNSUPPORTED', `seccomp: the filter exceeds ${BPF_MAXINSNS} BPF instructions`);
    }
    return this.rev.length;
  }

  /** A statement that continues at `next` (a `ja` is inserted when `next` is not the last one emitted). */
  stmt(code: number, k: number, next: Target): Label {
    const l = this.resolve(next);
    if (l !== this.size) this.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: this.size - l });
    return this.push({ code, jt: 0, jf: 0, k: k >>> 0 });
  }

  /** Emits `ret k` at the current position. */
  ret(k: number): Label {
    const l = this.push({ code: BPF_RET | BPF_K, jt: 0, jf: 0, k: k >>> 0 });
    this.retAt.set(k >>> 0, l);
    return l;
  }

  resolve(t: Target): Label {
    if (typeof t === 'number') return t;
    const l = this.retAt.get(t.ret >>> 0);
    return l ?? this.ret(t.ret);
  }

  /** Makes `l` reachable with an 8-bit offset from the next instruction: a copied return or a `ja`. */
  private near(l: Label): Label {
    const ins = this.rev[l - 1];
    if (ins.code === (BPF_RET | BPF_K)) return this.ret(ins.k);
    const n = this.size;
    return this.push({ code: BPF_JMP | BPF_JA, jt: 0, jf: 0, k: n - l });
  }

  /** A conditional jump (`op` is BPF_JEQ/JGT/JGE/JSET with BPF_K) to `jt` when true, `jf` when false. */
  cond(op: number, k: number, jt: Target, jf: Target): Label {
    let t = this.resolve(jt);
    let f = this.resolve(jf);
    if (t === f) return t;
    for (;;) {
      const n = this.size;
      if (n - t > 255) {
        t = this.near(t);
        continue;
      }
      if (n - f > 255) {
        f = this.near(f);
        continue;
      }
      return this.push({ code: BPF_JMP | op | BPF_K, jt: n - t, jf: n - f, k: k >>> 0 });
    }
  }

  /** Program order. */
  program(): BpfInsn[] {
    return this.rev.slice().reverse();
  }
}

// ---------------------------------------------------------------------------------------------------
// Code generation

const LD_ABS = BPF_LD | BPF_W | BPF_ABS;
const MASK32 = 0xffffffffn;

function lo(v: bigint): number {
  return Number(v & MASK32);
}
function hi(v: bigint): number {
  return Number((v >> 32n) & MASK32);
}

/** Emits one argument comparison: continue at `t` when it holds, `f` otherwise. Returns its entry. */
function emitArg(e: Emitter, arch: ArchInfo, c: ArgCheck, t: Target, f: Target): Target {
  const offLo = OFF_ARGS + 8 * c.index;
  const offHi = offLo + 4;
  const v = c.value;
  if (arch.argBits === 32) {
    let l: Label;
    switch (c.op) {
      case 'SCMP_CMP_EQ':
        l = e.cond(BPF_JEQ, lo(v), t, f);
        break;
      case 'SCMP_CMP_NE':
        l = e.cond(BPF_JEQ, lo(v), f, t);
        break;
      case 'SCMP_CMP_GT':
        l = e.cond(BPF_JGT, lo(v), t, f);
        break;
      case 'SCMP_CMP_GE':
        l = e.cond(BPF_JGE, lo(v), t, f);
        break;
      case 'SCMP_CMP_LT':
        l = e.cond(BPF_JGE, lo(v), f, t);
        break;
      case 'SCMP_CMP_LE':
        l = e.cond(BPF_JGT, lo(v), f, t);
        break;
      case 'SCMP_CMP_MASKED_EQ':
        l = e.stmt(BPF_ALU | BPF_AND | BPF_K, lo(v), e.cond(BPF_JEQ, lo(c.valueTwo), t, f));
        break;
    }
    return e.stmt(LD_ABS, offLo, l);
  }
  // 64-bit: the high word decides unless equal; then the low word.
  switch (c.op) {
    case 'SCMP_CMP_EQ':
    case 'SCMP_CMP_NE': {
      const [yes, no] = c.op === 'SCMP_CMP_EQ' ? [t, f] : [f, t];
      const loEntry = e.stmt(LD_ABS, offLo, e.cond(BPF_JEQ, lo(v), yes, no));
      return e.stmt(LD_ABS, offHi, e.cond(BPF_JEQ, hi(v), loEntry, no));
    }
    case 'SCMP_CMP_GT':
    case 'SCMP_CMP_GE':
    case 'SCMP_CMP_LT':
    case 'SCMP_CMP_LE': {
      // GT/GE hold when hi > vhi, fail when hi < vhi; LT/LE are their negations (LT = !GE, LE = !GT).
      const positive = c.op === 'SCMP_CMP_GT' || c.op === 'SCMP_CMP_GE';
      const [yes, no] = positive ? [t, f] : [f, t];
      const loOp = c.op === 'SCMP_CMP_GT' || c.op === 'SCMP_CMP_LE' ? BPF_JGT : BPF_JGE;
      const loEntry = e.stmt(LD_ABS, offLo, e.cond(loOp, lo(v), yes, no));
      const eqHi = e.cond(BPF_JEQ, hi(v), loEntry, no);
      return e.stmt(LD_ABS, offHi, e.cond(BPF_JGT, hi(v), yes, eqHi));
    }
    case 'SCMP_CMP_MASKED_EQ': {
      const m = v;
      const want = c.valueTwo;
      // (hi & 0) == hi(want) holds iff hi(want) == 0.
      if (hi(m) === 0 && hi(want) !== 0) return f;
      const loCmp = e.cond(BPF_JEQ, lo(want), t, f);
      const loEntry = e.stmt(LD_ABS, offLo, e.stmt(BPF_ALU | BPF_AND | BPF_K, lo(m), loCmp));
      if (hi(m) === 0) return loEntry;
      const hiCmp = e.cond(BPF_JEQ, hi(want), loEntry, f);
      return e.stmt(LD_ABS, offHi, e.stmt(BPF_ALU | BPF_AND | BPF_K, hi(m), hiCmp));
    }
  }
}

/** Rules of one syscall with the dead and redundant ones removed (first match wins). */
function effectiveRules(rules: Rule[], defaultRet: number): Rule[] {
  const out: Rule[] = [];
  for (const r of rules) {
    out.push(r);
    if (r.args.length === 0) break; // later rules are unreachable
  }
  while (out.length > 0 && out[out.length - 1].ret === defaultRet) out.pop(); // falls to the default anyway
  return out;
}

/** Emits the rule chain of one syscall; returns its entry. */
function emitRules(e: Emitter, arch: ArchInfo, rules: Rule[], defaultRet: number): Target {
  let fail: Target = { ret: defaultRet };
  for (let i = rules.length - 1; i >= 0; i--) {
    const r = rules[i];
    if (r.args.length === 0) {
      fail = { ret: r.ret };
      continue;
    }
    let t: Target = { ret: r.ret };
    for (let j = r.args.length - 1; j >= 0; j--) t = emitArg(e, arch, r.args[j], t, fail);
    fail = t;
  }
  return fail;
}

/** Emits the compare chain of one architecture (A holds the syscall number); returns its entry. */
function emitChain(e: Emitter, arch: ArchInfo, n: Normalised): Label {
  const byNr = new Map<number, Rule[]>(); // in order of first appearance
  let last = -1;
  for (const [name, rules] of n.rulesByName) {
    const info = arch.table.get(name);
    if (info === undefined) continue;
    const nr = arch.nrBase + info;
    if (nr > last) last = nr;
    const prev = byNr.get(nr);
    // Two names for one number (aliases) share one rule list, in config order.
    byNr.set(nr, prev === undefined ? rules : [...prev, ...rules].sort((a, b) => a.seq - b.seq));
  }
  const entries = [...byNr].map(([nr, rules]) => ({ nr, rules: effectiveRules(rules, n.defaultRet) }));
  // Syscalls whose rules look at arguments go first: the kernel caches the result of every syscall
  // whose outcome does not depend on arguments and never runs the filter for it, so the filter mostly
  // runs for these (and for denied syscalls). Order across distinct numbers does not change results.
  const ordered = [...entries.filter((x) => x.rules.some((r) => r.args.length > 0)), ...entries.filter((x) => x.rules.every((r) => r.args.length === 0))];
  let next: Label = e.ret(n.defaultRet);
  for (let i = ordered.length - 1; i >= 0; i--) {
    const { nr, rules } = ordered[i];
    if (rules.length === 0) continue;
    const body = emitRules(e, arch, rules, n.defaultRet);
    next = e.cond(BPF_JEQ, nr, body, next);
  }
  if (n.enosysGuard && last >= 0) next = e.cond(BPF_JGT, last, { ret: RET_ENOSYS }, next);
  return next;
}

function generate(n: Normalised): BpfInsn[] {
  const e = new Emitter();
  // Group architectures by audit arch value (x86_64 and x32 share AUDIT_ARCH_X86_64).
  const groups: Array<{ auditArch: number; arches: SupportedArch[] }> = [];
  for (const a of n.arches) {
    const aa = ARCHES[a].auditArch;
    const g = groups.find((x) => x.auditArch === aa);
    if (g === undefined) groups.push({ auditArch: aa, arches: [a] });
    else g.arches.push(a);
  }
  const entries: Label[] = new Array<Label>(groups.length);
  for (let gi = groups.length - 1; gi >= 0; gi--) {
    const g = groups[gi];
    const hasX32 = g.arches.includes('SCMP_ARCH_X32');
    const hasX8664 = g.arches.includes('SCMP_ARCH_X86_64');
    let body: Label;
    if (hasX32 || hasX8664) {
      const x32: Target = hasX32 ? emitChain(e, ARCHES.SCMP_ARCH_X32, n) : { ret: BAD_ARCH_ACTION };
      const native: Target = hasX8664 ? emitChain(e, ARCHES.SCMP_ARCH_X86_64, n) : { ret: BAD_ARCH_ACTION };
      body = e.cond(BPF_JGE, X32_SYSCALL_BIT, x32, native);
    } else {
      body = emitChain(e, ARCHES[g.arches[0]], n);
    }
    entries[gi] = e.stmt(LD_ABS, OFF_NR, body);
  }
  let next: Label = e.ret(BAD_ARCH_ACTION);
  for (let gi = groups.length - 1; gi >= 0; gi--) next = e.cond(BPF_JEQ, groups[gi].auditArch, entries[gi], next);
  e.stmt(LD_ABS, OFF_ARCH, next);
  return e.program();
}

// ---------------------------------------------------------------------------------------------------
// Entry points

const cache = new Map<string, CompiledSeccomp>();
const CACHE_MAX = 64;

function cacheKey(cfg: LinuxSeccomp, native: SupportedArch, path: string): string | undefined {
  try {
    return `${native}\u0000${path}\u0000${JSON.stringify(cfg, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`;
  } catch {
    return undefined;
  }
}

function copyResult(r: CompiledSeccomp): CompiledSeccomp {
  return {
    ...r,
    plan: { ...r.plan, program: r.plan.program.slice() },
    architectures: [...r.architectures],
    skippedArchitectures: [...r.skippedArchitectures],
    unknownSyscalls: [...r.unknownSyscalls],
  };
}

/** Compiles and reports what was skipped. Results are memoised by the JSON of the config. */
export function compileSeccompDetailed(cfg: LinuxSeccomp, opts: CompileSeccompOptions = {}): CompiledSeccomp {
  const native = resolveNative(opts.nativeArch);
  const path = opts.jsonPath ?? 'linux.seccomp';
  const enosys = opts.enosysAboveLast ?? true;
  const key = cacheKey(cfg, native, `${path}\u0000${enosys}`);
  if (key !== undefined) {
    const hit = cache.get(key);
    if (hit !== undefined) return copyResult(hit);
  }
  const n = normalise(cfg, native, path, enosys);
  const insns = generate(n);
  const result: CompiledSeccomp = {
    plan: {
      program: encodeProgram(insns),
      flags: n.flags,
      listenerPath: n.listenerPath,
      listenerMetadata: n.listenerMetadata,
    },
    instructions: insns.length,
    architectures: n.arches,
    skippedArchitectures: n.skippedArches,
    unknownSyscalls: n.unknownSyscalls,
  };
  if (key !== undefined) {
    if (cache.size >= CACHE_MAX) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    cache.set(key, copyResult(result));
  }
  return result;
}

/** Compiles `linux.seccomp` into the plan's seccomp filter. Throws ConfigError naming the faulty JSON path. */
export function compileSeccomp(cfg: LinuxSeccomp, opts: CompileSeccompOptions = {}): PlanSeccomp {
  return compileSeccompDetailed(cfg, opts).plan;
}
