/**
 * The daemonless engine behind `berth run/ps/stop/rm...`: docker-style containers over the same
 * library berthd uses. Each container is one pod sandbox (PodManager: network bridge/host/none,
 * hostname, port mappings) plus one container in it (ContainerManager: snapshot, monitor, CRI log),
 * with the engine's own record (store.ts). The managers get their own stores under <root>/engine and
 * <runRoot>/engine (paths.ts), so berth's containers never mix with berthd's.
 *
 * Several `berth` processes may run at once: every mutation runs in a session under the engine lock
 * (lock.ts), which loads the managers' state afresh and recovers half-made state first (a record still
 * 'creating' under the lock is a dead creator's: its pod goes, then the record). Reads (ps, inspect,
 * logs, wait) take no lock: they derive state from the records, the managers' metadata files, the
 * monitor's exit file and pid liveness.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import type { ContainerMountRequest, ContainerRequest } from '../daemon/container-request';
import { ContainerManager } from '../daemon/containers';
import type { ContainerMeta } from '../daemon/container-store';
import { ImageManager } from '../daemon/images';
import { createLogger, silentLogger, type Logger } from '../daemon/log';
import { PodManager, type PodNetworking } from '../daemon/pods';
import type { ImageService } from '../image/service';
import { CniManager } from '../pod';
import { readExitFile, type ExitRecord } from '../monitor/exit-file';
import { isSameLiveProcess } from '../runtime/container/procstat';
import { containerPaths } from '../runtime/container/paths';
import { BerthError } from '../runtime/errors';
import { withEngineLock } from './lock';
import { checkName, generateName } from './names';
import { enginePaths, type EnginePaths } from './paths';
import { assignPorts } from './ports';
import { containerRequest, effectiveArgv, podRequest, POD_NAMESPACE } from './request';
import { RecordStore, findRecord } from './store';
import { berthdPorts, listBerthd, findBerthd } from './berthd';
import { resolveRuntime, type ResolvedRuntime } from './runtime';
import type { ContainerRecord, ContainerRuntimeInfo, ContainerSummary, EngineEvent, EngineState, InitProvider, RunOptions, VolumeProvider } from './types';
import { commandText } from './format';

export interface EngineOptions {
  root: string;
  runRoot: string;
  hostsDir: string;
  /** berthd's root and runRoot, to list its containers read-only (default: root and runRoot). */
  berthd?: { root: string; runRoot: string };
  /** Debug log on stderr. */
  debug?: boolean;
  log?: Logger;
  /** CNI plugin directories (default /usr/lib/cni, /opt/cni/bin). */
  cniBinDirs?: string[];
  /** Replace the pod network (tests). */
  cni?: PodNetworking;
  /** berth-monitor / berth-init binaries (tests). */
  monitorPath?: string;
  initPath?: string;
  volumes?: VolumeProvider;
  init?: () => InitProvider;
  onEvent?: (e: EngineEvent) => void | Promise<void>;
  /** An image service to share (the CLI's); default: one over root. */
  images?: ImageService;
  /** The monitors' exit command (restart policies and --rm: restart.ts exitCommandFor). */
  monitorExitCommand?: (containerId: string) => { exitCommand: string; exitCommandArgs: string[] } | undefined;
}

/** Exec failures of the container's command: docker's 126 (cannot be invoked) and 127 (not found). */
export class ContainerCommandError extends BerthError {
  constructor(
    readonly exitCode: 126 | 127,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('FAILED_PRECONDITION', message, options);
    this.name = 'ContainerCommandError';
  }
}

/** Map a create failure that is the command's fault (berth's init or an OCI runtime's words) to 126/127. */
export function commandFailure(err: unknown): ContainerCommandError | undefined {
  const msg = err instanceof Error ? err.message : String(err);
  if (/not found in PATH|executable file not found|exec [^:]*: (?:ENOENT|No such file)|no such file or directory: exec|exec: "[^"]*": stat [^:]*: no such file/i.test(msg)) {
    return new ContainerCommandError(127, msg, { cause: err });
  }
  if (/exec [^:]*: (?:EACCES|Permission denied|EISDIR|ENOEXEC|Exec format error)|permission denied: exec|exec: "[^"]*": permission denied/i.test(msg)) {
    return new ContainerCommandError(126, msg, { cause: err });
  }
  return undefined;
}

export interface Session {
  pods: PodManager;
  containers: ContainerManager;
  records: ContainerRecord[];
}

