/**
 * Containers in pods on berth's own runtime, in-process (berthd's CRI containers; any other front end,
 * such as the daemonless `berth` CLI, may run its own manager over its own root/runRoot): each
 * container gets a snapshot of its image mounted as rootfs, an OCI spec built from a plain
 * ContainerRequest (container-request.ts, containers-spec.ts), and is
 * created by the lifecycle library under berth-monitor, which holds its stdio, writes the CRI log,
 * serves attach and records the exit. Metadata is persisted (container-store.ts) so a restarted
 * berthd finds every container; state is derived from the monitor's exit file and pid liveness.
 *
 * Layout: <root>/containers/<id>/meta.json (metadata); <runRoot>/c/<id>/ (monitor files: exit,
 * attach, ctl, console; bundle/config.json and bundle/rootfs, the mounted snapshot);
 * <runRoot>/oci/<id>/ (the lifecycle library's state).
 * Pods on a handler of type "oci" get the same bundle, created and driven through the runtime binary's
 * runc-style CLI instead (container-oci.ts).
 */
import * as fs from 'node:fs';
import { processEnded, waitExitFile, waitGone } from '../monitor/wait';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { unixNanos } from '../cri/int64';
import { imageRuntimeConfigFromRootfs, type ImageConfig, type ProcessOverrides } from '../image/config';
import { topChainId } from '../image/service';
import { readExitFile, type ExitRecord } from '../monitor/exit-file';
import { parseRfc3339Nano } from '../monitor/cri-log';
import { createContainer } from '../runtime/container/create';
import { deleteContainer } from '../runtime/container/delete';
import { startContainer } from '../runtime/container/start';
import { containerPaths } from '../runtime/container/paths';
import { isSameLiveProcess, readProcStat } from '../runtime/container/procstat';
import type { Logger as RuntimeLogger } from '../runtime/container/logger';
import type { RuntimeOptions } from '../runtime/container/options';
import { BerthError } from '../runtime/errors';
import { buildSpec, linuxResources } from './containers-spec';
import { PLAIN_FIELD_NAMES, fieldLeaf, type ContainerRequest, type ContainerResources, type ContainerSecurityContext, type FieldNames } from './container-request';
import { ociCreateCommand, ociDelete, ociHandlerRoot, ociKill, ociStart, ociUpdate, type OciHandler } from './container-oci';
import { startMonitor } from '../monitor/start';
import { execSync, ociExecSync, type ExecSyncResult } from './container-exec';
import { CpuSampler, defaultInterface, memoryFigures, parseNetDev, sumStats, type CpuFigures, type InterfaceCounters, type MemoryFigures } from './container-stats';
import { containerCgroup } from '../runtime/container/cgroup';
import { emptyStats, type CgroupStats } from '../runtime/cgroups/stats';
import type { SpecProcess } from '../runtime/spec/types';
import { execFile } from 'node:child_process';
import { reopenLog } from '../monitor/attach';
import { isMountPoint, runOk } from '../image/snapshot/mount';
import type { PodRecord } from './pod-store';
import { updateContainer } from '../runtime/container/update';
import { ContainerStore, type ContainerMeta } from './container-store';
import { matchesIdPrefix, matchesLabels } from './filters';
import type { ImageManager } from './images';
import type { Logger } from './log';
import type { PodManager, PodContainerHooks } from './pods';
import { RuntimeEvents } from './events';

export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerView {
  meta: ContainerMeta;
  state: ContainerState;
  exit: ExitRecord | null;
  /** Unix nanoseconds ('0' when not finished). */
  finishedAt: string;
  exitCode: number;
  reason: string;
  message: string;
}

export interface ContainerFilter {
  id?: string;
  state?: ContainerState;
  podId?: string;
  labelSelector?: Record<string, string>;
}

export interface ContainerStatsView {
  meta: ContainerMeta;
  /** Unix nanoseconds of the sample. */
  at: string;
  cpu: CpuFigures;
  memory: MemoryFigures;
  writable: { mountpoint: string; bytes: number; inodes: number; at: string };
  processes: number;
}

export interface PodStatsView {
  pod: PodRecord;
  at: string;
  cpu: CpuFigures;
  memory: MemoryFigures;
  processes: number;
  /** null: host network, or no way into the pod's network namespace. */
  network: { default: InterfaceCounters | undefined; interfaces: InterfaceCounters[] } | null;
  containers: ContainerStatsView[];
}

export interface ContainerManagerOptions {
  root: string;
  runRoot: string;
  images: ImageManager;
  pods: () => PodManager;
  log: Logger;
  cgroupDriver: 'cgroupfs' | 'systemd';
  restrictOomScoreAdj: boolean;
  /** Handler type for a pod's handler name ('' = default): 'berth', or 'oci' (needs `handler`). */
  handlerType: (name: string) => string;
  /** The [runtimes.<name>] entry for a handler name ('' = default): binary and root of 'oci' handlers. */
  handler?: (name: string) => { name?: string; type: string; binary?: string; root?: string } | undefined;
  /** berth-monitor / berth-init binaries (tests). */
  monitorPath?: string;
  /** cgroupfs parent of containers whose pod names none (default '/berth'). */
  defaultCgroupParent?: string;
  /** Snapshot keys are `${snapshotPrefix}/${id}` (default 'berthd/container'). */
  snapshotPrefix?: string;
  /**
   * A program the container's monitor runs after the container exited (native/MONITOR.md "Exit
   * command"): the berth CLI's restart policies and --rm. berthd sets none.
   */
  monitorExitCommand?: (containerId: string) => { exitCommand: string; exitCommandArgs: string[] } | undefined;
  /** Where lifecycle events go (share one with the PodManager); default a new one (`events`). */
  events?: RuntimeEvents;
  /**
   * Notice exits as they happen (fs.watch on each container's run dir plus a poll every
   * `exitPollMs`, default 1000), for CONTAINER_STOPPED_EVENT; default true. Timers never keep the
   * process alive.
   */
  watchExits?: boolean;
  exitPollMs?: number;
  initPath?: string;
}

