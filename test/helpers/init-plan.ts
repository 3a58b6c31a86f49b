/**
 * Test fixture for the executor: hand-built Plans over a busybox rootfs (no compiler involved), and a
 * runner that launches one in foreground mode and collects its output.
 */
import type { Plan, PlanMount } from '../../src/runtime/plan/types';
import { launch, type LaunchOptions } from '../../src/runtime/init/launch';

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWCGROUP = 0x02000000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWIPC = 0x08000000;
export const CLONE_NEWUSER = 0x10000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export const MS_RDONLY = 0x1;
export const MS_NOSUID = 0x2;
export const MS_NODEV = 0x4;
export const MS_NOEXEC = 0x8;
export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;
export const MS_STRICTATIME = 1 << 24;
export const S_IFCHR = 0o020000;

import * as fs from 'node:fs';

/** The capabilities this (root) test process holds: what a container can be given here. */
export const ALL_CAPS = BigInt('0x' + (/^CapPrm:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'));

export function mount(destination: string, fstype: string, source: string, flags: number, data = ''): PlanMount {
  return {
    source,
    destination,
    fstype,
    flags,
    propagation: [],
    data,
    recAttrSet: 0,
    recAttrClr: 0,
    destType: 'dir',
    kind: fstype === '' ? 'bind' : 'normal',
  };
}

/** A create-mode foreground plan running `args` in new mount, uts, ipc and pid namespaces. */
export function basePlan(rootfs: string, args: string[]): Plan {
  return {
    mode: 'create',
    foreground: true,
    cloneFlags: CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
    joinNamespaces: [],
    userNamespaceMapped: false,
    uidMappings: [],
    gidMappings: [],
    timeOffsets: [],
    hostname: '',
    domainname: '',
    rootfs,
    rootReadonly: false,
    rootfsPropagation: 0,
    noPivot: false,
    mounts: [
      mount('/proc', 'proc', 'proc', MS_NOSUID | MS_NODEV | MS_NOEXEC),
      mount('/dev', 'tmpfs', 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755,size=65536k'),
      mount('/dev/pts', 'devpts', 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620'),
    ],
    devices: [
      { path: '/dev/null', mode: S_IFCHR | 0o666, major: 1, minor: 3, uid: 0, gid: 0, bind: false },
      { path: '/dev/zero', mode: S_IFCHR | 0o666, major: 1, minor: 5, uid: 0, gid: 0, bind: false },
    ],
    symlinks: [{ target: '/proc/self/fd', path: '/dev/fd' }],
    maskedPaths: [],
    readonlyPaths: [],
    sysctls: [],
    execFifo: '',
    preserveFds: 0,
    newKeyring: true,
    createContainerHooks: [],
    startContainerHooks: [],
    process: {
      args,
      env: ['PATH=/bin:/usr/bin', 'HOME=/root'],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [], umask: -1 },
      terminal: false,
      consoleSocket: '',
      consoleHeight: 0,
      consoleWidth: 0,
      rlimits: [],
      capabilities: { bounding: ALL_CAPS, effective: ALL_CAPS, permitted: ALL_CAPS, inheritable: 0n, ambient: 0n },
      noNewPrivileges: false,
      scheduler: null,
      ioPriority: null,
      cpuAffinityInitial: [],
      cpuAffinityFinal: [],
      personality: -1,
      apparmorProfile: '',
      selinuxLabel: '',
      seccomp: null,
    },
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Launches a foreground plan with piped stdout/stderr and waits for it to exit. */
export async function runPlan(plan: Plan, extra: Partial<LaunchOptions> = {}): Promise<RunResult> {
  const launched = await launch({ plan, stdio: ['ignore', 'pipe', 'pipe'], ...extra });
  let stdout = '';
  let stderr = '';
  launched.executor.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  launched.executor.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await launched.exited;
  await new Promise((r) => setImmediate(r));
  return { code, stdout, stderr, pid: launched.pid };
}