/** What a reader derives about a record's container. */
export interface RecordState {
  state: EngineState;
  pid: number;
  exitCode: number | null;
  startedAt: string;
  finishedAt: string;
  oomKilled: boolean;
  error: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function nanosToIso(ns: string): string {
  if (ns === '0' || ns === '') return '';
  try {
    return new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
  } catch {
    return '';
  }
}

export class Engine {
  readonly paths: EnginePaths;
  readonly store: RecordStore;
  readonly images: ImageManager;
  readonly log: Logger;
  private readonly opts: EngineOptions;

  constructor(opts: EngineOptions) {
    this.opts = opts;
    this.paths = enginePaths(opts.root, opts.runRoot);
    this.store = new RecordStore(this.paths.records);
    this.log = opts.log ?? (opts.debug ? createLogger('debug') : silentLogger());
    this.images = new ImageManager({ root: opts.root, hostsDir: opts.hostsDir, log: this.log });
    if (opts.images) (this.images as { service: ImageService }).service = opts.images;
    else this.images.service.imageUsers = async (id) => this.records().filter((r) => r.imageId === id).map((r) => r.name);
  }

  private emit(action: EngineEvent['action'], rec: ContainerRecord, attributes?: Record<string, string>): void {
    if (!this.opts.onEvent) return;
    try {
      void Promise.resolve(this.opts.onEvent({ action, id: rec.id, name: rec.name, image: rec.image, ...(attributes ? { attributes } : {}) })).catch(() => undefined);
    } catch {
      // events never fail an action
    }
  }

  // ---- sessions ----------------------------------------------------------------------------------

  private managers(records: ContainerRecord[], extra?: ResolvedRuntime): { pods: PodManager; containers: ContainerManager; handlers: Map<string, ResolvedRuntime> } {
    const handlers = new Map<string, ResolvedRuntime>();
    for (const r of records) if (r.runtime.kind === 'oci') handlers.set(r.runtime.name, r.runtime);
    if (extra && extra.kind === 'oci') handlers.set(extra.name, extra);
    const handlerNames = ['berth', ...handlers.keys()];
    let podsRef: PodManager | undefined;
    const containers = new ContainerManager({
      root: this.paths.engineRoot,
      runRoot: this.paths.engineRunRoot,
      images: this.images,
      pods: () => {
        if (podsRef === undefined) throw new BerthError('INTERNAL', 'pod manager not ready');
        return podsRef;
      },
      log: this.log,
      cgroupDriver: 'cgroupfs',
      restrictOomScoreAdj: true,
      // a short-lived CLI session: nobody listens for CRI events
      watchExits: false,
      handlerType: (name) => (name === '' || name === 'berth' ? 'berth' : 'oci'),
      handler: (name) => {
        const h = handlers.get(name);
        return h && h.kind === 'oci' ? { name: h.name, type: 'oci', binary: h.binary } : name === '' || name === 'berth' ? { name: 'berth', type: 'berth' } : undefined;
      },
      ...(this.opts.monitorPath !== undefined ? { monitorPath: this.opts.monitorPath } : {}),
      ...(this.opts.initPath !== undefined ? { initPath: this.opts.initPath } : {}),
      ...(this.opts.monitorExitCommand !== undefined ? { monitorExitCommand: this.opts.monitorExitCommand } : {}),
    });
    const cni = this.opts.cni ?? new CniManager({ confDir: this.paths.cniConfDir, cacheDir: this.paths.cniCache, ...(this.opts.cniBinDirs ? { binDirs: this.opts.cniBinDirs } : {}) });
    const pods = new PodManager({
      root: this.paths.engineRoot,
      runRoot: this.paths.engineRunRoot,
      cni: noneAware(cni, () => this.noneNetworkPods),
      handlers: handlerNames,
      defaultHandler: 'berth',
      log: this.log,
      containers,
    });
    podsRef = pods;
    return { pods, containers, handlers };
  }

  /** Pod names (= record ids) whose network is none: no CNI, loopback only. */
  private noneNetworkPods = new Set<string>();

  /** Run `fn` under the engine lock with freshly loaded managers (half-made state recovered first). */
  async locked<T>(fn: (s: Session) => Promise<T>, extra?: ResolvedRuntime): Promise<T> {
    return withEngineLock(this.paths.lock, async () => {
      fs.mkdirSync(this.paths.engineRunRoot, { recursive: true, mode: 0o711 });
      const records = this.store.loadAll((file, why) => this.log.warn('engine record unreadable; skipped', { file, why }));
      for (const r of records) if (r.options.network === 'none') this.noneNetworkPods.add(r.id);
      const { pods, containers } = this.managers(records, extra);
      await pods.recover();
      await containers.recover();
      const s: Session = { pods, containers, records };
      await this.recoverLocked(s);
      return fn(s);
    });
  }

