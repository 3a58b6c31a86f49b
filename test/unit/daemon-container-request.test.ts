/** The plain ContainerRequest -> OCI spec with plain field names, and the CRI edge's mapping (no root). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as cri from '../../src/cri/generated';
import { imageRuntimeConfig } from '../../src/image/config';
import { buildSpec, linuxResources, type BuildSpecInput } from '../../src/daemon/containers-spec';
import { CRI_FIELD_NAMES, PLAIN_FIELD_NAMES, type ContainerRequest } from '../../src/daemon/container-request';
import { criContainerRequest, criContainerResources, criPropagation } from '../../src/daemon/cri-container-request';
import type { PodRecord } from '../../src/daemon/pod-store';
import { DEFAULT_MASKED_PATHS } from '../../src/runtime/spec/default';

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bdr-unit-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

function pod(dir: string): PodRecord {
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
    pause: null,
    resolvConf: path.join(dir, 'resolv.conf'),
    hostsFile: path.join(dir, 'hosts'),
    hostnameFile: path.join(dir, 'hostname'),
    ips: [],
    network: '',
  };
}

function input(dir: string, request: ContainerRequest, over: Partial<BuildSpecInput> = {}): BuildSpecInput {
  const image = imageRuntimeConfig({ config: { Cmd: ['sh'], Env: ['PATH=/bin'] } }, {}, { passwd: 'root:x:0:0::/:/bin/sh\n', group: 'root:x:0:\n' });
  return { id: 'b'.repeat(64), request, pod: pod(dir), image, rootfs: '/r', cgroupsPath: '/x/y', minOomScoreAdj: null, apparmorAvailable: false, ...over };
}

test('plain request: resources incl. pids, propagation, masked paths, seccomp, plain field names', (t) => {
  const dir = tmp(t);
  const host = path.join(dir, 'v');
  const s = buildSpec(
    input(dir, {
      name: 'c',
      image: 'img',
      mounts: [{ containerPath: '/v', hostPath: host, readonly: true, propagation: 'rshared' }],
      linux: {
        resources: { cpuQuota: 50000, cpuPeriod: 100000, memoryLimitInBytes: 1 << 26, pidsLimit: 64, oomScoreAdj: 100 },
        securityContext: { maskedPaths: [], readonlyPaths: ['/proc/sys'], noNewPrivs: true, seccomp: { kind: 'runtime-default' }, capabilities: { add: [], drop: ['ALL'] } },
      },
    }),
  );
  assert.deepEqual(s.linux?.resources?.pids, { limit: 64 });
  assert.deepEqual(s.linux?.resources?.cpu, { quota: 50000, period: 100000 });
  assert.equal(s.process?.oomScoreAdj, 100);
  assert.deepEqual(s.linux?.maskedPaths, [], 'an explicit empty list means none');
  assert.deepEqual(s.linux?.readonlyPaths, ['/proc/sys']);
  assert.equal(s.linux?.rootfsPropagation, 'rshared');
  assert.deepEqual(s.mounts?.find((m) => m.destination === '/v')?.options, ['rbind', 'rshared', 'ro']);
  assert.ok(s.linux?.seccomp);
  assert.deepEqual(s.process?.capabilities?.bounding, []);
  assert.equal(s.process?.terminal, false);
  assert.deepEqual(buildSpec(input(dir, { name: 'c', image: 'i' })).linux?.maskedPaths, DEFAULT_MASKED_PATHS);
  assert.deepEqual(linuxResources({}), {});

  const msg = (req: ContainerRequest, names = PLAIN_FIELD_NAMES): string => {
    try {
      buildSpec({ ...input(dir, req), names });
    } catch (err) {
      return (err as Error).message;
    }
    return 'no error';
  };
  const rel: ContainerRequest = { name: 'c', image: 'i', mounts: [{ containerPath: 'rel', hostPath: host, readonly: false }] };
  assert.equal(msg(rel), 'mounts[0].containerPath: must be absolute, got "rel"');
  assert.equal(msg(rel, CRI_FIELD_NAMES), 'config.mounts[0].container_path: must be absolute, got "rel"');
  const pid: ContainerRequest = { name: 'c', image: 'i', linux: { securityContext: { namespaceOptions: { pid: 'POD' } } } };
  assert.match(msg(pid), /^linux\.securityContext\.namespaceOptions\.pid: POD, but/);
  assert.equal(msg({ name: 'c', image: 'i', linux: { resources: { oomScoreAdj: 5000 } } }, CRI_FIELD_NAMES), 'config.linux.resources.oom_score_adj: 5000 is out of range -1000..1000');
  assert.equal(msg({ name: 'c', image: 'i', linux: { securityContext: { capabilities: { add: ['NOPE'], drop: [] } } } }), 'linux.securityContext.capabilities.add: unknown capability "NOPE"');
});

test('CRI edge: ContainerConfig -> ContainerRequest, int64 faults name CRI fields, propagation both ways', () => {
  assert.equal(criContainerRequest(null), null);
  const res: cri.LinuxContainerResources__Output = {
    cpu_period: '0',
    cpu_quota: '0',
    cpu_shares: '2',
    memory_limit_in_bytes: '0',
    oom_score_adj: '0',
    cpuset_cpus: '',
    cpuset_mems: '',
    hugepage_limits: [],
    unified: {},
    memory_swap_limit_in_bytes: '0',
  };
  const r = criContainerRequest({
    metadata: { name: 'n', attempt: 2 },
    image: { image: 'img', annotations: {}, user_specified_image: '', runtime_handler: '' },
    command: ['a'],
    args: ['b'],
    working_dir: '/w',
    envs: [{ key: 'K', value: 'V' }],
    mounts: [{ container_path: '/c', host_path: '/h', readonly: true, selinux_relabel: false, propagation: 'PROPAGATION_HOST_TO_CONTAINER', uidMappings: [], gidMappings: [], recursive_read_only: false, image: null }],
    devices: [],
    labels: { l: '1' },
    annotations: {},
    log_path: 'n/0.log',
    stdin: true,
    stdin_once: true,
    tty: false,
    linux: {
      resources: res,
      security_context: {
        capabilities: null,
        privileged: false,
        namespace_options: { network: 'POD', pid: 'TARGET', ipc: 'POD', target_id: 'x', userns_options: null },
        selinux_options: null,
        run_as_user: { value: '1000' },
        run_as_username: '',
        readonly_rootfs: true,
        supplemental_groups: ['5'],
        apparmor_profile: '',
        seccomp_profile_path: 'runtime/default',
        no_new_privs: false,
        run_as_group: null,
        masked_paths: [],
        readonly_paths: [],
        seccomp: null,
        apparmor: null,
        supplemental_groups_policy: 'Merge',
      },
    },
    windows: null,
    CDI_devices: [],
  });
  assert.ok(r);
  assert.equal(r.name, 'n');
  assert.equal(r.attempt, 2);
  assert.deepEqual(r.env, [{ key: 'K', value: 'V' }]);
  assert.equal(r.mounts?.[0]?.propagation, 'rslave');
  assert.equal(r.linux?.resources?.cpuShares, 2);
  assert.equal(r.linux?.resources?.oomScoreAdj, 0);
  const sc = r.linux?.securityContext;
  assert.equal(sc?.runAsUser, 1000);
  assert.deepEqual(sc?.supplementalGroups, [5]);
  assert.deepEqual(sc?.namespaceOptions, { pid: 'TARGET', targetId: 'x' });
  assert.deepEqual(sc?.seccomp, { kind: 'runtime-default' });
  assert.equal(sc?.maskedPaths, undefined, 'an empty CRI list means the defaults');
  assert.throws(() => criContainerResources({ ...res, cpu_shares: 'x' }), (e: unknown) => e instanceof Error && e.message === 'config.linux.resources.cpu_shares: not an integer: x');
  assert.equal(criPropagation('rshared'), 'PROPAGATION_BIDIRECTIONAL');
  assert.equal(criPropagation('PROPAGATION_HOST_TO_CONTAINER'), 'PROPAGATION_HOST_TO_CONTAINER', 'records of older versions');
  assert.equal(criPropagation('private'), 'PROPAGATION_PRIVATE');
});
