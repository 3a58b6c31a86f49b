/**
 * The pod network: what berthd calls. Chooses the network (config dir, else the built-in default),
 * brings up loopback, adds the pod to the network with kubelet's CNI_ARGS and the capability
 * arguments, keeps the result in the cache, tears down with DEL, and reports NetworkReady.
 */
import * as fs from 'node:fs';
import { BerthError } from '../../runtime/errors';
import { runChecked } from '../run';
import { addNetwork, checkNetwork, delNetwork, pluginVersions, requiredPluginTypes, requirePlugin, statusNetwork, type ExecOptions } from './attach';
import { DEFAULT_CACHE_DIR, ResultCache, checkContainerId, checkIfName, type CachedAttachment } from './cache';
import { DEFAULT_BIN_DIRS, DEFAULT_CONF_DIR, cidrFault, defaultNetworkConfig, loadNetwork, loopbackNetworkConfig, withPodCidrs } from './config';
import { CniConfigError } from './errors';
import { findPlugin } from './invoke';
import { asResult, podIP, type PodIPs } from './result';
import type { Attachment, BandwidthLimits, CapabilityArgs, CniResult, DnsCapability, LoadedNetwork, NetworkConfigList, PortMapping } from './types';
import { selectVersion } from './version';

export interface CniManagerOptions {
  /** Default /etc/cni/net.d. */
  confDir?: string;
  /** CNI_PATH directories, default /usr/lib/cni and /opt/cni/bin. */
  binDirs?: string[];
  /** Default /var/lib/berth/cni/results. */
  cacheDir?: string;
  /** The pod's interface, default eth0. */
  ifName?: string;
  /** Used when confDir has no config file: default the built-in network; null = none (not ready). */
  defaultNetwork?: NetworkConfigList | null;
  /** Bring up "lo" in the pod (the loopback plugin, else `ip link set lo up`). Default true. */
  loopback?: boolean;
  /** Per plugin call, default 60 s. */
  timeoutMs?: number;
}

export interface PodNetworkRequest {
  /** The sandbox id: CNI_CONTAINERID and K8S_POD_INFRA_CONTAINER_ID. */
  podId: string;
  /** The pod's network namespace file (CNI_NETNS). On teardown it may be gone: '' or absent is fine. */
  netns?: string;
  podName?: string;
  podNamespace?: string;
  podUid?: string;
  /** Mappings with hostPort 0 are skipped (no host port asked for), as containerd does. */
  portMappings?: PortMapping[];
  bandwidth?: BandwidthLimits;
  dns?: DnsCapability;
  cgroupPath?: string;
  /** More CNI_ARGS pairs, after kubelet's. */
  extraArgs?: [string, string][];
}

export interface PodNetwork {
  network: string;
  /** The config file the network came from ('' = the built-in default). */
  source: string;
  ifName: string;
  cniVersion: string;
  result: CniResult;
  ips: PodIPs;
}

/** CRI's NetworkReady condition. */
export interface NetworkStatus {
  ready: boolean;
  /** '' when ready, else 'NetworkPluginNotReady'. */
  reason: string;
  message: string;
}

export const NETWORK_NOT_READY = 'NetworkPluginNotReady';

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

function checkPort(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw new BerthError('INVALID_ARGUMENT', `${what} ${String(n)} is not a port number`);
  return n;
}

/** Port mappings for portmap: validated, protocol lower-cased, hostPort 0 dropped. */
export function normalizePortMappings(list: readonly PortMapping[]): PortMapping[] {
  const out: PortMapping[] = [];
  list.forEach((m, i) => {
    const hostPort = checkPort(m.hostPort, `portMappings[${i}].hostPort`);
    const containerPort = checkPort(m.containerPort, `portMappings[${i}].containerPort`);
    const protocol = String(m.protocol || 'tcp').toLowerCase();
    if (!PROTOCOLS.has(protocol)) throw new BerthError('INVALID_ARGUMENT', `portMappings[${i}].protocol ${JSON.stringify(m.protocol)} is not tcp, udp or sctp`);
    if (hostPort === 0) return;
    if (containerPort === 0) throw new BerthError('INVALID_ARGUMENT', `portMappings[${i}].containerPort must not be 0`);
    const pm: PortMapping = { hostPort, containerPort, protocol: protocol as PortMapping['protocol'] };
    if (m.hostIP) pm.hostIP = m.hostIP;
    out.push(pm);
  });
  return out;
}