  /** Records left 'creating' by a dead creator, and pods of the engine without a record, are undone. */
  private async recoverLocked(s: Session): Promise<void> {
    const byId = new Map(s.records.map((r) => [r.id, r]));
    for (const r of [...s.records]) {
      if (r.phase !== 'creating') continue;
      this.log.warn('undoing a container whose creation did not finish', { id: r.id });
      for (const p of s.pods.list()) if (p.record.metadata.uid === r.id) await s.pods.remove(p.record.id);
      await this.store.remove(r.id);
      s.records.splice(s.records.indexOf(r), 1);
      byId.delete(r.id);
    }
    for (const p of s.pods.list()) {
      const rec = byId.get(p.record.metadata.uid);
      if (p.record.metadata.namespace !== POD_NAMESPACE || rec === undefined || rec.podId !== p.record.id) {
        this.log.warn('removing an engine pod without a record', { pod: p.record.id });
        await s.pods.remove(p.record.id);
      }
    }
  }

  // ---- reading -----------------------------------------------------------------------------------

  records(): ContainerRecord[] {
    return this.store.loadAll();
  }

  /** A record by id, name or unique id prefix; berthd's containers are refused with a clear message. */
  resolve(ref: string, records: readonly ContainerRecord[] = this.records()): ContainerRecord {
    const r = findRecord(records, ref);
    if (r) return r;
    const b = findBerthd(this.berthdRoots(), ref);
    if (b) throw new BerthError('FAILED_PRECONDITION', `container ${ref} (${b.id.slice(0, 12)}) was made by berthd (CRI); berth lists it but does not change it: use crictl`);
    throw new BerthError('NOT_FOUND', `No such container: ${ref}`);
  }

  private berthdRoots(): { root: string; runRoot: string } {
    return this.opts.berthd ?? { root: this.opts.root, runRoot: this.opts.runRoot };
  }

  private metaFile(containerId: string): string {
    return path.join(this.paths.engineRoot, 'containers', containerId, 'meta.json');
  }

  /** The ContainerManager's metadata of the record's current container (null when there is none). */
  meta(rec: ContainerRecord): ContainerMeta | null {
    if (rec.containerId === '') return null;
    try {
      return JSON.parse(fs.readFileSync(this.metaFile(rec.containerId), 'utf8')) as ContainerMeta;
    } catch {
      return null;
    }
  }

  private runFiles(containerId: string): { dir: string; exit: string; attach: string; ctl: string; rootfs: string } {
    const dir = path.join(this.paths.engineRunRoot, 'c', containerId);
    return { dir, exit: path.join(dir, 'exit'), attach: path.join(dir, 'attach'), ctl: path.join(dir, 'ctl'), rootfs: path.join(dir, 'bundle', 'rootfs') };
  }

  /** The paths other modules need (attach, exec, cp, top, stats). */
  runtimeInfo(rec: ContainerRecord): ContainerRuntimeInfo {
    const m = this.meta(rec);
    const f = this.runFiles(rec.containerId);
    return {
      id: rec.id,
      containerId: rec.containerId,
      podId: rec.podId,
      pid: m && isSameLiveProcess(m.pid, m.pidStartTime) ? m.pid : 0,
      pidStartTime: m?.pidStartTime ?? '',
      attachSocket: f.attach,
      ctlSocket: f.ctl,
      rootfs: f.rootfs,
      cgroupsPath: m?.cgroupsPath ?? '',
      logPath: rec.logPath,
      tty: rec.options.tty,
      stdin: rec.options.interactive,
    };
  }

  async exitRecord(rec: ContainerRecord): Promise<ExitRecord | null> {
    if (rec.containerId === '') return null;
    return readExitFile(this.runFiles(rec.containerId).exit).catch(() => null);
  }

