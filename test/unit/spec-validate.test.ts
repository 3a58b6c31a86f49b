import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BerthError, ConfigError } from '../../src/runtime/errors';
import { loadBundleConfig, sysctlNamespace, validateConfig, validateProcess } from '../../src/runtime/spec/validate';
import { defaultSpec } from '../../src/runtime/spec/default';

type Json = Record<string, unknown>;

/** A minimal valid config as plain JSON. */
function base(): Json {
  return {
    ociVersion: '1.2.0',
    root: { path: 'rootfs' },
    process: { args: ['sh'], cwd: '/', user: { uid: 0, gid: 0 } },
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'uts' }, { type: 'ipc' }, { type: 'network' }] },
  };
}

function proc(c: Json): Json {
  return c.process as Json;
}
function linux(c: Json): Json {
  return c.linux as Json;
}

/** Assert validateConfig fails with a ConfigError at exactly `p` whose message matches `re`. */
function rejects(c: unknown, p: string, re?: RegExp): void {
  assert.throws(
    () => validateConfig(c),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
      assert.equal(err.path, p, `wrong path in: ${err.message}`);
      assert.equal(err.code, 'INVALID_CONFIG');
      assert.ok(err.message.startsWith(`${p}: `), err.message);
      if (re) assert.match(err.message, re);
      return true;
    },
  );
}

test('a minimal config validates and keeps its values', () => {
  const s = validateConfig(base());
  assert.equal(s.ociVersion, '1.2.0');
  assert.equal(s.root.path, 'rootfs');
  assert.deepEqual(s.process?.args, ['sh']);
  assert.deepEqual(s.linux?.namespaces?.map((n) => n.type), ['pid', 'mount', 'uts', 'ipc', 'network']);
});

test('the spec example config (full Linux config) validates', () => {
  const c = base();
  Object.assign(proc(c), {
    terminal: true,
    consoleSize: { height: 25, width: 80 },
    user: { uid: 1, gid: 1, umask: 63, additionalGids: [5, 6] },
    env: ['PATH=/usr/bin:/bin', 'TERM=xterm'],
    capabilities: { bounding: ['CAP_AUDIT_WRITE', 'CAP_KILL'], ambient: ['CAP_NET_BIND_SERVICE'] },
    rlimits: [{ type: 'RLIMIT_CORE', hard: 1024, soft: 1024 }, { type: 'RLIMIT_NOFILE', hard: 18446744073709551615, soft: 1024 }],
    apparmorProfile: 'acme_secure_profile',
    oomScoreAdj: 100,
    selinuxLabel: 'system_u:system_r:svirt_lxc_net_t:s0:c124,c675',
    ioPriority: { class: 'IOPRIO_CLASS_IDLE', priority: 4 },
    scheduler: { policy: 'SCHED_FIFO', priority: 10, flags: ['SCHED_FLAG_RESET_ON_FORK'] },
    execCPUAffinity: { initial: '7', final: '0-3,7' },
    noNewPrivileges: true,
  });
  c.hostname = 'slartibartfast';
  c.hooks = {
    prestart: [{ path: '/usr/bin/fix-mounts', args: ['fix-mounts', 'arg1'], env: ['key1=value1'] }],
    poststart: [{ path: '/usr/bin/notify-start', timeout: 5 }],
    poststop: [{ path: '/usr/sbin/cleanup.sh', args: ['cleanup.sh', '-f'] }],
  };
  c.annotations = { 'com.example.key1': 'value1' };
  Object.assign(linux(c), {
    namespaces: [
      { type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'user' },
      { type: 'cgroup' }, { type: 'time' },
    ],
    devices: [
      { path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 438, uid: 0, gid: 0 },
      { path: '/dev/sda', type: 'b', major: 8, minor: 0, fileMode: 432 },
      { path: '/dev/myfifo', type: 'p' },
    ],
    uidMappings: [{ containerID: 0, hostID: 1000, size: 32000 }],
    gidMappings: [{ containerID: 0, hostID: 1000, size: 32000 }],
    sysctl: { 'net.ipv4.ip_forward': '1', 'kernel.shmmax': '1000', 'fs.mqueue.msg_max': '10', 'kernel.domainname': 'x' },
    cgroupsPath: '/myRuntime/myContainer',
    resources: { pids: { limit: 32771 }, devices: [{ allow: false, access: 'rwm' }], unified: { 'io.max': '1' } },
    rootfsPropagation: 'slave',
    seccomp: {
      defaultAction: 'SCMP_ACT_ALLOW',
      architectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
      syscalls: [{ names: ['getcwd', 'chmod'], action: 'SCMP_ACT_ERRNO', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] }],
    },
    timeOffsets: { monotonic: { secs: 172800, nanosecs: 0 }, boottime: { secs: 604800 } },
    maskedPaths: ['/proc/kcore'],
    readonlyPaths: ['/proc/sys'],
    mountLabel: 'system_u:object_r:svirt_sandbox_file_t:s0:c715,c811',
    intelRdt: { closID: 'guaranteed_group', schemata: ['L3:0=7f0;1=1f'] },
    personality: { domain: 'LINUX32' },
  });
  const s = validateConfig(c);
  assert.equal(s.process?.user.umask, 63);
  assert.equal(s.linux?.devices?.length, 3);
  assert.equal(s.linux?.personality?.domain, 'LINUX32');
  assert.equal(s.hooks?.poststart?.[0].timeout, 5);
});

