import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type BpfInsn,
  decodeProgram,
  isConstantAllow,
  runSeccomp,
  SECCOMP_RET_ALLOW,
  SECCOMP_RET_ERRNO,
  SECCOMP_RET_KILL_PROCESS,
  validateSeccompProgram,
} from '../../src/runtime/seccomp/bpf';
import { compileSeccomp, compileSeccompDetailed } from '../../src/runtime/seccomp/compile';
import { CLONE_NAMESPACE_FLAGS, DEFAULT_ALLOWED_SYSCALLS, defaultSeccompProfile } from '../../src/runtime/seccomp/default-profile';
import { AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, resolveSyscall, type SupportedArch, X32_SYSCALL_BIT } from '../../src/runtime/seccomp/syscalls';

const EPERM = (SECCOMP_RET_ERRNO | 1) >>> 0;
const ENOSYS = (SECCOMP_RET_ERRNO | 38) >>> 0;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWNET = 0x40000000;
const CLONE_THREAD_FLAGS = 0x3d0f00; // what glibc's pthread_create passes

// The default Docker capability set (what Kubernetes pods get from containerd).
const DEFAULT_CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const AUDIT: Record<SupportedArch, number> = {
  SCMP_ARCH_X86_64: AUDIT_ARCH_X86_64,
  SCMP_ARCH_X32: AUDIT_ARCH_X86_64,
  SCMP_ARCH_X86: AUDIT_ARCH_I386,
  SCMP_ARCH_AARCH64: AUDIT_ARCH_AARCH64,
};

function prog(caps: string[], hostArch = 'x64'): BpfInsn[] {
  const native = hostArch === 'x64' ? 'SCMP_ARCH_X86_64' : 'SCMP_ARCH_AARCH64';
  const p = decodeProgram(compileSeccomp(defaultSeccompProfile(caps, hostArch), { nativeArch: native }).program);
  assert.equal(validateSeccompProgram(p), null);
  return p;
}

function call(p: BpfInsn[], name: string, args: Array<number | bigint> = [], arch: SupportedArch = 'SCMP_ARCH_X86_64'): number {
  const n = resolveSyscall(arch, name);
  assert.notEqual(n, undefined, `${name} on ${arch}`);
  return runSeccomp(p, { nr: n as number, arch: AUDIT[arch], args });
}