  /** State from the files: exit record, pid liveness, the exec fifo (created vs running). */
  async stateOf(rec: ContainerRecord): Promise<RecordState> {
    const base: RecordState = {
      state: 'exited',
      pid: 0,
      exitCode: rec.lastExit?.exitCode ?? null,
      startedAt: rec.startedAt,
      finishedAt: rec.lastExit?.finishedAt ?? '',
      oomKilled: rec.lastExit?.oomKilled ?? false,
      error: '',
    };
    if (rec.phase === 'creating') return { ...base, state: 'created' };
    const m = this.meta(rec);
    if (m === null) return rec.startedAt === '' && rec.lastExit === null ? { ...base, state: 'created' } : base;
    if (m.phase === 'creating') return { ...base, state: 'created' };
    const exit = await this.exitRecord(rec);
    if (exit !== null) {
      // a restart policy's backoff is under way (restart.ts sets the flag, start clears it)
      const state = rec.restarting === true && !rec.stoppedByUser ? 'restarting' : 'exited';
      return { ...base, state, exitCode: exit.exitCode, finishedAt: exit.exitedAt, error: exit.createFailed ? 'the container could not be created' : '' };
    }
    const alive = isSameLiveProcess(m.pid, m.pidStartTime);
    if (!alive) {
      // the monitor may be writing the exit file right now
      for (let i = 0; i < 10; i++) {
        await sleep(30);
        const e = await this.exitRecord(rec);
        if (e !== null) return { ...base, state: 'exited', exitCode: e.exitCode, finishedAt: e.exitedAt };
      }
      return { ...base, state: rec.startedAt === '' ? 'dead' : 'exited', error: 'the container process is gone and its monitor recorded no exit' };
    }
    const started = m.phase === 'started' || (rec.runtime.kind === 'berth' && !fs.existsSync(containerPaths(path.join(this.paths.engineRunRoot, 'oci'), m.id).execFifo));
    const startedAt = rec.startedAt !== '' ? rec.startedAt : nanosToIso(m.startedAt);
    return { ...base, state: started ? 'running' : 'created', pid: m.pid, startedAt, exitCode: started ? 0 : base.exitCode };
  }

  async summary(rec: ContainerRecord): Promise<ContainerSummary> {
    const st = await this.stateOf(rec);
    const argv = rec.argv;
    return {
      id: rec.id,
      name: rec.name,
      image: rec.image,
      imageId: rec.imageId,
      command: commandText(argv),
      created: rec.created,
      state: st.state,
      status: '',
      ports: rec.options.ports,
      labels: rec.options.labels,
      exitCode: st.exitCode,
      startedAt: st.startedAt,
      finishedAt: st.finishedAt,
      createdBy: 'berth',
      pid: st.pid,
    };
  }

  /** ps: the engine's containers (and berthd's, marked), newest first; running only unless all. */
  async list(opts: { all: boolean; berthd?: boolean }): Promise<ContainerSummary[]> {
    const out: ContainerSummary[] = [];
    for (const r of this.records()) {
      if (r.phase === 'creating') continue;
      out.push(await this.summary(r));
    }
    if (opts.berthd !== false) out.push(...(await listBerthd(this.berthdRoots())));
    return out.filter((s) => opts.all || s.state === 'running' || s.state === 'restarting' || s.state === 'paused').sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }

  /** wait: the exit code once the container has exited (polls; holds no lock). */
  async wait(ref: string, signal?: AbortSignal): Promise<number> {
    const rec = this.resolve(ref);
    for (;;) {
      let cur: ContainerRecord | undefined;
      try {
        cur = this.resolve(rec.id);
      } catch {
        cur = undefined;
      }
      if (cur === undefined) return rec.lastExit?.exitCode ?? 0;
      const st = await this.stateOf(cur);
      if (st.state === 'exited' || st.state === 'dead') {
        if (!(cur.options.restart.name !== 'no' && !cur.stoppedByUser && cur.restarting === true)) return st.exitCode ?? 0;
      }
      if (signal?.aborted) throw new BerthError('TIMEOUT', 'wait interrupted');
      await sleep(100);
    }
  }

  // ---- create ------------------------------------------------------------------------------------

