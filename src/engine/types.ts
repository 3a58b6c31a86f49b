/**
 * The engine's main types: what `berth run/create` asks for (RunOptions, parsed from docker's flags
 * by run-options.ts), the engine's own record of a docker-style container (ContainerRecord, stored by
 * store.ts under <root>/engine/records/), the views ps and inspect print, and the hooks other modules
 * plug in (volumes, --init, events).
 *
 * A docker-style container is one pod sandbox (PodManager: network, hostname, port mappings) plus
 * one container in it (ContainerManager). The record's `id` (64 hex) is the docker id, chosen before
 * anything is made; it stays the same across restarts even when the runtime container is made anew
 * (`containerId` is the current ContainerManager id).
 */

export type NetworkMode = 'bridge' | 'host' | 'none';
export type Protocol = 'tcp' | 'udp' | 'sctp';
export type PullPolicy = 'always' | 'missing' | 'never';

/** -p [hostIp:][hostPort:]containerPort[/proto]. hostPort 0: none asked for (not published). */
export interface PortSpec {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: Protocol;
}

/** -v / --mount. `source` is a host path (bind) or a volume name ('' = anonymous volume). */
export interface MountSpec {
  type: 'bind' | 'volume' | 'tmpfs';
  source: string;
  target: string;
  readonly: boolean;
  /** bind propagation: private (default), rslave, rshared. */
  propagation: 'private' | 'rslave' | 'rshared';
  /** Volume: do not copy the image's content into a new volume (volume-nocopy). */
  noCopy?: boolean;
}

export type RestartPolicyName = 'no' | 'always' | 'on-failure' | 'unless-stopped';

export interface RestartPolicy {
  name: RestartPolicyName;
  /** on-failure:N (0 = unlimited). */
  maximumRetryCount: number;
}

export type SeccompOption = { kind: 'default' } | { kind: 'unconfined' } | { kind: 'profile'; path: string };

/** Everything `berth run` / `berth create` takes, typed; persisted in the record (inspect, restart). */
export interface RunOptions {
  image: string;
  /** Arguments after IMAGE (docker's CMD override; [] = the image's CMD). */
  command: string[];
  /** --entrypoint: undefined = the image's; [] (from --entrypoint '') = none. */
  entrypoint?: string[];
  /** --name ('' = generated). */
  name: string;
  detach: boolean;
  interactive: boolean;
  tty: boolean;
  /** --rm */
  autoRemove: boolean;
  /** KEY=VALUE, in order (--env-file entries first, then -e). */
  env: string[];
  workdir?: string;
  user?: string;
  mounts: MountSpec[];
  ports: PortSpec[];
  network: NetworkMode;
  hostname?: string;
  labels: Record<string, string>;
  /** --memory in bytes. */
  memory?: number;
  /** --cpus (fractional CPUs). */
  cpus?: number;
  pidsLimit?: number;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  readOnly: boolean;
  seccomp: SeccompOption;
  noNewPrivileges: boolean;
  /** --runtime: a berth handler name or an OCI runtime binary (runc, crun, a path); undefined = berth. */
  runtime?: string;
  pull: PullPolicy;
  restart: RestartPolicy;
  init: boolean;
  /** --stop-signal (name or number), --stop-timeout seconds. */
  stopSignal?: string;
  stopTimeout?: number;
}

/**
 * 'creating': a create is under way (or died: recovered under the engine lock, which the creator holds
 * for the whole create, so a 'creating' record seen by a lock holder is always stale).
 * 'created': pod and container exist.
 */
export type RecordPhase = 'creating' | 'created';

