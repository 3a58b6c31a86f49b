/**
 * Loads compiled seccomp programs into the kernel (through test/fixtures/seccomp-load.c, built here
 * with gcc) and checks what the kernel does with them: denied syscalls return the configured errno,
 * argument filters (including 64-bit high words) hold, every action behaves as the kernel defines it,
 * x32 numbers are killed, and the default profile runs a shell. Needs gcc; no root (no_new_privs).
 * The only things created are a temp dir and short-lived child processes, removed/reaped here.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compileSeccomp } from '../../src/runtime/seccomp/compile';
import { defaultSeccompProfile } from '../../src/runtime/seccomp/default-profile';
import type { LinuxSeccomp } from '../../src/runtime/seccomp/spec';
import { resolveSyscall, X32_SYSCALL_BIT } from '../../src/runtime/seccomp/syscalls';

const REPO = path.resolve(__dirname, '..', '..', '..');
const haveGcc = spawnSync('sh', ['-c', 'command -v gcc']).status === 0;
const skip = !haveGcc ? 'gcc not installed' : process.arch !== 'x64' ? 'x86_64 syscall numbers used by these tests' : false;

const ENOSYS = 38;
const EPERM = 1;
const ESRCH = 3;
const EFAULT = 14;

function nr(name: string): number {
  const n = resolveSyscall('SCMP_ARCH_X86_64', name);
  assert.notEqual(n, undefined, name);
  return n as number;
}

describe('seccomp programs loaded into the kernel', { skip }, () => {
  let dir = '';
  let loader = '';
  let seq = 0;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-seccomp-load-'));
    loader = path.join(dir, 'seccomp-load');
    execFileSync('gcc', ['-O1', '-Wall', '-Wextra', '-Werror', '-o', loader, path.join(REPO, 'test/fixtures/seccomp-load.c')]);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function load(cfg: LinuxSeccomp, mode: string[]): ReturnType<typeof spawnSync> {
    const plan = compileSeccomp(cfg);
    const file = path.join(dir, `p${seq++}.bpf`);
    fs.writeFileSync(file, plan.program);
    return spawnSync(loader, [file, String(plan.flags), ...mode], { encoding: 'utf8', timeout: 10_000 });
  }

  function probe(cfg: LinuxSeccomp, name: string | number, args: Array<number | bigint | string> = []): { ret: number; errno: number } {
    const n = typeof name === 'number' ? name : nr(name);
    const r = load(cfg, ['probe', String(n), ...args.map((a) => (typeof a === 'bigint' ? `0x${a.toString(16)}` : String(a)))]);
    assert.equal(r.status, 0, `probe ${name}: status ${r.status} signal ${r.signal} ${r.stderr}`);
    const m = /ret=(-?\d+) errno=(\d+)/.exec(String(r.stdout));
    assert.ok(m, `probe output: ${r.stdout}`);
    return { ret: Number(m[1]), errno: Number(m[2]) };
  }

  it('a denied syscall returns the configured errno; others run', () => {
    const cfg: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 42 }],
    };
    // mkdir(NULL, 0) fails with EFAULT when nothing filters it.
    assert.equal(probe({ defaultAction: 'SCMP_ACT_ALLOW' }, 'mkdir', [0, 0]).errno, EFAULT);
    assert.equal(probe(cfg, 'mkdir', [0, 0]).errno, 42);
    const pid = probe(cfg, 'getpid');
    assert.equal(pid.errno, 0);
    assert.ok(pid.ret > 0);
  });

  it('the default action with defaultErrnoRet applies to unlisted syscalls', () => {
    const cfg: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ERRNO',
      defaultErrnoRet: 61,
      syscalls: [{ names: ['exit', 'exit_group', 'write', 'fstat', 'newfstatat', 'brk', 'mmap', 'munmap', 'rt_sigreturn', 'execve'], action: 'SCMP_ACT_ALLOW' }],
    };
    assert.equal(probe(cfg, 'getppid').errno, 61);
  });

  it('argument filters hold in the kernel, high words included', () => {
    const cfg: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 55, args: [{ index: 1, value: 0, op: 'SCMP_CMP_EQ' }] }],
    };
    const nobody = 0x7ffffff0; // above pid_max: kill() fails with ESRCH when allowed
    assert.equal(probe(cfg, 'kill', [nobody, 0]).errno, 55);
    assert.equal(probe(cfg, 'kill', [nobody, 1]).errno, ESRCH);
    // The kernel reads sig as an int (0), but the filter sees the whole register.
    assert.equal(probe(cfg, 'kill', [nobody, 0x1_0000_0000n]).errno, ESRCH);
    const masked: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      syscalls: [{ names: ['kill'], action: 'SCMP_ACT_ERRNO', errnoRet: 56, args: [{ index: 1, value: 0xf0, valueTwo: 0x10, op: 'SCMP_CMP_MASKED_EQ' }] }],
    };
    assert.equal(probe(masked, 'kill', [nobody, 0x1f]).errno, 56);
    assert.equal(probe(masked, 'kill', [nobody, 0x2f]).errno, ESRCH);
  });

  it('every action does what the kernel defines', () => {
    const on = (action: NonNullable<LinuxSeccomp['syscalls']>[number]['action'], errnoRet?: number): LinuxSeccomp => ({
      defaultAction: 'SCMP_ACT_ALLOW',
      listenerPath: '/nonexistent.sock',
      syscalls: [{ names: ['getppid'], action, ...(errnoRet === undefined ? {} : { errnoRet }) }],
    });
    const run = (cfg: LinuxSeccomp) => load(cfg, ['probe', String(nr('getppid'))]);
    for (const a of ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_TRAP'] as const) {
      const r = run(on(a));
      assert.equal(r.signal, 'SIGSYS', `${a}: status ${r.status} signal ${r.signal}`);
    }
    assert.equal(probe(on('SCMP_ACT_LOG'), 'getppid').errno, 0);
    assert.equal(probe(on('SCMP_ACT_ALLOW'), 'getppid').errno, 0);
    assert.equal(probe(on('SCMP_ACT_ERRNO', 7), 'getppid').errno, 7);
    // SECCOMP_RET_TRACE without a tracer: the syscall fails with ENOSYS.
    assert.equal(probe(on('SCMP_ACT_TRACE', 9), 'getppid').errno, ENOSYS);
  });

  it('accepts the flags the compiler emits (LOG, SPEC_ALLOW, TSYNC, NEW_LISTENER)', () => {
    const cfg: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_TSYNC', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV'],
      listenerPath: '/nonexistent.sock',
      syscalls: [{ names: ['mknodat'], action: 'SCMP_ACT_NOTIFY' }, { names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 33 }],
    };
    assert.equal(compileSeccomp(cfg).flags, 1 | 2 | 4 | 8 | 16 | 32);
    assert.equal(probe(cfg, 'mkdir', [0, 0]).errno, 33);
  });

  it('kills x32 syscalls when SCMP_ARCH_X32 is not listed, filters them when it is', () => {
    const r = load({ defaultAction: 'SCMP_ACT_ALLOW' }, ['probe', String(X32_SYSCALL_BIT + 39)]);
    assert.equal(r.signal, 'SIGSYS');
    const cfg: LinuxSeccomp = {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['getpid'], action: 'SCMP_ACT_ERRNO', errnoRet: 44 }],
    };
    assert.equal(probe(cfg, X32_SYSCALL_BIT + 39).errno, 44);
  });

  it('the default profile: mount and namespace creation denied, clone3 -> ENOSYS, a shell runs', () => {
    const cfg = defaultSeccompProfile(['CAP_CHOWN', 'CAP_SETUID', 'CAP_SETGID', 'CAP_KILL']);
    assert.equal(probe(cfg, 'mount', [0, 0, 0, 0, 0]).errno, EPERM);
    assert.equal(probe(cfg, 'unshare', [0x10000000]).errno, EPERM);
    assert.equal(probe(cfg, 'clone3', [0, 0]).errno, ENOSYS);
    // mseal (462) is newer than every syscall the profile names: ENOSYS, not EPERM, so callers fall back.
    assert.equal(probe(cfg, 462, [0, 0, 0]).errno, ENOSYS);
    assert.equal(probe(cfg, 'socket', [40, 1, 0]).errno, EPERM);
    assert.equal(probe(cfg, 'getpid').errno, 0);
    const r = load(cfg, ['exec', '/bin/sh', '-c', 'echo hello from $(uname -s); ls / >/dev/null && echo listed']);
    assert.equal(r.status, 0, `${r.stderr} signal ${r.signal}`);
    assert.equal(String(r.stdout), 'hello from Linux\nlisted\n');
    const admin = defaultSeccompProfile(['CAP_SYS_ADMIN']);
    // Allowed by the filter: mount(NULL...) now reaches the kernel, which rejects the NULL pointers.
    assert.notEqual(probe(admin, 'mount', [0, 0, 0, 0, 0]).errno, EPERM);
  });
});