  /**
   * Make the pod and the container (and start it with `start`): name, ports, runtime checked first.
   * `beforeStart` runs after the create and before the start, under the lock (attach there so no
   * output is lost). The image must be in the store (the CLI pulls per --pull first).
   */
  async create(o: RunOptions, hooks: { start?: boolean; beforeStart?: (rec: ContainerRecord, info: ContainerRuntimeInfo) => Promise<void> } = {}): Promise<ContainerRecord> {
    const svc = this.images.service;
    let found: Awaited<ReturnType<ImageService['find']>>;
    try {
      found = await svc.find(o.image);
    } catch (err) {
      if (err instanceof BerthError && err.code === 'NOT_FOUND') throw new BerthError('NOT_FOUND', `Unable to find image '${o.image}' locally`);
      throw err;
    }
    const imageRec = found.byName ?? found.records[0]!;
    const imageConfig = await svc.config(imageRec);
    const cfg = imageConfig.config ?? {};
    const argv = effectiveArgv(o, { entrypoint: cfg.Entrypoint ?? [], cmd: cfg.Cmd ?? [] });
    const runtime = resolveRuntime(o.runtime);
    if (o.stopSignal !== undefined) signalNumberOf(o.stopSignal);
    checkOverlay();
    // the monitor's sockets live at <runRoot>/engine/c/<64 hex>/attach: sun_path holds 107 bytes
    const sock = path.join(this.paths.engineRunRoot, 'c', 'f'.repeat(64), 'attach');
    if (Buffer.byteLength(sock) > 107) {
      throw new BerthError('INVALID_ARGUMENT', `--run-root ${this.opts.runRoot} is too long for the monitor's unix sockets (${Buffer.byteLength(sock)} > 107 bytes under it): use a shorter one`);
    }
    return this.locked(async (s) => {
      const taken = (n: string): boolean => s.records.some((r) => r.name === n);
      let name = o.name;
      if (name !== '') {
        name = checkName(name);
        const holder = s.records.find((r) => r.name === name);
        if (holder) {
          throw new BerthError(
            'ALREADY_EXISTS',
            `Conflict. The container name "/${name}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`,
          );
        }
      } else name = generateName(taken);
      const ports = await assignPorts(o.network === 'bridge' ? o.ports : [], [...s.records.flatMap((r) => r.options.ports), ...berthdPorts(this.berthdRoots())]);
      const options: RunOptions = { ...o, name, ports };
      const id = randomBytes(32).toString('hex');
      const logDir = path.join(this.paths.logs, id);
      const rec: ContainerRecord = {
        version: 1,
        id,
        containerId: '',
        podId: '',
        name,
        phase: 'creating',
        created: new Date().toISOString(),
        image: o.image,
        imageId: found.id,
        options,
        runtime: runtime.kind === 'oci' ? { kind: 'oci', name: runtime.name, binary: runtime.binary } : { kind: 'berth' },
        volumes: [],
        restartCount: 0,
        stoppedByUser: false,
        startedAt: '',
        lastExit: null,
        logPath: path.join(logDir, 'container.log'),
        argv,
      };
      return this.createLocked(s, rec, hooks);
    }, runtime);
  }

  private async createLocked(
    s: Session,
    rec: ContainerRecord,
    hooks: { start?: boolean; beforeStart?: (rec: ContainerRecord, info: ContainerRuntimeInfo) => Promise<void> },
  ): Promise<ContainerRecord> {
    const o = rec.options;
    await this.store.save(rec);
    if (o.network === 'none') this.noneNetworkPods.add(rec.id);
    try {
      await fs.promises.mkdir(path.dirname(rec.logPath), { recursive: true, mode: 0o700 });
      const mounts: ContainerMountRequest[] = [];
      const created: { name: string; hostPath: string; target: string }[] = [];
      for (const m of o.mounts) {
        if (m.type === 'bind') {
          if (!fs.existsSync(m.source)) throw new BerthError('INVALID_ARGUMENT', `invalid mount config: bind source path does not exist: ${m.source}`);
          mounts.push({ containerPath: m.target, hostPath: m.source, readonly: m.readonly, propagation: m.propagation });
          continue;
        }
        if (!this.opts.volumes) throw new BerthError('UNSUPPORTED', `volume mounts (${m.source === '' ? m.target : `${m.source}:${m.target}`}) are not available in this build`);
        const v = await this.opts.volumes.resolve(m, rec.id);
        rec.volumes.push({ name: v.name, anonymous: v.anonymous });
        await this.store.save(rec);
        mounts.push({ containerPath: m.target, hostPath: v.hostPath, readonly: m.readonly, propagation: 'private' });
        if (m.noCopy !== true) created.push({ name: v.name, hostPath: v.hostPath, target: m.target });
      }
      let argv = [...rec.argv];
      if (o.init) {
        if (!this.opts.init) throw new BerthError('UNSUPPORTED', '--init is not available in this build');
        const init = this.opts.init();
        mounts.push({ containerPath: init.containerPath, hostPath: init.hostPath, readonly: true, propagation: 'private' });
        argv = init.wrap(argv);
      }
      rec.podId = await s.pods.run(podRequest(o, { id: rec.id, logDirectory: path.dirname(rec.logPath), runtimeHandler: rec.runtime.kind === 'oci' ? rec.runtime.name : '' }));
      await this.store.save(rec);
      const req = containerRequest(o, { id: rec.id, name: rec.name, image: rec.imageId, argv, mounts, logPath: path.basename(rec.logPath) });
      rec.request = req;
      rec.containerId = await this.createContainer(s, rec.podId, req);
      rec.phase = 'created';
      await this.store.save(rec);
      for (const v of created) await this.opts.volumes?.populate?.(v, this.runFiles(rec.containerId).rootfs, v.target);
    } catch (err) {
      this.log.warn('create failed; undoing', { id: rec.id, err: (err as Error).message });
      if (rec.podId !== '') await s.pods.remove(rec.podId).catch((e: unknown) => this.log.error('undo failed', { id: rec.id, err: (e as Error).message }));
      const anon = rec.volumes.filter((v) => v.anonymous).map((v) => v.name);
      if (anon.length > 0) await this.opts.volumes?.removeVolumes?.(anon).catch(() => undefined);
      await fs.promises.rm(path.dirname(rec.logPath), { recursive: true, force: true });
      await this.store.remove(rec.id);
      throw commandFailure(err) ?? err;
    }
    s.records.push(rec);
    this.emit('create', rec);
    if (hooks.beforeStart) await hooks.beforeStart(rec, this.runtimeInfo(rec));
    if (hooks.start) await this.startLocked(s, rec);
    return rec;
  }

