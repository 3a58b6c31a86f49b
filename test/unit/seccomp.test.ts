import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../src/runtime/errors';
import {
  type BpfInsn,
  decodeProgram,
  disassemble,
  runSeccomp,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  SECCOMP_RET_KILL_THREAD,
  SECCOMP_RET_LOG,
  SECCOMP_RET_TRACE,
  SECCOMP_RET_TRAP,
  SECCOMP_RET_USER_NOTIF,
  validateSeccompProgram,
} from '../../src/runtime/seccomp/bpf';
import { compileSeccomp, compileSeccompDetailed } from '../../src/runtime/seccomp/compile';
import type { LinuxSeccomp, LinuxSeccompArg, LinuxSeccompOperator, LinuxSyscall } from '../../src/runtime/seccomp/spec';
import { X86_64_SYSCALLS } from '../../src/runtime/seccomp/syscalls/x86_64';
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, resolveSyscall, X32_SYSCALL_BIT } from '../../src/runtime/seccomp/syscalls';

// Most tests look at rules alone; the ENOSYS guard for numbers above the profile's last has its own tests.
const X86_64 = { nativeArch: 'SCMP_ARCH_X86_64', enosysAboveLast: false };
const EPERM = 1;
const ENOSYS = 38;

function nr(name: string, arch: 'SCMP_ARCH_X86_64' | 'SCMP_ARCH_X86' | 'SCMP_ARCH_X32' | 'SCMP_ARCH_AARCH64' = 'SCMP_ARCH_X86_64'): number {
  const n = resolveSyscall(arch, name);
  assert.notEqual(n, undefined, `${name} unknown on ${arch}`);
  return n as number;
}

function program(cfg: LinuxSeccomp, opts: { nativeArch?: string; enosysAboveLast?: boolean } = X86_64): BpfInsn[] {
  const p = decodeProgram(compileSeccomp(cfg, opts).program);
  assert.equal(validateSeccompProgram(p), null, disassemble(p));
  return p;
}

function run(p: BpfInsn[], name: string, args: Array<bigint | number> = [], arch = AUDIT_ARCH_X86_64): number {
  return runSeccomp(p, { nr: nr(name), arch, args });
}

function errno(e: number): number {
  return (SECCOMP_RET_ERRNO | e) >>> 0;
}

function throwsConfig(fn: () => unknown, path: string, re?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    assert.equal(err.path, path);
    if (re) assert.match(err.message, re);
    return true;
  });
}

