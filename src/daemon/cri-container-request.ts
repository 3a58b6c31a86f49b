/**
 * The CRI edge for containers: CRI ContainerConfig / LinuxContainerResources (protobuf types) ->
 * the plain ContainerRequest / ContainerResources ContainerManager takes, and back for the few plain
 * values a response carries. int64 strings are parsed here, naming the CRI field of a fault; faults
 * found later name CRI fields through CRI_FIELD_NAMES.
 */
import type * as cri from '../cri/generated';
import { BerthError } from '../runtime/errors';
import type {
  ContainerMountRequest,
  ContainerRequest,
  ContainerResources,
  ContainerSecurityContext,
  MountPropagation,
  SecurityProfileRequest,
} from './container-request';

function int(v: string | undefined, where: string): number {
  if (v === undefined || v === '') return 0;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new BerthError('INVALID_ARGUMENT', `${where}: not an integer: ${v}`);
  return n;
}

/** A CRI SecurityProfile (or the deprecated string field) -> what to apply (undefined: nothing asked). */
export function securityProfile(field: cri.SecurityProfile__Output | null | undefined, legacy: string): SecurityProfileRequest | undefined {
  if (field) {
    switch (field.profile_type) {
      case 'RuntimeDefault':
        return { kind: 'runtime-default' };
      case 'Localhost':
        return { kind: 'localhost', localhostRef: field.localhost_ref };
      default:
        return { kind: 'unconfined' };
    }
  }
  if (legacy === '') return undefined;
  if (legacy === 'unconfined') return { kind: 'unconfined' };
  if (legacy === 'runtime/default' || legacy === 'docker/default') return { kind: 'runtime-default' };
  if (legacy.startsWith('localhost/')) return { kind: 'localhost', localhostRef: legacy.slice('localhost/'.length) };
  throw new BerthError('INVALID_ARGUMENT', `unsupported security profile ${JSON.stringify(legacy)}`);
}

const FROM_CRI_PROPAGATION: Record<string, MountPropagation> = {
  PROPAGATION_PRIVATE: 'private',
  PROPAGATION_HOST_TO_CONTAINER: 'rslave',
  PROPAGATION_BIDIRECTIONAL: 'rshared',
};

const TO_CRI_PROPAGATION: Record<string, cri.Mount['propagation']> = {
  private: 'PROPAGATION_PRIVATE',
  rslave: 'PROPAGATION_HOST_TO_CONTAINER',
  rshared: 'PROPAGATION_BIDIRECTIONAL',
};

/** A stored plain propagation (or a CRI enum name stored by older versions) -> the CRI enum. */
export function criPropagation(p: string): cri.Mount['propagation'] {
  const mapped = TO_CRI_PROPAGATION[p];
  if (mapped !== undefined) return mapped;
  if (FROM_CRI_PROPAGATION[p] !== undefined) return p as cri.Mount['propagation'];
  return 'PROPAGATION_PRIVATE';
}

/** CRI LinuxContainerResources -> plain (shared by CreateContainer and UpdateContainerResources). */
export function criContainerResources(res: cri.LinuxContainerResources__Output): ContainerResources {
  const out: ContainerResources = {
    cpuShares: int(res.cpu_shares, 'config.linux.resources.cpu_shares'),
    cpuQuota: int(res.cpu_quota, 'config.linux.resources.cpu_quota'),
    cpuPeriod: int(res.cpu_period, 'config.linux.resources.cpu_period'),
    cpusetCpus: res.cpuset_cpus,
    cpusetMems: res.cpuset_mems,
    memoryLimitInBytes: int(res.memory_limit_in_bytes, 'config.linux.resources.memory_limit_in_bytes'),
    memorySwapLimitInBytes: int(res.memory_swap_limit_in_bytes, 'config.linux.resources.memory_swap_limit_in_bytes'),
    hugepageLimits: (res.hugepage_limits ?? []).map((h) => ({ pageSize: h.page_size, limit: int(h.limit, 'config.linux.resources.hugepage_limits.limit') })),
    ...(res.unified && Object.keys(res.unified).length > 0 ? { unified: { ...res.unified } } : {}),
  };
  if (res.oom_score_adj !== '') out.oomScoreAdj = int(res.oom_score_adj, 'config.linux.resources.oom_score_adj');
  return out;
}

