/**
 * Differential test: random profiles (many syscalls, several rules per syscall, up to six argument
 * checks per rule, every operator, values with high and low words, several architectures) are compiled
 * and run in the interpreter over random inputs, and every result is compared with a direct evaluation
 * of the profile's semantics. Long rule chains force far jumps, so trampolines and duplicated returns
 * are exercised in all positions. Seeded: a failure prints the seed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeProgram,
  disassemble,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  seccompRunner,
} from '../../src/runtime/seccomp/bpf';
import { BerthError } from '../../src/runtime/errors';
import { compileSeccompDetailed } from '../../src/runtime/seccomp/compile';
import type { LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArch, LinuxSeccompArg, LinuxSeccompOperator, LinuxSyscall } from '../../src/runtime/seccomp/spec';
import { ARCHES, type SupportedArch, X32_SYSCALL_BIT } from '../../src/runtime/seccomp/syscalls';

/** xorshift64*: deterministic, seedable. */
class Rng {
  private s: bigint;
  constructor(seed: number) {
    this.s = BigInt(seed) | 1n;
  }
  next64(): bigint {
    let x = this.s;
    x ^= x >> 12n;
    x ^= (x << 25n) & 0xffffffffffffffffn;
    x ^= x >> 27n;
    this.s = x;
    return (x * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn;
  }
  int(n: number): number {
    return Number(this.next64() % BigInt(n));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.int(1_000_000) < p * 1_000_000;
  }
}

const OPS: LinuxSeccompOperator[] = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'];
const ACTIONS: LinuxSeccompAction[] = ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_LOG', 'SCMP_ACT_ALLOW'];
const AUDIT: Record<SupportedArch, number> = {
  SCMP_ARCH_X86_64: ARCHES.SCMP_ARCH_X86_64.auditArch,
  SCMP_ARCH_X32: ARCHES.SCMP_ARCH_X32.auditArch,
  SCMP_ARCH_X86: ARCHES.SCMP_ARCH_X86.auditArch,
  SCMP_ARCH_AARCH64: ARCHES.SCMP_ARCH_AARCH64.auditArch,
};

function retOf(action: LinuxSeccompAction, errnoRet: number | undefined): number {
  const d = errnoRet ?? 1;
  switch (action) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return SECCOMP_RET_KILL_THREAD;
    case 'SCMP_ACT_KILL_PROCESS':
      return SECCOMP_RET_KILL_PROCESS;
    case 'SCMP_ACT_TRAP':
      return SECCOMP_RET_TRAP;
    case 'SCMP_ACT_ERRNO':
      return (SECCOMP_RET_ERRNO | d) >>> 0;
    case 'SCMP_ACT_TRACE':
      return (SECCOMP_RET_TRACE | d) >>> 0;
    case 'SCMP_ACT_LOG':
      return SECCOMP_RET_LOG;
    case 'SCMP_ACT_ALLOW':
      return SECCOMP_RET_ALLOW;
    case 'SCMP_ACT_NOTIFY':
      return 0x7fc00000;
  }
}

function randValue(r: Rng): bigint {
  switch (r.int(6)) {
    case 0:
      return BigInt(r.int(16));
    case 1:
      return r.next64() & 0xffffffffn;
    case 2:
      return (BigInt(r.int(4)) << 32n) | BigInt(r.int(16));
    case 3:
      return 0xffffffffffffffffn - BigInt(r.int(4));
    default:
      return r.next64();
  }
}

