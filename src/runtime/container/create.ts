/**
 * create: validate the bundle's config, claim the id, make the exec fifo and the cgroup, launch the
 * executor, and in the executor's PID step place the process in its cgroup, set oom_score_adj and run
 * the prestart and createRuntime hooks. On any failure everything created so far is torn down.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../errors';
import { runHooks } from '../hooks/run';
import { launch, type MonitorLaunchOptions } from '../init/launch';
import { compilePlan } from '../plan/compile';
import type { Spec } from '../spec/types';
import { loadBundleConfig } from '../spec/validate';
import { normalizeCgroupsPath, systemdCgroupPath } from '../cgroups/manager';
import { containerCgroup, moveToOwnCgroups, warmCgroupAttach, type CgroupManager } from './cgroup';
import { effectiveResources } from './devices';
import { validateContainerId } from './id';
import { withRootLock } from './lock';
import { applyOomScoreAdj } from './oom';
import type { RuntimeOptions } from './options';
import { containerPaths } from './paths';
import { writePidFile } from './pidfile';
import { readProcStat } from './procstat';
import { saveSpec } from './spec-file';
import { nowRfc3339Nano, ociState, writeRecord, writeRecordAsync, type ContainerRecord } from './state';
import { teardown } from './teardown';

export type LaunchStdio = Parameters<typeof launch>[0]['stdio'];

export interface CreateOptions {
  id: string;
  /** Bundle directory (made absolute here). */
  bundle: string;
  /** A config file to use instead of the bundle's config.json (crun's --config). */
  config?: string;
  consoleSocket?: string;
  pidFile?: string;
  /** Extra fds (3 .. 3+n-1) passed to the container process. */
  preserveFds?: number;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** `run` without --detach: the executor stays, reaps the container and exits with its status. */
  foreground?: boolean;
  stdio?: LaunchStdio;
  /**
   * Create under berth-monitor (berthd): the monitor holds stdio, the log and the exit record; the
   * container process is placed in its cgroup at PID (the executor is the monitor's child). Not
   * with `foreground`. With a terminal, `consoleSocket` must be the monitor's console socket.
   */
  monitor?: MonitorLaunchOptions;
}

export interface CreatedContainer {
  record: ContainerRecord;
  spec: Spec;
  /** The executor process (foreground: it exits with the container's status). */
  executor: ChildProcess;
  exited: Promise<number>;
  /** With `monitor`: the detached monitor's pid. */
  monitorPid?: number;
}

/** Host uid/gid that container root maps to (for the exec fifo's owner). */
function rootIds(spec: Spec): { uid: number; gid: number } {
  const find = (maps: { containerID: number; hostID: number; size: number }[] | undefined): number => {
    for (const m of maps ?? []) if (m.containerID <= 0 && 0 < m.containerID + m.size) return m.hostID - m.containerID;
    return 0;
  };
  return { uid: find(spec.linux?.uidMappings), gid: find(spec.linux?.gidMappings) };
}

/** The cgroup path as /proc/PID/cgroup shows it, for cgroup mounts ('' when relative or disabled). */
function cgroupPathForMounts(id: string, cgroupsPath: string, driver: string): string {
  if (driver === 'disabled') return '';
  if (driver === 'systemd') return systemdCgroupPath(cgroupsPath, id);
  const p = normalizeCgroupsPath(cgroupsPath, id);
  return p.relative ? '' : p.path;
}

function ensureRoot(root: string): void {
  try {
    fs.mkdirSync(root, { recursive: true, mode: 0o711 });
  } catch (err) {
    throw new BerthError('INTERNAL', `creating state root ${root}: ${(err as Error).message}`, { cause: err });
  }
}

