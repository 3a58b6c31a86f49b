/**
 * The container RPCs of the CRI RuntimeService over ContainerManager: request/response conversion
 * only (the container half of cri-adapter.ts).
 */
import type * as cri from '../cri/generated';
import type { RuntimeServiceImpl } from '../cri/service';
import type { StreamingServer } from '../cri/streaming/types';
import { BerthError } from '../runtime/errors';
import type { PodManager } from './pods';
import type { ContainerManager, ContainerState, ContainerStatsView, ContainerView, PodStatsView } from './containers';
import type { CpuFigures, InterfaceCounters, MemoryFigures } from './container-stats';
import { CRI_FIELD_NAMES } from './container-request';
import { criContainerRequest, criContainerResources, criPropagation } from './cri-container-request';
import { containerEventsRpc } from './cri-events';

export type ContainerRpcs = Pick<
  RuntimeServiceImpl,
  | 'CreateContainer'
  | 'StartContainer'
  | 'StopContainer'
  | 'RemoveContainer'
  | 'ListContainers'
  | 'ContainerStatus'
  | 'ReopenContainerLog'
  | 'UpdateContainerResources'
  | 'ExecSync'
  | 'ContainerStats'
  | 'ListContainerStats'
  | 'PodSandboxStats'
  | 'ListPodSandboxStats'
  | 'RuntimeConfig'
  | 'GetContainerEvents'
>;

function u64(n: number): cri.UInt64Value {
  return { value: String(Math.max(0, Math.round(n))) };
}

function criCpu(at: string, c: CpuFigures): cri.CpuUsage {
  return {
    timestamp: at,
    usage_core_nano_seconds: u64(c.usageCoreNanoSeconds),
    ...(c.usageNanoCores !== undefined ? { usage_nano_cores: u64(c.usageNanoCores) } : {}),
  };
}

function criMemory(at: string, m: MemoryFigures): cri.MemoryUsage {
  return {
    timestamp: at,
    working_set_bytes: u64(m.workingSetBytes),
    usage_bytes: u64(m.usageBytes),
    rss_bytes: u64(m.rssBytes),
    page_faults: u64(m.pageFaults),
    major_page_faults: u64(m.majorPageFaults),
    ...(m.availableBytes !== undefined ? { available_bytes: u64(m.availableBytes) } : {}),
  };
}

export function criContainerStats(v: ContainerStatsView): cri.ContainerStats {
  const m = v.meta;
  return {
    attributes: { id: m.id, metadata: { name: m.metadata.name, attempt: m.metadata.attempt }, labels: m.labels, annotations: m.annotations },
    cpu: criCpu(v.at, v.cpu),
    memory: criMemory(v.at, v.memory),
    writable_layer: { timestamp: v.writable.at, fs_id: { mountpoint: v.writable.mountpoint }, used_bytes: u64(v.writable.bytes), inodes_used: u64(v.writable.inodes) },
  };
}

function criIface(i: InterfaceCounters): cri.NetworkInterfaceUsage {
  return { name: i.name, rx_bytes: u64(i.rxBytes), rx_errors: u64(i.rxErrors), tx_bytes: u64(i.txBytes), tx_errors: u64(i.txErrors) };
}

export function criPodStats(v: PodStatsView): cri.PodSandboxStats {
  const p = v.pod;
  return {
    attributes: { id: p.id, metadata: { ...p.metadata }, labels: p.labels, annotations: p.annotations },
    linux: {
      cpu: criCpu(v.at, v.cpu),
      memory: criMemory(v.at, v.memory),
      ...(v.network
        ? { network: { timestamp: v.at, ...(v.network.default ? { default_interface: criIface(v.network.default) } : {}), interfaces: v.network.interfaces.map(criIface) } }
        : {}),
      process: { timestamp: v.at, process_count: u64(v.processes) },
      containers: v.containers.map(criContainerStats),
    },
  };
}

function criMount(m: ContainerView['meta']['mounts'][number]): cri.Mount {
  return {
    container_path: m.containerPath,
    host_path: m.hostPath,
    readonly: m.readonly,
    propagation: criPropagation(m.propagation),
  };
}

function criContainer(v: ContainerView): cri.Container {
  const m = v.meta;
  return {
    id: m.id,
    pod_sandbox_id: m.podId,
    metadata: { name: m.metadata.name, attempt: m.metadata.attempt },
    image: { image: m.imageId, annotations: {}, user_specified_image: m.image },
    image_ref: m.imageId,
    image_id: m.imageId,
    state: v.state,
    created_at: m.createdAt,
    labels: m.labels,
    annotations: m.annotations,
  };
}

export function criContainerStatus(v: ContainerView): cri.ContainerStatus {
  const m = v.meta;
  return {
    id: m.id,
    metadata: { name: m.metadata.name, attempt: m.metadata.attempt },
    state: v.state,
    created_at: m.createdAt,
    started_at: m.startedAt,
    finished_at: v.finishedAt,
    exit_code: v.exitCode,
    image: { image: m.image, annotations: {}, user_specified_image: m.image },
    image_ref: m.imageRef,
    image_id: m.imageId,
    reason: v.reason,
    message: v.message,
    labels: m.labels,
    annotations: m.annotations,
    mounts: m.mounts.map(criMount),
    log_path: m.logPath,
    user: { linux: { uid: String(m.user.uid), gid: String(m.user.gid), supplemental_groups: [m.user.gid, ...m.user.additionalGids].map(String) } },
  };
}

