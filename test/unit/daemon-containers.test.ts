/** CRI ContainerConfig -> ContainerRequest (the CRI edge) -> OCI spec (src/daemon/containers-spec.ts), and the user override, no root. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as cri from '../../src/cri/generated';
import { imageRuntimeConfig } from '../../src/image/config';
import { ALL_CAPS, DEFAULT_CRI_CAPS, currentCapabilities, buildSpec, containerCapabilities, type BuildSpecInput } from '../../src/daemon/containers-spec';
import { criContainerRequest, securityProfile } from '../../src/daemon/cri-container-request';
import { CRI_FIELD_NAMES, type ContainerRequest } from '../../src/daemon/container-request';
import { userOverride } from '../../src/daemon/containers';
import type { PodRecord } from '../../src/daemon/pod-store';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../../src/runtime/spec/default';
import { BerthError } from '../../src/runtime/errors';

function secCtx(over: Partial<cri.LinuxContainerSecurityContext__Output> = {}): cri.LinuxContainerSecurityContext__Output {
  return {
    capabilities: null,
    privileged: false,
    namespace_options: null,
    selinux_options: null,
    run_as_user: null,
    run_as_username: '',
    readonly_rootfs: false,
    supplemental_groups: [],
    apparmor_profile: '',
    seccomp_profile_path: '',
    no_new_privs: false,
    run_as_group: null,
    masked_paths: [],
    readonly_paths: [],
    seccomp: null,
    apparmor: null,
    supplemental_groups_policy: 'Merge',
    ...over,
  };
}

function config(over: Partial<cri.ContainerConfig__Output> = {}): cri.ContainerConfig__Output {
  return {
    metadata: { name: 'c', attempt: 0 },
    image: { image: 'img', annotations: {}, user_specified_image: '', runtime_handler: '' },
    command: [],
    args: [],
    working_dir: '',
    envs: [],
    mounts: [],
    devices: [],
    labels: {},
    annotations: {},
    log_path: '',
    stdin: false,
    stdin_once: false,
    tty: false,
    linux: null,
    windows: null,
    CDI_devices: [],
    ...over,
  };
}

function pod(dir: string, over: Partial<PodRecord> = {}): PodRecord {
  for (const f of ['resolv.conf', 'hosts', 'hostname']) fs.writeFileSync(path.join(dir, f), '');
  return {
    version: 1,
    id: 'a'.repeat(64),
    phase: 'ready',
    metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 },
    createdAt: '1',
    labels: {},
    annotations: {},
    runtimeHandler: '',
    hostname: 'p',
    logDirectory: '',
    namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' },
    dns: null,
    portMappings: [],
    sysctls: {},
    cgroupParent: '',
    netns: '/run/x/net',
    ipcns: '/run/x/ipc',
    utsns: '/run/x/uts',
    pause: { pid: 42, startTime: '1', pidnsPath: '/proc/42/ns/pid' },
    resolvConf: path.join(dir, 'resolv.conf'),
    hostsFile: path.join(dir, 'hosts'),
    hostnameFile: path.join(dir, 'hostname'),
    ips: [],
    network: '',
    ...over,
  };
}

function input(dir: string, c: cri.ContainerConfig__Output, over: Partial<BuildSpecInput> = {}): BuildSpecInput {
  const image = imageRuntimeConfig(
    { config: { Entrypoint: ['/ep'], Cmd: ['def'], Env: ['PATH=/bin', 'A=1'], StopSignal: 'SIGQUIT' } },
    { ...(c.command.length ? { entrypoint: c.command } : {}), ...(c.args.length ? { cmd: c.args } : {}), env: c.envs.map((e) => `${e.key}=${e.value}`) },
    { passwd: 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n', group: 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n' },
  );
  const request: ContainerRequest | null = criContainerRequest(c);
  assert.ok(request);
  return { id: 'b'.repeat(64), request, names: CRI_FIELD_NAMES, pod: pod(dir), image, rootfs: '/r', cgroupsPath: '/berth/x', minOomScoreAdj: null, apparmorAvailable: false, ...over };
}

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bdc-unit-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('capabilities: defaults, add/drop, ALL, privileged, unknown names', () => {
  assert.deepEqual(new Set(containerCapabilities([], [], false)), new Set(DEFAULT_CRI_CAPS));
  const c = containerCapabilities(['SYS_ADMIN'], ['NET_RAW', 'CAP_KILL'], false);
  assert.ok(c.includes('CAP_SYS_ADMIN') && !c.includes('CAP_NET_RAW') && !c.includes('CAP_KILL'));
  assert.deepEqual(containerCapabilities(['CAP_CHOWN'], ['ALL'], false), ['CAP_CHOWN'], 'drop ALL, then add (the usual pod security pattern)');
  assert.deepEqual(containerCapabilities([], ['ALL'], false), []);
  assert.deepEqual(containerCapabilities(['ALL'], [], false), currentCapabilities());
  assert.deepEqual(containerCapabilities([], ['ALL'], true), currentCapabilities());
  assert.deepEqual(currentCapabilities('CapBnd:\t0000000000000005\n'), ['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']);
  assert.equal(currentCapabilities('CapBnd:\t000001ffffffffff\n').length, ALL_CAPS.length);
  assert.throws(() => containerCapabilities(['CAP_NOPE'], [], false), (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT' && /CAP_NOPE/.test(e.message));
  assert.throws(() => containerCapabilities(['CAP_NOPE'], [], false, CRI_FIELD_NAMES), (e: unknown) => e instanceof Error && e.message === 'config.linux.security_context.capabilities.add_capabilities: unknown capability "CAP_NOPE"');
});

test('security profiles: typed field wins, legacy strings', () => {
  assert.equal(securityProfile(null, ''), undefined);
  assert.equal(securityProfile(null, 'unconfined')?.kind, 'unconfined');
  assert.equal(securityProfile(null, 'runtime/default')?.kind, 'runtime-default');
  assert.deepEqual(securityProfile(null, 'localhost/my'), { kind: 'localhost', localhostRef: 'my' });
  assert.equal(securityProfile({ profile_type: 'RuntimeDefault', localhost_ref: '' }, 'unconfined')?.kind, 'runtime-default');
  assert.equal(securityProfile({ profile_type: 'Unconfined', localhost_ref: '' }, '')?.kind, 'unconfined');
  assert.throws(() => securityProfile(null, 'bogus'), /unsupported/);
});

test('user override from run_as_username / run_as_user / run_as_group', () => {
  const plain = (sc: cri.LinuxContainerSecurityContext__Output) => criContainerRequest(config({ linux: { resources: null, security_context: sc } }))?.linux?.securityContext ?? null;
  assert.equal(userOverride(null), undefined);
  assert.equal(userOverride(plain(secCtx({ run_as_user: { value: '1000' } }))), '1000');
  assert.equal(userOverride(plain(secCtx({ run_as_user: { value: '0' }, run_as_group: { value: '5' } }))), '0:5');
  assert.equal(userOverride(plain(secCtx({ run_as_username: 'app' }))), 'app');
  assert.throws(() => userOverride(plain(secCtx({ run_as_group: { value: '5' } })), CRI_FIELD_NAMES), (e: unknown) => e instanceof Error && e.message === 'config.linux.security_context.run_as_group: needs run_as_user or run_as_username');
  assert.throws(() => userOverride({ runAsGroup: 5 }), (e: unknown) => e instanceof Error && e.message === 'linux.securityContext.runAsGroup: needs runAsUser or runAsUsername');
});

test('spec: args/env merge, namespaces from the pod, /etc files, defaults', (t) => {
  const dir = tmp(t);
  const spec = buildSpec(input(dir, config({ args: ['x', 'y'], envs: [{ key: 'A', value: '2' }, { key: 'B', value: '3' }] })));
  assert.deepEqual(spec.process?.args, ['/ep', 'x', 'y']);
  assert.deepEqual(spec.process?.env, ['PATH=/bin', 'A=2', 'B=3']);
  assert.deepEqual(spec.linux?.namespaces, [
    { type: 'mount' },
    { type: 'network', path: '/run/x/net' },
    { type: 'ipc', path: '/run/x/ipc' },
    { type: 'uts', path: '/run/x/uts' },
    { type: 'pid' },
  ]);
  const dests = (spec.mounts ?? []).map((m) => m.destination);
  for (const d of ['/proc', '/dev', '/dev/pts', '/dev/shm', '/sys', '/etc/hosts', '/etc/resolv.conf', '/etc/hostname']) assert.ok(dests.includes(d), d);
  assert.deepEqual(spec.linux?.maskedPaths, DEFAULT_MASKED_PATHS);
  assert.deepEqual(spec.linux?.readonlyPaths, DEFAULT_READONLY_PATHS);
  assert.equal(spec.linux?.seccomp, undefined, 'no profile asked: unconfined');
  assert.equal(spec.linux?.cgroupsPath, '/berth/x');
  assert.deepEqual(spec.linux?.resources?.devices, [{ allow: false, access: 'rwm' }]);
  assert.equal(spec.annotations?.['io.kubernetes.cri.sandbox-id'], 'a'.repeat(64));
  assert.equal(spec.mounts?.find((m) => m.destination === '/dev/shm')?.type, 'tmpfs');
  const shared = buildSpec(input(dir, config(), { podShm: '/run/b/c/shm/p' }));
  assert.deepEqual(shared.mounts?.find((m) => m.destination === '/dev/shm'), { destination: '/dev/shm', type: 'bind', source: '/run/b/c/shm/p', options: ['rbind', 'rprivate', 'rw'] });
});

test('spec: command replaces entrypoint and drops the image Cmd', (t) => {
  const dir = tmp(t);
  assert.deepEqual(buildSpec(input(dir, config({ command: ['sh', '-c'] }))).process?.args, ['sh', '-c']);
  assert.deepEqual(buildSpec(input(dir, config())).process?.args, ['/ep', 'def']);
});

test('spec: pid namespace modes; host network pod', (t) => {
  const dir = tmp(t);
  const nso = (pid: cri.NamespaceOption__Output['pid']): cri.ContainerConfig__Output =>
    config({ linux: { resources: null, security_context: secCtx({ namespace_options: { network: 'POD', pid, ipc: 'POD', target_id: '', userns_options: null } }) } });
  const pidNs = (c: cri.ContainerConfig__Output, over: Partial<BuildSpecInput> = {}) => buildSpec(input(dir, c, over)).linux?.namespaces?.find((n) => n.type === 'pid');
  assert.deepEqual(pidNs(nso('POD')), { type: 'pid', path: '/proc/42/ns/pid' });
  assert.equal(pidNs(nso('NODE')), undefined);
  assert.deepEqual(pidNs(nso('CONTAINER')), { type: 'pid' });
  assert.deepEqual(pidNs(nso('TARGET'), { targetPidNs: '/proc/7/ns/pid' }), { type: 'pid', path: '/proc/7/ns/pid' });
  assert.throws(() => pidNs(nso('TARGET')), /target_id/);
  const hostPod = input(dir, config());
  hostPod.pod = { ...hostPod.pod, netns: null, utsns: null, ipcns: null, namespaceOptions: { network: 'NODE', pid: 'NODE', ipc: 'NODE', targetId: '' } };
  const s = buildSpec(hostPod);
  assert.deepEqual(s.linux?.namespaces?.map((n) => n.type), ['mount', 'pid']);
  assert.equal(s.mounts?.find((m) => m.destination === '/dev/shm')?.source, '/dev/shm');
});

test('spec: security context: user, groups, privileged, readonly, masked paths, seccomp, apparmor, no_new_privs', (t) => {
  const dir = tmp(t);
  const irc = (user: string) =>
    imageRuntimeConfig({ config: { Cmd: ['x'] } }, { user }, { passwd: 'app:x:1000:1000::/:/bin/sh\n', group: 'app:x:1000:\nextra:x:2000:app\n' });
  const sc = secCtx({ supplemental_groups: ['3000'], readonly_rootfs: true, no_new_privs: true, masked_paths: ['/proc/x'], readonly_paths: [], seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } });
  const s = buildSpec({ ...input(dir, config({ linux: { resources: null, security_context: sc } })), image: irc('app') });
  assert.deepEqual(s.process?.user, { uid: 1000, gid: 1000, additionalGids: [2000, 3000] });
  assert.equal(s.root.readonly, true);
  assert.equal(s.process?.noNewPrivileges, true);
  assert.deepEqual(s.linux?.maskedPaths, ['/proc/x']);
  assert.deepEqual(s.linux?.readonlyPaths, DEFAULT_READONLY_PATHS);
  assert.ok(s.linux?.seccomp && s.linux.seccomp.defaultAction !== undefined);
  assert.ok(s.mounts?.find((m) => m.destination === '/etc/hosts')?.options?.includes('ro'));

  const p = buildSpec(input(dir, config({ linux: { resources: null, security_context: secCtx({ privileged: true, seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '' } }) } })));
  assert.deepEqual(p.process?.capabilities?.bounding, currentCapabilities());
  assert.deepEqual(p.linux?.maskedPaths, []);
  assert.deepEqual(p.linux?.readonlyPaths, []);
  assert.equal(p.linux?.seccomp, undefined);
  assert.ok(p.mounts?.find((m) => m.destination === '/sys')?.options?.includes('rw'));
  assert.deepEqual(p.linux?.resources?.devices, [{ allow: true, access: 'rwm' }]);

  // AppArmor: runtime/default and unconfined are fine without AppArmor; a named profile is refused
  const aa = (profile: cri.SecurityProfile__Output) => buildSpec(input(dir, config({ linux: { resources: null, security_context: secCtx({ apparmor: profile }) } })));
  assert.equal(aa({ profile_type: 'RuntimeDefault', localhost_ref: '' }).process?.apparmorProfile, undefined);
  assert.throws(() => aa({ profile_type: 'Localhost', localhost_ref: 'mine' }), /AppArmor is not enabled/);

  // seccomp Localhost: a JSON file; missing -> INVALID_ARGUMENT
  const prof = path.join(dir, 'prof.json');
  fs.writeFileSync(prof, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
  const lh = (ref: string) => buildSpec(input(dir, config({ linux: { resources: null, security_context: secCtx({ seccomp: { profile_type: 'Localhost', localhost_ref: ref } }) } })));
  assert.deepEqual(lh(prof).linux?.seccomp, { defaultAction: 'SCMP_ACT_ALLOW' });
  assert.throws(() => lh(path.join(dir, 'none.json')), (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT');
});

test('spec: resources, oom_score_adj restriction, mounts with propagation', (t) => {
  const dir = tmp(t);
  const host = path.join(dir, 'vol');
  const res: cri.LinuxContainerResources__Output = {
    cpu_period: '100000',
    cpu_quota: '50000',
    cpu_shares: '512',
    memory_limit_in_bytes: '67108864',
    oom_score_adj: '-500',
    cpuset_cpus: '0',
    cpuset_mems: '',
    hugepage_limits: [{ page_size: '2MB', limit: '0' }],
    unified: {},
    memory_swap_limit_in_bytes: '',
  };
  const mounts: cri.Mount__Output[] = [
    { container_path: '/data/sub', host_path: host, readonly: true, selinux_relabel: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER', uidMappings: [], gidMappings: [], recursive_read_only: false, image: null },
    { container_path: '/data', host_path: host, readonly: false, selinux_relabel: false, propagation: 'PROPAGATION_PRIVATE', uidMappings: [], gidMappings: [], recursive_read_only: false, image: null },
  ];
  const s = buildSpec(input(dir, config({ mounts, linux: { resources: res, security_context: null } }), { minOomScoreAdj: 0 }));
  assert.deepEqual(s.linux?.resources?.cpu, { shares: 512, quota: 50000, period: 100000, cpus: '0' });
  assert.equal(s.linux?.resources?.memory?.limit, 67108864);
  assert.deepEqual(s.linux?.resources?.hugepageLimits, [{ pageSize: '2MB', limit: 0 }]);
  assert.equal(s.process?.oomScoreAdj, 0, 'restricted to berthd\'s own');
  assert.ok(fs.existsSync(host), 'a missing host path is created');
  const user = (s.mounts ?? []).filter((m) => m.destination.startsWith('/data'));
  assert.deepEqual(user.map((m) => [m.destination, m.options]), [
    ['/data', ['rbind', 'rprivate', 'rw']],
    ['/data/sub', ['rbind', 'rslave', 'ro']],
  ]);
  assert.equal(s.linux?.rootfsPropagation, 'rslave');
  const unrestricted = buildSpec(input(dir, config({ linux: { resources: res, security_context: null } })));
  assert.equal(unrestricted.process?.oomScoreAdj, -500);
  assert.throws(() => buildSpec(input(dir, config({ linux: { resources: { ...res, oom_score_adj: '2000' }, security_context: null } }))), /oom_score_adj/);
  assert.throws(() => buildSpec(input(dir, config({ mounts: [{ ...mounts[0]!, container_path: 'rel' }] }))), /config\.mounts\[0\]\.container_path/);
});

test('spec: devices from the host; a non-device is refused', (t) => {
  const dir = tmp(t);
  const s = buildSpec(input(dir, config({ devices: [{ container_path: '/dev/mynull', host_path: '/dev/null', permissions: 'rw' }] })));
  assert.deepEqual(s.linux?.devices?.map((d) => [d.path, d.type, d.major, d.minor]), [['/dev/mynull', 'c', 1, 3]]);
  assert.deepEqual(s.linux?.resources?.devices?.[1], { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' });
  assert.throws(() => buildSpec(input(dir, config({ devices: [{ container_path: '/dev/x', host_path: dir, permissions: '' }] }))), /not a device node/);
});