export interface ContainerRecord {
  version: 1;
  /**
   * The docker id (64 hex, random, fixed when the create begins: the record's file name, the pod's
   * metadata name/uid and the default hostname's first 12 characters). Stable across restarts.
   */
  id: string;
  /** The current ContainerManager container ('' while creating or between a restart's remove and create). */
  containerId: string;
  /** The pod sandbox ('' while creating). */
  podId: string;
  name: string;
  phase: RecordPhase;
  /** RFC 3339 (ISO) creation time. */
  created: string;
  /** The image as named, and its ID (sha256:...). */
  image: string;
  imageId: string;
  options: RunOptions;
  /** Resolved runtime: berth's own handler or an OCI binary. */
  runtime: { kind: 'berth' } | { kind: 'oci'; name: string; binary: string };
  /** Named and anonymous volumes the container mounts (anonymous ones are removed by rm -v / --rm). */
  volumes: { name: string; anonymous: boolean }[];
  restartCount: number;
  /** Set by stop/kill from the CLI (restart policies do not restart then), cleared by start. */
  stoppedByUser: boolean;
  /** The last start (ISO, '' = never) and the last recorded exit. */
  startedAt: string;
  lastExit: { exitCode: number; finishedAt: string; oomKilled: boolean } | null;
  /** The CRI log the monitor writes. */
  logPath: string;
  /** The process (entrypoint + cmd resolved against the image at create; without the init). */
  argv: string[];
  /** What ContainerManager.create was given (a restart makes the runtime container anew from it). */
  request?: import('../daemon/container-request').ContainerRequest;
  /** A restart policy is bringing it back (set and cleared by restart.ts / start). */
  restarting?: boolean;
}

/** docker's states. */
export type EngineState = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

export interface ContainerSummary {
  id: string;
  name: string;
  image: string;
  imageId: string;
  command: string;
  /** ISO. */
  created: string;
  state: EngineState;
  /** "Up 3 minutes", "Exited (0) 2 seconds ago", "Created". */
  status: string;
  ports: PortSpec[];
  labels: Record<string, string>;
  exitCode: number | null;
  startedAt: string;
  finishedAt: string;
  /** 'berth' for the engine's own, 'berthd' for a container of the CRI daemon (read-only here). */
  createdBy: 'berth' | 'berthd';
  pid: number;
}

/** The paths another module needs about a running or created container (attach, exec, cp, top). */
export interface ContainerRuntimeInfo {
  id: string;
  containerId: string;
  podId: string;
  /** Host pid of the container's process (0 when not running). */
  pid: number;
  pidStartTime: string;
  /** The monitor's sockets. */
  attachSocket: string;
  ctlSocket: string;
  /** The mounted rootfs (bundle/rootfs). */
  rootfs: string;
  cgroupsPath: string;
  logPath: string;
  tty: boolean;
  stdin: boolean;
}

/** Named volumes (src/engine/volumes.ts implements it): resolved before the container is made. */
export interface VolumeProvider {
  /**
   * The host directory for a volume mount (source '' = a new anonymous volume), created when missing.
   * `created`: it was made now (and is empty), so the image's content at the target may be copied in.
   */
  resolve(m: MountSpec, containerId: string): Promise<{ name: string; hostPath: string; anonymous: boolean; created: boolean }>;
  /**
   * After the container is created (not started), for each volume mount without nocopy: copy what the
   * image has at `target` (resolved inside `rootfs`, the container's mounted rootfs) into the volume
   * if it was never populated (the provider keeps track).
   */
  populate?(volume: { name: string; hostPath: string }, rootfs: string, target: string): Promise<void>;
  /** rm -v / --rm: remove these anonymous volumes (those no other container uses). */
  removeVolumes?(names: string[]): Promise<void>;
}

/** --init (src/engine/init.ts): a binary bind-mounted read-only into the container, put before the argv. */
export interface InitProvider {
  hostPath: string;
  containerPath: string;
  wrap(argv: string[]): string[];
}

export type EngineEventAction = 'create' | 'start' | 'die' | 'stop' | 'kill' | 'destroy' | 'rename' | 'restart' | 'attach' | 'pause' | 'unpause';

/** What the engine reports as it acts (src/engine/events.ts journals it). */
export interface EngineEvent {
  action: EngineEventAction;
  id: string;
  name: string;
  image: string;
  attributes?: Record<string, string>;
}