export function criContainerService(mgr: ContainerManager): ContainerRpcs {
  return {
    CreateContainer: async (req) => ({ container_id: await mgr.create(req.pod_sandbox_id, criContainerRequest(req.config), CRI_FIELD_NAMES) }),
    GetContainerEvents: containerEventsRpc(mgr),
    StartContainer: async (req) => {
      await mgr.start(req.container_id);
      return {};
    },
    StopContainer: async (req) => {
      await mgr.stop(req.container_id, Number(req.timeout));
      return {};
    },
    RemoveContainer: async (req) => {
      await mgr.remove(req.container_id);
      return {};
    },
    ListContainers: async (req) => {
      const f = req.filter;
      const views = await mgr.list(
        f
          ? {
              id: f.id,
              podId: f.pod_sandbox_id,
              labelSelector: f.label_selector,
              ...(f.state ? { state: f.state.state as ContainerState } : {}),
            }
          : undefined,
      );
      return { containers: views.map(criContainer) };
    },
    ExecSync: async (req) => {
      const r = await mgr.execSync(req.container_id, req.cmd, Number(req.timeout));
      return { stdout: r.stdout, stderr: r.stderr, exit_code: r.exitCode };
    },
    ContainerStats: async (req) => ({ stats: criContainerStats(await mgr.containerStats(req.container_id)) }),
    ListContainerStats: async (req) => {
      const f = req.filter;
      const list = await mgr.listContainerStats(f ? { id: f.id, podId: f.pod_sandbox_id, labelSelector: f.label_selector } : undefined);
      return { stats: list.map(criContainerStats) };
    },
    PodSandboxStats: async (req) => ({ stats: criPodStats(await mgr.podStats(req.pod_sandbox_id)) }),
    ListPodSandboxStats: async (req) => {
      const f = req.filter;
      const list = await mgr.listPodStats(f ? { id: f.id, labelSelector: f.label_selector } : undefined);
      return { stats: list.map(criPodStats) };
    },
    RuntimeConfig: async () => ({ linux: { cgroup_driver: mgr.cgroupDriver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' } }),
    ReopenContainerLog: async (req) => {
      await mgr.reopenLog(req.container_id);
      return {};
    },
    UpdateContainerResources: async (req) => {
      await mgr.updateResources(req.container_id, req.linux ? criContainerResources(req.linux) : null);
      return {};
    },
    ContainerStatus: async (req) => {
      const v = await mgr.status(req.container_id);
      const info: Record<string, string> = {};
      if (req.verbose) {
        info.info = JSON.stringify({
          sandboxID: v.meta.podId,
          pid: v.meta.pid,
          monitorPid: v.meta.monitorPid,
          snapshotKey: v.meta.snapshotKey,
          runtimeType: 'berth',
          config: v.meta,
          exit: v.exit,
          runtimeSpec: mgr.savedSpec(v.meta.id),
        });
      }
      return { status: criContainerStatus(v), info };
    },
  };
}

// ---- streaming: Exec, Attach, PortForward (the work is done by container-stream.ts) ------------------

export type StreamingRpcs = Pick<RuntimeServiceImpl, 'Exec' | 'Attach' | 'PortForward'>;

/** kubelet's streaming-request rules: a container id, some stream, no stderr with a tty. */
function checkStreams(what: string, r: { container_id: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): void {
  if (r.container_id === '') throw new BerthError('INVALID_ARGUMENT', `${what}: container_id is required`);
  if (r.tty && r.stderr) throw new BerthError('INVALID_ARGUMENT', `${what}: tty and stderr cannot both be true`);
  if (!r.stdin && !r.stdout && !r.stderr) throw new BerthError('INVALID_ARGUMENT', `${what}: one of stdin, stdout, or stderr must be set`);
}

/** The container must exist (NOT_FOUND) and run (FAILED_PRECONDITION); returns its full id. */
async function runningContainer(mgr: ContainerManager, id: string): Promise<string> {
  const v = await mgr.status(id);
  if (v.state !== 'CONTAINER_RUNNING') throw new BerthError('FAILED_PRECONDITION', `container ${v.meta.id} is not running (${v.state})`);
  return v.meta.id;
}

/**
 * Exec, Attach and PortForward: validated here, answered with single-use URLs of the streaming server
 * (`server()` throws UNSUPPORTED-style errors when none runs).
 */
export function criStreamingService(mgr: ContainerManager, pods: PodManager, server: () => StreamingServer): StreamingRpcs {
  return {
    Exec: async (req) => {
      checkStreams('exec', req);
      if (req.cmd.length === 0 || req.cmd[0] === '') throw new BerthError('INVALID_ARGUMENT', 'exec: cmd is required');
      const containerId = await runningContainer(mgr, req.container_id);
      return { url: server().execUrl({ containerId, cmd: [...req.cmd], tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }) };
    },
    Attach: async (req) => {
      checkStreams('attach', req);
      const containerId = await runningContainer(mgr, req.container_id);
      return { url: server().attachUrl({ containerId, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }) };
    },
    PortForward: async (req) => {
      if (req.pod_sandbox_id === '') throw new BerthError('INVALID_ARGUMENT', 'port forward: pod_sandbox_id is required');
      const pod = pods.require(req.pod_sandbox_id);
      if (pods.stateOf(pod) !== 'SANDBOX_READY') throw new BerthError('FAILED_PRECONDITION', `pod sandbox ${pod.id} is not ready`);
      for (const p of req.port) {
        if (!Number.isInteger(p) || p < 1 || p > 65535) throw new BerthError('INVALID_ARGUMENT', `port forward: ${p} is not a TCP port`);
      }
      return { url: server().portForwardUrl({ podSandboxId: pod.id, ports: [...req.port] }) };
    },
  };
}
