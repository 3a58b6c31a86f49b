/**
 * Pod sandboxes for berthd, in plain TypeScript (the CRI adapter converts at the edge): run, stop,
 * remove, status and list, with metadata persisted by PodStore and reloaded at start.
 *
 * RunPodSandbox: validate, reserve the name, pin namespaces (src/pod), apply sysctls, write
 * resolv.conf / hosts / hostname under the pod's dir, join the CNI network (not for host network);
 * any failure undoes everything done so far. StopPodSandbox: CNI teardown and release of the
 * namespaces (and the pause), metadata kept. RemovePodSandbox: stop if needed, then the metadata.
 * Stop and Remove succeed for unknown ids, as CRI requires.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { BerthError, isErrno } from '../runtime/errors';
import { writeFileAtomic } from '../util/atomic-file';
import {
  createPodNamespaces,
  removePodNamespaces,
  loadPodNamespaces,
  listPodNamespaceIds,
  pauseAlive,
  normalizePortMappings,
  type CniManager,
  type NetworkStatus,
  type PortMapping,
} from '../pod';
import { unixNanos } from '../cri/int64';
import { filterPods, type PodFilter } from './filters';
import type { Logger } from './log';
import { PodStore, type NamespaceMode, type PodDns, type PodMetadata, type PodRecord } from './pod-store';
import { applySysctls, checkSysctls } from './sysctl';
import { cidrFault } from '../pod/cni/config';
import { RuntimeEvents } from './events';

export type PodState = 'SANDBOX_READY' | 'SANDBOX_NOTREADY';

export interface RunPodRequest {
  metadata: PodMetadata | null;
  hostname: string;
  logDirectory: string;
  dns: PodDns | null;
  portMappings: { protocol: string; containerPort: number; hostPort: number; hostIp: string }[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  cgroupParent: string;
  namespaceOptions: { network: NamespaceMode; pid: NamespaceMode; ipc: NamespaceMode; targetId: string } | null;
  sysctls: Record<string, string>;
  runtimeHandler: string;
}

/** The network part of what a pod manager needs from CNI (CniManager fits; tests may fake it). */
export type PodNetworking = Pick<CniManager, 'setUpPod' | 'tearDownPod' | 'status' | 'cachedPodIds'> & Partial<Pick<CniManager, 'setPodCidrs'>>;

/** What UpdateRuntimeConfig set, persisted as <root>/runtime-config.json. */
interface PersistedRuntimeConfig {
  version: 1;
  podCidr: string;
}

export interface PodManagerOptions {
  /** Persistent root: pods/<id>/ lives here. */
  root: string;
  /** Runtime root: pods/<id>/ns (namespace files) lives here. */
  runRoot: string;
  cni: PodNetworking;
  /** Handler names that exist; '' always means `defaultHandler`. */
  handlers: string[];
  defaultHandler: string;
  log: Logger;
  /**
   * The pod's containers (next stage): StopPodSandbox stops them before the network goes, and
   * RemovePodSandbox removes them before the metadata goes. Default: pods have no containers.
   */
  containers?: PodContainerHooks;
  /** Where lifecycle events go (share one with the ContainerManager); default a new one (`events`). */
  events?: RuntimeEvents;
  /** Host files copied when the pod has no DNS config / uses the host network. */
  hostResolvConf?: string;
  hostHosts?: string;
}

export interface PodContainerHooks {
  stopAll(podId: string): Promise<void>;
  removeAll(podId: string): Promise<void>;
}

export interface PodView {
  record: PodRecord;
  state: PodState;
}

const REQUIRED_META: (keyof PodMetadata)[] = ['name', 'uid', 'namespace'];

function nameKey(m: PodMetadata): string {
  return JSON.stringify([m.namespace, m.name, m.uid, m.attempt]);
}

export function validateMetadata(m: PodMetadata | null): PodMetadata {
  if (m === null) throw new BerthError('INVALID_ARGUMENT', 'config.metadata is required');
  for (const f of REQUIRED_META) {
    if (typeof m[f] !== 'string' || m[f] === '') throw new BerthError('INVALID_ARGUMENT', `config.metadata.${f} is required`);
  }
  return { name: m.name, uid: m.uid, namespace: m.namespace, attempt: m.attempt };
}