test('unknown properties are ignored and JSON null counts as absent', () => {
  const c = base();
  c.someFutureField = { x: 1 };
  proc(c).env = null;
  proc(c).futureProcessField = 3;
  const s = validateConfig(c);
  assert.equal(s.process?.env, undefined);
  assert.equal('someFutureField' in s, false);
});

test('defaultSpec (both variants) round-trips through validateConfig unchanged', () => {
  for (const rootless of [false, true]) {
    const spec = defaultSpec({ rootless, uid: 1000, gid: 1000 });
    assert.deepEqual(validateConfig(JSON.parse(JSON.stringify(spec))), spec);
  }
});

// ---- invalid configs: each names the JSON path of the fault ----------------------------------------

test('invalid: not an object', () => rejects([], 'config', /must be an object/));

test('invalid: ociVersion missing', () => {
  const c = base();
  delete c.ociVersion;
  rejects(c, 'ociVersion', /is required/);
});

test('invalid: ociVersion not semver', () => {
  const c = base();
  c.ociVersion = '1.2';
  rejects(c, 'ociVersion', /SemVer/);
});

test('invalid: ociVersion with an unsupported major', () => {
  const c = base();
  c.ociVersion = '2.0.0';
  rejects(c, 'ociVersion', /unsupported major version 2/);
});

test('invalid: root.path missing', () => {
  const c = base();
  c.root = { readonly: true };
  rejects(c, 'root.path', /is required/);
  delete c.root;
  rejects(c, 'root', /is required/);
});

test('invalid: process.args empty or not strings', () => {
  const c = base();
  proc(c).args = [];
  rejects(c, 'process.args', /must be a non-empty array of strings/);
  proc(c).args = ['sh', 3];
  rejects(c, 'process.args', /must be a non-empty array of strings/);
  delete proc(c).args;
  rejects(c, 'process.args', /must be a non-empty array of strings/);
});

test('invalid: process.cwd relative', () => {
  const c = base();
  proc(c).cwd = 'tmp';
  rejects(c, 'process.cwd', /must be an absolute path/);
});

test('invalid: process.env entry without =', () => {
  const c = base();
  proc(c).env = ['A=1', 'NOVALUE'];
  rejects(c, 'process.env[1]', /KEY=value/);
});

test('invalid: process.user.uid negative / not integer', () => {
  const c = base();
  proc(c).user = { uid: -1, gid: 0 };
  rejects(c, 'process.user.uid', /unsigned 32-bit/);
  proc(c).user = { uid: 0, gid: 1.5 };
  rejects(c, 'process.user.gid', /unsigned 32-bit/);
  proc(c).user = { uid: 0, gid: 0, additionalGids: [1, 'x'] };
  rejects(c, 'process.user.additionalGids[1]');
});

