/**
 * RunOptions -> what the managers take: the pod request (PodManager.run) and the ContainerRequest
 * (ContainerManager.create). Pure functions; the engine supplies what it resolved (image config,
 * volume host paths, the init binary).
 */
import type { ContainerMountRequest, ContainerRequest, ContainerSecurityContext, ContainerResources } from '../daemon/container-request';
import type { RunPodRequest } from '../daemon/pods';
import { BerthError } from '../runtime/errors';
import type { RunOptions } from './types';

/** The namespace of the engine's pods (their metadata), and the label naming the record. */
export const POD_NAMESPACE = 'berth-engine';
export const LABEL_ID = 'io.berth.engine.id';

/**
 * The process docker runs: --entrypoint replaces the image's Entrypoint and drops its Cmd; arguments
 * after IMAGE replace the Cmd. Empty: "no command specified" (125).
 */
export function effectiveArgv(o: Pick<RunOptions, 'entrypoint' | 'command'>, image: { entrypoint: string[]; cmd: string[] }): string[] {
  let argv: string[];
  if (o.entrypoint !== undefined) argv = [...o.entrypoint, ...o.command];
  else argv = [...image.entrypoint, ...(o.command.length > 0 ? o.command : image.cmd)];
  if (argv.length === 0) throw new BerthError('INVALID_ARGUMENT', 'no command specified: the image has no Cmd or Entrypoint and none was given');
  return argv;
}

/** -u: "uid", "uid:gid", "name", "name:group" -> the request's runAs fields. */
export function userFields(user: string | undefined): Pick<ContainerSecurityContext, 'runAsUser' | 'runAsUsername' | 'runAsGroup'> {
  if (user === undefined || user === '') return {};
  const [u, g] = user.split(':', 2) as [string, string | undefined];
  if (u === '') throw new BerthError('INVALID_ARGUMENT', `invalid --user ${JSON.stringify(user)}`);
  const out: Pick<ContainerSecurityContext, 'runAsUser' | 'runAsUsername' | 'runAsGroup'> = {};
  if (g !== undefined && g !== '' && !/^\d+$/.test(g)) {
    // a group by name: the image-config user string resolves it ("name:group" in /etc/group)
    out.runAsUsername = user;
    return out;
  }
  if (/^\d+$/.test(u)) out.runAsUser = Number(u);
  else out.runAsUsername = u;
  if (g !== undefined && g !== '') out.runAsGroup = Number(g);
  return out;
}

/** docker's --cpus: quota over a 100 ms period. */
export function resources(o: Pick<RunOptions, 'memory' | 'cpus' | 'pidsLimit'>): ContainerResources {
  const r: ContainerResources = {};
  if (o.memory !== undefined) r.memoryLimitInBytes = o.memory;
  if (o.cpus !== undefined) {
    r.cpuPeriod = 100_000;
    r.cpuQuota = Math.max(1000, Math.round(o.cpus * 100_000));
  }
  if (o.pidsLimit !== undefined) r.pidsLimit = o.pidsLimit;
  return r;
}

export function securityContext(o: RunOptions): ContainerSecurityContext {
  const sc: ContainerSecurityContext = {
    capabilities: { add: [...o.capAdd], drop: [...o.capDrop] },
    privileged: o.privileged,
    namespaceOptions: { pid: 'CONTAINER' },
    readonlyRootfs: o.readOnly,
    noNewPrivs: o.noNewPrivileges,
    ...userFields(o.user),
  };
  if (o.privileged || o.seccomp.kind === 'unconfined') sc.seccomp = { kind: 'unconfined' };
  else if (o.seccomp.kind === 'profile') sc.seccomp = { kind: 'localhost', localhostRef: o.seccomp.path };
  else sc.seccomp = { kind: 'runtime-default' };
  return sc;
}

/** env list KEY=VALUE -> request pairs (later entries win in the runtime, as docker's). */
export function envPairs(env: readonly string[]): { key: string; value: string }[] {
  return env.map((e) => {
    const i = e.indexOf('=');
    return i < 0 ? { key: e, value: '' } : { key: e.slice(0, i), value: e.slice(i + 1) };
  });
}

export interface RequestInputs {
  id: string;
  name: string;
  /** The image ID (sha256:...) the record resolved: later tags cannot change what a restart runs. */
  image: string;
  /** The process, with the init in front when --init (from effectiveArgv). */
  argv: string[];
  /** Binds and resolved volumes, plus the init binary. */
  mounts: ContainerMountRequest[];
  /** Relative to the pod's log directory. */
  logPath: string;
}

export function containerRequest(o: RunOptions, x: RequestInputs): ContainerRequest {
  return {
    name: x.name,
    attempt: 0,
    image: x.image,
    command: [...x.argv],
    ...(o.workdir !== undefined ? { workingDir: o.workdir } : {}),
    env: envPairs(o.env),
    mounts: x.mounts,
    labels: { ...o.labels, [LABEL_ID]: x.id },
    annotations: {},
    logPath: x.logPath,
    tty: o.tty,
    stdin: o.interactive,
    stdinOnce: false,
    linux: { resources: resources(o), securityContext: securityContext(o) },
  };
}

/** The pod of a docker-style container: its network mode, hostname and published ports. */
export function podRequest(o: RunOptions, x: { id: string; logDirectory: string; runtimeHandler: string }): RunPodRequest {
  return {
    metadata: { name: x.id, uid: x.id, namespace: POD_NAMESPACE, attempt: 0 },
    hostname: o.network === 'host' ? '' : (o.hostname ?? x.id.slice(0, 12)),
    logDirectory: x.logDirectory,
    dns: null,
    portMappings: o.network === 'bridge' ? o.ports.filter((p) => p.hostPort !== 0).map((p) => ({ protocol: p.protocol, containerPort: p.containerPort, hostPort: p.hostPort, hostIp: p.hostIp })) : [],
    labels: { [LABEL_ID]: x.id },
    annotations: {},
    cgroupParent: '',
    namespaceOptions: { network: o.network === 'host' ? 'NODE' : 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' },
    sysctls: {},
    runtimeHandler: x.runtimeHandler,
  };
}