function randProfile(r: Rng, native: SupportedArch): LinuxSeccomp {
  const names = [...new Set([...ARCHES.SCMP_ARCH_X86_64.table.keys(), ...ARCHES.SCMP_ARCH_AARCH64.table.keys()])];
  const defaultAction = r.pick(ACTIONS);
  const cfg: LinuxSeccomp = { defaultAction, syscalls: [] };
  if ((defaultAction === 'SCMP_ACT_ERRNO' || defaultAction === 'SCMP_ACT_TRACE') && r.chance(0.5)) cfg.defaultErrnoRet = r.int(4096);
  const arches: LinuxSeccompArch[] = [];
  for (const a of ['SCMP_ARCH_X86', 'SCMP_ARCH_X32', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_X86_64'] as const) if (a !== native && r.chance(0.5)) arches.push(a);
  cfg.architectures = arches;
  const hot = Array.from({ length: 1 + r.int(6) }, () => r.pick(names)); // syscalls with long rule lists
  const n = 10 + r.int(100);
  for (let i = 0; i < n; i++) {
    const sc: LinuxSyscall = {
      names: Array.from({ length: 1 + r.int(3) }, () => (r.chance(0.3) ? r.pick(hot) : r.pick(names))),
      action: r.pick(ACTIONS),
    };
    if ((sc.action === 'SCMP_ACT_ERRNO' || sc.action === 'SCMP_ACT_TRACE') && r.chance(0.7)) sc.errnoRet = r.int(65536);
    if (r.chance(0.7)) {
      const args: LinuxSeccompArg[] = [];
      const k = 1 + r.int(r.chance(0.2) ? 6 : 2);
      for (let j = 0; j < k; j++) {
        const op = r.pick(OPS);
        const a: LinuxSeccompArg = { index: r.int(6), op, value: randValue(r) };
        if (op === 'SCMP_CMP_MASKED_EQ') a.valueTwo = r.chance(0.5) ? BigInt(a.value) & randValue(r) : randValue(r);
        args.push(a);
      }
      sc.args = args;
    }
    cfg.syscalls?.push(sc);
  }
  return cfg;
}

function holds(a: LinuxSeccompArg, args: bigint[], bits: 32 | 64): boolean {
  const m = bits === 32 ? 0xffffffffn : 0xffffffffffffffffn;
  const x = args[a.index] & m;
  const v = BigInt(a.value) & m;
  switch (a.op) {
    case 'SCMP_CMP_NE':
      return x !== v;
    case 'SCMP_CMP_LT':
      return x < v;
    case 'SCMP_CMP_LE':
      return x <= v;
    case 'SCMP_CMP_EQ':
      return x === v;
    case 'SCMP_CMP_GE':
      return x >= v;
    case 'SCMP_CMP_GT':
      return x > v;
    case 'SCMP_CMP_MASKED_EQ':
      return (x & v) === (BigInt(a.valueTwo ?? 0) & m);
  }
}

/** The profile's meaning, evaluated directly. */
function reference(cfg: LinuxSeccomp, native: SupportedArch, auditArch: number, nr: number, args: bigint[], enosys: boolean): number {
  const inFilter = new Set<SupportedArch>([native, ...((cfg.architectures ?? []).filter((a) => a in ARCHES) as SupportedArch[])]);
  let arch: SupportedArch | undefined;
  if (auditArch === AUDIT.SCMP_ARCH_X86_64) arch = nr >= X32_SYSCALL_BIT ? 'SCMP_ARCH_X32' : 'SCMP_ARCH_X86_64';
  else if (auditArch === AUDIT.SCMP_ARCH_X86) arch = 'SCMP_ARCH_X86';
  else if (auditArch === AUDIT.SCMP_ARCH_AARCH64) arch = 'SCMP_ARCH_AARCH64';
  if (arch === undefined || !inFilter.has(arch)) return SECCOMP_RET_KILL_PROCESS;
  const info = ARCHES[arch];
  const def = retOf(cfg.defaultAction, cfg.defaultErrnoRet);
  let last = -1;
  for (const sc of cfg.syscalls ?? []) for (const n of sc.names) {
    const v = info.table.get(n);
    if (v !== undefined) last = Math.max(last, info.nrBase + v);
  }
  const allowish = ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'].includes(cfg.defaultAction);
  if (enosys && !allowish && def !== ((SECCOMP_RET_ERRNO | 38) >>> 0) && last >= 0 && nr > last) return (SECCOMP_RET_ERRNO | 38) >>> 0;
  for (const sc of cfg.syscalls ?? []) {
    if (!sc.names.some((n) => info.table.get(n) !== undefined && info.nrBase + (info.table.get(n) as number) === nr)) continue;
    if ((sc.args ?? []).every((a) => holds(a, args, info.argBits))) return retOf(sc.action, sc.errnoRet);
  }
  return def;
}

describe('seccomp compiler: random profiles vs reference semantics', () => {
  const seeds = Array.from({ length: 40 }, (_, i) => 0x5eed + i * 7919);
  for (const native of ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'] as const) {
    it(`native ${native}`, () => {
      let farJumps = 0;
      let tooLong = 0;
      for (const seed of seeds) {
        const r = new Rng(seed);
        const cfg = randProfile(r, native);
        const enosys = r.chance(0.5);
        let compiled: ReturnType<typeof compileSeccompDetailed>;
        try {
          compiled = compileSeccompDetailed(cfg, { nativeArch: native, enosysAboveLast: enosys });
        } catch (err) {
          if (err instanceof BerthError && err.code === 'UNSUPPORTED') {
            tooLong++; // over the kernel's 4096 instructions
            continue;
          }
          throw err;
        }
        const prog = decodeProgram(compiled.plan.program);
        const run = seccompRunner(prog);
        if (prog.some((i) => i.code === 0x05)) farJumps++;
        const usedNrs: number[] = [];
        for (const sc of cfg.syscalls ?? []) {
          for (const n of sc.names) for (const a of Object.values(ARCHES)) {
            const v = a.table.get(n);
            if (v !== undefined) usedNrs.push(a.nrBase + v);
          }
        }
        for (let i = 0; i < 600; i++) {
          const auditArch = r.pick([AUDIT.SCMP_ARCH_X86_64, AUDIT.SCMP_ARCH_X86_64, AUDIT.SCMP_ARCH_X86, AUDIT.SCMP_ARCH_AARCH64, 0x40000028]);
          let nr = r.chance(0.8) ? r.pick(usedNrs) : r.int(600);
          if (auditArch === AUDIT.SCMP_ARCH_X86_64 && r.chance(0.2)) nr = (nr | X32_SYSCALL_BIT) >>> 0;
          if (auditArch !== AUDIT.SCMP_ARCH_X86_64) nr &= ~X32_SYSCALL_BIT;
          // Arguments: often the exact values the profile compares against, to hit equality edges.
          const args: bigint[] = [];
          for (let k = 0; k < 6; k++) {
            const sc = r.pick(cfg.syscalls ?? []);
            const a = sc.args !== undefined && sc.args.length > 0 ? r.pick(sc.args) : undefined;
            if (a !== undefined && r.chance(0.6)) {
              const base = BigInt(r.chance(0.5) ? a.value : (a.valueTwo ?? a.value));
              const d = BigInt(r.int(3)) - 1n;
              args.push((base + d) & 0xffffffffffffffffn);
            } else {
              args.push(randValue(r));
            }
          }
          const want = reference(cfg, native, auditArch, nr, args, enosys);
          const got = run({ nr, arch: auditArch, args });
          if (got !== want) {
            assert.fail(
              `seed ${seed}: arch 0x${auditArch.toString(16)} nr ${nr} args [${args.map((x) => `0x${x.toString(16)}`)}]: ` +
                `got 0x${got.toString(16)}, want 0x${want.toString(16)}\n${disassemble(prog).slice(0, 2000)}`,
            );
          }
        }
      }
      assert.ok(farJumps > 0, 'some profiles needed trampolines');
      assert.ok(tooLong < seeds.length / 4, `${tooLong} profiles too long`);
    });
  }
});