test('invalid: unknown rlimit, duplicate rlimit, soft above hard', () => {
  const c = base();
  proc(c).rlimits = [{ type: 'RLIMIT_FOO', soft: 1, hard: 1 }];
  rejects(c, 'process.rlimits[0].type', /unknown rlimit "RLIMIT_FOO"/);
  proc(c).rlimits = [{ type: 'RLIMIT_NOFILE', soft: 1, hard: 1 }, { type: 'RLIMIT_NOFILE', soft: 2, hard: 2 }];
  rejects(c, 'process.rlimits[1].type', /duplicate rlimit/);
  proc(c).rlimits = [{ type: 'RLIMIT_CORE', soft: 10, hard: 1 }];
  rejects(c, 'process.rlimits[0].soft', /must not exceed hard/);
  proc(c).rlimits = [{ type: 'RLIMIT_CORE', soft: 1 }];
  rejects(c, 'process.rlimits[0].hard', /is required/);
});

test('invalid: unknown capability', () => {
  const c = base();
  proc(c).capabilities = { effective: ['CAP_KILL'], bounding: ['CAP_KILL', 'CAP_BOGUS'] };
  rejects(c, 'process.capabilities.bounding[1]', /unknown capability "CAP_BOGUS"/);
});

test('invalid: scheduler policy, flag and priority', () => {
  const c = base();
  proc(c).scheduler = { policy: 'SCHED_MAGIC' };
  rejects(c, 'process.scheduler.policy', /unknown scheduler policy/);
  proc(c).scheduler = { policy: 'SCHED_OTHER', flags: ['SCHED_FLAG_NOPE'] };
  rejects(c, 'process.scheduler.flags[0]', /unknown scheduler flag/);
  proc(c).scheduler = { policy: 'SCHED_RR', priority: 100 };
  rejects(c, 'process.scheduler.priority', /\[1, 99\]/);
  proc(c).scheduler = { policy: 'SCHED_OTHER', nice: 20 };
  rejects(c, 'process.scheduler.nice');
});

test('invalid: ioPriority class and level', () => {
  const c = base();
  proc(c).ioPriority = { class: 'IOPRIO_CLASS_NONE', priority: 0 };
  rejects(c, 'process.ioPriority.class', /unknown I\/O priority class/);
  proc(c).ioPriority = { class: 'IOPRIO_CLASS_BE', priority: 8 };
  rejects(c, 'process.ioPriority.priority');
});

test('invalid: execCPUAffinity list', () => {
  const c = base();
  proc(c).execCPUAffinity = { final: '3-1' };
  rejects(c, 'process.execCPUAffinity.final', /end before start/);
  proc(c).execCPUAffinity = { initial: '0,a' };
  rejects(c, 'process.execCPUAffinity.initial', /invalid CPU list element/);
});

test('invalid: oomScoreAdj out of range', () => {
  const c = base();
  proc(c).oomScoreAdj = 1001;
  rejects(c, 'process.oomScoreAdj');
});

test('invalid: mount destination relative', () => {
  const c = base();
  (c.mounts as Json[]).push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' }, { destination: '/a', type: 'tmpfs' }, { destination: 'data', type: 'tmpfs' });
  rejects(c, 'mounts[3].destination', /must be an absolute path/);
});

test('invalid: bind mount without source, other mount without type', () => {
  const c = base();
  c.mounts = [{ destination: '/data', options: ['rbind'] }];
  rejects(c, 'mounts[0].source', /required for a bind mount/);
  c.mounts = [{ destination: '/data', type: 'none', source: 'x' }];
  rejects(c, 'mounts[0].type', /not a bind mount/);
});