describe('seccomp compiler: actions', () => {
  it('allows listed syscalls and applies the default errno to the rest', () => {
    const p = program({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] });
    assert.equal(run(p, 'read'), SECCOMP_RET_ALLOW);
    assert.equal(run(p, 'write'), SECCOMP_RET_ALLOW);
    assert.equal(run(p, 'mount'), errno(EPERM));
    assert.equal(run(p, 'openat'), errno(EPERM));
  });

  it('uses defaultErrnoRet for the default action and errnoRet for a rule', () => {
    const p = program({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 38,
      syscalls: [
        { names: ['read'], action: 'SCMP_ACT_ALLOW' },
        { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 },
        { names: ['rmdir'], action: 'SCMP_ACT_ERRNO' },
      ],
    });
    assert.equal(run(p, 'getpid'), errno(ENOSYS));
    assert.equal(run(p, 'mkdir'), errno(13));
    assert.equal(run(p, 'rmdir'), errno(EPERM), 'a rule without errnoRet gets EPERM (runtime-spec)');
  });

  it('returns the right value for every action', () => {
    const cases: Array<[LinuxSyscall['action'], number | undefined, number]> = [
      ['SCMP_ACT_KILL', undefined, SECCOMP_RET_KILL_THREAD],
      ['SCMP_ACT_KILL_THREAD', undefined, SECCOMP_RET_KILL_THREAD],
      ['SCMP_ACT_KILL_PROCESS', undefined, SECCOMP_RET_KILL_PROCESS],
      ['SCMP_ACT_TRAP', undefined, SECCOMP_RET_TRAP],
      ['SCMP_ACT_ERRNO', 5, (SECCOMP_RET_ERRNO | 5) >>> 0],
      ['SCMP_ACT_TRACE', 1234, (SECCOMP_RET_TRACE | 1234) >>> 0],
      ['SCMP_ACT_TRACE', undefined, (SECCOMP_RET_TRACE | EPERM) >>> 0],
      ['SCMP_ACT_LOG', undefined, SECCOMP_RET_LOG],
      ['SCMP_ACT_ALLOW', undefined, SECCOMP_RET_ALLOW],
      ['SCMP_ACT_NOTIFY', undefined, SECCOMP_RET_USER_NOTIF],
    ];
    for (const [action, errnoRet, want] of cases) {
      const sc: LinuxSyscall = { names: ['getpid'], action };
      if (errnoRet !== undefined) sc.errnoRet = errnoRet;
      const cfg: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/x.sock', syscalls: [sc] };
      const p = program(cfg);
      assert.equal(run(p, 'getpid') >>> 0, want >>> 0, action);
      assert.equal(run(p, 'getppid'), SECCOMP_RET_ALLOW);
      // The same action as the default action.
      if (action !== 'SCMP_ACT_NOTIFY') {
        const d: LinuxSeccomp = { defaultAction: action, syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ALLOW' }] };
        if (errnoRet !== undefined) d.defaultErrnoRet = errnoRet;
        const q = program(d);
        assert.equal(run(q, 'getppid') >>> 0, want >>> 0, `default ${action}`);
        assert.equal(run(q, 'getpid'), SECCOMP_RET_ALLOW);
      }
    }
  });

  it('kills syscalls from an architecture outside the filter', () => {
    const p = program({ defaultAction: 'SCMP_ACT_ALLOW' });
    assert.equal(runSeccomp(p, { nr: 3, arch: AUDIT_ARCH_I386 }), SECCOMP_RET_KILL_PROCESS);
    assert.equal(runSeccomp(p, { nr: 63, arch: AUDIT_ARCH_AARCH64 }), SECCOMP_RET_KILL_PROCESS);
    assert.equal(runSeccomp(p, { nr: 0, arch: 0x12345678 }), SECCOMP_RET_KILL_PROCESS);
    assert.equal(runSeccomp(p, { nr: 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
  });

  it('builds a section per listed architecture with that architecture\'s numbers', () => {
    const p = program({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_AARCH64'],
      syscalls: [{ names: ['read', 'openat'], action: 'SCMP_ACT_ALLOW' }],
    });
    // read: 0 on x86_64, 3 on i386, 63 on aarch64; 3 is close on x86_64.
    assert.equal(runSeccomp(p, { nr: 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: 3, arch: AUDIT_ARCH_X86_64 }), errno(EPERM));
    assert.equal(runSeccomp(p, { nr: 3, arch: AUDIT_ARCH_I386 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: 0, arch: AUDIT_ARCH_I386 }), errno(EPERM));
    assert.equal(runSeccomp(p, { nr: 63, arch: AUDIT_ARCH_AARCH64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: 56, arch: AUDIT_ARCH_AARCH64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: 295, arch: AUDIT_ARCH_I386 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: 257, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
  });

  it('always includes the native architecture and skips unsupported listed ones', () => {
    const r = compileSeccompDetailed(
      { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_ARM'] },
      X86_64,
    );
    assert.deepEqual(r.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']);
    assert.deepEqual(r.skippedArchitectures, ['SCMP_ARCH_PPC64LE', 'SCMP_ARCH_ARM']);
    const a = compileSeccompDetailed({ defaultAction: 'SCMP_ACT_ALLOW' }, { nativeArch: 'arm64', enosysAboveLast: false });
    assert.deepEqual(a.architectures, ['SCMP_ARCH_AARCH64']);
    const p = decodeProgram(a.plan.program);
    assert.equal(runSeccomp(p, { nr: 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
    assert.equal(runSeccomp(p, { nr: 0, arch: AUDIT_ARCH_AARCH64 }), SECCOMP_RET_ALLOW);
  });

  it('ignores syscall names an architecture lacks and reports names no architecture knows', () => {
    const r = compileSeccompDetailed(
      { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'socketcall', 'no_such_syscall', 'constructor'], action: 'SCMP_ACT_ALLOW' }] },
      X86_64,
    );
    assert.deepEqual(r.unknownSyscalls.sort(), ['constructor', 'no_such_syscall']);
    const p = decodeProgram(r.plan.program);
    assert.equal(run(p, 'read'), SECCOMP_RET_ALLOW);
  });
});

describe('seccomp compiler: ENOSYS above the last named syscall', () => {
  const ENOSYS_RET = errno(ENOSYS);
  const opts = { nativeArch: 'SCMP_ARCH_X86_64' };
  it('returns ENOSYS for numbers above the highest named syscall of each architecture', () => {
    const p = program(
      {
        defaultAction: 'SCMP_ACT_ERRNO',
        architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
        syscalls: [{ names: ['read', 'openat', 'mount'], action: 'SCMP_ACT_ALLOW' }],
      },
      opts,
    );
    // x86_64: openat 257 is the highest.
    assert.equal(runSeccomp(p, { nr: 257, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: 200, arch: AUDIT_ARCH_X86_64 }), errno(EPERM));
    assert.equal(runSeccomp(p, { nr: 258, arch: AUDIT_ARCH_X86_64 }), ENOSYS_RET);
    assert.equal(runSeccomp(p, { nr: 435, arch: AUDIT_ARCH_X86_64 }), ENOSYS_RET);
    // i386: openat 295.
    assert.equal(runSeccomp(p, { nr: 295, arch: AUDIT_ARCH_I386 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: 296, arch: AUDIT_ARCH_I386 }), ENOSYS_RET);
    assert.equal(runSeccomp(p, { nr: 294, arch: AUDIT_ARCH_I386 }), errno(EPERM));
    // x32: openat 257 | bit.
    assert.equal(runSeccomp(p, { nr: X32_SYSCALL_BIT + 258, arch: AUDIT_ARCH_X86_64 }), ENOSYS_RET);
    assert.equal(runSeccomp(p, { nr: X32_SYSCALL_BIT + 100, arch: AUDIT_ARCH_X86_64 }), errno(EPERM));
  });

  it('is not applied with an allowing default, an ENOSYS default, or when disabled', () => {
    for (const defaultAction of ['SCMP_ACT_ALLOW', 'SCMP_ACT_LOG', 'SCMP_ACT_TRACE'] as const) {
      const p = program({ defaultAction, syscalls: [{ names: ['read'], action: 'SCMP_ACT_KILL' }] }, opts);
      assert.notEqual(runSeccomp(p, { nr: 400, arch: AUDIT_ARCH_X86_64 }), ENOSYS_RET, defaultAction);
    }
    const q = program({ defaultAction: 'SCMP_ACT_KILL_PROCESS', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }, opts);
    assert.equal(runSeccomp(q, { nr: 400, arch: AUDIT_ARCH_X86_64 }), ENOSYS_RET);
    const off = program({ defaultAction: 'SCMP_ACT_KILL_PROCESS', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }, { ...opts, enosysAboveLast: false });
    assert.equal(runSeccomp(off, { nr: 400, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
    const none = program({ defaultAction: 'SCMP_ACT_ERRNO' }, opts);
    assert.equal(runSeccomp(none, { nr: 400, arch: AUDIT_ARCH_X86_64 }), errno(EPERM), 'no syscalls named: no guard');
  });
});

describe('seccomp compiler: x32', () => {
  const bit = X32_SYSCALL_BIT;
  it('kills x32 syscalls unless SCMP_ARCH_X32 is listed', () => {
    const p = program({ defaultAction: 'SCMP_ACT_ALLOW' });
    assert.equal(runSeccomp(p, { nr: bit, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
    assert.equal(runSeccomp(p, { nr: bit + 512, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
    assert.equal(runSeccomp(p, { nr: 0xffffffff, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
  });

  it('filters x32 syscalls with x32 numbers when listed', () => {
    const p = program({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['read', 'rt_sigaction'], action: 'SCMP_ACT_ALLOW' }],
    });
    assert.equal(nr('rt_sigaction', 'SCMP_ARCH_X32'), bit + 512);
    assert.equal(runSeccomp(p, { nr: bit + 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: bit + 512, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: bit + 13, arch: AUDIT_ARCH_X86_64 }), errno(EPERM), 'x86_64 number of rt_sigaction with the x32 bit');
    assert.equal(runSeccomp(p, { nr: 13, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW, 'native rt_sigaction');
    assert.equal(runSeccomp(p, { nr: 1, arch: AUDIT_ARCH_X86_64 }), errno(EPERM));
  });

  it('an x32-only list still has the native x86_64 section on an x86_64 host, and none on arm64', () => {
    const p = program({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X32'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] });
    assert.equal(runSeccomp(p, { nr: bit, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
    // On an arm64 host, an x32-only filter has no native x86_64 section.
    const q = program({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X32'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] }, { nativeArch: 'SCMP_ARCH_AARCH64', enosysAboveLast: false });
    assert.equal(runSeccomp(q, { nr: bit, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(q, { nr: 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
  });
});

// Reference semantics of the comparison operators on unsigned 64-bit values.
function holds(op: LinuxSeccompOperator, arg: bigint, value: bigint, valueTwo: bigint): boolean {
  switch (op) {
    case 'SCMP_CMP_NE':
      return arg !== value;
    case 'SCMP_CMP_LT':
      return arg < value;
    case 'SCMP_CMP_LE':
      return arg <= value;
    case 'SCMP_CMP_EQ':
      return arg === value;
    case 'SCMP_CMP_GE':
      return arg >= value;
    case 'SCMP_CMP_GT':
      return arg > value;
    case 'SCMP_CMP_MASKED_EQ':
      return (arg & value) === valueTwo;
  }
}

const OPS: LinuxSeccompOperator[] = ['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'];
const MAX64 = (1n << 64n) - 1n;

function interesting(v: bigint): bigint[] {
  const out = new Set<bigint>([0n, 1n, 0xffffffffn, 0x100000000n, MAX64, MAX64 - 1n, 0x8000000000000000n]);
  for (const d of [-1n, 0n, 1n, 0x100000000n, -0x100000000n, 0xffffffffn]) {
    const x = v + d;
    if (x >= 0n && x <= MAX64) out.add(x);
  }
  out.add(v & 0xffffffffn); // same low word, high word 0
  out.add(v | 0xffffffff00000000n); // same low word, high word all ones
  out.add((v & 0xffffffff00000000n) | 0xffffffffn);
  return [...out];
}

describe('seccomp compiler: argument comparisons', () => {
  const values: bigint[] = [0n, 1n, 8n, 0xffffffffn, 0x100000000n, 0x123456789n, 0xfedcba9876543210n, MAX64, 0x7e020000n];
  for (const op of OPS) {
    it(`${op} on 64-bit values, high and low words`, () => {
      for (const value of values) {
        const valueTwos = op === 'SCMP_CMP_MASKED_EQ' ? [0n, value & 0x0f0f0f0f0f0f0f0fn, value, 0x1n] : [0n];
        for (const valueTwo of valueTwos) {
          for (const index of [0, 5]) {
            const arg: LinuxSeccompArg = { index, value, valueTwo, op };
            const p = program({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: [arg] }] });
            for (const a of interesting(value)) {
              const args: bigint[] = [0n, 0n, 0n, 0n, 0n, 0n];
              args[index] = a;
              const want = holds(op, a, value, valueTwo) ? SECCOMP_RET_ALLOW : errno(EPERM);
              assert.equal(run(p, 'ioctl', args), want, `${op} arg${index}=0x${a.toString(16)} value=0x${value.toString(16)} two=0x${valueTwo.toString(16)}\n${disassemble(p)}`);
            }
          }
        }
      }
    });
  }

  it('compares only the low 32 bits on i386', () => {
    for (const op of OPS) {
      const value = 0x1_0000_0010n; // truncated to 0x10
      const p = program({
        defaultAction: 'SCMP_ACT_ERRNO',
        architectures: ['SCMP_ARCH_X86'],
        syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value, valueTwo: 0x10, op }] }],
      });
      for (const a of [0n, 0xfn, 0x10n, 0x11n, 0xffffffffn]) {
        const want = holds(op, a, value & 0xffffffffn, 0x10n) ? SECCOMP_RET_ALLOW : errno(EPERM);
        assert.equal(runSeccomp(p, { nr: nr('ioctl', 'SCMP_ARCH_X86'), arch: AUDIT_ARCH_I386, args: [0n, a] }), want, `${op} ${a}`);
      }
    }
  });

  it('ANDs the arguments of one rule and tries rules for a syscall in order', () => {
    const p = program({
      defaultAction: 'SCMP_ACT_ERRNO',
      syscalls: [
        {
          names: ['mmap'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: 22,
          args: [
            { index: 2, value: 4, valueTwo: 4, op: 'SCMP_CMP_MASKED_EQ' }, // PROT_EXEC
            { index: 3, value: 0x20, valueTwo: 0x20, op: 'SCMP_CMP_MASKED_EQ' }, // MAP_ANONYMOUS
          ],
        },
        { names: ['mmap'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 1 << 20, op: 'SCMP_CMP_LE' }] },
        { names: ['mmap'], action: 'SCMP_ACT_LOG' },
        { names: ['mmap'], action: 'SCMP_ACT_KILL' }, // unreachable
      ],
    });
    assert.equal(run(p, 'mmap', [0, 4096, 7, 0x22]), errno(22), 'both conditions');
    assert.equal(run(p, 'mmap', [0, 4096, 3, 0x22]), SECCOMP_RET_ALLOW, 'second rule');
    assert.equal(run(p, 'mmap', [0, 4096, 7, 0x02]), SECCOMP_RET_ALLOW, 'first rule needs both');
    assert.equal(run(p, 'mmap', [0, 1 << 21, 3, 0x22]), SECCOMP_RET_LOG, 'third rule');
  });

  it('falls back to the default action when no rule of a syscall matches', () => {
    const p = program({
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 99,
      syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ALLOW', args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] }],
    });
    assert.equal(run(p, 'kill', [1, 0]), SECCOMP_RET_ALLOW);
    assert.equal(run(p, 'kill', [1, 9]), errno(99));
  });

  it('merges rules of the same syscall given in several entries', () => {
    const p = program({
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [
        { names: ['kill'], action: 'SCMP_ACT_ERRNO', args: [{ index: 1, value: 9, op: 'SCMP_CMP_EQ' }] },
        { names: ['getpid'], action: 'SCMP_ACT_TRAP' },
        { names: ['kill', 'tkill'], action: 'SCMP_ACT_ERRNO', errnoRet: 3, args: [{ index: 1, value: 15, op: 'SCMP_CMP_EQ' }] },
      ],
    });
    assert.equal(run(p, 'kill', [1, 9]), errno(EPERM));
    assert.equal(run(p, 'kill', [1, 15]), errno(3));
    assert.equal(run(p, 'kill', [1, 2]), SECCOMP_RET_ALLOW);
    assert.equal(run(p, 'tkill', [1, 15]), errno(3));
    assert.equal(run(p, 'getpid'), SECCOMP_RET_TRAP);
  });
});

describe('seccomp compiler: long programs', () => {
  it('keeps every jump within range with hundreds of syscalls and argument rules', () => {
    const all = X86_64_SYSCALLS.map(([n]) => n);
    const syscalls: LinuxSyscall[] = [];
    // A long chain: every syscall, each with an argument rule, so bodies and the chain are long.
    all.forEach((n, i) => {
      syscalls.push({ names: [n], action: 'SCMP_ACT_ERRNO', errnoRet: (i % 4000) + 1, args: [{ index: i % 6, value: BigInt(i) << 32n | 7n, op: 'SCMP_CMP_EQ' }] });
    });
    // One syscall with a body far longer than 255 instructions (70 rules x 2 args).
    for (let j = 0; j < 70; j++) {
      syscalls.push({
        names: ['ioctl'],
        action: 'SCMP_ACT_ERRNO',
        errnoRet: 1000 + j,
        args: [
          { index: 1, value: 0x5400 + j, op: 'SCMP_CMP_EQ' },
          { index: 2, value: 0xffff0000_00000000n, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' },
        ],
      });
    }
    const r = compileSeccompDetailed({ defaultAction: 'SCMP_ACT_ALLOW', syscalls }, X86_64);
    const p = decodeProgram(r.plan.program);
    assert.equal(validateSeccompProgram(p), null);
    assert.ok(p.length > 1000, `program has ${p.length} instructions`);
    assert.ok(p.some((i) => i.code === 0x05), 'a ja trampoline was needed');
    // Each syscall's first rule (ioctl's came first among its rules) decides with its own errno.
    all.forEach((n, i) => {
      const args = [0n, 0n, 0n, 0n, 0n, 0n];
      args[i % 6] = (BigInt(i) << 32n) | 7n;
      assert.equal(run(p, n, args), errno((i % 4000) + 1), n);
      args[i % 6] = 7n;
      if (n !== 'ioctl' && i !== 0) assert.equal(run(p, n, args), SECCOMP_RET_ALLOW, `${n} without the high word`);
    });
    for (let j = 0; j < 70; j++) {
      assert.equal(run(p, 'ioctl', [0n, BigInt(0x5400 + j), 0x1234n]), errno(1000 + j));
      assert.equal(run(p, 'ioctl', [0n, BigInt(0x5400 + j), 0x1_0000_0000_0000n]), SECCOMP_RET_ALLOW);
    }
  });

  it('reaches architecture sections placed after long ones', () => {
    const names = X86_64_SYSCALLS.map(([n]) => n);
    const p = program({
      defaultAction: 'SCMP_ACT_ERRNO',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_X86'],
      syscalls: [{ names, action: 'SCMP_ACT_ALLOW' }, { names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 77 }],
    });
    assert.ok(p.length > 3 * 255, `program has ${p.length} instructions`);
    assert.equal(runSeccomp(p, { nr: 3, arch: AUDIT_ARCH_I386 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: nr('getpid', 'SCMP_ARCH_X86'), arch: AUDIT_ARCH_I386 }), SECCOMP_RET_ALLOW, 'first rule wins');
    assert.equal(runSeccomp(p, { nr: 9999, arch: AUDIT_ARCH_I386 }), errno(EPERM));
    assert.equal(runSeccomp(p, { nr: X32_SYSCALL_BIT + 39, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
    assert.equal(runSeccomp(p, { nr: X32_SYSCALL_BIT + 9999, arch: AUDIT_ARCH_X86_64 }), errno(EPERM));
    assert.equal(runSeccomp(p, { nr: 9999, arch: AUDIT_ARCH_X86_64 }), errno(EPERM));
    for (const [n, v] of X86_64_SYSCALLS) assert.equal(runSeccomp(p, { nr: v, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW, n);
    assert.equal(runSeccomp(p, { nr: 0, arch: AUDIT_ARCH_AARCH64 }), SECCOMP_RET_KILL_PROCESS);
  });

  it('refuses a filter over the kernel limit of 4096 instructions', () => {
    const syscalls: LinuxSyscall[] = X86_64_SYSCALLS.map(([n], i) => ({
      names: [n],
      action: 'SCMP_ACT_ALLOW',
      args: Array.from({ length: 6 }, (_, k) => ({ index: k, value: BigInt(i + k) << 32n, op: 'SCMP_CMP_GT' as const })),
    }));
    assert.throws(() => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls }, X86_64), /4096/);
  });
});

describe('seccomp compiler: flags, notify, errors', () => {
  it('maps flags', () => {
    const plan = compileSeccomp(
      { defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'] },
      X86_64,
    );
    assert.equal(plan.flags, 1 | 2 | 4, 'WAIT_KILLABLE_RECV needs a listener');
    assert.equal(plan.listenerPath, '');
  });

  it('adds NEW_LISTENER (and TSYNC_ESRCH with TSYNC) for SCMP_ACT_NOTIFY', () => {
    const plan = compileSeccomp(
      {
        defaultAction: 'SCMP_ACT_ALLOW',
        flags: ['SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
        listenerPath: '/run/agent.sock',
        listenerMetadata: 'meta',
        syscalls: [{ names: ['mknod'], action: 'SCMP_ACT_NOTIFY' }],
      },
      X86_64,
    );
    assert.equal(plan.flags, 1 | 8 | 16 | 32);
    assert.equal(plan.listenerPath, '/run/agent.sock');
    assert.equal(plan.listenerMetadata, 'meta');
  });

  it('names the JSON path of faults', () => {
    const base = { defaultAction: 'SCMP_ACT_ALLOW' } as const;
    const bad = (cfg: unknown) => () => compileSeccomp(cfg as LinuxSeccomp, X86_64);
    throwsConfig(bad({ defaultAction: 'SCMP_ACT_NOPE' }), 'linux.seccomp.defaultAction', /unknown action/);
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, {}, {}, { names: ['x'], action: 'ALLOW' }] }), 'linux.seccomp.syscalls[1].names');
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }, { names: ['x'], action: 'ALLOW' }] }), 'linux.seccomp.syscalls[1].action', /unknown action "ALLOW"/);
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }, { index: 0, value: 1, op: 'EQ' }] }] }), 'linux.seccomp.syscalls[0].args[1].op');
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 6, value: 1, op: 'SCMP_CMP_EQ' }] }] }), 'linux.seccomp.syscalls[0].args[0].index');
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: -1, op: 'SCMP_CMP_EQ' }] }] }), 'linux.seccomp.syscalls[0].args[0].value');
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, valueTwo: 1.5, op: 'SCMP_CMP_MASKED_EQ' }] }] }), 'linux.seccomp.syscalls[0].args[0].valueTwo');
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', errnoRet: 5 }] }), 'linux.seccomp.syscalls[0].errnoRet');
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', errnoRet: 70000 }] }), 'linux.seccomp.syscalls[0].errnoRet');
    throwsConfig(bad({ defaultAction: 'SCMP_ACT_ALLOW', defaultErrnoRet: 1 }), 'linux.seccomp.defaultErrnoRet');
    throwsConfig(bad({ ...base, syscalls: [{ names: ['read'], action: 'SCMP_ACT_NOTIFY' }] }), 'linux.seccomp.syscalls[0].action', /listenerPath/);
    throwsConfig(bad({ ...base, listenerPath: '/x', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_NOTIFY' }] }), 'linux.seccomp.syscalls[0].names[1]');
    throwsConfig(bad({ defaultAction: 'SCMP_ACT_NOTIFY', listenerPath: '/x' }), 'linux.seccomp.defaultAction');
    throwsConfig(bad({ ...base, architectures: ['SCMP_ARCH_X86_64', 'amd64'] }), 'linux.seccomp.architectures[1]');
    throwsConfig(bad({ ...base, flags: ['SECCOMP_FILTER_FLAG_NEW_LISTENER'] }), 'linux.seccomp.flags[0]');
    throwsConfig(bad({ ...base, syscalls: [{ names: [''], action: 'SCMP_ACT_ALLOW' }] }), 'linux.seccomp.syscalls[0].names[0]');
    throwsConfig(bad({ ...base, syscalls: { names: ['read'] } }), 'linux.seccomp.syscalls');
    throwsConfig(() => compileSeccomp({ defaultAction: 'X' } as unknown as LinuxSeccomp, { ...X86_64, jsonPath: 'seccompProfile' }), 'seccompProfile.defaultAction');
  });

  it('accepts bigint values over 2^53, JSON\'s rounded 2^64-1, and refuses values outside uint64', () => {
    const p = program({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: MAX64, op: 'SCMP_CMP_EQ' }] }] });
    assert.equal(run(p, 'ioctl', [MAX64]), SECCOMP_RET_ALLOW);
    assert.equal(run(p, 'ioctl', [MAX64 - 1n]), errno(EPERM));
    throwsConfig(
      () => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1n << 64n, op: 'SCMP_CMP_EQ' }] }] }, X86_64),
      'linux.seccomp.syscalls[0].args[0].value',
    );
    throwsConfig(
      () => compileSeccomp({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['ioctl'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2 ** 65, op: 'SCMP_CMP_EQ' }] }] }, X86_64),
      'linux.seccomp.syscalls[0].args[0].value',
    );
    // JSON.parse('18446744073709551615') is 2^64 as a double: taken as 2^64-1.
    const parsed = JSON.parse('{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":18446744073709551615,"op":"SCMP_CMP_EQ"}]}]}') as LinuxSeccomp;
    const q = program(parsed);
    assert.equal(run(q, 'ioctl', [MAX64]), SECCOMP_RET_ALLOW);
    assert.equal(run(q, 'ioctl', [0n]), errno(EPERM));
  });

  it('memoises results without sharing mutable buffers', () => {
    const cfg: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] };
    const a = compileSeccomp(cfg, X86_64);
    a.program.fill(0);
    const b = compileSeccomp(cfg, X86_64);
    assert.notDeepEqual([...b.program], [...a.program]);
    assert.equal(validateSeccompProgram(decodeProgram(b.program)), null);
    const c = compileSeccomp({ ...cfg, defaultErrnoRet: 2 }, X86_64);
    assert.equal(runSeccomp(decodeProgram(c.program), { nr: 1, arch: AUDIT_ARCH_X86_64 }), errno(2));
  });

  it('encodes 8 bytes per instruction, little-endian', () => {
    const plan = compileSeccomp({ defaultAction: 'SCMP_ACT_ALLOW' }, X86_64);
    assert.equal(plan.program.length % 8, 0);
    // First instruction: ld [4] = code 0x20, k 4.
    assert.deepEqual([...plan.program.subarray(0, 8)], [0x20, 0, 0, 0, 4, 0, 0, 0]);
    // Second: jeq AUDIT_ARCH_X86_64.
    assert.deepEqual([...plan.program.subarray(8 + 4, 16)], [0x3e, 0x00, 0x00, 0xc0]);
  });
});