/** CNI_ARGS as containerd passes them for kubelet. */
export function podCniArgs(req: PodNetworkRequest): [string, string][] {
  const args: [string, string][] = [['IgnoreUnknown', '1']];
  if (req.podNamespace !== undefined) args.push(['K8S_POD_NAMESPACE', req.podNamespace]);
  if (req.podName !== undefined) args.push(['K8S_POD_NAME', req.podName]);
  args.push(['K8S_POD_INFRA_CONTAINER_ID', req.podId]);
  if (req.podUid !== undefined) args.push(['K8S_POD_UID', req.podUid]);
  return [...args, ...(req.extraArgs ?? [])];
}

/** Capability arguments from the request (each reaches only plugins that declare it). */
export function podCapabilityArgs(req: PodNetworkRequest): CapabilityArgs {
  const caps: CapabilityArgs = {};
  const pm = normalizePortMappings(req.portMappings ?? []);
  if (pm.length > 0) caps.portMappings = pm;
  if (req.bandwidth !== undefined) caps.bandwidth = req.bandwidth;
  if (req.dns !== undefined) caps.dns = req.dns;
  if (req.cgroupPath !== undefined) caps.cgroupPath = req.cgroupPath;
  return caps;
}

function netnsOrEmpty(...candidates: (string | undefined)[]): string {
  for (const c of candidates) if (c && fs.existsSync(c)) return c;
  return '';
}

export class CniManager {
  readonly confDir: string;
  readonly binDirs: string[];
  readonly ifName: string;
  readonly cache: ResultCache;
  private fallback: NetworkConfigList | null;
  /** The built-in network as configured, before any pod CIDR. */
  private readonly baseFallback: NetworkConfigList | null;
  private readonly loopback: boolean;
  private readonly exec: ExecOptions;
  /** Operations on one pod run one at a time (SPEC.md: no parallel operations for a container). */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(opts: CniManagerOptions = {}) {
    this.confDir = opts.confDir ?? DEFAULT_CONF_DIR;
    this.binDirs = opts.binDirs ?? [...DEFAULT_BIN_DIRS];
    this.ifName = opts.ifName ?? 'eth0';
    checkIfName(this.ifName);
    this.cache = new ResultCache(opts.cacheDir ?? DEFAULT_CACHE_DIR);
    this.fallback = opts.defaultNetwork === undefined ? defaultNetworkConfig() : opts.defaultNetwork;
    this.baseFallback = this.fallback;
    this.loopback = opts.loopback !== false;
    this.exec = { binDirs: this.binDirs, timeoutMs: opts.timeoutMs };
  }