export async function createContainer(opts: RuntimeOptions, co: CreateOptions): Promise<CreatedContainer> {
  const { logger } = opts;
  const t0 = performance.now();
  const phase = (what: string): void => logger.debug(`create ${co.id}: ${what} at ${(performance.now() - t0).toFixed(1)} ms`);
  validateContainerId(co.id);
  if (co.monitor && co.foreground) throw new BerthError('INVALID_ARGUMENT', 'create: a container under the monitor cannot be foreground');
  // Overlaps the kernel's wait for the cgroup attach lock with validation and plan compilation.
  if (opts.cgroupDriver !== 'disabled') warmCgroupAttach().catch(() => undefined);
  const bundle = path.resolve(co.bundle);
  // Validation comes first: an invalid config leaves nothing behind.
  const spec = await loadBundleConfig(bundle, co.config);
  phase('config validated');
  const paths = containerPaths(opts.root, co.id);
  const rootfs = path.resolve(bundle, spec.root.path);
  const cgroupsPath = opts.cgroupDriver === 'disabled' ? '' : (spec.linux?.cgroupsPath ?? '');
  const record: ContainerRecord = {
    id: co.id,
    bundle,
    rootfs,
    pid: 0,
    pidStartTime: '',
    status: 'creating',
    annotations: spec.annotations ?? {},
    created: nowRfc3339Nano(),
    ownerUid: process.getuid?.() ?? 0,
    cgroupsPath,
    cgroupDriver: opts.cgroupDriver,
    ownPidNamespace: (spec.linux?.namespaces ?? []).some((ns) => ns.type === 'pid' && !ns.path),
    creator: `${process.pid} ${readProcStat(process.pid)?.startTime ?? ''}`,
  };

  ensureRoot(opts.root);
  withRootLock(opts.root, () => {
    try {
      fs.mkdirSync(paths.dir, { mode: 0o711 });
    } catch (err) {
      if (isErrno(err, 'EEXIST')) throw new BerthError('ALREADY_EXISTS', `container with id exists: ${co.id}`);
      throw new BerthError('INTERNAL', `creating ${paths.dir}: ${(err as Error).message}`, { cause: err });
    }
  });
  phase('id claimed');
  // Again, to keep the attach lock in writer mode until the executor is placed (see warmCgroupAttach).
  if (opts.cgroupDriver !== 'disabled') warmCgroupAttach().catch(() => undefined);

  let cgroup: CgroupManager | null = null;
  // Work that overlaps the executor's start-up: the record ("creating"), the saved spec and
  // the cgroup (created and limited). The cgroup is awaited right after the spawn, to place the
  // executor in it before it clones the container process (which is so born in it); the rest in
  // the PID step, before GO lets the process run anything. Until then a failure elsewhere must not
  // turn their rejections into a crash, hence the no-op catches.
  let background: Promise<unknown> = Promise.resolve();
  let cgroupReady: Promise<unknown> = Promise.resolve();
  try {
    const ids = rootIds(spec);
    background = Promise.all([
      writeRecordAsync(paths.state, record),
      saveSpec(paths.config, spec),
    ]);
    background.catch(() => undefined);
    const cg = (cgroup = containerCgroup(co.id, cgroupsPath, opts.cgroupDriver));
    if (cg !== null) {
      const resources = effectiveResources(spec);
      cgroupReady = (async () => {
        await cg.create();
        if (resources) await cg.set(resources);
        phase('cgroup set');
      })();
      cgroupReady.catch(() => undefined);
    }
    const plan = compilePlan(spec, {
      bundle,
      execFifo: paths.execFifo,
      consoleSocket: co.consoleSocket ?? '',
      preserveFds: co.preserveFds ?? 0,
      noPivot: co.noPivot ?? false,
      noNewKeyring: co.noNewKeyring ?? false,
      foreground: co.foreground ?? false,
      cgroupPath: cgroupPathForMounts(co.id, cgroupsPath, opts.cgroupDriver),
    });
    // The executor makes the exec fifo (mknod) before it opens it: no mkfifo process, no race.
    plan.execFifoCreate = { mode: 0o622, uid: ids.uid, gid: ids.gid };
    phase('plan compiled');
    const launched = await launch({
      plan,
      stdio: co.stdio,
      preserveFds: co.preserveFds ?? 0,
      ...(co.monitor ? { monitor: co.monitor } : {}),
      onSpawn: async (executorPid: number): Promise<void> => {
        await cgroupReady;
        if (cg !== null) await cg.apply(executorPid);
        phase(`executor ${executorPid} placed`);
      },
      onPid: async (pid: number): Promise<string> => {
        phase(`pid ${pid}`);
        record.pid = pid;
        record.pidStartTime = readProcStat(pid)?.startTime ?? '';
        if (co.monitor) {
          // no onSpawn under the monitor: the process waits for GO, place it now
          await cgroupReady;
          if (cg !== null) await cg.apply(pid);
        }
        await background;
        writeRecord(paths.state, record);
        if (spec.process?.oomScoreAdj !== undefined) applyOomScoreAdj(pid, spec.process.oomScoreAdj, logger);
        // runtime-tools' validation expects "created" here (the process exists and waits).
        const stateJson = JSON.stringify(ociState(record, 'created'));
        await runHooks('prestart', spec.hooks?.prestart, stateJson, logger);
        await runHooks('createRuntime', spec.hooks?.createRuntime, stateJson, logger);
        phase('hooks done, GO');
        return stateJson;
      },
    });
    phase('ready');
    record.pid = launched.pid;
    if (record.pidStartTime === '') record.pidStartTime = readProcStat(launched.pid)?.startTime ?? '';
    record.status = 'created';
    writeRecord(paths.state, record);
    if (co.pidFile) writePidFile(co.pidFile, launched.pid);
    const executorPid = launched.executor.pid;
    if (co.foreground && cg !== null && executorPid !== undefined) {
      // The foreground executor stays as the container's parent: take it out of the container's
      // cgroups, in the background so that it overlaps `start` (it may be gone by then: a failed
      // write is fine).
      moveToOwnCgroups(executorPid, cg.mode).catch((err: unknown) => {
        if (readProcStat(executorPid) !== null) logger.debug(`moving executor ${executorPid} out of the container's cgroups: ${(err as Error).message}`);
      });
    }
    return {
      record,
      spec,
      executor: launched.executor,
      exited: launched.exited,
      ...(launched.monitorPid !== undefined ? { monitorPid: launched.monitorPid } : {}),
    };
  } catch (err) {
    // Let in-flight work settle so nothing is created after the teardown removed it.
    await Promise.allSettled([background, cgroupReady]);
    try {
      await teardown(
        { pid: record.pid, pidStartTime: record.pidStartTime, cgroup, paused: false, mayHaveProcesses: true, root: opts.root, stateDir: paths.dir },
        logger,
      );
    } catch (cleanupErr) {
      logger.warn(`cleaning up after failed create of ${co.id}: ${(cleanupErr as Error).message}`);
    }
    throw err;
  }
}