const SIGKILL = 9;

function rfcToNanos(s: string): string {
  const n = parseRfc3339Nano(s);
  return n === null ? '0' : n.toString();
}

export class ContainerManager implements PodContainerHooks {
  readonly store: ContainerStore;
  private readonly opts: ContainerManagerOptions;
  private readonly containers = new Map<string, ContainerMeta>();
  private readonly names = new Map<string, string>();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly runDir: string;
  readonly runtime: RuntimeOptions;
  /** Lifecycle events (events.ts). */
  readonly events: RuntimeEvents;
  /** Containers whose exit has been reported (or that had exited when loaded). */
  private readonly exitNoticed = new Set<string>();
  private readonly exitWatchers = new Map<string, fs.FSWatcher>();
  private exitPoll: NodeJS.Timeout | null = null;
  private closed = false;
  get cgroupDriver(): 'cgroupfs' | 'systemd' {
    return this.opts.cgroupDriver;
  }

  /** The pod manager the containers live in. */
  podManager(): PodManager {
    return this.opts.pods();
  }

  constructor(opts: ContainerManagerOptions) {
    this.opts = opts;
    this.store = new ContainerStore(opts.root);
    this.runDir = path.join(opts.runRoot, 'c');
    fs.mkdirSync(this.runDir, { recursive: true, mode: 0o711 });
    const l = opts.log;
    const logger: RuntimeLogger = { debug: (m) => l.debug(m), info: (m) => l.info(m), warn: (m) => l.warn(m), error: (m) => l.error(m) };
    this.runtime = { root: path.join(opts.runRoot, 'oci'), logger, cgroupDriver: opts.cgroupDriver };
    this.events = opts.events ?? new RuntimeEvents();
  }

  // ---- exits -------------------------------------------------------------------------------------

  /** Stop watching for exits (timers and fs watchers); containers keep running. */
  close(): void {
    this.closed = true;
    for (const w of this.exitWatchers.values()) w.close();
    this.exitWatchers.clear();
    if (this.exitPoll !== null) clearInterval(this.exitPoll);
    this.exitPoll = null;
  }

  /** Watch a created or running container for its exit (no-op when watching is off). */
  private watchExit(m: ContainerMeta): void {
    if (this.opts.watchExits === false || this.closed || this.exitNoticed.has(m.id) || this.exitWatchers.has(m.id)) return;
    try {
      const w = fs.watch(this.files(m.id).dir, { persistent: false }, (_event, name) => {
        if (name === null || name === 'exit') void this.checkExit(m.id);
      });
      w.on('error', () => {
        w.close();
        this.exitWatchers.delete(m.id);
      });
      this.exitWatchers.set(m.id, w);
    } catch {
      // the poll below still notices
    }
    if (this.exitPoll === null) {
      this.exitPoll = setInterval(() => {
        for (const id of [...this.containers.keys()]) if (!this.exitNoticed.has(id)) void this.checkExit(id);
      }, this.opts.exitPollMs ?? 1000);
      this.exitPoll.unref();
    }
  }

  private unwatchExit(id: string): void {
    this.exitWatchers.get(id)?.close();
    this.exitWatchers.delete(id);
    if (this.exitWatchers.size === 0 && this.exitPoll !== null && ![...this.containers.keys()].some((c) => !this.exitNoticed.has(c))) {
      clearInterval(this.exitPoll);
      this.exitPoll = null;
    }
  }

  /** Notice an exit (exit file, or the process gone): CONTAINER_STOPPED_EVENT once, for a started container. */
  private async checkExit(id: string): Promise<void> {
    const m = this.containers.get(id);
    if (!m || this.exitNoticed.has(id) || m.phase === 'creating') return;
    const exitFile = this.files(id).exit;
    if (!fs.existsSync(exitFile)) {
      if (this.alive(m)) return;
      // gone without an exit record: the monitor may be writing it right now
      await waitExitFile(exitFile, () => false, 500);
      if (!fs.existsSync(exitFile) && this.alive(m)) return;
    }
    this.noticeExit(m);
  }

  private noticeExit(m: ContainerMeta): void {
    if (this.exitNoticed.has(m.id) || this.containers.get(m.id) !== m) return;
    this.exitNoticed.add(m.id);
    this.unwatchExit(m.id);
    // as containerd: a container never started has no task, so no stop to report
    if (m.phase === 'started') this.events.emit('CONTAINER_STOPPED_EVENT', m.id, m.podId);
  }

  private files(id: string): { dir: string; exit: string; attach: string; ctl: string; console: string; pid: string; bundle: string; rootfs: string } {
    const dir = path.join(this.runDir, id);
    return {
      dir,
      exit: path.join(dir, 'exit'),
      attach: path.join(dir, 'attach'),
      ctl: path.join(dir, 'ctl'),
      console: path.join(dir, 'console'),
      pid: path.join(dir, 'pid'),
      bundle: path.join(dir, 'bundle'),
      rootfs: path.join(dir, 'bundle', 'rootfs'),
    };
  }

  /** The OCI runtime of a pod's handler of type 'oci', or null for berth's own runtime. */
  private ociHandler(handlerName: string): OciHandler | null {
    if (this.opts.handlerType(handlerName) !== 'oci') return null;
    const h = this.opts.handler?.(handlerName);
    if (h === undefined || h.binary === undefined || h.binary === '') {
      throw new BerthError('FAILED_PRECONDITION', `runtime handler ${JSON.stringify(handlerName)}: type oci without a binary`);
    }
    const name = h.name ?? (handlerName === '' ? 'default' : handlerName);
    return { name, binary: h.binary, root: ociHandlerRoot(this.opts.runRoot, name, h.root), systemdCgroup: this.opts.cgroupDriver === 'systemd' };
  }

