/**
 * What ContainerManager.create needs to make a container, in plain TypeScript: no protobuf types.
 * Front ends convert to it at their edge (berthd's CRI edge: cri-container-request.ts; the `berth`
 * CLI: its run options). Absent optional fields mean "the default" (the image's, or containerd's).
 *
 * Errors about a field name it through a FieldNames table, so each front end reports faults in its
 * own vocabulary (CRI_FIELD_NAMES gives the CRI paths critest and kubelet users see; PLAIN_FIELD_NAMES
 * the paths of this type).
 */

export type MountPropagation = 'private' | 'rslave' | 'rshared';

export interface ContainerMountRequest {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  /** Default 'private' (rprivate). */
  propagation?: MountPropagation;
  selinuxRelabel?: boolean;
}

export interface ContainerDeviceRequest {
  containerPath: string;
  hostPath: string;
  /** Any combination of r, w, m; '' or absent = 'rwm'. */
  permissions?: string;
}

/** Cgroup limits; absent or 0 = unset (cpuQuota: absent = unset, any other value is written). */
export interface ContainerResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  memoryLimitInBytes?: number;
  /** memory+swap total; applied only where swap accounting exists. */
  memorySwapLimitInBytes?: number;
  hugepageLimits?: { pageSize: string; limit: number }[];
  /** cgroup v2 unified key/values. */
  unified?: Record<string, string>;
  /** Maximum number of tasks (> 0); absent = unset. */
  pidsLimit?: number;
  /** -1000..1000; absent = inherit. */
  oomScoreAdj?: number;
}

export type PidNamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

export interface SecurityProfileRequest {
  kind: 'unconfined' | 'runtime-default' | 'localhost';
  /** localhost: an absolute path (seccomp JSON) or a profile name (AppArmor). */
  localhostRef?: string;
}

export interface ContainerSecurityContext {
  capabilities?: { add: string[]; drop: string[] };
  privileged?: boolean;
  /** pid default 'CONTAINER'; TARGET needs targetId (a running container of the manager). */
  namespaceOptions?: { pid: PidNamespaceMode; targetId?: string };
  runAsUser?: number;
  runAsUsername?: string;
  runAsGroup?: number;
  readonlyRootfs?: boolean;
  supplementalGroups?: number[];
  /** Absent: unconfined. */
  seccomp?: SecurityProfileRequest;
  /** Absent: none. */
  apparmor?: SecurityProfileRequest;
  noNewPrivs?: boolean;
  /** Absent: the defaults (DEFAULT_MASKED_PATHS / DEFAULT_READONLY_PATHS); ignored when privileged. */
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** Accepted and recorded; not applied (no SELinux on the hosts berth targets). */
  selinux?: { user: string; role: string; type: string; level: string };
}

export interface ContainerRequest {
  name: string;
  attempt?: number;
  /** An image reference or ID in the image store. */
  image: string;
  /** Replaces the image's Entrypoint (and drops its Cmd) when non-empty. */
  command?: string[];
  /** Replaces the image's Cmd when non-empty. */
  args?: string[];
  workingDir?: string;
  /** Added over the image's Env (same key: this wins). */
  env?: { key: string; value: string }[];
  mounts?: ContainerMountRequest[];
  devices?: ContainerDeviceRequest[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** Relative to the pod's log directory; '' or absent (or a pod without one) = no log file. */
  logPath?: string;
  tty?: boolean;
  stdin?: boolean;
  stdinOnce?: boolean;
  linux?: { resources?: ContainerResources; securityContext?: ContainerSecurityContext };
}

/** The paths an error message names for each faulty field (see CRI_FIELD_NAMES). */
export interface FieldNames {
  name: string;
  image: string;
  /** Indexed: `${mounts}[i].${mountContainerPath}`. */
  mounts: string;
  mountContainerPath: string;
  mountHostPath: string;
  devices: string;
  deviceContainerPath: string;
  deviceHostPath: string;
  devicePermissions: string;
  capAdd: string;
  capDrop: string;
  seccompLocalhostRef: string;
  apparmor: string;
  pid: string;
  targetId: string;
  runAsUser: string;
  runAsUsername: string;
  runAsGroup: string;
  oomScoreAdj: string;
}

export const PLAIN_FIELD_NAMES: FieldNames = {
  name: 'name',
  image: 'image',
  mounts: 'mounts',
  mountContainerPath: 'containerPath',
  mountHostPath: 'hostPath',
  devices: 'devices',
  deviceContainerPath: 'containerPath',
  deviceHostPath: 'hostPath',
  devicePermissions: 'permissions',
  capAdd: 'linux.securityContext.capabilities.add',
  capDrop: 'linux.securityContext.capabilities.drop',
  seccompLocalhostRef: 'linux.securityContext.seccomp.localhostRef',
  apparmor: 'linux.securityContext.apparmor',
  pid: 'linux.securityContext.namespaceOptions.pid',
  targetId: 'linux.securityContext.namespaceOptions.targetId',
  runAsUser: 'linux.securityContext.runAsUser',
  runAsUsername: 'linux.securityContext.runAsUsername',
  runAsGroup: 'linux.securityContext.runAsGroup',
  oomScoreAdj: 'linux.resources.oomScoreAdj',
};

/** The CRI CreateContainerRequest paths (what critest and kubelet users see). */
export const CRI_FIELD_NAMES: FieldNames = {
  name: 'config.metadata.name',
  image: 'config.image.image',
  mounts: 'config.mounts',
  mountContainerPath: 'container_path',
  mountHostPath: 'host_path',
  devices: 'config.devices',
  deviceContainerPath: 'container_path',
  deviceHostPath: 'host_path',
  devicePermissions: 'permissions',
  capAdd: 'config.linux.security_context.capabilities.add_capabilities',
  capDrop: 'config.linux.security_context.capabilities.drop_capabilities',
  seccompLocalhostRef: 'config.linux.security_context.seccomp.localhost_ref',
  apparmor: 'config.linux.security_context.apparmor',
  pid: 'config.linux.security_context.namespace_options.pid',
  targetId: 'config.linux.security_context.namespace_options.target_id',
  runAsUser: 'config.linux.security_context.run_as_user',
  runAsUsername: 'config.linux.security_context.run_as_username',
  runAsGroup: 'config.linux.security_context.run_as_group',
  oomScoreAdj: 'config.linux.resources.oom_score_adj',
};

/** The last segment of a field path (for messages naming a sibling field). */
export function fieldLeaf(p: string): string {
  const i = p.lastIndexOf('.');
  return i < 0 ? p : p.slice(i + 1);
}