  private async createContainer(s: Session, podId: string, req: ContainerRequest): Promise<string> {
    const create = s.containers.create.bind(s.containers) as unknown as (podId: string, req: ContainerRequest) => Promise<string>;
    return create(podId, req);
  }

  // ---- start / stop / kill / rm ------------------------------------------------------------------

  private current(s: Session, ref: string): ContainerRecord {
    return this.resolve(ref, s.records);
  }

  async start(ref: string, hooks: { beforeStart?: (rec: ContainerRecord, info: ContainerRuntimeInfo) => Promise<void> } = {}): Promise<ContainerRecord> {
    return this.locked(async (s) => {
      const rec = this.current(s, ref);
      await this.prepareStart(s, rec);
      if (hooks.beforeStart) await hooks.beforeStart(rec, this.runtimeInfo(rec));
      await this.startLocked(s, rec);
      return rec;
    });
  }

  /**
   * Make the record's container startable: a running one is an error, a created one is ready; an
   * exited one is made anew in its pod (the pod too when it is gone, e.g. after a reboot).
   */
  private async prepareStart(s: Session, rec: ContainerRecord): Promise<void> {
    const st = await this.stateOf(rec);
    if (st.state === 'running') return;
    if (st.state === 'created' && rec.containerId !== '') return;
    await this.recordExit(rec);
    let podReady = false;
    try {
      podReady = s.pods.status(rec.podId).state === 'SANDBOX_READY';
    } catch {
      podReady = false;
    }
    if (rec.containerId !== '' && podReady) {
      // docker keeps the writable layer across restarts: the same runtime container made runnable
      // again (ContainerManager.recreate) when the manager has it; else a new one from the request
      const cm = s.containers as ContainerManager & { recreate?: (id: string) => Promise<void> };
      if (typeof cm.recreate === 'function') {
        try {
          await cm.recreate(rec.containerId);
          return;
        } catch (err) {
          const mapped = commandFailure(err);
          if (mapped) throw mapped;
          this.log.warn('recreate failed; making the runtime container anew', { id: rec.id, err: (err as Error).message });
        }
      }
    }
    if (rec.containerId !== '') {
      await s.containers.remove(rec.containerId);
      rec.containerId = '';
      await this.store.save(rec);
    }
    if (!podReady) {
      if (rec.podId !== '') await s.pods.remove(rec.podId);
      if (rec.options.network === 'none') this.noneNetworkPods.add(rec.id);
      rec.podId = await s.pods.run(podRequest(rec.options, { id: rec.id, logDirectory: path.dirname(rec.logPath), runtimeHandler: rec.runtime.kind === 'oci' ? rec.runtime.name : '' }));
      await this.store.save(rec);
    }
    if (!rec.request) throw new BerthError('INTERNAL', `container ${rec.id} has no saved request`);
    try {
      rec.containerId = await this.createContainer(s, rec.podId, rec.request);
    } catch (err) {
      throw commandFailure(err) ?? err;
    }
    await this.store.save(rec);
  }

  private async startLocked(s: Session, rec: ContainerRecord): Promise<void> {
    const st = await this.stateOf(rec);
    if (st.state === 'running') return;
    await s.containers.start(rec.containerId);
    rec.startedAt = new Date().toISOString();
    rec.stoppedByUser = false;
    rec.restarting = false;
    await this.store.save(rec);
    this.emit('start', rec);
  }

  /** Keep the last exit in the record (the runtime container may be made anew on the next start). */
  private async recordExit(rec: ContainerRecord): Promise<void> {
    const e = await this.exitRecord(rec);
    if (e === null) return;
    rec.lastExit = { exitCode: e.exitCode, finishedAt: e.exitedAt, oomKilled: false };
    await this.store.save(rec);
  }