test('invalid: idmap, tmpcopyup and mount id mappings are refused clearly', () => {
  const c = base();
  c.mounts = [{ destination: '/data', type: 'none', source: '/x', options: ['rbind', 'idmap'] }];
  rejects(c, 'mounts[0].options[1]', /not supported/);
  c.mounts = [{ destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup'] }];
  rejects(c, 'mounts[0].options[0]', /tmpcopyup/);
  c.mounts = [{ destination: '/d', type: 'bind', source: '/x', uidMappings: [{ containerID: 0, hostID: 1, size: 1 }] }];
  rejects(c, 'mounts[0].uidMappings', /not supported/);
});

test('invalid: unknown namespace type', () => {
  const c = base();
  linux(c).namespaces = [{ type: 'pid' }, { type: 'mount' }, { type: 'foo' }];
  rejects(c, 'linux.namespaces[2].type', /unknown namespace type "foo"/);
});

test('invalid: duplicate namespaces', () => {
  const c = base();
  linux(c).namespaces = [{ type: 'pid' }, { type: 'mount' }, { type: 'pid', path: '/proc/1/ns/pid' }];
  rejects(c, 'linux.namespaces[2].type', /duplicate namespace "pid"/);
});

test('invalid: relative namespace path', () => {
  const c = base();
  linux(c).namespaces = [{ type: 'mount' }, { type: 'network', path: 'netns/x' }];
  rejects(c, 'linux.namespaces[1].path', /absolute/);
});

test('invalid: user namespace mappings without a user namespace', () => {
  const c = base();
  linux(c).uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
  rejects(c, 'linux.uidMappings', /requires a user namespace/);
});

test('invalid: new user namespace without mappings, and unmapped process user', () => {
  const c = base();
  (linux(c).namespaces as Json[]).push({ type: 'user' });
  rejects(c, 'linux.uidMappings', /required when a new user namespace/);
  linux(c).uidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
  linux(c).gidMappings = [{ containerID: 0, hostID: 1000, size: 10 }];
  proc(c).user = { uid: 5, gid: 0 };
  rejects(c, 'process.user.uid', /not mapped/);
  proc(c).user = { uid: 0, gid: 0, additionalGids: [3, 10] };
  rejects(c, 'process.user.additionalGids[1]', /not mapped/);
});

test('invalid: overlapping or empty id mappings', () => {
  const c = base();
  (linux(c).namespaces as Json[]).push({ type: 'user' });
  linux(c).uidMappings = [{ containerID: 0, hostID: 1000, size: 10 }, { containerID: 5, hostID: 5000, size: 10 }];
  linux(c).gidMappings = [{ containerID: 0, hostID: 1000, size: 1 }];
  rejects(c, 'linux.uidMappings[1]', /overlaps/);
  linux(c).uidMappings = [{ containerID: 0, hostID: 1000, size: 0 }];
  rejects(c, 'linux.uidMappings[0].size', /greater than 0/);
});

test('joining a user namespace by path needs no mappings', () => {
  const c = base();
  (linux(c).namespaces as Json[]).push({ type: 'user', path: '/proc/1/ns/user' });
  assert.equal(validateConfig(c).linux?.namespaces?.at(-1)?.path, '/proc/1/ns/user');
});

test('invalid: hostname without a UTS namespace', () => {
  const c = base();
  c.hostname = 'box';
  linux(c).namespaces = [{ type: 'mount' }, { type: 'pid' }];
  rejects(c, 'hostname', /UTS namespace/);
  delete c.hostname;
  c.domainname = 'example.org';
  rejects(c, 'domainname', /UTS namespace/);
});

test('invalid: sysctls that are not namespaced or lack their namespace', () => {
  const c = base();
  linux(c).sysctl = { 'kernel.shmmax': '1', 'vm.swappiness': '10' };
  rejects(c, 'linux.sysctl["vm.swappiness"]', /not namespaced/);
  linux(c).sysctl = { 'kernel.panic': '1' };
  rejects(c, 'linux.sysctl["kernel.panic"]', /not namespaced/);
  linux(c).sysctl = { 'fs.file-max': '1' };
  rejects(c, 'linux.sysctl["fs.file-max"]', /not namespaced/);
  linux(c).namespaces = [{ type: 'mount' }, { type: 'ipc' }];
  linux(c).sysctl = { 'net.core.somaxconn': '256' };
  rejects(c, 'linux.sysctl["net.core.somaxconn"]', /network namespace/);
  linux(c).sysctl = { 'kernel.hostname': 'x' };
  rejects(c, 'linux.sysctl["kernel.hostname"]', /uts namespace/);
  linux(c).namespaces = [{ type: 'mount' }];
  linux(c).sysctl = { 'kernel.msgmax': '1' };
  rejects(c, 'linux.sysctl["kernel.msgmax"]', /ipc namespace/);
  linux(c).namespaces = [{ type: 'mount' }, { type: 'network' }];
  linux(c).sysctl = { 'net/../../vm/x': '1' };
  rejects(c, 'linux.sysctl["net/../../vm/x"]', /invalid sysctl name/);
});

test('sysctl namespace classification', () => {
  assert.equal(sysctlNamespace('kernel.sem'), 'ipc');
  assert.equal(sysctlNamespace('kernel.shm_rmid_forced'), 'ipc');
  assert.equal(sysctlNamespace('kernel.msgmnb'), 'ipc');
  assert.equal(sysctlNamespace('fs.mqueue.queues_max'), 'ipc');
  assert.equal(sysctlNamespace('net/ipv4/ip_forward'), 'network');
  assert.equal(sysctlNamespace('kernel.hostname'), 'uts');
  assert.equal(sysctlNamespace('kernel.semaphore'), null);
  assert.equal(sysctlNamespace('vm.overcommit_memory'), null);
});

test('invalid: devices', () => {
  const c = base();
  linux(c).devices = [{ path: '/dev/fuse', type: 'x', major: 10, minor: 229 }];
  rejects(c, 'linux.devices[0].type', /unknown device type "x"/);
  linux(c).devices = [{ path: '/dev/fuse', type: 'c', minor: 229 }];
  rejects(c, 'linux.devices[0].major', /is required/);
  linux(c).devices = [{ path: 'dev/fuse', type: 'c', major: 10, minor: 229 }];
  rejects(c, 'linux.devices[0].path', /absolute/);
  linux(c).devices = [{ path: '/dev/a', type: 'p' }, { path: '/dev//a', type: 'p' }];
  rejects(c, 'linux.devices[1].path', /duplicate device path/);
  linux(c).devices = [{ path: '/dev/a', type: 'c', major: 1, minor: 1, fileMode: 4.5 }];
  rejects(c, 'linux.devices[0].fileMode');
});

test('invalid: masked and read-only paths must be absolute', () => {
  const c = base();
  linux(c).maskedPaths = ['/proc/kcore', 'proc/keys'];
  rejects(c, 'linux.maskedPaths[1]', /absolute/);
  linux(c).maskedPaths = [];
  linux(c).readonlyPaths = [7];
  rejects(c, 'linux.readonlyPaths[0]', /must be a string/);
});

test('invalid: rootfsPropagation, personality, timeOffsets', () => {
  const c = base();
  linux(c).rootfsPropagation = 'everywhere';
  rejects(c, 'linux.rootfsPropagation', /unknown rootfs propagation/);
  delete linux(c).rootfsPropagation;
  linux(c).personality = { domain: 'BSD' };
  rejects(c, 'linux.personality.domain', /unknown personality domain/);
  linux(c).personality = { domain: 'LINUX', flags: ['ADDR_NO_RANDOMIZE'] };
  rejects(c, 'linux.personality.flags[0]', /no flags are supported/);
  delete linux(c).personality;
  linux(c).timeOffsets = { monotonic: { secs: 1 } };
  rejects(c, 'linux.timeOffsets', /new time namespace/);
  (linux(c).namespaces as Json[]).push({ type: 'time' });
  linux(c).timeOffsets = { realtime: { secs: 1 } };
  rejects(c, 'linux.timeOffsets.realtime', /unknown clock/);
  linux(c).timeOffsets = { boottime: { nanosecs: 1e9 } };
  rejects(c, 'linux.timeOffsets.boottime.nanosecs');
});

test('invalid: seccomp structure and enumerations', () => {
  const c = base();
  linux(c).seccomp = { defaultAction: 'SCMP_ACT_MAYBE' };
  rejects(c, 'linux.seccomp.defaultAction', /unknown seccomp action/);
  linux(c).seccomp = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [], action: 'SCMP_ACT_ERRNO' }] };
  rejects(c, 'linux.seccomp.syscalls[0].names', /at least one/);
  linux(c).seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [{ names: ['read'], action: 'SCMP_ACT_ERRNO', args: [{ index: 6, value: 0, op: 'SCMP_CMP_EQ' }] }],
  };
  rejects(c, 'linux.seccomp.syscalls[0].args[0].index');
  linux(c).seccomp = { defaultAction: 'SCMP_ACT_ALLOW', architectures: ['SCMP_ARCH_VAX'] };
  rejects(c, 'linux.seccomp.architectures[0]', /unknown seccomp architecture/);
  linux(c).seccomp = { defaultAction: 'SCMP_ACT_ALLOW', listenerMetadata: 'x' };
  rejects(c, 'linux.seccomp.listenerMetadata', /listenerPath/);
});