describe('default seccomp profile', () => {
  const unprivileged = prog(DEFAULT_CAPS);
  const admin = prog([...DEFAULT_CAPS, 'CAP_SYS_ADMIN']);

  it('allows ordinary syscalls on every architecture of the filter', () => {
    for (const arch of ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] as const) {
      for (const name of ['read', 'write', 'openat', 'close', 'execve', 'exit_group', 'futex', 'rt_sigaction']) {
        assert.equal(call(unprivileged, name, [], arch), SECCOMP_RET_ALLOW, `${name} on ${arch}`);
      }
    }
    assert.equal(call(unprivileged, 'arch_prctl'), SECCOMP_RET_ALLOW);
    assert.equal(call(unprivileged, 'chroot'), SECCOMP_RET_ALLOW, 'CAP_SYS_CHROOT is in the default set');
  });

  it('denies privileged syscalls with EPERM without the capability', () => {
    for (const name of ['mount', 'umount2', 'unshare', 'setns', 'bpf', 'perf_event_open', 'sethostname', 'fsopen', 'move_mount']) {
      assert.equal(call(unprivileged, name), EPERM, name);
      assert.equal(call(admin, name), SECCOMP_RET_ALLOW, `${name} with CAP_SYS_ADMIN`);
    }
    for (const name of ['reboot', 'init_module', 'kexec_load', 'iopl']) {
      assert.equal(call(admin, name), EPERM, name);
    }
    assert.equal(call(unprivileged, 'mount', [], 'SCMP_ARCH_X86'), EPERM);
    assert.equal(call(unprivileged, 'mount', [], 'SCMP_ARCH_X32'), EPERM);
    assert.equal(call(prog(['CAP_SYS_BOOT']), 'reboot'), SECCOMP_RET_ALLOW);
    assert.equal(call(prog(['sys_time']), 'settimeofday'), SECCOMP_RET_ALLOW, 'lower-case names without CAP_');
  });

  it('lets clone create threads but not namespaces without CAP_SYS_ADMIN', () => {
    assert.equal(CLONE_NAMESPACE_FLAGS, 2114060288);
    assert.equal(call(unprivileged, 'clone', [CLONE_THREAD_FLAGS]), SECCOMP_RET_ALLOW);
    assert.equal(call(unprivileged, 'clone', [17 /* SIGCHLD: fork */]), SECCOMP_RET_ALLOW);
    assert.equal(call(unprivileged, 'clone', [CLONE_NEWUSER | 17]), EPERM);
    assert.equal(call(unprivileged, 'clone', [CLONE_NEWNET]), EPERM);
    assert.equal(call(unprivileged, 'clone', [CLONE_NEWUSER], 'SCMP_ARCH_X86'), EPERM);
    assert.equal(call(admin, 'clone', [CLONE_NEWUSER | 17]), SECCOMP_RET_ALLOW);
    assert.equal(call(unprivileged, 'clone3'), ENOSYS, 'clone3 -> ENOSYS so libc falls back to clone');
    assert.equal(call(admin, 'clone3'), SECCOMP_RET_ALLOW);
  });

  it('filters personality and socket(AF_VSOCK)', () => {
    for (const v of [0, 8, 0x20000, 0x20008, 0xffffffff]) assert.equal(call(unprivileged, 'personality', [v]), SECCOMP_RET_ALLOW, `personality ${v}`);
    assert.equal(call(unprivileged, 'personality', [0x0040000 /* ADDR_NO_RANDOMIZE */]), EPERM);
    assert.equal(call(unprivileged, 'personality', [0x1_0000_0000n]), EPERM, 'high word must be zero');
    assert.equal(call(unprivileged, 'socket', [2 /* AF_INET */, 1, 0]), SECCOMP_RET_ALLOW);
    assert.equal(call(unprivileged, 'socket', [1 /* AF_UNIX */, 1, 0]), SECCOMP_RET_ALLOW);
    assert.equal(call(unprivileged, 'socket', [40 /* AF_VSOCK */, 1, 0]), EPERM);
    assert.equal(call(unprivileged, 'socket', [40, 1, 0], 'SCMP_ARCH_X86'), EPERM);
  });

  it('kills other architectures and x32 numbers on an x86_64 host only when not listed', () => {
    assert.equal(runSeccomp(unprivileged, { nr: 63, arch: AUDIT_ARCH_AARCH64 }), SECCOMP_RET_KILL_PROCESS);
    assert.equal(runSeccomp(unprivileged, { nr: X32_SYSCALL_BIT + 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_ALLOW);
  });

  it('works on an arm64 host', () => {
    const p = prog(DEFAULT_CAPS, 'arm64');
    assert.equal(call(p, 'read', [], 'SCMP_ARCH_AARCH64'), SECCOMP_RET_ALLOW);
    assert.equal(call(p, 'mount', [], 'SCMP_ARCH_AARCH64'), EPERM);
    assert.equal(call(p, 'clone', [CLONE_NEWUSER], 'SCMP_ARCH_AARCH64'), EPERM);
    assert.equal(runSeccomp(p, { nr: 0, arch: AUDIT_ARCH_X86_64 }), SECCOMP_RET_KILL_PROCESS);
    const r = compileSeccompDetailed(defaultSeccompProfile(DEFAULT_CAPS, 'arm64'), { nativeArch: 'SCMP_ARCH_AARCH64' });
    assert.deepEqual(r.skippedArchitectures, ['SCMP_ARCH_ARM']);
  });

  it('lists only syscalls some architecture knows (apart from libseccomp pseudo-syscalls)', () => {
    const r = compileSeccompDetailed(defaultSeccompProfile(['CAP_SYS_ADMIN', 'CAP_SYS_TIME', 'CAP_SYS_MODULE']), { nativeArch: 'SCMP_ARCH_X86_64' });
    // recv/send exist only as socketcall-multiplexed calls (libseccomp pseudo-syscalls).
    const allowedUnknown = new Set(['recv', 'send']);
    assert.deepEqual(r.unknownSyscalls.filter((n) => !allowedUnknown.has(n)), []);
    assert.ok(DEFAULT_ALLOWED_SYSCALLS.length > 300);
  });

  it('lets the kernel cache unconditionally allowed syscalls (the filter never runs for them)', () => {
    for (const arch of ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] as const) {
      let n = 0;
      for (const name of DEFAULT_ALLOWED_SYSCALLS) {
        const nr = resolveSyscall(arch, name);
        if (nr === undefined) continue;
        n++;
        assert.ok(isConstantAllow(unprivileged, AUDIT[arch], nr), `${name} on ${arch}`);
      }
      assert.ok(n > 250);
    }
    // Argument-filtered and denied ones are not constant.
    assert.equal(isConstantAllow(unprivileged, AUDIT_ARCH_X86_64, resolveSyscall('SCMP_ARCH_X86_64', 'clone') as number), false);
    assert.equal(isConstantAllow(unprivileged, AUDIT_ARCH_X86_64, resolveSyscall('SCMP_ARCH_X86_64', 'mount') as number), false);
  });

  it('reaches argument-filtered syscalls (which the kernel cannot cache) within a few instructions', () => {
    for (const [name, args] of [['clone', [CLONE_THREAD_FLAGS]], ['socket', [2, 1, 0]], ['personality', [8]]] as const) {
      const stats = { steps: 0 };
      const n = resolveSyscall('SCMP_ARCH_X86_64', name) as number;
      assert.equal(runSeccomp(unprivileged, { nr: n, arch: AUDIT_ARCH_X86_64, args: [...args] }, stats), SECCOMP_RET_ALLOW);
      assert.ok(stats.steps < 30, `${name}: ${stats.steps} instructions`);
    }
  });

  it('compiles in well under 5 ms', () => {
    const cfg = defaultSeccompProfile(DEFAULT_CAPS);
    compileSeccomp({ ...cfg, listenerMetadata: 'warm-up' }, { nativeArch: 'SCMP_ARCH_X86_64' });
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const c = { ...cfg, listenerMetadata: `bust-cache-${i}` };
      const t0 = process.hrtime.bigint();
      compileSeccomp(c, { nativeArch: 'SCMP_ARCH_X86_64' });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    assert.ok(median < 5, `median uncached compile ${median.toFixed(2)} ms`);
    const t0 = process.hrtime.bigint();
    compileSeccomp(cfg, { nativeArch: 'SCMP_ARCH_X86_64' });
    compileSeccomp(cfg, { nativeArch: 'SCMP_ARCH_X86_64' });
    assert.ok(Number(process.hrtime.bigint() - t0) / 1e6 < 5, 'memoised compile');
  });
});