  /**
   * stop: the stop signal (--stop-signal, else the image's), `timeoutSec` (default --stop-timeout, else
   * 10) for the exit, then SIGKILL. The lock is held to mark the container stopped by the user (no
   * restart policy acts) and to signal, and again for the SIGKILL and the bookkeeping, but not while
   * waiting, so other berth commands go on meanwhile.
   */
  async stop(ref: string, timeoutSec?: number): Promise<ContainerRecord> {
    const first = await this.locked(async (s) => {
      const rec = this.current(s, ref);
      rec.stoppedByUser = true;
      await this.store.save(rec);
      const st = await this.stateOf(rec);
      const none = { rec, active: false, pid: 0, startTime: '', timeout: 0 };
      if (st.state !== 'running' && st.state !== 'created') return none;
      const timeout = timeoutSec ?? rec.options.stopTimeout ?? 10;
      const meta = this.meta(rec);
      if (st.state !== 'running' || timeout <= 0 || meta === null) return { ...none, active: true };
      const sig = rec.options.stopSignal !== undefined ? signalNumberOf(rec.options.stopSignal) : meta.stopSignal;
      try {
        process.kill(st.pid, sig);
      } catch {
        // gone meanwhile
      }
      return { rec, active: true, pid: st.pid, startTime: meta.pidStartTime, timeout };
    });
    if (!first.active) return first.rec;
    if (first.pid > 0) {
      const end = Date.now() + first.timeout * 1000;
      while (Date.now() < end && (await this.exitRecord(first.rec)) === null && isSameLiveProcess(first.pid, first.startTime)) await sleep(50);
    }
    return this.locked(async (s) => {
      const rec = findRecord(s.records, first.rec.id);
      // removed, or started again by someone else meanwhile: nothing more to do here
      if (rec === undefined || rec.containerId !== first.rec.containerId || rec.startedAt !== first.rec.startedAt) return rec ?? first.rec;
      const st = await this.stateOf(rec);
      if (st.state === 'running' || st.state === 'created') await s.containers.stop(rec.containerId, 0);
      await this.waitExitFile(rec, 2000);
      await this.recordExit(rec);
      this.emit('die', rec, { exitCode: String(rec.lastExit?.exitCode ?? '') });
      this.emit('stop', rec);
      return rec;
    });
  }

  private async waitExitFile(rec: ContainerRecord, ms: number): Promise<void> {
    const end = Date.now() + ms;
    while (Date.now() < end && (await this.exitRecord(rec)) === null) await sleep(20);
  }

  /** kill -s: the signal to the container's main process (it must be running). */
  async kill(ref: string, signal: number): Promise<ContainerRecord> {
    return this.locked(async (s) => {
      const rec = this.current(s, ref);
      const st = await this.stateOf(rec);
      if (st.state !== 'running') throw new BerthError('FAILED_PRECONDITION', `cannot kill container: ${ref}: container ${rec.id} is not running`);
      if (signal === 9 || signal === 15 || signal === 2) {
        rec.stoppedByUser = true;
        await this.store.save(rec);
      }
      try {
        process.kill(st.pid, signal);
      } catch (err) {
        throw new BerthError('INTERNAL', `cannot kill container ${ref}: ${(err as Error).message}`);
      }
      this.emit('kill', rec, { signal: String(signal) });
      return rec;
    });
  }

  /** rm: refused for a running container unless force; then pod, container, logs, record (and anonymous volumes with `volumes`). */
  async remove(ref: string, opts: { force: boolean; volumes: boolean }): Promise<ContainerRecord> {
    return this.locked(async (s) => {
      const rec = this.current(s, ref);
      return this.removeLocked(s, rec, opts);
    });
  }

  async removeLocked(s: Session, rec: ContainerRecord, opts: { force: boolean; volumes: boolean }): Promise<ContainerRecord> {
    const st = await this.stateOf(rec);
    if ((st.state === 'running' || st.state === 'restarting') && !opts.force) {
      throw new BerthError('FAILED_PRECONDITION', `cannot remove container "/${rec.name}": container is ${st.state}: stop the container before removing or force remove`);
    }
    rec.stoppedByUser = true;
    await this.store.save(rec);
    if (st.state === 'running') {
      await s.containers.stop(rec.containerId, 0);
      this.emit('die', rec);
    }
    if (rec.containerId !== '') await s.containers.remove(rec.containerId);
    if (rec.podId !== '') await s.pods.remove(rec.podId);
    await fs.promises.rm(path.dirname(rec.logPath), { recursive: true, force: true });
    await this.store.remove(rec.id);
    const i = s.records.indexOf(rec);
    if (i >= 0) s.records.splice(i, 1);
    if (opts.volumes) {
      const anon = rec.volumes.filter((v) => v.anonymous).map((v) => v.name);
      if (anon.length > 0) await this.opts.volumes?.removeVolumes?.(anon);
    }
    this.emit('destroy', rec);
    return rec;
  }