  /** The monitor's attach and ctl sockets (for streaming and ReopenContainerLog). */
  sockets(id: string): { attach: string; ctl: string } {
    const f = this.files(this.require(id).id);
    return { attach: f.attach, ctl: f.ctl };
  }

  /** The OCI runtime of a container's handler, or null for berth's own (streaming exec, container-stream.ts). */
  ociRuntimeOf(id: string): OciHandler | null {
    return this.ociHandler(this.require(id).runtimeHandler);
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

  private nameKey(podId: string, name: string, attempt: number): string {
    return JSON.stringify([podId, name, attempt]);
  }

  private find(idOrPrefix: string): ContainerMeta | undefined {
    if (idOrPrefix === '') return undefined;
    const exact = this.containers.get(idOrPrefix);
    if (exact) return exact;
    const matches = [...this.containers.values()].filter((c) => c.id.startsWith(idOrPrefix));
    if (matches.length > 1) throw new BerthError('INVALID_ARGUMENT', `container id prefix ${JSON.stringify(idOrPrefix)} is ambiguous`);
    return matches[0];
  }

  require(id: string): ContainerMeta {
    const m = this.find(id);
    if (!m) throw new BerthError('NOT_FOUND', `container ${JSON.stringify(id)} not found`);
    return m;
  }

  /** Names of containers using image `imageId` (for RemoveImage's in-use check). */
  usersOf(imageId: string): string[] {
    return [...this.containers.values()].filter((c) => c.imageId === imageId).map((c) => c.id);
  }

  // ---- create ------------------------------------------------------------------------------------

  private snapshotKey(id: string): string {
    return `${this.opts.snapshotPrefix ?? 'berthd/container'}/${id}`;
  }

  /**
   * Create a container in pod `podId` from a plain request; faults name fields through `names`
   * (berthd's CRI edge passes CRI_FIELD_NAMES). Returns the new container's id.
   */
  async create(podId: string, config: ContainerRequest | null, names: FieldNames = PLAIN_FIELD_NAMES): Promise<string> {
    if (!config) throw new BerthError('INVALID_ARGUMENT', 'config is required');
    const name = config.name;
    if (name === '') throw new BerthError('INVALID_ARGUMENT', `${names.name} is required`);
    const imageSpec = config.image;
    if (imageSpec === '') throw new BerthError('INVALID_ARGUMENT', `${names.image} is required`);
    const pods = this.opts.pods();
    const pod = pods.require(podId);
    if (pods.stateOf(pod) !== 'SANDBOX_READY') throw new BerthError('FAILED_PRECONDITION', `pod sandbox ${pod.id} is not ready`);
    const handler = this.opts.handlerType(pod.runtimeHandler);
    if (handler !== 'berth' && handler !== 'oci') throw new BerthError('UNSUPPORTED', `containers on runtime handler ${JSON.stringify(pod.runtimeHandler)} (type ${handler}) are not supported yet`);
    const oci = this.ociHandler(pod.runtimeHandler);
    const attempt = config.attempt ?? 0;
    const key = this.nameKey(pod.id, name, attempt);
    const existing = this.names.get(key);
    if (existing !== undefined) throw new BerthError('ALREADY_EXISTS', `a container named ${name} (attempt ${attempt}) already exists in pod ${pod.id}: ${existing}`);

    const svc = this.opts.images.service;
    let found: Awaited<ReturnType<typeof svc.find>>;
    try {
      found = await this.opts.images.find(imageSpec);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NOT_FOUND') throw new BerthError('NOT_FOUND', `${names.image}: image ${JSON.stringify(imageSpec)} not found`);
      throw err;
    }
    const imageRec = found.byName ?? found.records[0];
    if (!imageRec) throw new BerthError('NOT_FOUND', `${names.image}: image ${JSON.stringify(imageSpec)} not found`);
    const imageConfig: ImageConfig = await svc.config(imageRec);
    const view = await this.opts.images.status(found.id);

    const id = randomBytes(32).toString('hex');
    this.names.set(key, id);
    const f = this.files(id);
    const logPath = pod.logDirectory !== '' && (config.logPath ?? '') !== '' ? path.join(pod.logDirectory, config.logPath ?? '') : '';
    const cgroupParent = pod.cgroupParent !== '' ? pod.cgroupParent : (this.opts.defaultCgroupParent ?? '/berth');
    const cgroupsPath = this.opts.cgroupDriver === 'systemd' ? `${pod.cgroupParent !== '' ? path.basename(pod.cgroupParent) : 'system.slice'}:berth:${id}` : path.posix.join(cgroupParent, id);
    const meta: ContainerMeta = {
      version: 1,
      id,
      podId: pod.id,
      phase: 'creating',
      metadata: { name, attempt },
      image: imageSpec,
      imageId: found.id,
      imageRef: view?.repoDigests[0] ?? found.id,
      createdAt: unixNanos(),
      startedAt: '0',
      labels: { ...(config.labels ?? {}) },
      annotations: { ...(config.annotations ?? {}) },
      logPath,
      mounts: (config.mounts ?? []).map((m) => ({ containerPath: m.containerPath, hostPath: m.hostPath, readonly: m.readonly, propagation: m.propagation ?? 'private' })),
      tty: config.tty === true,
      stdin: config.stdin === true,
      stdinOnce: config.stdinOnce === true,
      pid: 0,
      pidStartTime: '',
      monitorPid: 0,
      stopSignal: 15,
      snapshotKey: this.snapshotKey(id),
      rootfs: f.rootfs,
      cgroupsPath,
      runtimeHandler: pod.runtimeHandler,
      user: { uid: 0, gid: 0, additionalGids: [] },
    };
    const log = this.opts.log;
    return this.locked(id, async () => {
      const t0 = Date.now();
      let prepared = false;
      try {
        await this.store.save(meta);
        await fs.promises.mkdir(f.rootfs, { recursive: true, mode: 0o711 });
        const snaps = await svc.snapshotter();
        await snaps.prepare(meta.snapshotKey, topChainId(imageRec));
        prepared = true;
        await snaps.mount(meta.snapshotKey, f.rootfs);
        const sc = config.linux?.securityContext ?? null;
        const command = config.command ?? [];
        const args = config.args ?? [];
        const workingDir = config.workingDir ?? '';
        const overrides: ProcessOverrides = {
          ...(command.length > 0 ? { entrypoint: [...command] } : {}),
          ...(args.length > 0 ? { cmd: [...args] } : {}),
          env: [...(pod.hostname !== '' ? [`HOSTNAME=${pod.hostname}`] : []), ...(config.env ?? []).map((e) => `${e.key}=${e.value}`)],
          ...(workingDir !== '' ? { workingDir } : {}),
        };
        const user = userOverride(sc, names);
        if (user !== undefined) overrides.user = user;
        const irc = await imageRuntimeConfigFromRootfs(imageConfig, overrides, f.rootfs);
        meta.stopSignal = irc.stopSignal;
        meta.user = { uid: irc.process.user.uid, gid: irc.process.user.gid, additionalGids: irc.process.user.additionalGids };
        let targetPidNs: string | undefined;
        const nso = sc?.namespaceOptions;
        if (nso?.pid === 'TARGET') {
          const target = this.find(nso.targetId ?? '');
          if (target && isSameLiveProcess(target.pid, target.pidStartTime)) targetPidNs = `/proc/${target.pid}/ns/pid`;
        }
        const podShm = await this.podShm(pod);
        const spec = buildSpec({
          id,
          ...(podShm !== undefined ? { podShm } : {}),
          request: config,
          names,
          pod,
          image: irc,
          rootfs: f.rootfs,
          cgroupsPath,
          minOomScoreAdj: this.opts.restrictOomScoreAdj ? ownOomScoreAdj() : null,
          ...(targetPidNs !== undefined ? { targetPidNs } : {}),
        });
        await fs.promises.writeFile(path.join(f.bundle, 'config.json'), JSON.stringify(spec));
        if (logPath !== '') await fs.promises.mkdir(path.dirname(logPath), { recursive: true, mode: 0o755 });
        if (oci !== null) {
          await fs.promises.mkdir(oci.root, { recursive: true, mode: 0o700 });
          const started = await startMonitor({
            command: ociCreateCommand(oci, id, f.bundle, f.pid, config.tty === true ? f.console : undefined),
            pidFile: f.pid,
            exitFile: f.exit,
            attachSocket: f.attach,
            ctlSocket: f.ctl,
            ...(logPath !== '' ? { logPath } : {}),
            logFormat: 'cri',
            stdin: config.stdin === true,
            stdinOnce: config.stdinOnce === true,
            ...(config.tty === true ? { terminal: true, consoleSocket: f.console } : {}),
            ...(this.opts.monitorPath !== undefined ? { monitorPath: this.opts.monitorPath } : {}),
            ...(this.opts.monitorExitCommand?.(id) ?? {}),
            timeoutMs: 60_000,
          });
          meta.pid = started.containerPid;
          meta.pidStartTime = readProcStat(started.containerPid)?.startTime ?? '';
          meta.monitorPid = started.monitorPid;
          meta.phase = 'created';
          await this.store.save(meta);
        } else {
          const created = await createContainer(this.runtime, {
            id,
            bundle: f.bundle,
            ...(config.tty === true ? { consoleSocket: f.console } : {}),
            monitor: {
              pidFile: f.pid,
              exitFile: f.exit,
              attachSocket: f.attach,
              ctlSocket: f.ctl,
              ...(logPath !== '' ? { logPath } : {}),
              logFormat: 'cri',
              stdin: config.stdin === true,
              stdinOnce: config.stdinOnce === true,
              ...(config.tty === true ? { terminal: true, consoleSocket: f.console } : {}),
              ...(this.opts.monitorPath !== undefined ? { monitorPath: this.opts.monitorPath } : {}),
              ...(this.opts.monitorExitCommand?.(id) ?? {}),
            },
          });
          meta.pid = created.record.pid;
          meta.pidStartTime = created.record.pidStartTime;
          meta.monitorPid = created.monitorPid ?? 0;
          meta.phase = 'created';
          await this.store.save(meta);
        }
      } catch (err) {
        log.warn('CreateContainer failed; undoing', { container: id, err: (err as Error).message });
        await this.cleanup(meta, prepared).catch((e: unknown) => log.error('undo of a failed CreateContainer failed', { container: id, err: (e as Error).message }));
        this.names.delete(key);
        throw err;
      }
      this.containers.set(id, meta);
      log.info('container created', { container: id, pod: pod.id, name, ms: Date.now() - t0 });
      this.events.emit('CONTAINER_CREATED_EVENT', id, pod.id);
      this.watchExit(meta);
      return id;
    });
  }

  /** Runtime state, rootfs mount, snapshot, run files and metadata of a container (idempotent). */
  private async cleanup(meta: ContainerMeta, snapshot = true): Promise<void> {
    const f = this.files(meta.id);
    const oci = this.ociHandler(meta.runtimeHandler);
    try {
      if (oci !== null) await ociDelete(oci, meta.id);
      else await deleteContainer(this.runtime, meta.id, true);
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
    }
    const svc = this.opts.images.service;
    const snaps = await svc.snapshotter();
    if (snapshot) {
      let mounted: string[] = [];
      try {
        mounted = await snaps.mountedAt(meta.snapshotKey);
      } catch (err) {
        if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
      }
      for (const m of mounted) await snaps.unmount(m);
      try {
        await snaps.remove(meta.snapshotKey);
      } catch (err) {
        if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
      }
    }
    await fs.promises.rm(f.dir, { recursive: true, force: true });
    await this.store.remove(meta.id);
  }

  // ---- start / stop / remove ---------------------------------------------------------------------

  async start(id: string): Promise<void> {
    const m = this.require(id);
    await this.locked(m.id, async () => {
      const v = await this.view(m);
      if (v.state !== 'CONTAINER_CREATED') throw new BerthError('FAILED_PRECONDITION', `container ${m.id} is not in the created state (${v.state})`);
      const oci = this.ociHandler(m.runtimeHandler);
      // taken before the process runs: a quick one may exit (and the monitor stamp its finish) before the start call returns
      const startedAt = unixNanos();
      if (oci !== null) await ociStart(oci, m.id);
      else await startContainer(this.runtime, m.id);
      m.phase = 'started';
      m.startedAt = startedAt;
      await this.store.save(m);
      this.opts.log.info('container started', { container: m.id });
      this.events.emit('CONTAINER_STARTED_EVENT', m.id, m.podId);
      // it may have exited already (before the watcher looked)
      void this.checkExit(m.id);
    });
  }

  /**
   * Make an exited container runnable again: same id, snapshot (its writable layer, as docker keeps it
   * across restarts), bundle and log; the old runtime state and monitor files go, a new monitor and
   * container process are made (phase 'created'), then start() as usual. For the daemonless `berth`
   * engine's start/restart of an exited container (src/engine/engine.ts).
   */
  async recreate(id: string): Promise<void> {
    const m = this.require(id);
    await this.locked(m.id, async () => {
      const v = await this.view(m);
      if (v.state !== 'CONTAINER_EXITED') throw new BerthError('FAILED_PRECONDITION', `container ${m.id} has not exited (${v.state})`);
      const f = this.files(m.id);
      if (!fs.existsSync(path.join(f.bundle, 'config.json')) || !(await isMountPoint(f.rootfs))) {
        throw new BerthError('FAILED_PRECONDITION', `container ${m.id}: its bundle or rootfs mount is gone`);
      }
      await this.waitMonitor(m, 2000);
      const oci = this.ociHandler(m.runtimeHandler);
      try {
        if (oci !== null) await ociDelete(oci, m.id);
        else await deleteContainer(this.runtime, m.id, true);
      } catch (err) {
        if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
      }
      for (const file of [f.exit, f.pid, f.attach, f.ctl, f.console]) await fs.promises.rm(file, { force: true });
      const monitor = {
        pidFile: f.pid,
        exitFile: f.exit,
        attachSocket: f.attach,
        ctlSocket: f.ctl,
        ...(m.logPath !== '' ? { logPath: m.logPath } : {}),
        logFormat: 'cri' as const,
        stdin: m.stdin,
        stdinOnce: m.stdinOnce,
        ...(m.tty ? { terminal: true, consoleSocket: f.console } : {}),
        ...(this.opts.monitorPath !== undefined ? { monitorPath: this.opts.monitorPath } : {}),
        ...(this.opts.monitorExitCommand?.(m.id) ?? {}),
      };
      if (oci !== null) {
        const started = await startMonitor({ ...monitor, command: ociCreateCommand(oci, m.id, f.bundle, f.pid, m.tty ? f.console : undefined), timeoutMs: 60_000 });
        m.pid = started.containerPid;
        m.pidStartTime = readProcStat(started.containerPid)?.startTime ?? '';
        m.monitorPid = started.monitorPid;
      } else {
        const created = await createContainer(this.runtime, { id: m.id, bundle: f.bundle, ...(m.tty ? { consoleSocket: f.console } : {}), monitor });
        m.pid = created.record.pid;
        m.pidStartTime = created.record.pidStartTime;
        m.monitorPid = created.monitorPid ?? 0;
      }
      m.phase = 'created';
      m.startedAt = '0';
      delete m.oomKilled;
      await this.store.save(m);
      this.exitNoticed.delete(m.id);
      this.opts.log.info('container made runnable again', { container: m.id });
      this.watchExit(m);
    });
  }

  /** Stop signal, `timeoutSec` to exit, then SIGKILL. Success for unknown or exited containers. */
  async stop(id: string, timeoutSec: number): Promise<void> {
    const m = this.find(id);
    if (!m) return;
    await this.locked(m.id, () => this.stopLocked(m, timeoutSec));
  }

  private alive(m: ContainerMeta): boolean {
    return m.pid > 0 && isSameLiveProcess(m.pid, m.pidStartTime);
  }

  private async waitExit(m: ContainerMeta, ms: number): Promise<boolean> {
    return waitExitFile(this.files(m.id).exit, () => !this.alive(m), ms);
  }

  private signal(m: ContainerMeta, sig: number): void {
    if (!this.alive(m)) return;
    try {
      process.kill(m.pid, sig);
    } catch {
      // gone meanwhile
    }
  }

  /** Through the OCI runtime's kill for an oci handler (falling back to kill(2)), else kill(2). */
  private async signalContainer(m: ContainerMeta, sig: number): Promise<void> {
    const oci = this.ociHandler(m.runtimeHandler);
    if (oci !== null && this.alive(m)) {
      try {
        await ociKill(oci, m.id, sig);
        return;
      } catch (err) {
        this.opts.log.warn('OCI runtime kill failed; signalling the pid', { container: m.id, err: (err as Error).message });
      }
    }
    this.signal(m, sig);
  }

  private async stopLocked(m: ContainerMeta, timeoutSec: number): Promise<void> {
    if (m.phase === 'creating' || !this.alive(m)) return;
    if (timeoutSec > 0 && m.phase === 'started') {
      await this.signalContainer(m, m.stopSignal);
      if (await this.waitExit(m, timeoutSec * 1000)) {
        this.opts.log.info('container stopped', { container: m.id, signal: m.stopSignal });
        await this.checkExit(m.id);
        return;
      }
    }
    await this.signalContainer(m, SIGKILL);
    if (!(await this.waitExit(m, 10_000))) throw new BerthError('INTERNAL', `container ${m.id} (pid ${m.pid}) did not exit after SIGKILL`);
    this.opts.log.info('container killed', { container: m.id });
    await this.checkExit(m.id);
  }

  /** Force stop, then runtime state, snapshot and metadata. Success for unknown ids. */
  async remove(id: string): Promise<void> {
    const m = this.find(id);
    if (!m) return;
    await this.locked(m.id, async () => {
      if (!this.containers.has(m.id)) return;
      await this.stopLocked(m, 0);
      // the monitor writes the exit file right after the container exits; wait for it to finish
      await this.waitMonitor(m, 2000);
      // a container that ran reports its stop before its deletion
      this.noticeExit(m);
      this.exitNoticed.add(m.id);
      this.unwatchExit(m.id);
      await this.cleanup(m);
      this.containers.delete(m.id);
      this.exitNoticed.delete(m.id);
      const key = this.nameKey(m.podId, m.metadata.name, m.metadata.attempt);
      if (this.names.get(key) === m.id) this.names.delete(key);
      this.opts.log.info('container removed', { container: m.id });
      this.events.emit('CONTAINER_DELETED_EVENT', m.id, m.podId);
    });
  }

  private async waitMonitor(m: ContainerMeta, ms: number): Promise<void> {
    await waitGone(() => processEnded(m.monitorPid), ms);
  }

  private shmDir(podId: string): string {
    return path.join(this.runDir, 'shm', podId);
  }

  /** The pod's /dev/shm, shared by its containers (as its IPC namespace is): a tmpfs mounted once. */
  private async podShm(pod: PodRecord): Promise<string | undefined> {
    if (pod.namespaceOptions.ipc === 'NODE') return undefined;
    const dir = this.shmDir(pod.id);
    if (await isMountPoint(dir)) return dir;
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o755 });
    await runOk('mount', ['-t', 'tmpfs', '-o', 'nosuid,nodev,noexec,mode=1777,size=65536k', 'shm', dir]);
    return dir;
  }

  private async releaseShm(podId: string): Promise<void> {
    const dir = this.shmDir(podId);
    if (await isMountPoint(dir)) await runOk('umount', ['-l', dir]);
    await fs.promises.rm(dir, { recursive: true, force: true });
  }

  /** ReopenContainerLog: the monitor closes and reopens the log file (running containers only). */
  async reopenLog(id: string): Promise<void> {
    const m = this.require(id);
    const v = await this.view(m);
    if (v.state !== 'CONTAINER_RUNNING') throw new BerthError('FAILED_PRECONDITION', `container ${m.id} is not running`);
    if (m.logPath === '') return;
    await reopenLog(this.files(m.id).ctl);
  }

  /** UpdateContainerResources: new cgroup limits for a created or running container. */
  async updateResources(id: string, res: ContainerResources | null): Promise<void> {
    const m = this.require(id);
    await this.locked(m.id, async () => {
      const v = await this.view(m);
      if (v.state !== 'CONTAINER_RUNNING' && v.state !== 'CONTAINER_CREATED') throw new BerthError('FAILED_PRECONDITION', `container ${m.id} is not running or created (${v.state})`);
      if (!res) return;
      const oci = this.ociHandler(m.runtimeHandler);
      if (oci !== null) await ociUpdate(oci, m.id, linuxResources(res));
      else await updateContainer(this.runtime, m.id, linuxResources(res));
    });
  }

  /** ExecSync: `cmd` in a running container (container-exec.ts). */
  async execSync(id: string, cmd: readonly string[], timeoutSec: number): Promise<ExecSyncResult> {
    const m = this.require(id);
    const v = await this.view(m);
    if (v.state !== 'CONTAINER_RUNNING') throw new BerthError('FAILED_PRECONDITION', `container ${m.id} is not running (${v.state})`);
    const oci = this.ociHandler(m.runtimeHandler);
    if (oci !== null) {
      const spec = this.savedSpec(m.id) as { process?: SpecProcess } | null;
      return ociExecSync(oci, m.id, spec?.process, this.files(m.id).dir, cmd, { timeoutSec });
    }
    return execSync(this.runtime, m.id, cmd, { timeoutSec });
  }

  // ---- stats -------------------------------------------------------------------------------------

  private readonly cpuSamples = new CpuSampler();
  private readonly layerUsage = new Map<string, { atMs: number; at: string; bytes: number; inodes: number }>();

  private async cgroupStats(cgroupsPath: string, id: string): Promise<CgroupStats> {
    try {
      const cg = containerCgroup(id, cgroupsPath, this.opts.cgroupDriver);
      if (cg === null || !(await cg.exists())) return emptyStats();
      return await cg.stats();
    } catch {
      return emptyStats();
    }
  }

  /** Writable layer usage: du of the snapshot's upper dir, at most once per 10 s per container. */
  private async writableUsage(m: ContainerMeta): Promise<{ at: string; bytes: number; inodes: number }> {
    const cached = this.layerUsage.get(m.id);
    if (cached && Date.now() - cached.atMs < 10_000) return cached;
    let u = { bytes: 0, inodes: 0 };
    try {
      u = await (await this.opts.images.service.snapshotter()).usage(m.snapshotKey);
    } catch {
      // snapshot gone
    }
    const v = { atMs: Date.now(), at: unixNanos(), ...u };
    this.layerUsage.set(m.id, v);
    return v;
  }

  private async statsOf(m: ContainerMeta): Promise<{ view: ContainerStatsView; raw: CgroupStats }> {
    const raw = await this.cgroupStats(m.cgroupsPath, m.id);
    const at = unixNanos();
    const cpu = this.cpuSamples.sample(m.id, { at: BigInt(at), usageNs: raw.cpu.usage.total });
    const w = await this.writableUsage(m);
    const view: ContainerStatsView = {
      meta: m,
      at,
      cpu,
      memory: memoryFigures(raw),
      writable: { mountpoint: path.join(this.opts.images.service.root, 'snapshots'), bytes: w.bytes, inodes: w.inodes, at: w.at },
      processes: raw.pids.current,
    };
    return { view, raw };
  }

  async containerStats(id: string): Promise<ContainerStatsView> {
    return (await this.statsOf(this.require(id))).view;
  }

  async listContainerStats(filter?: Omit<ContainerFilter, 'state'>): Promise<ContainerStatsView[]> {
    const out: ContainerStatsView[] = [];
    for (const v of await this.list(filter)) {
      if (v.state !== 'CONTAINER_RUNNING') continue;
      out.push((await this.statsOf(v.meta)).view);
    }
    this.forgetGone();
    return out;
  }

  private forgetGone(): void {
    for (const k of this.cpuSamples.keys()) if (!this.containers.has(k) && !k.startsWith('pod:')) this.cpuSamples.forget(k);
    for (const k of this.layerUsage.keys()) if (!this.containers.has(k)) this.layerUsage.delete(k);
  }

  /** /proc/<pid>/net/dev of a process in the pod's network namespace, or the namespace file through nsenter. */
  private async podNetwork(pod: PodRecord, running: ContainerMeta[]): Promise<PodStatsView['network']> {
    if (pod.namespaceOptions.network === 'NODE' || pod.netns === null) return null;
    let text: string | null = null;
    const pids = [...running.map((c) => ({ pid: c.pid, start: c.pidStartTime })), ...(pod.pause ? [{ pid: pod.pause.pid, start: pod.pause.startTime }] : [])];
    for (const p of pids) {
      if (text !== null || !isSameLiveProcess(p.pid, p.start)) continue;
      try {
        text = await fs.promises.readFile(`/proc/${p.pid}/net/dev`, 'utf8');
      } catch {
        text = null;
      }
    }
    if (text === null && fs.existsSync(pod.netns)) {
      const netns = pod.netns;
      text = await new Promise<string | null>((resolve) => {
        execFile('nsenter', [`--net=${netns}`, 'cat', '/proc/net/dev'], { timeout: 5000 }, (err, stdout) => resolve(err ? null : stdout));
      });
    }
    if (text === null) return null;
    const interfaces = parseNetDev(text);
    return { default: defaultInterface(interfaces), interfaces };
  }

  async podStats(podId: string): Promise<PodStatsView> {
    const pods = this.opts.pods();
    const pod = pods.require(podId);
    const views = await this.list({ podId: pod.id });
    const running = views.filter((v) => v.state === 'CONTAINER_RUNNING').map((v) => v.meta);
    const containers: { view: ContainerStatsView; raw: CgroupStats }[] = [];
    for (const m of running) containers.push(await this.statsOf(m));
    let raw: CgroupStats | null = null;
    if (pod.cgroupParent !== '' && this.opts.cgroupDriver === 'cgroupfs') {
      const cg = containerCgroup(`pod-${pod.id}`, pod.cgroupParent, 'cgroupfs');
      try {
        if (cg !== null && (await cg.exists())) raw = await cg.stats();
      } catch {
        raw = null;
      }
    }
    if (raw === null) raw = sumStats(containers.map((c) => c.raw), emptyStats());
    const at = unixNanos();
    const cpu = this.cpuSamples.sample(`pod:${pod.id}`, { at: BigInt(at), usageNs: raw.cpu.usage.total });
    const network = await this.podNetwork(pod, running);
    return { pod, at, cpu, memory: memoryFigures(raw), processes: raw.pids.current, network, containers: containers.map((c) => c.view) };
  }

  async listPodStats(filter?: { id?: string; labelSelector?: Record<string, string> }): Promise<PodStatsView[]> {
    const pods = this.opts.pods();
    const out: PodStatsView[] = [];
    for (const p of pods.list({ ...(filter?.id ? { id: filter.id } : {}), state: 'SANDBOX_READY', ...(filter?.labelSelector ? { labelSelector: filter.labelSelector } : {}) })) {
      try {
        out.push(await this.podStats(p.record.id));
      } catch (err) {
        if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
      }
    }
    for (const k of this.cpuSamples.keys()) if (k.startsWith('pod:') && !out.some((p) => `pod:${p.pod.id}` === k)) this.cpuSamples.forget(k);
    return out;
  }

  // PodContainerHooks
  async stopAll(podId: string): Promise<void> {
    for (const m of [...this.containers.values()].filter((c) => c.podId === podId)) await this.stop(m.id, 0);
  }

  async removeAll(podId: string): Promise<void> {
    for (const m of [...this.containers.values()].filter((c) => c.podId === podId)) await this.remove(m.id);
    await this.releaseShm(podId);
  }

  // ---- status ------------------------------------------------------------------------------------

  private oomKilled(m: ContainerMeta): boolean {
    if (m.oomKilled !== undefined) return m.oomKilled;
    if (this.opts.cgroupDriver !== 'cgroupfs') return false;
    for (const file of [path.join('/sys/fs/cgroup/memory', m.cgroupsPath, 'memory.oom_control'), path.join('/sys/fs/cgroup', m.cgroupsPath, 'memory.events')]) {
      try {
        const text = fs.readFileSync(file, 'utf8');
        const mm = /^oom_kill (\d+)$/m.exec(text);
        if (mm) return Number(mm[1]) > 0;
      } catch {
        // not there
      }
    }
    return false;
  }

  async view(m: ContainerMeta): Promise<ContainerView> {
    const f = this.files(m.id);
    const base = { meta: m, exit: null, finishedAt: '0', exitCode: 0, reason: '', message: '' };
    if (m.phase === 'creating') return { ...base, state: 'CONTAINER_UNKNOWN' };
    let exit = await readExitFile(f.exit).catch(() => null);
    if (exit === null && !this.alive(m)) {
      // the monitor may be writing it right now
      if (await waitExitFile(f.exit, () => false, 500)) exit = await readExitFile(f.exit).catch(() => null);
      if (exit === null) return { ...base, state: 'CONTAINER_UNKNOWN', reason: 'Unknown', message: 'the container process is gone and its monitor recorded no exit' };
    }
    if (exit !== null) {
      const oom = exit.exitCode === 137 && this.oomKilled(m);
      const reason = oom ? 'OOMKilled' : exit.createFailed ? 'StartError' : exit.exitCode === 0 ? 'Completed' : 'Error';
      return { ...base, state: 'CONTAINER_EXITED', exit, finishedAt: rfcToNanos(exit.exitedAt), exitCode: exit.exitCode, reason };
    }
    // an oci handler's container counts as started once berthd recorded its start
    const started = m.phase === 'started' || (this.opts.handlerType(m.runtimeHandler) !== 'oci' && !fs.existsSync(containerPaths(this.runtime.root, m.id).execFifo));
    if (started && m.phase !== 'started') {
      // started, but berthd died before recording it
      m.phase = 'started';
      if (m.startedAt === '0') m.startedAt = unixNanos();
      await this.store.save(m).catch(() => undefined);
    }
    return { ...base, state: started ? 'CONTAINER_RUNNING' : 'CONTAINER_CREATED' };
  }

  async status(id: string): Promise<ContainerView> {
    return this.view(this.require(id));
  }

  async list(filter?: ContainerFilter): Promise<ContainerView[]> {
    const all = [...this.containers.values()]
      .filter((c) => matchesIdPrefix(c.id, filter?.id) && (!filter?.podId || c.podId === filter.podId) && matchesLabels(c.labels, filter?.labelSelector))
      .sort((a, b) => (BigInt(a.createdAt) < BigInt(b.createdAt) ? -1 : 1));
    const views: ContainerView[] = [];
    for (const c of all) {
      const v = await this.view(c);
      if (filter?.state === undefined || v.state === filter.state) views.push(v);
    }
    return views;
  }

  /** The spec the container was created with (verbose status). */
  savedSpec(id: string): unknown {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.files(id).bundle, 'config.json'), 'utf8')) as unknown;
    } catch {
      return null;
    }
  }

  // ---- restart -----------------------------------------------------------------------------------

  /** Load persisted containers; undo half-made ones and those whose pod is gone. */
  async recover(): Promise<void> {
    const log = this.opts.log;
    const pods = this.opts.pods();
    for (const m of this.store.loadAll((id, why) => log.warn('container metadata unreadable; removing it', { container: id, why }))) {
      let podExists = true;
      try {
        pods.require(m.podId);
      } catch {
        podExists = false;
      }
      if (m.phase === 'creating' || !podExists) {
        log.warn(m.phase === 'creating' ? 'undoing a container whose creation did not finish' : 'removing a container whose pod is gone', { container: m.id });
        if (this.alive(m)) this.signal(m, SIGKILL);
        await this.cleanup(m).catch((err: unknown) => log.error('container cleanup failed', { container: m.id, err: (err as Error).message }));
        continue;
      }
      this.containers.set(m.id, m);
      this.names.set(this.nameKey(m.podId, m.metadata.name, m.metadata.attempt), m.id);
    }
    // exits that happened while nobody watched are not reported again; the others are watched
    for (const m of this.containers.values()) {
      if (fs.existsSync(this.files(m.id).exit) || !this.alive(m)) this.exitNoticed.add(m.id);
      else this.watchExit(m);
    }
    // directories without a record (a crash before the first save, or after the record went)
    for (const id of this.store.ids()) if (!this.containers.has(id)) await this.store.remove(id);
    let runIds: string[] = [];
    try {
      runIds = fs.readdirSync(this.runDir).filter((n) => /^[0-9a-f]{64}$/.test(n));
    } catch {
      runIds = [];
    }
    for (const id of runIds) {
      if (this.containers.has(id)) continue;
      log.info('removing leftovers of a container', { container: id });
      await deleteContainer(this.runtime, id, true).catch(() => undefined);
      const rootfs = this.files(id).rootfs;
      const snaps = await this.opts.images.service.snapshotter();
      await snaps.unmount(rootfs).catch(() => undefined);
      await snaps.remove(this.snapshotKey(id)).catch(() => undefined);
      await fs.promises.rm(this.files(id).dir, { recursive: true, force: true }).catch(() => undefined);
    }
    let shmIds: string[] = [];
    try {
      shmIds = fs.readdirSync(path.join(this.runDir, 'shm'));
    } catch {
      shmIds = [];
    }
    for (const podId of shmIds) {
      let podExists = true;
      try {
        pods.require(podId);
      } catch {
        podExists = false;
      }
      if (!podExists || podId.length !== 64) await this.releaseShm(podId).catch((err: unknown) => log.warn('releasing a pod /dev/shm failed', { pod: podId, err: (err as Error).message }));
    }
    log.info('containers loaded', { containers: this.containers.size });
  }
}

/** runAsUsername / runAsUser / runAsGroup -> an image-config style user string. */
export function userOverride(sc: ContainerSecurityContext | null, names: FieldNames = PLAIN_FIELD_NAMES): string | undefined {
  if (!sc) return undefined;
  const group = sc.runAsGroup !== undefined ? `:${sc.runAsGroup}` : '';
  if (sc.runAsUsername !== undefined && sc.runAsUsername !== '') return sc.runAsUsername + group;
  if (sc.runAsUser !== undefined) return String(sc.runAsUser) + group;
  if (group !== '') throw new BerthError('INVALID_ARGUMENT', `${names.runAsGroup}: needs ${fieldLeaf(names.runAsUser)} or ${fieldLeaf(names.runAsUsername)}`);
  return undefined;
}

function ownOomScoreAdj(): number {
  try {
    return Number(fs.readFileSync('/proc/self/oom_score_adj', 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}
