import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BerthError, ConfigError } from '../../src/runtime/errors';
import { compileExecPlan, compilePlan } from '../../src/runtime/plan/compile';
import type { CompileOptions } from '../../src/runtime/plan/compile';
import * as L from '../../src/runtime/plan/linux';
import type { PlanMount } from '../../src/runtime/plan/types';
import { defaultSpec } from '../../src/runtime/spec/default';
import { validateConfig } from '../../src/runtime/spec/validate';
import type { Spec } from '../../src/runtime/spec/types';

type Json = Record<string, unknown>;

/** A bundle dir with an empty rootfs, removed after the test. */
function bundle(t: { after(fn: () => void): void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-compile-'));
  fs.mkdirSync(path.join(dir, 'rootfs'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function opts(dir: string, extra: Partial<CompileOptions> = {}): CompileOptions {
  return {
    bundle: dir,
    execFifo: path.join(dir, 'exec.fifo'),
    consoleSocket: '',
    preserveFds: 0,
    noPivot: false,
    noNewKeyring: false,
    foreground: false,
    ...extra,
  };
}

/** config.json text in -> Spec, as the runtime does it. */
function spec(raw: unknown): Spec {
  return validateConfig(JSON.parse(JSON.stringify(raw)));
}

function base(): Json {
  return {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['/bin/true'], cwd: '/', user: { uid: 0, gid: 0 } },
    linux: { namespaces: [{ type: 'mount' }, { type: 'pid' }] },
  };
}

function m(over: Partial<PlanMount>): PlanMount {
  return { source: '', destination: '', fstype: '', flags: 0, propagation: [], data: '', recAttrSet: 0, recAttrClr: 0, destType: 'dir', kind: 'normal', ...over };
}

const NSD = L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC;
const capBits = (...names: string[]): bigint => names.reduce((acc, n) => acc | (1n << BigInt(L.CAPABILITIES.get(n) ?? -1)), 0n);

test('defaultSpec compiles to the expected plan', (t) => {
  const dir = bundle(t);
  const plan = compilePlan(spec(defaultSpec()), opts(dir));
  assert.equal(plan.mode, 'create');
  assert.equal(plan.cloneFlags, L.CLONE_NEWPID | L.CLONE_NEWNET | L.CLONE_NEWIPC | L.CLONE_NEWUTS | L.CLONE_NEWNS | L.CLONE_NEWCGROUP);
  assert.deepEqual(plan.joinNamespaces, []);
  assert.equal(plan.userNamespaceMapped, false);
  assert.equal(plan.rootfs, path.join(dir, 'rootfs'));
  assert.equal(plan.rootReadonly, true);
  assert.equal(plan.hostname, 'berth');
  assert.equal(plan.execFifo, path.join(dir, 'exec.fifo'));
  assert.equal(plan.newKeyring, true);
  assert.deepEqual(plan.mounts, [
    m({ source: 'proc', destination: '/proc', fstype: 'proc' }),
    m({ source: 'tmpfs', destination: '/dev', fstype: 'tmpfs', flags: L.MS_NOSUID | L.MS_STRICTATIME, data: 'mode=755,size=65536k' }),
    m({ source: 'devpts', destination: '/dev/pts', fstype: 'devpts', flags: L.MS_NOSUID | L.MS_NOEXEC, data: 'newinstance,ptmxmode=0666,mode=0620,gid=5' }),
    m({ source: 'shm', destination: '/dev/shm', fstype: 'tmpfs', flags: NSD, data: 'mode=1777,size=65536k' }),
    m({ source: 'mqueue', destination: '/dev/mqueue', fstype: 'mqueue', flags: NSD }),
    m({ source: 'sysfs', destination: '/sys', fstype: 'sysfs', flags: NSD | L.MS_RDONLY }),
    // One cgroup mount; the executor expands it per hierarchy once the process is in its cgroups.
    m({ source: 'cgroup', destination: '/sys/fs/cgroup', fstype: 'cgroup', flags: NSD | L.MS_RELATIME | L.MS_RDONLY, kind: 'cgroup' }),
  ]);
  assert.deepEqual(
    plan.devices.map((d) => [d.path, d.mode, d.major, d.minor, d.bind]),
    [
      ['/dev/null', 0o20666, 1, 3, false],
      ['/dev/zero', 0o20666, 1, 5, false],
      ['/dev/full', 0o20666, 1, 7, false],
      ['/dev/random', 0o20666, 1, 8, false],
      ['/dev/urandom', 0o20666, 1, 9, false],
      ['/dev/tty', 0o20666, 5, 0, false],
    ],
  );
  assert.deepEqual(plan.symlinks, [
    { target: '/proc/self/fd', path: '/dev/fd' },
    { target: '/proc/self/fd/0', path: '/dev/stdin' },
    { target: '/proc/self/fd/1', path: '/dev/stdout' },
    { target: '/proc/self/fd/2', path: '/dev/stderr' },
    { target: '/proc/kcore', path: '/dev/core' },
    { target: 'pts/ptmx', path: '/dev/ptmx' },
  ]);
  assert.ok(plan.maskedPaths.includes('/proc/kcore'));
  assert.ok(plan.readonlyPaths.includes('/proc/sys'));
  const caps = capBits('CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE');
  assert.equal(caps, (1n << 29n) | (1n << 5n) | (1n << 10n));
  assert.deepEqual(plan.process.capabilities, { bounding: caps, effective: caps, permitted: caps, inheritable: 0n, ambient: 0n });
  assert.deepEqual(plan.process.rlimits, [{ resource: 7, soft: 1024n, hard: 1024n }]);
  assert.equal(plan.process.terminal, true);
  assert.equal(plan.process.noNewPrivileges, true);
  assert.deepEqual(plan.process.user, { uid: 0, gid: 0, additionalGids: [], umask: -1 });
  assert.deepEqual(plan.process.args, ['sh']);
  assert.equal(plan.process.seccomp, null);
  assert.equal(plan.process.personality, -1);
});

test('cgroup and cgroup2 mounts become one mount of kind cgroup, whatever the options', (t) => {
  const dir = bundle(t);
  const raw = base();
  raw.mounts = [
    { destination: '/sys/fs/cgroup/', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'ro', 'rprivate'] },
    { destination: '/cg2', type: 'cgroup2', options: ['nsdelegate'] },
  ];
  const plan = compilePlan(spec(raw), opts(dir, { cgroupPath: '/berth/c1' }));
  assert.deepEqual(plan.mounts, [
    m({
      source: 'cgroup',
      destination: '/sys/fs/cgroup',
      fstype: 'cgroup',
      flags: L.MS_NOSUID | L.MS_RDONLY,
      propagation: [L.MS_PRIVATE | L.MS_REC],
      kind: 'cgroup',
    }),
    m({ source: 'cgroup', destination: '/cg2', fstype: 'cgroup2', data: 'nsdelegate', kind: 'cgroup' }),
  ]);
});

test('a user-namespace config maps ids and bind-mounts devices', (t) => {
  const dir = bundle(t);
  const raw = defaultSpec({ rootless: true, uid: 1000, gid: 1001 }) as unknown as Json;
  const linux = raw.linux as Json;
  linux.uidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }];
  linux.gidMappings = [{ containerID: 0, hostID: 100000, size: 65536 }, { containerID: 65536, hostID: 1001, size: 1 }];
  const plan = compilePlan(spec(raw), opts(dir));
  assert.equal(plan.cloneFlags & L.CLONE_NEWUSER, L.CLONE_NEWUSER);
  assert.equal(plan.cloneFlags & L.CLONE_NEWNET, 0);
  assert.equal(plan.userNamespaceMapped, true);
  assert.deepEqual(plan.uidMappings, [{ containerId: 0, hostId: 100000, size: 65536 }]);
  assert.deepEqual(plan.gidMappings, [
    { containerId: 0, hostId: 100000, size: 65536 },
    { containerId: 65536, hostId: 1001, size: 1 },
  ]);
  assert.ok(plan.devices.length === 6 && plan.devices.every((d) => d.bind));
  const sys = plan.mounts.find((x) => x.destination === '/sys');
  assert.deepEqual(sys, m({ source: '/sys', destination: '/sys', flags: L.MS_BIND | L.MS_REC | NSD | L.MS_RDONLY, kind: 'bind' }));
});

