/**
 * The edge between the CRI protobuf types and berthd's plain modules: request -> plain values,
 * plain values -> response. Only this file (and src/cri/) knows protobuf types. RPCs for containers,
 * streaming, stats and events are left out and so answer UNIMPLEMENTED (next stage).
 */
import type * as cri from '../cri/generated';
import type { ImageServiceImpl, RuntimeServiceImpl } from '../cri/service';
import { basicRuntimeService } from '../cri/basic';
import { unixNanos } from '../cri/int64';
import type { ImageManager, ImageView } from './images';
import type { PodManager, PodState, PodView, RunPodRequest } from './pods';
import type { NamespaceMode } from './pod-store';
import type { Logger } from './log';

function nsMode(v: cri.NamespaceOption__Output['network'] | undefined, dflt: NamespaceMode): NamespaceMode {
  return v === undefined ? dflt : v;
}

export function runPodRequest(req: cri.RunPodSandboxRequest__Output): RunPodRequest {
  const c = req.config;
  const linux = c?.linux ?? null;
  const nso = linux?.security_context?.namespace_options ?? null;
  return {
    metadata: c?.metadata ? { name: c.metadata.name, uid: c.metadata.uid, namespace: c.metadata.namespace, attempt: c.metadata.attempt } : null,
    hostname: c?.hostname ?? '',
    logDirectory: c?.log_directory ?? '',
    dns: c?.dns_config ? { servers: [...c.dns_config.servers], searches: [...c.dns_config.searches], options: [...c.dns_config.options] } : null,
    portMappings: (c?.port_mappings ?? []).map((p) => ({ protocol: p.protocol, containerPort: p.container_port, hostPort: p.host_port, hostIp: p.host_ip })),
    labels: { ...(c?.labels ?? {}) },
    annotations: { ...(c?.annotations ?? {}) },
    cgroupParent: linux?.cgroup_parent ?? '',
    namespaceOptions: nso
      ? { network: nsMode(nso.network, 'POD'), pid: nsMode(nso.pid, 'CONTAINER'), ipc: nsMode(nso.ipc, 'POD'), targetId: nso.target_id }
      : null,
    sysctls: { ...(linux?.sysctls ?? {}) },
    runtimeHandler: req.runtime_handler,
  };
}

function podMetadata(v: PodView): cri.PodSandboxMetadata {
  const m = v.record.metadata;
  return { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt };
}

function podSandbox(v: PodView): cri.PodSandbox {
  const r = v.record;
  return { id: r.id, metadata: podMetadata(v), state: v.state, created_at: r.createdAt, labels: r.labels, annotations: r.annotations, runtime_handler: r.runtimeHandler };
}

export function podStatus(v: PodView): cri.PodSandboxStatus {
  const r = v.record;
  const [ip, ...more] = v.state === 'SANDBOX_READY' ? r.ips : [];
  return {
    id: r.id,
    metadata: podMetadata(v),
    state: v.state,
    created_at: r.createdAt,
    network: { ip: ip ?? '', additional_ips: more.map((a) => ({ ip: a })) },
    linux: { namespaces: { options: { network: r.namespaceOptions.network, pid: r.namespaceOptions.pid, ipc: r.namespaceOptions.ipc, target_id: r.namespaceOptions.targetId } } },
    labels: r.labels,
    annotations: r.annotations,
    runtime_handler: r.runtimeHandler,
  };
}

export interface RuntimeAdapterOptions {
  pods: PodManager;
  handlers: () => string[];
  verboseInfo: () => Record<string, string>;
}

export function criRuntimeService(o: RuntimeAdapterOptions): Partial<RuntimeServiceImpl> {
  const { pods } = o;
  return {
    ...basicRuntimeService({
      runtime: () => ({ ready: true }),
      network: () => pods.networkStatus(),
      handlers: o.handlers,
      verboseInfo: o.verboseInfo,
    }),
    RunPodSandbox: async (req) => ({ pod_sandbox_id: await pods.run(runPodRequest(req)) }),
    UpdateRuntimeConfig: async (req) => {
      await pods.updatePodCidr(req.runtime_config?.network_config?.pod_cidr ?? '', 'runtime_config.network_config.pod_cidr');
      return {};
    },
    StopPodSandbox: async (req) => {
      await pods.stop(req.pod_sandbox_id);
      return {};
    },
    RemovePodSandbox: async (req) => {
      await pods.remove(req.pod_sandbox_id);
      return {};
    },
    PodSandboxStatus: (req) => {
      const v = pods.status(req.pod_sandbox_id);
      const info: Record<string, string> = req.verbose ? { info: JSON.stringify({ ...v.record, state: v.state }) } : {};
      return Promise.resolve({ status: podStatus(v), info, containers_statuses: [], timestamp: unixNanos() });
    },
    ListPodSandbox: (req) => {
      const f = req.filter;
      const views = pods.list(
        f ? { id: f.id, ...(f.state ? { state: f.state.state as PodState } : {}), labelSelector: f.label_selector } : undefined,
      );
      return Promise.resolve({ items: views.map(podSandbox) });
    },
  };
}

function criImage(v: ImageView, spec: string): cri.Image {
  return {
    id: v.id,
    repo_tags: v.repoTags,
    repo_digests: v.repoDigests,
    size: String(v.size),
    ...(v.uid !== null ? { uid: { value: String(v.uid) } } : {}),
    username: v.username,
    spec: { image: spec === '' ? v.id : spec, annotations: {} },
    pinned: false,
  };
}

export function criImageService(images: ImageManager, log?: Logger): ImageServiceImpl {
  return {
    ListImages: async (req) => ({ images: (await images.list(req.filter?.image?.image ?? '')).map((v) => criImage(v, v.id)) }),
    ImageStatus: async (req) => {
      const spec = req.image?.image ?? '';
      const v = await images.status(spec);
      if (v === null) return { info: {} };
      const info: Record<string, string> = {};
      if (req.verbose) {
        let config: unknown = null;
        try {
          config = await images.service.config(v.records[0]!);
        } catch {
          config = null;
        }
        info.info = JSON.stringify({ id: v.id, records: v.records, imageConfig: config });
      }
      return { image: criImage(v, v.id), info };
    },
    PullImage: async (req, ctx) => {
      const sb = req.sandbox_config?.metadata;
      if (sb) log?.debug('PullImage for a pod', { image: req.image?.image ?? '', pod: `${sb.namespace}/${sb.name}` });
      const ref = await images.pull(req.image?.image ?? '', req.auth ?? null, ctx.signal);
      return { image_ref: ref };
    },
    RemoveImage: async (req) => {
      await images.remove(req.image?.image ?? '');
      return {};
    },
    ImageFsInfo: async () => {
      const u = await images.fsInfo();
      const conv = (f: (typeof u.images)[number]): cri.FilesystemUsage => ({
        timestamp: f.timestampNs,
        fs_id: { mountpoint: f.mountpoint },
        used_bytes: { value: String(f.usedBytes) },
        inodes_used: { value: String(f.inodesUsed) },
      });
      return { image_filesystems: u.images.map(conv), container_filesystems: u.containers.map(conv) };
    },
  };
}