  private async locked<T>(podId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(podId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(podId, tail);
    try {
      return await next;
    } finally {
      if (this.locks.get(podId) === tail) this.locks.delete(podId);
    }
  }

  /**
   * Pod CIDRs (UpdateRuntimeConfig's pod_cidr, comma-separated for dual stack) become the host-local
   * ranges of the built-in default network, for pods set up afterwards; [] restores the configured
   * ranges. A network from the config directory is never changed. Returns whether the built-in network
   * took them (false: none, or one without host-local). Throws BerthError INVALID_ARGUMENT for a bad CIDR.
   */
  setPodCidrs(cidrs: readonly string[]): boolean {
    for (const c of cidrs) {
      const fault = cidrFault(c);
      if (fault !== null) throw new BerthError('INVALID_ARGUMENT', `pod CIDR ${JSON.stringify(c)}: ${fault}`);
    }
    if (this.baseFallback === null) return false;
    if (cidrs.length === 0) {
      this.fallback = this.baseFallback;
      return true;
    }
    const next = withPodCidrs(this.baseFallback, cidrs);
    if (next === null) return false;
    this.fallback = next;
    return true;
  }

  /** The network now in effect (re-read on every call, so a new config file takes effect). */
  network(): LoadedNetwork {
    const loaded = loadNetwork(this.confDir, this.fallback);
    if (loaded === null) throw new CniConfigError(this.confDir, '', 'no network configuration (*.conflist, *.conf, *.json) found');
    return loaded;
  }

  /** The spec version for a network: the highest its config offers that berth and all its plugins speak. */
  async version(net: NetworkConfigList): Promise<string> {
    const lists: string[][] = [];
    for (const type of net.plugins.map((p) => p.type)) lists.push(await pluginVersions(requirePlugin(type, this.exec), this.exec));
    const v = selectVersion([net.cniVersion, ...(net.cniVersions ?? [])], lists);
    if (v === null) {
      throw new CniConfigError('', `network ${net.name}`, `no CNI version common to the config (${[net.cniVersion, ...(net.cniVersions ?? [])].join(', ')}) and its plugins`);
    }
    return v;
  }

  /** NetworkReady: false with reason NetworkPluginNotReady when the config or a plugin is not usable. */
  async status(): Promise<NetworkStatus> {
    const notReady = (message: string): NetworkStatus => ({ ready: false, reason: NETWORK_NOT_READY, message });
    let loaded: LoadedNetwork;
    try {
      loaded = this.network();
    } catch (err) {
      return notReady(`cni config load failed: ${(err as Error).message}`);
    }
    const net = loaded.config;
    const missing = requiredPluginTypes(net).filter((t) => findPlugin(t, this.binDirs) === null);
    if (missing.length > 0) {
      return notReady(`network ${net.name}: CNI plugin ${missing.join(', ')} not found in ${this.binDirs.join(':')}`);
    }
    try {
      const version = await this.version(net);
      await statusNetwork(net, version, this.exec);
    } catch (err) {
      return notReady(`network ${net.name}: ${(err as Error).message}`);
    }
    return { ready: true, reason: '', message: '' };
  }

  private attachment(req: PodNetworkRequest, ifName: string): Attachment {
    checkContainerId(req.podId);
    return { containerId: req.podId, netns: req.netns ?? '', ifName, args: podCniArgs(req), capabilityArgs: podCapabilityArgs(req) };
  }

  private async loopbackUp(req: PodNetworkRequest): Promise<void> {
    if (!this.loopback || !req.netns) return;
    if (findPlugin('loopback', this.binDirs) !== null) {
      const net = loopbackNetworkConfig();
      const version = await this.version(net);
      await addNetwork(net, version, { ...this.attachment(req, 'lo'), capabilityArgs: {} }, this.exec);
      return;
    }
    await runChecked('nsenter', [`--net=${req.netns}`, 'ip', 'link', 'set', 'lo', 'up']);
  }

  private async loopbackDown(req: PodNetworkRequest, netns: string): Promise<void> {
    if (!this.loopback || findPlugin('loopback', this.binDirs) === null) return;
    const net = loopbackNetworkConfig();
    const version = await this.version(net);
    await delNetwork(net, version, { ...this.attachment(req, 'lo'), netns, capabilityArgs: {} }, null, this.exec);
  }

  /**
   * Add the pod to the network. On failure the pod is deleted from the network again (the spec
   * wants a DEL after a failed ADD) and the error is thrown.
   */
  setUpPod(req: PodNetworkRequest): Promise<PodNetwork> {
    return this.locked(req.podId, async () => {
      if (!req.netns) throw new BerthError('INVALID_ARGUMENT', 'setting up a pod network needs its network namespace');
      const loaded = this.network();
      const net = loaded.config;
      const version = await this.version(net);
      const att = this.attachment(req, this.ifName);
      const entry: CachedAttachment = {
        kind: 'berth-cni-cache/v1',
        network: net.name,
        containerId: att.containerId,
        ifName: att.ifName,
        netns: att.netns,
        args: att.args,
        capabilityArgs: att.capabilityArgs,
        config: net,
        cniVersion: version,
        result: null,
      };
      let result: CniResult;
      try {
        await this.loopbackUp(req);
        await this.cache.put(entry); // before ADD: a crash mid-ADD still leaves what DEL needs
        const raw = await addNetwork(net, version, att, this.exec);
        result = asResult(raw, net.plugins[net.plugins.length - 1].type);
        entry.result = raw;
        await this.cache.put(entry);
      } catch (err) {
        try {
          await delNetwork(net, version, att, entry.result, this.exec);
          this.cache.remove(net.name, att.containerId, att.ifName);
          await this.loopbackDown(req, att.netns);
        } catch {
          // the ADD error is what the caller needs; the cache entry stays for a later teardown
        }
        throw err;
      }
      return { network: net.name, source: loaded.source, ifName: att.ifName, cniVersion: version, result, ips: podIP(result) };
    });
  }

  /**
   * Delete the pod from its network(s): every cached attachment with the configuration and result it
   * was added with; with no cache entry, the current network with the request's parameters (DEL is
   * best effort and plugins accept unknown attachments). Idempotent.
   */
  tearDownPod(req: PodNetworkRequest): Promise<void> {
    return this.locked(req.podId, async () => {
      const entries = this.cache.forContainer(req.podId).filter((e) => e.ifName !== 'lo');
      let netns = netnsOrEmpty(req.netns);
      if (entries.length > 0) {
        for (const e of entries) {
          netns = netnsOrEmpty(req.netns, e.netns);
          const att: Attachment = { containerId: e.containerId, netns, ifName: e.ifName, args: e.args, capabilityArgs: e.capabilityArgs };
          await delNetwork(e.config, e.cniVersion, att, e.result, this.exec);
          this.cache.remove(e.network, e.containerId, e.ifName);
        }
      } else {
        let loaded: LoadedNetwork | null = null;
        try {
          loaded = this.network();
        } catch {
          loaded = null; // no usable config: nothing was added through it
        }
        if (loaded !== null) {
          const version = await this.version(loaded.config);
          await delNetwork(loaded.config, version, { ...this.attachment(req, this.ifName), netns }, null, this.exec);
        }
      }
      await this.loopbackDown(req, netns);
    });
  }

  /** CHECK the pod's attachment against its cached result. NOT_FOUND when it was never set up. */
  checkPod(req: PodNetworkRequest): Promise<void> {
    return this.locked(req.podId, async () => {
      const e = this.cache.forContainer(req.podId).find((c) => c.ifName === this.ifName);
      if (!e || e.result === null) throw new BerthError('NOT_FOUND', `pod ${req.podId} has no network attachment`);
      const att: Attachment = { containerId: e.containerId, netns: req.netns || e.netns, ifName: e.ifName, args: e.args, capabilityArgs: e.capabilityArgs };
      await checkNetwork(e.config, e.cniVersion, att, e.result, this.exec);
    });
  }

  /** Pods with a cached attachment: after a restart, those that no longer exist are torn down. */
  cachedPodIds(): string[] {
    return this.cache.containerIds();
  }

  /** The pod's network as cached (what a restarted berthd reports in PodSandboxStatus), or null. */
  podNetwork(podId: string): PodNetwork | null {
    const e = this.cache.forContainer(podId).find((c) => c.ifName === this.ifName && c.result !== null);
    if (!e || e.result === null) return null;
    const result = asResult(e.result, e.network);
    return { network: e.network, source: '', ifName: e.ifName, cniVersion: e.cniVersion, result, ips: podIP(result) };
  }
}

/** NetworkReady for the given options (a one-off manager). */
export function networkStatus(opts: CniManagerOptions = {}): Promise<NetworkStatus> {
  return new CniManager(opts).status();
}