test('mounts: bind sources resolved against the bundle and stat-ed; every kind of option', (t) => {
  const dir = bundle(t);
  fs.mkdirSync(path.join(dir, 'data'));
  fs.writeFileSync(path.join(dir, 'hosts'), '127.0.0.1 localhost\n');
  const raw = base();
  raw.mounts = [
    { destination: '/data/', type: 'none', source: 'data', options: ['rbind', 'ro', 'rslave', 'rro', 'rnosuid'] },
    { destination: '/etc/hosts', type: 'bind', source: path.join(dir, 'hosts') },
    { destination: '/etc/hosts2', source: 'hosts', options: ['bind', 'nosuid', 'private'] },
    {
      destination: '/tmp',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['rw', 'nosuid', 'nodev', 'noexec', 'sync', 'dirsync', 'noatime', 'nodiratime', 'mode=1777', 'size=1m', 'shared'],
    },
    { destination: '/run', type: 'tmpfs' },
  ];
  const plan = compilePlan(spec(raw), opts(dir));
  assert.deepEqual(plan.mounts, [
    m({
      source: path.join(dir, 'data'),
      destination: '/data',
      flags: L.MS_BIND | L.MS_REC | L.MS_RDONLY,
      propagation: [L.MS_SLAVE | L.MS_REC],
      recAttrSet: L.MOUNT_ATTR_RDONLY | L.MOUNT_ATTR_NOSUID,
      kind: 'bind',
    }),
    m({ source: path.join(dir, 'hosts'), destination: '/etc/hosts', flags: L.MS_BIND, destType: 'file', kind: 'bind' }),
    m({ source: path.join(dir, 'hosts'), destination: '/etc/hosts2', flags: L.MS_BIND | L.MS_NOSUID, propagation: [L.MS_PRIVATE], destType: 'file', kind: 'bind' }),
    m({
      source: 'tmpfs',
      destination: '/tmp',
      fstype: 'tmpfs',
      flags: NSD | L.MS_SYNCHRONOUS | L.MS_DIRSYNC | L.MS_NOATIME | L.MS_NODIRATIME,
      propagation: [L.MS_SHARED],
      data: 'mode=1777,size=1m',
    }),
    m({ source: 'tmpfs', destination: '/run', fstype: 'tmpfs' }),
  ]);
  // No /proc or /dev/pts mount: no /dev/core or /dev/ptmx links.
  assert.deepEqual(plan.symlinks.map((s) => s.path), ['/dev/fd', '/dev/stdin', '/dev/stdout', '/dev/stderr']);
});