/** resolv.conf text from a CRI DNS config. */
export function resolvConfText(dns: PodDns): string {
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const s of dns.servers) lines.push(`nameserver ${s}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return lines.join('\n') + '\n';
}

function checkDns(dns: PodDns): void {
  const bad = (what: string, v: string): never => {
    throw new BerthError('INVALID_ARGUMENT', `config.dns_config.${what}: invalid entry ${JSON.stringify(v)}`);
  };
  for (const s of dns.servers) if (!/^[0-9a-fA-F:.%a-z]+$/.test(s)) bad('servers', s);
  for (const s of dns.searches) if (/[\s\0]/.test(s) || s === '') bad('searches', s);
  for (const s of dns.options) if (/[\s\0]/.test(s) || s === '') bad('options', s);
}

export function hostsText(hostname: string, ips: string[]): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', 'fe00::0\tip6-localnet', 'ff00::0\tip6-mcastprefix', 'ff02::1\tip6-allnodes', 'ff02::2\tip6-allrouters'];
  if (hostname !== '') for (const ip of ips) lines.push(`${ip}\t${hostname}`);
  return lines.join('\n') + '\n';
}

export class PodManager {
  readonly store: PodStore;
  private readonly opts: PodManagerOptions;
  private readonly pods = new Map<string, PodRecord>();
  /** Metadata keys of existing or being-created pods -> pod id. */
  private readonly names = new Map<string, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly nsRoot: string;
  /** Lifecycle events of the pods themselves (containerId = pod id; events.ts). */
  readonly events: RuntimeEvents;

  constructor(opts: PodManagerOptions) {
    this.opts = opts;
    this.events = opts.events ?? new RuntimeEvents();
    this.store = new PodStore(opts.root);
    this.nsRoot = path.join(opts.runRoot, 'pods');
  }

  private async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(id, tail);
    try {
      return await next;
    } finally {
      if (this.locks.get(id) === tail) this.locks.delete(id);
    }
  }

  /**
   * Load the persisted pods. Half-made ones (a crash during RunPodSandbox) are undone; namespace
   * directories and CNI attachments of pods with no record are torn down.
   */
  async recover(): Promise<void> {
    const log = this.opts.log;
    this.loadRuntimeConfig();
    for (const rec of this.store.loadAll((id, why) => log.warn('pod metadata unreadable; removing the pod', { pod: id, why }))) {
      if (rec.phase === 'creating') {
        log.warn('undoing a pod whose creation did not finish', { pod: rec.id });
        await this.release(rec).catch((err: unknown) => log.error('cleanup failed', { pod: rec.id, err: (err as Error).message }));
        await this.store.remove(rec.id);
        continue;
      }
      this.pods.set(rec.id, rec);
      this.names.set(nameKey(rec.metadata), rec.id);
    }
    for (const id of this.store.ids()) {
      if (!this.pods.has(id)) await this.releaseOrphan(id);
    }
    for (const id of listPodNamespaceIds(this.nsRoot)) {
      if (!this.pods.has(id)) await this.releaseOrphan(id);
    }
    for (const id of this.opts.cni.cachedPodIds()) {
      const rec = this.pods.get(id);
      if (rec === undefined || rec.phase === 'stopped') await this.releaseOrphan(id, rec);
    }
    log.info('pods loaded', { pods: this.pods.size });
  }

  private async releaseOrphan(id: string, rec?: PodRecord): Promise<void> {
    this.opts.log.info('releasing leftovers of a pod', { pod: id });
    try {
      await this.opts.cni.tearDownPod({ podId: id, netns: rec?.netns ?? path.join(this.nsRoot, id, 'ns', 'net') });
    } catch (err) {
      this.opts.log.warn('CNI teardown of leftovers failed', { pod: id, err: (err as Error).message });
    }
    if (rec === undefined) {
      await removePodNamespaces(id, this.nsRoot).catch(() => undefined);
      if (/^[0-9a-f]{64}$/.test(id)) await this.store.remove(id);
    }
  }

  private handler(name: string): string {
    const h = name === '' ? this.opts.defaultHandler : name;
    if (!this.opts.handlers.includes(h)) throw new BerthError('NOT_FOUND', `runtime_handler: no runtime handler ${JSON.stringify(name)} (configured: ${this.opts.handlers.join(', ')})`);
    return h;
  }

  async run(req: RunPodRequest): Promise<string> {
    const metadata = validateMetadata(req.metadata);
    const runtimeHandler = this.handler(req.runtimeHandler);
    const nsOpts = req.namespaceOptions ?? { network: 'POD', pid: 'CONTAINER', ipc: 'POD', targetId: '' };
    if (nsOpts.network === 'TARGET' || nsOpts.ipc === 'TARGET') throw new BerthError('INVALID_ARGUMENT', 'config.linux.security_context.namespace_options: TARGET is only valid for pid');
    if (nsOpts.pid === 'TARGET') throw new BerthError('INVALID_ARGUMENT', 'config.linux.security_context.namespace_options.pid: TARGET is not valid for a pod sandbox');
    const hostNetwork = nsOpts.network === 'NODE';
    const hostIpc = nsOpts.ipc === 'NODE';
    checkSysctls(req.sysctls, { hostNetwork, hostIpc });
    if (req.dns) checkDns(req.dns);
    const portMappings: PortMapping[] = normalizePortMappings(
      req.portMappings.map((p) => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol.toLowerCase() as PortMapping['protocol'], hostIP: p.hostIp })),
    );
    if (req.cgroupParent !== '' && (!req.cgroupParent.startsWith('/') || req.cgroupParent.split('/').includes('..'))) {
      throw new BerthError('INVALID_ARGUMENT', `config.linux.cgroup_parent: must be an absolute cgroupfs path, got ${JSON.stringify(req.cgroupParent)}`);
    }

    const key = nameKey(metadata);
    const existing = this.names.get(key);
    if (existing !== undefined) {
      throw new BerthError('ALREADY_EXISTS', `a pod sandbox named ${metadata.namespace}/${metadata.name} (uid ${metadata.uid}, attempt ${metadata.attempt}) already exists: ${existing}`);
    }
    const id = randomBytes(32).toString('hex');
    this.names.set(key, id);
    const dir = this.store.podDir(id);
    const rec: PodRecord = {
      version: 1,
      id,
      phase: 'creating',
      metadata,
      createdAt: unixNanos(),
      labels: { ...req.labels },
      annotations: { ...req.annotations },
      runtimeHandler: req.runtimeHandler === '' ? '' : runtimeHandler,
      hostname: hostNetwork ? '' : req.hostname,
      logDirectory: req.logDirectory,
      namespaceOptions: { network: nsOpts.network, pid: nsOpts.pid, ipc: nsOpts.ipc, targetId: nsOpts.targetId },
      dns: req.dns,
      portMappings,
      sysctls: { ...req.sysctls },
      cgroupParent: req.cgroupParent,
      netns: null,
      ipcns: null,
      utsns: null,
      pause: null,
      resolvConf: path.join(dir, 'resolv.conf'),
      hostsFile: path.join(dir, 'hosts'),
      hostnameFile: path.join(dir, 'hostname'),
      ips: [],
      network: '',
    };
    const log = this.opts.log;
    return this.locked(id, async () => {
      const t0 = Date.now();
      try {
        await this.store.save(rec);
        const ns = await createPodNamespaces({
          podId: id,
          runtimeRoot: this.nsRoot,
          hostNetwork,
          hostIpc,
          hostname: rec.hostname,
          sharedPid: nsOpts.pid === 'POD',
        });
        rec.netns = ns.net;
        rec.ipcns = ns.ipc;
        rec.utsns = ns.uts;
        rec.pause = ns.pause;
        await this.store.save(rec);
        await applySysctls(rec.sysctls, { net: ns.net, ipc: ns.ipc, uts: ns.uts });
        if (req.dns && (req.dns.servers.length > 0 || req.dns.searches.length > 0 || req.dns.options.length > 0)) {
          await writeFileAtomic(rec.resolvConf, resolvConfText(req.dns), 0o644);
        } else {
          await copyOrEmpty(this.opts.hostResolvConf ?? '/etc/resolv.conf', rec.resolvConf);
        }
        const hostname = hostNetwork ? (await fs.promises.readFile('/proc/sys/kernel/hostname', 'utf8')).trim() : rec.hostname;
        await writeFileAtomic(rec.hostnameFile, hostname + '\n', 0o644);
        if (!hostNetwork) {
          const netw = await this.opts.cni.setUpPod({
            podId: id,
            netns: ns.net ?? '',
            podName: metadata.name,
            podNamespace: metadata.namespace,
            podUid: metadata.uid,
            portMappings,
            ...(req.cgroupParent !== '' ? { cgroupPath: req.cgroupParent } : {}),
          });
          rec.network = netw.network;
          rec.ips = netw.ips.all;
          await writeFileAtomic(rec.hostsFile, hostsText(hostname, rec.ips), 0o644);
        } else {
          await copyOrEmpty(this.opts.hostHosts ?? '/etc/hosts', rec.hostsFile);
        }
        rec.phase = 'ready';
        await this.store.save(rec);
      } catch (err) {
        log.warn('RunPodSandbox failed; undoing', { pod: id, err: (err as Error).message });
        try {
          await this.release(rec);
          await this.store.remove(id);
        } catch (e) {
          log.error('undo of a failed RunPodSandbox failed', { pod: id, err: (e as Error).message });
        }
        this.names.delete(key);
        throw err;
      }
      this.pods.set(id, rec);
      log.info('pod sandbox running', { pod: id, name: `${metadata.namespace}/${metadata.name}`, ip: rec.ips[0] ?? '', ms: Date.now() - t0 });
      this.events.emit('CONTAINER_CREATED_EVENT', id, id, true);
      this.events.emit('CONTAINER_STARTED_EVENT', id, id, true);
      return id;
    });
  }

  /** Network teardown and namespace release (idempotent). */
  private async release(rec: PodRecord): Promise<void> {
    if (rec.namespaceOptions.network !== 'NODE') {
      await this.opts.cni.tearDownPod({
        podId: rec.id,
        netns: rec.netns ?? '',
        podName: rec.metadata.name,
        podNamespace: rec.metadata.namespace,
        podUid: rec.metadata.uid,
        portMappings: rec.portMappings,
      });
    }
    await removePodNamespaces(rec.id, this.nsRoot);
  }

  /** Resolve a full id or a unique prefix. */
  private find(idOrPrefix: string): PodRecord | undefined {
    if (idOrPrefix === '') return undefined;
    const exact = this.pods.get(idOrPrefix);
    if (exact) return exact;
    const matches = [...this.pods.values()].filter((p) => p.id.startsWith(idOrPrefix));
    if (matches.length > 1) throw new BerthError('INVALID_ARGUMENT', `pod id prefix ${JSON.stringify(idOrPrefix)} is ambiguous`);
    return matches[0];
  }

  require(id: string): PodRecord {
    const rec = this.find(id);
    if (!rec) throw new BerthError('NOT_FOUND', `pod sandbox ${JSON.stringify(id)} not found`);
    return rec;
  }

  /** Stop: success for unknown ids. (Containers: the next stage stops them first.) */
  async stop(id: string): Promise<void> {
    const found = this.find(id);
    if (!found) return;
    await this.locked(found.id, async () => {
      const rec = this.pods.get(found.id);
      if (!rec) return;
      await this.opts.containers?.stopAll(rec.id);
      if (rec.phase === 'stopped') return;
      await this.release(rec);
      rec.phase = 'stopped';
      await this.store.save(rec);
      this.opts.log.info('pod sandbox stopped', { pod: rec.id });
      this.events.emit('CONTAINER_STOPPED_EVENT', rec.id, rec.id, true);
    });
  }

  /** Remove: stop if needed, then drop the metadata; success for unknown ids. */
  async remove(id: string): Promise<void> {
    const found = this.find(id);
    if (!found) return;
    await this.stop(found.id);
    await this.locked(found.id, async () => {
      const rec = this.pods.get(found.id);
      if (!rec) return;
      await this.opts.containers?.removeAll(rec.id);
      await removePodNamespaces(rec.id, this.nsRoot);
      await this.store.remove(rec.id);
      this.pods.delete(rec.id);
      if (this.names.get(nameKey(rec.metadata)) === rec.id) this.names.delete(nameKey(rec.metadata));
      this.opts.log.info('pod sandbox removed', { pod: rec.id });
      this.events.emit('CONTAINER_DELETED_EVENT', rec.id, rec.id, true);
    });
  }

  /** READY only while the record says so and its namespaces (and pause) are still there. */
  stateOf(rec: PodRecord): PodState {
    if (rec.phase !== 'ready') return 'SANDBOX_NOTREADY';
    const ns = loadPodNamespaces(rec.id, this.nsRoot);
    if (ns === null || !ns.ready) return 'SANDBOX_NOTREADY';
    for (const f of [ns.net, ns.ipc, ns.uts]) if (f !== null && !fs.existsSync(f)) return 'SANDBOX_NOTREADY';
    if (rec.pause && !pauseAlive(rec.pause)) return 'SANDBOX_NOTREADY';
    return 'SANDBOX_READY';
  }

  status(id: string): PodView {
    const rec = this.require(id);
    return { record: rec, state: this.stateOf(rec) };
  }

  list(filter?: PodFilter<PodState>): PodView[] {
    const all = [...this.pods.values()].sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1));
    return filterPods(all, filter, (p) => this.stateOf(p)).map((record) => ({ record, state: this.stateOf(record) }));
  }

  networkStatus(): Promise<NetworkStatus> {
    return this.opts.cni.status();
  }

  private podCidrValue = '';

  /** The pod CIDR(s) in effect ('' = none given): comma-separated, as UpdateRuntimeConfig gives them. */
  get podCidr(): string {
    return this.podCidrValue;
  }

  private get runtimeConfigFile(): string {
    return path.join(this.opts.root, 'runtime-config.json');
  }

  private applyPodCidr(value: string): boolean {
    const cidrs = value.split(',').map((c) => c.trim()).filter((c) => c !== '');
    return this.opts.cni.setPodCidrs?.(cidrs) ?? false;
  }

  /**
   * UpdateRuntimeConfig's pod CIDR (comma-separated for dual stack; '' = leave as is): it becomes the
   * range of the built-in default network for pods run afterwards (a network from the CNI config
   * directory is left alone) and is kept across restarts. `where` names the field in errors.
   */
  async updatePodCidr(value: string, where = 'podCidr'): Promise<void> {
    const v = value.trim();
    if (v === '' || v === this.podCidrValue) return;
    const cidrs = v.split(',').map((c) => c.trim());
    for (const c of cidrs) {
      const fault = cidrFault(c);
      if (fault !== null) throw new BerthError('INVALID_ARGUMENT', `${where}: ${JSON.stringify(c)}: ${fault}`);
    }
    const normalized = cidrs.join(',');
    const rec: PersistedRuntimeConfig = { version: 1, podCidr: normalized };
    await writeFileAtomic(this.runtimeConfigFile, JSON.stringify(rec) + '\n', 0o644);
    this.podCidrValue = normalized;
    const applied = this.applyPodCidr(normalized);
    this.opts.log.info('pod CIDR set', { podCidr: normalized, defaultNetwork: applied ? 'uses it' : 'not in use' });
  }

  private loadRuntimeConfig(): void {
    let text: string;
    try {
      text = fs.readFileSync(this.runtimeConfigFile, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return;
      throw err;
    }
    try {
      const rec = JSON.parse(text) as Partial<PersistedRuntimeConfig>;
      if (typeof rec.podCidr !== 'string' || rec.podCidr === '') return;
      this.applyPodCidr(rec.podCidr);
      this.podCidrValue = rec.podCidr;
    } catch (err) {
      this.opts.log.warn('runtime config unreadable; ignoring it', { file: this.runtimeConfigFile, err: (err as Error).message });
    }
  }
}

async function copyOrEmpty(from: string, to: string): Promise<void> {
  let text = '';
  try {
    text = await fs.promises.readFile(from, 'utf8');
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  await writeFileAtomic(to, text, 0o644);
}