  async restart(ref: string, timeoutSec?: number): Promise<ContainerRecord> {
    await this.stop(ref, timeoutSec);
    const rec = await this.start(ref);
    this.emit('restart', rec);
    return rec;
  }

  async rename(ref: string, newName: string): Promise<ContainerRecord> {
    const name = checkName(newName);
    return this.locked(async (s) => {
      const rec = this.current(s, ref);
      const holder = s.records.find((r) => r.name === name && r.id !== rec.id);
      if (holder) throw new BerthError('ALREADY_EXISTS', `Error when allocating new name: Conflict. The container name "/${name}" is already in use by container "${holder.id}". You have to remove (or rename) that container to be able to reuse that name.`);
      const old = rec.name;
      rec.name = name;
      await this.store.save(rec);
      this.emit('rename', rec, { oldName: old });
      return rec;
    });
  }

  /** Update a record under the lock (restart policy: restart counts, the restarting flag). */
  async update(ref: string, fn: (rec: ContainerRecord, s: Session) => Promise<void>): Promise<ContainerRecord> {
    return this.locked(async (s) => {
      const rec = this.current(s, ref);
      await fn(rec, s);
      await this.store.save(rec);
      return rec;
    });
  }

  /**
   * Start an exited container again in its pod, counting a restart (for restart policies). `guard`
   * (the restart policy) runs under the lock first: false leaves the container as it is (returns null).
   */
  async restartAfterExit(ref: string, guard?: (rec: ContainerRecord) => boolean | Promise<boolean>): Promise<ContainerRecord | null> {
    return this.locked(async (s) => {
      const rec = this.current(s, ref);
      if (guard !== undefined && !(await guard(rec))) return null;
      await this.prepareStart(s, rec);
      rec.restartCount++;
      await this.startLocked(s, rec);
      this.emit('restart', rec);
      return rec;
    });
  }
}

/** "SIGUSR1", "USR1", "10" -> the number (--stop-signal). */
export function signalNumberOf(s: string): number {
  if (/^\d+$/.test(s)) return Number(s);
  const up = s.toUpperCase();
  const n = (osConstants.signals as Record<string, number | undefined>)[up.startsWith('SIG') ? up : `SIG${up}`];
  if (n === undefined) throw new BerthError('INVALID_ARGUMENT', `invalid signal: ${s}`);
  return n;
}

/** The overlay filesystem (snapshots need it): loaded on demand, else an error a person can act on. */
export function checkOverlay(read: () => string = () => fs.readFileSync('/proc/filesystems', 'utf8')): void {
  const has = (): boolean => /\toverlay$/m.test(read());
  if (has()) return;
  try {
    execFileSync('modprobe', ['overlay'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    // reported below
  }
  if (!has()) throw new BerthError('UNSUPPORTED', 'this kernel has no overlay filesystem, which berth needs for container layers: load it (modprobe overlay) or use a kernel with CONFIG_OVERLAY_FS');
}

/** PodNetworking that skips CNI for pods of network mode none (loopback only, brought up here). */
function noneAware(cni: PodNetworking, nonePods: () => Set<string>): PodNetworking {
  return {
    setUpPod: async (req) => {
      if (req.podName !== undefined && nonePods().has(req.podName)) {
        if (req.netns) await loopbackUp(req.netns);
        return { network: 'none', source: '', ifName: '', cniVersion: '1.0.0', result: { cniVersion: '1.0.0' }, ips: { ipv4: null, ipv6: null, all: [] } };
      }
      return cni.setUpPod(req);
    },
    tearDownPod: async (req) => {
      if (req.podName !== undefined && nonePods().has(req.podName)) return;
      return cni.tearDownPod(req);
    },
    status: () => cni.status(),
    cachedPodIds: () => cni.cachedPodIds(),
  };
}

async function loopbackUp(netns: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => {
    execFile('nsenter', [`--net=${netns}`, 'ip', 'link', 'set', 'lo', 'up'], { timeout: 10_000 }, (err, _o, stderr) =>
      err ? reject(new BerthError('INTERNAL', `bringing up lo in ${netns}: ${stderr.trim() || err.message}`)) : resolve(),
    );
  });
}