test('mounts: a missing bind source names mounts[i].source', (t) => {
  const dir = bundle(t);
  const raw = base();
  raw.mounts = [{ destination: '/proc', type: 'proc' }, { destination: '/x', type: 'none', source: 'nope', options: ['rbind'] }];
  assert.throws(
    () => compilePlan(spec(raw), opts(dir)),
    (e: unknown) => e instanceof ConfigError && e.path === 'mounts[1].source' && e.message.includes(path.join(dir, 'nope')),
  );
});

test('devices: linux.devices override defaults by path; fifo, block and owner', (t) => {
  const dir = bundle(t);
  const raw = base();
  (raw.linux as Json).devices = [
    { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o600, uid: 5, gid: 6 },
    { path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 432 },
    { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
    { path: '/run/fifo', type: 'p', fileMode: 0o644 },
    // A Go os.FileMode with type bits (ModeDevice|ModeCharDevice|0666): only the permission bits count.
    { path: '/dev/gomode', type: 'c', major: 1, minor: 7, fileMode: 69206454 },
  ];
  const plan = compilePlan(spec(raw), opts(dir));
  const byPath = new Map(plan.devices.map((d) => [d.path, d]));
  assert.equal(plan.devices.length, 10);
  assert.equal(byPath.get('/dev/gomode')?.mode, L.S_IFCHR | 0o666);
  assert.deepEqual(byPath.get('/dev/null'), { path: '/dev/null', mode: L.S_IFCHR | 0o600, major: 1, minor: 3, uid: 5, gid: 6, bind: false });
  assert.deepEqual(byPath.get('/dev/sda'), { path: '/dev/sda', mode: L.S_IFBLK | 0o660, major: 8, minor: 0, uid: 0, gid: 0, bind: false });
  assert.deepEqual(byPath.get('/dev/fuse'), { path: '/dev/fuse', mode: L.S_IFCHR | 0o666, major: 10, minor: 229, uid: 0, gid: 0, bind: false });
  assert.deepEqual(byPath.get('/run/fifo'), { path: '/run/fifo', mode: L.S_IFIFO | 0o644, major: 0, minor: 0, uid: 0, gid: 0, bind: false });
  assert.equal(byPath.get('/dev/tty')?.major, 5);
});

test('devices: a /dev bind-mounted from the host gets no default devices or links', (t) => {
  const dir = bundle(t);
  const raw = base();
  raw.mounts = [{ destination: '/dev', type: 'bind', source: '/dev', options: ['rbind'] }];
  const plan = compilePlan(spec(raw), opts(dir));
  assert.deepEqual(plan.devices, []);
  assert.deepEqual(plan.symlinks, []);
});

test('process: caps, rlimits (infinity), scheduler, ioprio, personality, umask, console', (t) => {
  const dir = bundle(t);
  const raw = base();
  raw.process = {
    args: ['/bin/sh', '-c', 'true'],
    env: ['A=1'],
    cwd: '/work/',
    terminal: true,
    consoleSize: { height: 25, width: 80 },
    user: { uid: 1000, gid: 1000, umask: 0o27, additionalGids: [10, 20] },
    capabilities: {
      bounding: ['CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_CHECKPOINT_RESTORE'],
      effective: ['CAP_CHOWN'],
      permitted: ['CAP_CHOWN', 'CAP_SETFCAP', 'CAP_PERFMON'],
      inheritable: ['CAP_BPF', 'CAP_PERFMON'],
      // CAP_SETFCAP is not inheritable, so it cannot be ambient: left out
      ambient: ['CAP_PERFMON', 'CAP_SETFCAP'],
    },
    rlimits: [
      { type: 'RLIMIT_NOFILE', soft: 1024, hard: 4096 },
      { type: 'RLIMIT_CORE', soft: 18446744073709551615, hard: 18446744073709551615 },
      { type: 'RLIMIT_AS', soft: 2 ** 40, hard: 2 ** 40 },
    ],
    scheduler: { policy: 'SCHED_BATCH', nice: 5, flags: ['SCHED_FLAG_RESET_ON_FORK', 'SCHED_FLAG_UTIL_CLAMP_MAX'] },
    ioPriority: { class: 'IOPRIO_CLASS_BE', priority: 6 },
    execCPUAffinity: { initial: '0', final: '0-1' },
    noNewPrivileges: true,
    apparmorProfile: 'berth-default',
    selinuxLabel: 'system_u:system_r:container_t:s0',
  };
  (raw.linux as Json).personality = { domain: 'LINUX32' };
  const plan = compilePlan(spec(raw), opts(dir, { consoleSocket: '/run/console.sock' }));
  const p = plan.process;
  assert.equal(p.cwd, '/work');
  assert.deepEqual(p.user, { uid: 1000, gid: 1000, additionalGids: [10, 20], umask: 0o27 });
  assert.deepEqual(p.capabilities, {
    bounding: (1n << 0n) | (1n << 21n) | (1n << 40n),
    effective: 1n,
    permitted: 1n | (1n << 31n) | (1n << 38n),
    inheritable: (1n << 39n) | (1n << 38n),
    ambient: 1n << 38n,
  });
  assert.deepEqual(p.rlimits, [
    { resource: 7, soft: 1024n, hard: 4096n },
    { resource: 4, soft: L.RLIM_INFINITY, hard: L.RLIM_INFINITY },
    { resource: 9, soft: 1n << 40n, hard: 1n << 40n },
  ]);
  assert.deepEqual(p.scheduler, { policy: 3, nice: 5, priority: 0, flags: 0x41n, runtime: 0n, deadline: 0n, period: 0n });
  assert.deepEqual(p.ioPriority, { ioClass: 2, priority: 6 });
  assert.equal(p.personality, 8);
  // execCPUAffinity is not applied to the container's init process.
  assert.deepEqual([p.cpuAffinityInitial, p.cpuAffinityFinal], [[], []]);
  assert.deepEqual([p.terminal, p.consoleSocket, p.consoleHeight, p.consoleWidth], [true, '/run/console.sock', 25, 80]);
  assert.deepEqual([p.apparmorProfile, p.selinuxLabel, p.noNewPrivileges], ['berth-default', 'system_u:system_r:container_t:s0', true]);

  // Without a terminal, the console socket and size are dropped.
  (raw.process as Json).terminal = false;
  const q = compilePlan(spec(raw), opts(dir, { consoleSocket: '/run/console.sock' })).process;
  assert.deepEqual([q.consoleSocket, q.consoleHeight, q.consoleWidth], ['', 0, 0]);
});

test('namespaces with a path are checked and joined (user first); wrong type or missing file name the path', (t) => {
  const dir = bundle(t);
  const raw = base();
  (raw.linux as Json).namespaces = [
    { type: 'mount' },
    { type: 'network', path: '/proc/self/ns/net' },
    { type: 'user', path: '/proc/self/ns/user' },
    { type: 'uts' },
  ];
  const plan = compilePlan(spec(raw), opts(dir));
  assert.equal(plan.cloneFlags, L.CLONE_NEWNS | L.CLONE_NEWUTS);
  assert.deepEqual(plan.joinNamespaces, [
    { flag: L.CLONE_NEWUSER, path: '/proc/self/ns/user' },
    { flag: L.CLONE_NEWNET, path: '/proc/self/ns/net' },
  ]);
  assert.equal(plan.userNamespaceMapped, false);
  assert.deepEqual(plan.uidMappings, []);
  assert.ok(plan.devices.every((d) => d.bind), 'joined user namespace: devices are bind-mounted');

  const bad = (nsPath: string, re: RegExp): void => {
    (raw.linux as Json).namespaces = [{ type: 'mount' }, { type: 'network', path: nsPath }];
    assert.throws(
      () => compilePlan(spec(raw), opts(dir)),
      (e: unknown) => e instanceof ConfigError && e.path === 'linux.namespaces[1].path' && re.test(e.message),
    );
  };
  bad('/proc/self/ns/uts', /is a uts namespace, not network/);
  bad(path.join(dir, 'missing'), /does not exist/);
  fs.writeFileSync(path.join(dir, 'plain'), 'x');
  bad(path.join(dir, 'plain'), /is not a namespace file/);
});

test('root, process and mount-namespace requirements are ConfigErrors', (t) => {
  const dir = bundle(t);
  const raw = base();
  raw.root = { path: 'nope' };
  assert.throws(() => compilePlan(spec(raw), opts(dir)), (e: unknown) => e instanceof ConfigError && e.path === 'root.path');
  fs.writeFileSync(path.join(dir, 'file'), '');
  raw.root = { path: path.join(dir, 'file') };
  assert.throws(() => compilePlan(spec(raw), opts(dir)), (e: unknown) => e instanceof ConfigError && /not a directory/.test(e.message));
  raw.root = { path: 'rootfs' };
  delete raw.process;
  assert.throws(() => compilePlan(spec(raw), opts(dir)), (e: unknown) => e instanceof ConfigError && e.path === 'process');
  const noMnt = base();
  (noMnt.linux as Json).namespaces = [{ type: 'pid' }];
  assert.throws(() => compilePlan(spec(noMnt), opts(dir)), (e: unknown) => e instanceof ConfigError && e.path === 'linux.namespaces');
});

test('sysctls, time offsets, hooks, propagation, keyring, masked paths', (t) => {
  const dir = bundle(t);
  const raw = base();
  raw.hostname = 'h';
  raw.domainname = 'd.example';
  raw.hooks = {
    createContainer: [{ path: '/usr/bin/hook', args: ['hook', 'create'], env: ['X=1'], timeout: 3 }],
    startContainer: [{ path: '/sbin/ldconfig' }],
    poststart: [{ path: '/bin/true' }],
  };
  Object.assign(raw.linux as Json, {
    namespaces: [{ type: 'mount' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'time' }],
    sysctl: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '4096', 'net/ipv4/conf/eth0.100/forwarding': '0' },
    timeOffsets: { monotonic: { secs: 172800, nanosecs: 5 }, boottime: { secs: -10 } },
    rootfsPropagation: 'slave',
    maskedPaths: ['/proc/kcore/', '/proc//keys'],
  });
  const plan = compilePlan(spec(raw), opts(dir, { noNewKeyring: true, noPivot: true, preserveFds: 2, foreground: true }));
  assert.deepEqual(plan.sysctls, [
    { path: 'net/ipv4/ip_forward', value: '1' },
    { path: 'kernel/shmmax', value: '4096' },
    { path: 'net/ipv4/conf/eth0.100/forwarding', value: '0' },
  ]);
  assert.deepEqual(plan.timeOffsets, [
    { clockId: 1, secs: 172800n, nanosecs: 5 },
    { clockId: 7, secs: -10n, nanosecs: 0 },
  ]);
  assert.equal(plan.cloneFlags & L.CLONE_NEWTIME, L.CLONE_NEWTIME);
  assert.deepEqual(plan.createContainerHooks, [{ path: '/usr/bin/hook', args: ['hook', 'create'], env: ['X=1'], timeout: 3 }]);
  assert.deepEqual(plan.startContainerHooks, [{ path: '/sbin/ldconfig', args: ['/sbin/ldconfig'], env: [], timeout: 0 }]);
  assert.equal(plan.rootfsPropagation, L.MS_SLAVE | L.MS_REC);
  assert.deepEqual([plan.hostname, plan.domainname], ['h', 'd.example']);
  assert.deepEqual([plan.newKeyring, plan.noPivot, plan.preserveFds, plan.foreground], [false, true, 2, true]);
  assert.deepEqual(plan.maskedPaths, ['/proc/kcore', '/proc/keys']);
});

