/**
 * Writes encodePlan() outputs into a directory as the seed corpus for native/fuzz/fuzz_plan.c
 * (scripts/fuzz.sh): `node dist/test/helpers/encode-seeds.js <dir>`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { encodePlan } from '../../src/runtime/plan/encode';
import type { Plan } from '../../src/runtime/plan/types';
import { basePlan, CLONE_NEWUSER, MS_BIND, MS_REC, MS_RDONLY, mount } from './init-plan';

export function seedPlans(): Plan[] {
  const minimal = basePlan('/rootfs', ['/bin/true']);
  minimal.mounts = [];
  minimal.devices = [];
  minimal.symlinks = [];

  const full = basePlan('/var/lib/berth/rootfs', ['/bin/sh', '-c', 'echo hi']);
  full.cloneFlags |= CLONE_NEWUSER;
  full.userNamespaceMapped = true;
  full.uidMappings = [{ containerId: 0, hostId: 100000, size: 65536 }];
  full.gidMappings = [{ containerId: 0, hostId: 100000, size: 65536 }];
  full.joinNamespaces = [{ flag: 0x40000000, path: '/proc/1/ns/net' }];
  full.timeOffsets = [{ clockId: 1, secs: -5n, nanosecs: 7 }];
  full.hostname = 'h';
  full.domainname = 'd';
  full.rootReadonly = true;
  full.mounts.push({ ...mount('/data', '', '/srv/data', MS_BIND | MS_REC | MS_RDONLY), propagation: [0x40000 | 0x4000], recAttrSet: 1, destType: 'file' });
  full.mounts.push({ ...mount('/sys/fs/cgroup', 'cgroup', 'cgroup', 0), kind: 'cgroup' });
  full.maskedPaths = ['/proc/kcore', '/proc/acpi'];
  full.readonlyPaths = ['/proc/sys'];
  full.sysctls = [{ path: 'net/ipv4/ip_forward', value: '1' }];
  full.execFifo = '/run/berth/c/exec.fifo';
  full.execFifoCreate = { mode: 0o622, uid: 1000, gid: 1000 };
  full.preserveFds = 2;
  full.createContainerHooks = [{ path: '/bin/hook', args: ['hook', 'a'], env: ['A=1'], timeout: 5 }];
  full.startContainerHooks = [{ path: '/bin/hook2', args: [], env: [], timeout: 0 }];
  const pr = full.process;
  pr.user = { uid: 1000, gid: 1000, additionalGids: [10, 20], umask: 0o22 };
  pr.terminal = true;
  pr.consoleSocket = '/run/console.sock';
  pr.consoleHeight = 24;
  pr.consoleWidth = 80;
  pr.rlimits = [{ resource: 7, soft: 1024n, hard: 4096n }, { resource: 0, soft: (1n << 64n) - 1n, hard: (1n << 64n) - 1n }];
  pr.noNewPrivileges = true;
  pr.scheduler = { policy: 0, nice: -5, priority: 0, flags: 0n, runtime: 0n, deadline: 0n, period: 0n };
  pr.ioPriority = { ioClass: 2, priority: 4 };
  pr.cpuAffinityInitial = [0, 1];
  pr.cpuAffinityFinal = [1];
  pr.personality = 8;
  pr.apparmorProfile = 'berth-default';
  pr.selinuxLabel = 'system_u:system_r:container_t:s0';
  pr.seccomp = {
    program: Buffer.from([0x06, 0, 0, 0, 0, 0, 0xff, 0x7f]),
    flags: 8,
    listenerPath: '/run/agent.sock',
    listenerMetadata: 'meta "x"',
  };

  const exec = basePlan('', ['ls']);
  exec.mode = 'exec';
  exec.foreground = false;
  exec.cloneFlags = 0;
  exec.mounts = [];
  exec.devices = [];
  exec.symlinks = [];
  exec.joinNamespaces = [
    { flag: 0x10000000, path: '/proc/42/ns/user' },
    { flag: 0x00020000, path: '/proc/42/ns/mnt' },
  ];
  return [minimal, full, exec];
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: encode-seeds <dir>\n');
    process.exit(2);
  }
  fs.mkdirSync(dir, { recursive: true });
  seedPlans().forEach((p, i) => fs.writeFileSync(path.join(dir, `seed-${i}.bin`), encodePlan(p)));
}