function criSecurityContext(sc: cri.LinuxContainerSecurityContext__Output): ContainerSecurityContext {
  const where = 'config.linux.security_context';
  const privileged = sc.privileged;
  const out: ContainerSecurityContext = {
    privileged,
    readonlyRootfs: sc.readonly_rootfs,
    noNewPrivs: sc.no_new_privs,
    supplementalGroups: sc.supplemental_groups.map((g) => int(g, `${where}.supplemental_groups`)),
  };
  if (sc.capabilities) out.capabilities = { add: [...sc.capabilities.add_capabilities], drop: [...sc.capabilities.drop_capabilities] };
  if (sc.namespace_options) out.namespaceOptions = { pid: sc.namespace_options.pid, targetId: sc.namespace_options.target_id };
  if (sc.run_as_user) out.runAsUser = int(sc.run_as_user.value, `${where}.run_as_user`);
  if (sc.run_as_username !== '') out.runAsUsername = sc.run_as_username;
  if (sc.run_as_group) out.runAsGroup = int(sc.run_as_group.value, `${where}.run_as_group`);
  // CRI cannot tell an empty list from none: empty means the defaults
  if (sc.masked_paths.length > 0) out.maskedPaths = [...sc.masked_paths];
  if (sc.readonly_paths.length > 0) out.readonlyPaths = [...sc.readonly_paths];
  if (!privileged) {
    // profiles are ignored for privileged containers (not even parsed, as before)
    const seccomp = securityProfile(sc.seccomp, sc.seccomp_profile_path);
    if (seccomp) out.seccomp = seccomp;
    const apparmor = securityProfile(sc.apparmor, sc.apparmor_profile);
    if (apparmor) out.apparmor = apparmor;
  }
  if (sc.selinux_options) out.selinux = { ...sc.selinux_options };
  return out;
}

function criMountRequest(m: cri.Mount__Output): ContainerMountRequest {
  return {
    containerPath: m.container_path,
    hostPath: m.host_path,
    readonly: m.readonly,
    propagation: FROM_CRI_PROPAGATION[m.propagation] ?? 'private',
    selinuxRelabel: m.selinux_relabel,
  };
}

/** CRI ContainerConfig -> ContainerRequest (null stays null: ContainerManager refuses it). */
export function criContainerRequest(c: cri.ContainerConfig__Output | null): ContainerRequest | null {
  if (!c) return null;
  const linux = c.linux ?? null;
  return {
    name: c.metadata?.name ?? '',
    attempt: c.metadata?.attempt ?? 0,
    image: c.image?.image ?? '',
    command: [...c.command],
    args: [...c.args],
    workingDir: c.working_dir,
    env: c.envs.map((e) => ({ key: e.key, value: e.value })),
    mounts: (c.mounts ?? []).map(criMountRequest),
    devices: (c.devices ?? []).map((d) => ({ containerPath: d.container_path, hostPath: d.host_path, permissions: d.permissions })),
    labels: { ...(c.labels ?? {}) },
    annotations: { ...(c.annotations ?? {}) },
    logPath: c.log_path,
    tty: c.tty,
    stdin: c.stdin,
    stdinOnce: c.stdin_once,
    ...(linux
      ? {
          linux: {
            ...(linux.resources ? { resources: criContainerResources(linux.resources) } : {}),
            ...(linux.security_context ? { securityContext: criSecurityContext(linux.security_context) } : {}),
          },
        }
      : {}),
  };
}