test('seccomp is compiled into the plan', (t) => {
  const dir = bundle(t);
  const raw = base();
  (raw.linux as Json).seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
  const plan = compilePlan(spec(raw), opts(dir));
  assert.ok(plan.process.seccomp);
  assert.ok(plan.process.seccomp.program.length > 0);
  assert.equal(plan.process.seccomp.program.length % 8, 0);
});

test('compileExecPlan joins every listed namespace via /proc/<pid>/ns, user first', () => {
  const raw = defaultSpec({ rootless: true, uid: 1000, gid: 1000 }) as unknown as Json;
  (raw.linux as Json).seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir'], action: 'SCMP_ACT_ERRNO' }] };
  const s = spec(raw);
  const proc = spec({
    ...base(),
    process: {
      args: ['ps'],
      cwd: '/tmp',
      user: { uid: 0, gid: 0 },
      env: ['PATH=/bin'],
      execCPUAffinity: { initial: '1', final: '0-2,5' },
      capabilities: { bounding: ['CAP_KILL'] },
    },
  }).process;
  assert.ok(proc);
  const plan = compileExecPlan(proc, { pid: 4242, spec: s, foreground: true, consoleSocket: '', preserveFds: 1 });
  assert.equal(plan.mode, 'exec');
  assert.equal(plan.cloneFlags, 0);
  assert.equal(plan.rootfs, '');
  assert.equal(plan.execFifo, '');
  assert.deepEqual(plan.joinNamespaces, [
    { flag: L.CLONE_NEWUSER, path: '/proc/4242/ns/user' },
    { flag: L.CLONE_NEWPID, path: '/proc/4242/ns/pid' },
    { flag: L.CLONE_NEWIPC, path: '/proc/4242/ns/ipc' },
    { flag: L.CLONE_NEWUTS, path: '/proc/4242/ns/uts' },
    { flag: L.CLONE_NEWNS, path: '/proc/4242/ns/mnt' },
    { flag: L.CLONE_NEWCGROUP, path: '/proc/4242/ns/cgroup' },
  ]);
  assert.deepEqual(plan.process.args, ['ps']);
  assert.equal(plan.process.cwd, '/tmp');
  assert.deepEqual(plan.process.cpuAffinityInitial, [1]);
  assert.deepEqual(plan.process.cpuAffinityFinal, [0, 1, 2, 5]);
  assert.equal(plan.process.capabilities.bounding, 1n << 5n);
  assert.ok(plan.process.seccomp, "the container's seccomp applies by default");
  assert.equal(compileExecPlan(proc, { pid: 4242, spec: s, foreground: false, consoleSocket: '', preserveFds: 0, seccomp: null }).process.seccomp, null);
  assert.throws(
    () => compileExecPlan(proc, { pid: 0, spec: s, foreground: false, consoleSocket: '', preserveFds: 0 }),
    (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT',
  );
});

test('specs built in code (not validated) still get named errors for unknown names', (t) => {
  const dir = bundle(t);
  const s = spec(base());
  const withProc = (over: Json): Spec => ({ ...s, process: { ...s.process, ...over } as Spec['process'] });
  const cases: [Spec, string][] = [
    [withProc({ rlimits: [{ type: 'RLIMIT_NOPE', soft: 1, hard: 1 }] }), 'process.rlimits[0].type'],
    [withProc({ capabilities: { ambient: ['CAP_KILL', 'CAP_NOPE'] } }), 'process.capabilities.ambient[1]'],
    [withProc({ scheduler: { policy: 'SCHED_NOPE' } }), 'process.scheduler.policy'],
    [withProc({ ioPriority: { class: 'IOPRIO_CLASS_NOPE', priority: 0 } }), 'process.ioPriority.class'],
  ];
  for (const [bad, at] of cases) {
    assert.throws(() => compilePlan(bad, opts(dir)), (e: unknown) => e instanceof ConfigError && e.path === at, at);
  }
  const proc = withProc({ capabilities: { bounding: ['CAP_NOPE'] } }).process;
  assert.ok(proc);
  assert.throws(
    () => compileExecPlan(proc, { pid: 1, spec: s, foreground: false, consoleSocket: '', preserveFds: 0 }),
    (e: unknown) => e instanceof ConfigError && e.path === 'process.capabilities.bounding[0]',
  );
});

test("sysctls and hostname are refused when they would reach the runtime's own namespace through a path", (t) => {
  const dir = bundle(t);
  const raw = base();
  (raw.linux as Json).namespaces = [{ type: 'mount' }, { type: 'network', path: '/proc/self/ns/net' }, { type: 'uts', path: '/proc/self/ns/uts' }];
  assert.ok(compilePlan(spec(raw), opts(dir)), 'joining host namespaces alone is fine');
  (raw.linux as Json).sysctl = { 'net.ipv4.ip_forward': '1' };
  assert.throws(
    () => compilePlan(spec(raw), opts(dir)),
    (e: unknown) => e instanceof ConfigError && e.path === 'linux.sysctl["net.ipv4.ip_forward"]' && /host's network namespace/.test(e.message),
  );
  delete (raw.linux as Json).sysctl;
  raw.hostname = 'oops';
  assert.throws(() => compilePlan(spec(raw), opts(dir)), (e: unknown) => e instanceof ConfigError && e.path === 'hostname' && /host/.test(e.message));
});