test('invalid: hooks', () => {
  const c = base();
  c.hooks = { prestart: [{ path: 'relative/hook' }] };
  rejects(c, 'hooks.prestart[0].path', /absolute/);
  c.hooks = { poststop: [{ path: '/bin/true', timeout: 0 }] };
  rejects(c, 'hooks.poststop[0].timeout', /positive/);
  c.hooks = { createContainer: [{ path: '/bin/true', args: 'true' }] };
  rejects(c, 'hooks.createContainer[0].args', /array of strings/);
});

test('invalid: annotations must map to strings', () => {
  const c = base();
  c.annotations = { 'com.example.n': 1 };
  rejects(c, 'annotations["com.example.n"]', /must be a string/);
});

test('invalid: mounts, masked paths without a mount namespace', () => {
  const c = base();
  linux(c).namespaces = [{ type: 'pid' }];
  rejects(c, 'linux.namespaces', /mount namespace/);
});

test('invalid: wrong JSON types are named precisely', () => {
  const c = base();
  proc(c).terminal = 'yes';
  rejects(c, 'process.terminal', /boolean/);
  proc(c).terminal = true;
  linux(c).resources = { memory: 5 };
  rejects(c, 'linux.resources.memory', /object/);
  linux(c).resources = {};
  c.mounts = {};
  rejects(c, 'mounts', /array/);
});

test('validateProcess checks an exec process.json on its own', () => {
  assert.deepEqual(validateProcess({ args: ['ls'], cwd: '/', user: { uid: 1, gid: 2 } }).user, { uid: 1, gid: 2 });
  assert.throws(() => validateProcess({ args: ['ls'], user: { uid: 0, gid: 0 } }), (e: unknown) => e instanceof ConfigError && e.path === 'process.cwd');
});

test('loadBundleConfig: missing file, bad JSON with position, valid file', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-spec-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(loadBundleConfig(dir), (e: unknown) => e instanceof BerthError && e.code === 'NOT_FOUND' && /config\.json/.test(e.message));
  fs.writeFileSync(path.join(dir, 'config.json'), '{\n  "ociVersion": "1.2.0",\n  "root": {"path": "rootfs",}\n}\n');
  await assert.rejects(loadBundleConfig(dir), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.match(e.message, /invalid JSON at line 3 column \d+/);
    return true;
  });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(base()));
  const s = await loadBundleConfig(dir);
  assert.equal(s.root.path, 'rootfs');
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...base(), ociVersion: 7 }));
  await assert.rejects(loadBundleConfig(dir), (e: unknown) => e instanceof ConfigError && e.path === 'ociVersion');
});
