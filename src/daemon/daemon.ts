/**
 * berthd's wiring: config -> image manager, CNI, pod manager -> CRI services -> the gRPC server.
 * close() stops serving and leaves pods (and, later, containers) running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startCriServer } from '../cri/server';
import { BerthError } from '../runtime/errors';
import { CniManager } from '../pod';
import { checkHost, type DaemonConfig } from './config';
import { criImageService, criRuntimeService } from './cri-adapter';
import { ImageManager } from './images';
import type { Logger } from './log';
import { PodManager, type PodContainerHooks, type PodNetworking } from './pods';
import { ContainerManager } from './containers';
import { criContainerService, criStreamingService } from './containers-cri';
import { streamingRuntime } from './container-stream';
import { startStreamingServer, type StreamingServer } from '../cri/streaming';
import type { PartialRuntimeService } from '../cri/service';

export interface Daemon {
  readonly socketPath: string;
  readonly config: DaemonConfig;
  readonly pods: PodManager;
  readonly images: ImageManager;
  /** berth's own containers (null when DaemonOptions.containers replaced them). */
  readonly containers: ContainerManager | null;
  close(): Promise<void>;
}

export interface DaemonOptions {
  /** Replace the CNI manager (tests). */
  cni?: PodNetworking;
  /** The pods' containers, for Stop/RemovePodSandbox (next stage). */
  containers?: PodContainerHooks;
  /** More RuntimeService methods (containers, streaming, stats: next stage), merged over the pod ones. */
  extraRuntime?: (pods: PodManager, images: ImageManager) => PartialRuntimeService;
  /** Whether systemd runs here (tests); default: /run/systemd/system exists. */
  isSystemd?: () => boolean;
}

/** A group name or numeric gid -> gid (from /etc/group). */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = fs.readFileSync(groupFile, 'utf8');
  } catch {
    text = '';
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new BerthError('INVALID_CONFIG', `socket_group: no group named ${JSON.stringify(group)} in ${groupFile}`);
}

/**
 * Wrap every method of a service so each call logs one debug line (method, ms, error), without
 * changing what it returns or throws.
 */
export function withCallLog<T extends object>(service: T, log: Logger): T {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(service)) {
    if (typeof fn !== 'function') continue;
    const method = fn as (...args: unknown[]) => Promise<unknown>;
    out[name] = async (...args: unknown[]): Promise<unknown> => {
      const t0 = Date.now();
      try {
        const res = await method(...args);
        log.debug('call', { method: name, ms: Date.now() - t0 });
        return res;
      } catch (err) {
        log.debug('call failed', { method: name, ms: Date.now() - t0, err: err instanceof Error ? err.message : String(err) });
        throw err;
      }
    };
  }
  return out as T;
}

/** host:port (IPv6 hosts in brackets) -> listen address and port. */
export function parseStreamAddress(v: string): { address: string; port: number } {
  const i = v.lastIndexOf(':');
  const host = v.slice(0, i);
  return { address: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port: Number(v.slice(i + 1)) };
}

export async function startDaemon(cfg: DaemonConfig, log: Logger, opts: DaemonOptions = {}): Promise<Daemon> {
  checkHost(cfg, opts.isSystemd);
  const socketGid = cfg.socketGroup !== undefined ? resolveGroup(cfg.socketGroup) : undefined;
  fs.mkdirSync(cfg.root, { recursive: true, mode: 0o711 });
  fs.mkdirSync(cfg.runRoot, { recursive: true, mode: 0o711 });
  const images = new ImageManager({ root: cfg.root, hostsDir: cfg.registryHostsDir, log });
  const cni =
    opts.cni ?? new CniManager({ confDir: cfg.cni.confDir, binDirs: cfg.cni.binDirs, cacheDir: path.join(cfg.root, 'cni', 'results') });
  const handlerNames = Object.keys(cfg.runtimes).sort();
  let podsRef: PodManager | undefined;
  const containers = opts.containers
    ? null
    : new ContainerManager({
        root: cfg.root,
        runRoot: cfg.runRoot,
        images,
        pods: () => {
          if (podsRef === undefined) throw new BerthError('INTERNAL', 'pod manager not ready');
          return podsRef;
        },
        log,
        cgroupDriver: cfg.cgroupDriver,
        restrictOomScoreAdj: cfg.restrictOomScoreAdj,
        handlerType: (name) => cfg.runtimes[name === '' ? cfg.defaultRuntime : name]?.type ?? 'berth',
        handler: (name) => cfg.runtimes[name === '' ? cfg.defaultRuntime : name],
      });
  if (containers) images.service.imageUsers = (id) => Promise.resolve(containers.usersOf(id));
  const pods = new PodManager({
    root: cfg.root,
    runRoot: cfg.runRoot,
    cni,
    handlers: handlerNames,
    defaultHandler: cfg.defaultRuntime,
    log,
    ...(opts.containers ? { containers: opts.containers } : containers ? { containers } : {}),
  });
  podsRef = pods;
  await pods.recover();
  await containers?.recover();
  const runtime = criRuntimeService({
    pods,
    handlers: () => ['', ...handlerNames],
    verboseInfo: () => ({
      config: JSON.stringify({
        root: cfg.root,
        runRoot: cfg.runRoot,
        sandboxImage: cfg.sandboxImage,
        cgroupDriver: cfg.cgroupDriver,
        defaultRuntime: cfg.defaultRuntime,
        runtimes: cfg.runtimes,
        cni: cfg.cni,
        registryHostsDir: cfg.registryHostsDir,
        streamAddress: cfg.streamAddress,
        restrictOomScoreAdj: cfg.restrictOomScoreAdj,
      }),
    }),
  });
  let streaming: StreamingServer | null = null;
  if (containers) {
    streaming = await startStreamingServer({ ...parseStreamAddress(cfg.streamAddress), runtime: streamingRuntime(containers, pods) });
    log.info('streaming server listening', { url: streaming.baseUrl });
  }
  const streamingRpcs = containers
    ? criStreamingService(containers, pods, () => {
        if (streaming === null) throw new BerthError('UNSUPPORTED', 'the streaming server is not running');
        return streaming;
      })
    : {};
  const server = await startCriServer({
    socketPath: cfg.socket,
    runtime: withCallLog({ ...runtime, ...(containers ? criContainerService(containers) : {}), ...streamingRpcs, ...(opts.extraRuntime?.(pods, images) ?? {}) }, log),
    image: withCallLog(criImageService(images, log), log),
    ...(socketGid !== undefined ? { socketGid, socketMode: 0o660 } : {}),
    onInternalError: (method, err) => log.error('internal error', { method, err: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  }).catch(async (err: unknown) => {
    await (streaming as StreamingServer | null)?.close().catch(() => undefined);
    throw err;
  });
  log.info('berthd serving CRI', { socket: server.socketPath, root: cfg.root, runRoot: cfg.runRoot });
  return {
    socketPath: server.socketPath,
    config: cfg,
    pods,
    images,
    containers,
    close: async () => {
      await server.close();
      await streaming?.close();
      log.info('berthd stopped serving; pods are left running', { socket: server.socketPath });
    },
  };
}
