/**
 * Cross-checks against libseccomp (Debian's libseccomp-dev), skipped when it or gcc is missing: the
 * syscall tables against libseccomp's, and compiled programs against filters libseccomp builds from the
 * same profile, by running both in the interpreter over many inputs.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BpfInsn, decodeProgram, disassemble, type SeccompData, seccompRunner } from '../../src/runtime/seccomp/bpf';
import { compileSeccomp } from '../../src/runtime/seccomp/compile';
import { defaultSeccompProfile } from '../../src/runtime/seccomp/default-profile';
import type { LinuxSeccomp, LinuxSeccompAction } from '../../src/runtime/seccomp/spec';
import { ARCHES, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, type SupportedArch, X32_SYSCALL_BIT } from '../../src/runtime/seccomp/syscalls';

const REPO = path.resolve(__dirname, '..', '..', '..');
const HEADER = '/usr/include/seccomp.h';

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

const LIBSECCOMP_ARCH: Record<SupportedArch, string> = {
  SCMP_ARCH_X86_64: 'x86_64',
  SCMP_ARCH_X86: 'x86',
  SCMP_ARCH_X32: 'x32',
  SCMP_ARCH_AARCH64: 'aarch64',
};

// Action values as libseccomp takes them (the same as the kernel's return values).
function actionValue(a: LinuxSeccompAction, errnoRet: number | undefined): number {
  const data = errnoRet ?? 1;
  switch (a) {
    case 'SCMP_ACT_KILL':
    case 'SCMP_ACT_KILL_THREAD':
      return 0;
    case 'SCMP_ACT_KILL_PROCESS':
      return 0x80000000;
    case 'SCMP_ACT_TRAP':
      return 0x00030000;
    case 'SCMP_ACT_ERRNO':
      return (0x00050000 | data) >>> 0;
    case 'SCMP_ACT_TRACE':
      return (0x7ff00000 | data) >>> 0;
    case 'SCMP_ACT_LOG':
      return 0x7ffc0000;
    case 'SCMP_ACT_ALLOW':
      return 0x7fff0000;
    case 'SCMP_ACT_NOTIFY':
      return 0x7fc00000;
  }
}

const OPS = ['', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'];

function describeForLibseccomp(cfg: LinuxSeccomp, arches: SupportedArch[]): string {
  const lines = [`default ${actionValue(cfg.defaultAction, cfg.defaultErrnoRet)}`];
  for (const a of arches) lines.push(`arch ${LIBSECCOMP_ARCH[a]}`);
  if (!arches.includes('SCMP_ARCH_X86_64')) lines.push('removenative'); // this host is x86_64
  for (const sc of cfg.syscalls ?? []) {
    for (const name of sc.names) {
      const args = (sc.args ?? []).map((a) => `${a.index} ${OPS.indexOf(a.op)} ${BigInt(a.value)} ${BigInt(a.valueTwo ?? 0)}`);
      lines.push(`rule ${actionValue(sc.action, sc.errnoRet)} ${name} ${args.length} ${args.join(' ')}`.trim());
    }
  }
  return `${lines.join('\n')}\n`;
}

const skip = !fs.existsSync(HEADER) || !have('gcc') ? 'libseccomp-dev or gcc missing' : process.arch !== 'x64' ? 'written for an x86_64 host' : false;

describe('compiled programs vs libseccomp', { skip }, () => {
  let dir = '';
  let helper = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-seccomp-lib-'));
    helper = path.join(dir, 'export');
    execFileSync('gcc', ['-O1', '-Wall', '-Werror', '-o', helper, path.join(REPO, 'test/fixtures/seccomp-libseccomp-export.c'), '-lseccomp']);
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function libseccomp(cfg: LinuxSeccomp, arches: SupportedArch[]): BpfInsn[] {
    const r = spawnSync(helper, [], { input: describeForLibseccomp(cfg, arches) });
    assert.equal(r.status, 0, `helper failed: ${r.status} ${r.stderr.toString()}`);
    return decodeProgram(new Uint8Array(r.stdout));
  }

  for (const arch of Object.keys(ARCHES) as SupportedArch[]) {
    it(`${arch}: every syscall name has libseccomp's number (where libseccomp 2.5 knows it)`, () => {
      const info = ARCHES[arch];
      const names = [...info.table.keys()];
      const input = names.map((n) => `${LIBSECCOMP_ARCH[arch]} ${n}\n`).join('');
      const out = execFileSync(helper, ['resolve'], { input, encoding: 'utf8' }).trim().split('\n').map(Number);
      assert.equal(out.length, names.length);
      const mismatches: string[] = [];
      let compared = 0;
      names.forEach((name, i) => {
        if (out[i] < 0) return; // newer than libseccomp 2.5.4, or a pseudo-syscall there
        compared++;
        const ours = info.nrBase + (info.table.get(name) as number);
        if (out[i] !== ours) mismatches.push(`${name}: ours ${ours}, libseccomp ${out[i]}`);
      });
      assert.deepEqual(mismatches, []);
      assert.ok(compared > 250, `compared ${compared}`);
    });
  }

  const AUDIT: Record<SupportedArch, number> = {
    SCMP_ARCH_X86_64: AUDIT_ARCH_X86_64,
    SCMP_ARCH_X32: AUDIT_ARCH_X86_64,
    SCMP_ARCH_X86: AUDIT_ARCH_I386,
    SCMP_ARCH_AARCH64: AUDIT_ARCH_AARCH64,
  };

  function compare(
    cfg: LinuxSeccomp,
    arches: SupportedArch[],
    argSets: bigint[][],
    skip: (d: SeccompData) => boolean = () => false,
    nativeArch: SupportedArch = 'SCMP_ARCH_X86_64',
  ): number {
    // libseccomp has no ENOSYS guard (runc adds it by patching libseccomp's output).
    const ours = decodeProgram(compileSeccomp(cfg, { nativeArch, enosysAboveLast: false }).program);
    const theirs = libseccomp(cfg, arches);
    const runOurs = seccompRunner(ours);
    const runTheirs = seccompRunner(theirs);
    const diffs: string[] = [];
    let n = 0;
    const archValues = [...new Set([...arches.map((a) => AUDIT[a]), AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386, 0x12345678])];
    for (const arch of archValues) {
      for (const base of [0, X32_SYSCALL_BIT]) {
        for (let nr = base; nr < base + 560; nr++) {
          for (const args of argSets) {
            const d: SeccompData = { nr, arch, args };
            if (skip(d)) continue;
            n++;
            const a = runOurs(d);
            const b = runTheirs(d);
            if (a !== b && diffs.length < 10) {
              diffs.push(`arch 0x${arch.toString(16)} nr ${nr} args [${args.map((x) => `0x${x.toString(16)}`)}]: ours 0x${a.toString(16)}, libseccomp 0x${b.toString(16)}`);
            }
          }
        }
      }
    }
    assert.deepEqual(diffs, [], diffs.length > 0 ? disassemble(ours).slice(0, 4000) : '');
    return n;
  }

  // libseccomp compares only the low 32 bits of x32 arguments; berth compares all 64 (stricter): skip x32
  // inputs whose high words are set.
  const skipKnownDifferences = (d: SeccompData): boolean =>
    (d.arch === AUDIT_ARCH_X86_64 && d.nr >= X32_SYSCALL_BIT && (d.args ?? []).some((a) => BigInt(a) > 0xffffffffn));

  const argSets: bigint[][] = [
    [],
    [0x3d0f00n], // thread clone flags
    [0x10000011n], // CLONE_NEWUSER|SIGCHLD
    [8n],
    [0x20008n],
    [0xffffffffn],
    [0x1_0000_0000n],
    [40n, 1n],
    [2n, 1n],
    [0xffffffffffffffffn],
  ];

  it('default profile, unprivileged, x86_64 + x86 + x32', () => {
    const caps = ['CAP_CHOWN', 'CAP_KILL', 'CAP_SYS_CHROOT'];
    const n = compare(defaultSeccompProfile(caps, 'x64'), ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], argSets, skipKnownDifferences);
    assert.ok(n > 10000);
  });

  it('default profile with CAP_SYS_ADMIN', () => {
    compare(defaultSeccompProfile(['CAP_SYS_ADMIN', 'CAP_SYS_PTRACE'], 'x64'), ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'], argSets, skipKnownDifferences);
  });

  it('default profile on an arm64 host (aarch64 section)', () => {
    const cfg = defaultSeccompProfile(['CAP_CHOWN', 'CAP_KILL'], 'arm64');
    const n = compare({ ...cfg, architectures: ['SCMP_ARCH_AARCH64'] }, ['SCMP_ARCH_AARCH64'], argSets, () => false, 'SCMP_ARCH_AARCH64');
    assert.ok(n > 5000);
  });

  it('every comparison operator on 64-bit values', () => {
    const values = [0n, 5n, 0xffffffffn, 0x1_0000_0005n, 0xfedcba9876543210n];
    const ops = OPS.slice(1) as Array<'SCMP_CMP_NE'>;
    const syscalls: NonNullable<LinuxSeccomp['syscalls']> = [];
    // One syscall per (op, value): getuid-like numbers are avoided by using names across the table.
    const names = [...ARCHES.SCMP_ARCH_X86_64.table.keys()].filter((n) => !['read', 'write', 'exit', 'exit_group', 'rt_sigreturn'].includes(n));
    let k = 0;
    const plan: Array<{ name: string; value: bigint; two: bigint }> = [];
    for (const op of ops) {
      for (const value of values) {
        const two = op === ('SCMP_CMP_MASKED_EQ' as string) ? value & 0x0000ffff0000ffffn : 0n;
        const name = names[k++];
        plan.push({ name, value, two });
        syscalls.push({ names: [name], action: 'SCMP_ACT_ERRNO', errnoRet: k, args: [{ index: 1, value, valueTwo: two, op }] });
      }
    }
    const cfg: LinuxSeccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls };
    const argVals = [0n, 4n, 5n, 6n, 0xfffffffen, 0xffffffffn, 0x1_0000_0000n, 0x1_0000_0004n, 0x1_0000_0005n, 0x1_0000_0006n, 0xfedcba9876543210n, 0xfedcba9876543211n, 0xfedcba9776543210n, 0xffffffffffffffffn, 0x0000ba980000_3210n];
    compare(cfg, ['SCMP_ARCH_X86_64'], argVals.map((v) => [0n, v]));
  });
});
