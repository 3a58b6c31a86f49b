/**
 * Restart policies and --rm, daemonless: the container's monitor runs an exit command once the
 * container exited (native/MONITOR.md "Exit command"): `berth ... container cleanup ID`, a hidden
 * command that calls `containerCleanup` here. It records the exit ('die'), then either removes the
 * container (--rm), restarts it per its policy after docker's backoff, or leaves it exited.
 *
 * Policies (docker's): no; always and unless-stopped (restart whatever the exit code); on-failure[:N]
 * (restart on a nonzero exit, at most N times when N > 0). A container stopped or killed through berth
 * (record.stoppedByUser) is never restarted. Backoff: 100 ms, doubling with each restart, at most one
 * minute; back to 100 ms when the container had run for 10 s or more.
 *
 * The engine operations are injected (CleanupEngine) so the policy logic is tested without root;
 * the engine (src/engine/engine.ts) supplies them.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file';
import type { ContainerRecord, RestartPolicy } from './types';

export const BACKOFF_START_MS = 100;
export const BACKOFF_MAX_MS = 60_000;
/** A run at least this long resets the backoff. */
export const BACKOFF_RESET_RUN_MS = 10_000;

/** Whether a container that exited with `exitCode` is restarted, given the restarts done so far. */
export function shouldRestart(policy: RestartPolicy, exitCode: number, restartCount: number, stoppedByUser: boolean): boolean {
  if (stoppedByUser) return false;
  switch (policy.name) {
    case 'no':
      return false;
    case 'always':
    case 'unless-stopped':
      return true;
    case 'on-failure':
      if (exitCode === 0) return false;
      return policy.maximumRetryCount <= 0 || restartCount < policy.maximumRetryCount;
    default:
      return false;
  }
}

/** The next delay: doubled from the previous one (0 = none yet), or reset after a long enough run. */
export function nextDelayMs(previousMs: number, ranMs: number): number {
  if (previousMs <= 0 || ranMs >= BACKOFF_RESET_RUN_MS) return BACKOFF_START_MS;
  return Math.min(BACKOFF_MAX_MS, previousMs * 2);
}

export interface ExitInfo {
  exitCode: number;
  /** ISO. */
  finishedAt: string;
  oomKilled: boolean;
}

/** What containerCleanup needs from the engine. */
export interface CleanupEngine {
  /** Runs fn under the engine's cross-process lock. */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  /** The record (fresh, under the lock) whose current runtime container or docker id is `ref`; undefined when gone. */
  load(ref: string): ContainerRecord | undefined;
  save(rec: ContainerRecord): Promise<void>;
  /** The exit of the record's current runtime container, null when it has not exited (still running). */
  exitOf(rec: ContainerRecord): Promise<ExitInfo | null>;
  /** Removes the container and its anonymous volumes (--rm). Called under withLock. */
  remove(rec: ContainerRecord): Promise<void>;
  /**
   * Takes the lock itself; when guard(record) holds there, starts the container again (same id, name,
   * volumes), adds one to restartCount and records the restart. Resolves whether it restarted.
   */
  restart(ref: string, guard: (rec: ContainerRecord) => Promise<boolean>): Promise<boolean>;
  event(action: string, rec: ContainerRecord, attributes?: Record<string, string | number>): void;
  /** Where failures go (the exit command's stdio is /dev/null). */
  log?: (message: string) => void;
  /** For tests; default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
}

/** Where the backoff of each container is kept: <engineRoot>/restart/<id>.json. */
export class BackoffStore {
  constructor(readonly dir: string) {}

  private file(id: string): string {
    return path.join(this.dir, `${id.replace(/[^0-9a-zA-Z_.-]/g, '_')}.json`);
  }

  get(id: string): number {
    try {
      const v = JSON.parse(fs.readFileSync(this.file(id), 'utf8')) as { delayMs?: unknown };
      return typeof v.delayMs === 'number' && v.delayMs > 0 ? v.delayMs : 0;
    } catch {
      return 0;
    }
  }

  async set(id: string, delayMs: number): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file(id), JSON.stringify({ delayMs }) + '\n', 0o600);
  }

  async clear(id: string): Promise<void> {
    await fs.promises.rm(this.file(id), { force: true });
  }
}

export type CleanupOutcome = 'gone' | 'running' | 'removed' | 'restarted' | 'exited' | 'superseded';

/**
 * What the exit command does. `containerId` is the runtime (ContainerManager) container that exited:
 * the record is found by it, and a late cleanup of an earlier run never acts on a newer one.
 */
export async function containerCleanup(e: CleanupEngine, backoff: BackoffStore, containerId: string): Promise<CleanupOutcome> {
  const sleep = e.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  /** Under the lock: the record's exit, or why there is nothing to do. */
  const current = async (): Promise<{ outcome: CleanupOutcome } | { rec: ContainerRecord; exit: ExitInfo }> => {
    const rec = e.load(containerId);
    if (rec === undefined) return { outcome: 'gone' };
    if (rec.containerId !== containerId) return { outcome: 'superseded' };
    const exit = await e.exitOf(rec);
    if (exit === null) return { outcome: 'running' };
    return { rec, exit };
  };
  const noRestart = async (rec: ContainerRecord): Promise<CleanupOutcome> => {
    await backoff.clear(rec.id);
    if (rec.restarting === true) {
      rec.restarting = false;
      await e.save(rec);
    }
    if (rec.options.autoRemove) {
      await e.remove(rec);
      return 'removed';
    }
    return 'exited';
  };
  const first = await e.withLock(async (): Promise<{ outcome: CleanupOutcome } | { delay: number }> => {
    const c = await current();
    if ('outcome' in c) return c;
    const { rec, exit } = c;
    if (rec.lastExit === null || rec.lastExit.finishedAt !== exit.finishedAt) {
      rec.lastExit = { exitCode: exit.exitCode, finishedAt: exit.finishedAt, oomKilled: exit.oomKilled };
      await e.save(rec);
      e.event('die', rec, { exitCode: exit.exitCode });
      if (exit.oomKilled) e.event('oom', rec);
    }
    if (!shouldRestart(rec.options.restart, exit.exitCode, rec.restartCount, rec.stoppedByUser)) return { outcome: await noRestart(rec) };
    const started = Date.parse(rec.startedAt);
    const ran = Number.isNaN(started) ? 0 : Date.parse(exit.finishedAt) - started;
    const delay = nextDelayMs(backoff.get(rec.id), ran);
    await backoff.set(rec.id, delay);
    // `wait` keeps waiting and ps says restarting until the start (which clears it) or noRestart
    rec.restarting = true;
    await e.save(rec);
    return { delay };
  });
  if ('outcome' in first) return first.outcome;
  // wait outside the lock: stop, rm and start may act meanwhile; the guard checks again under it
  await sleep(first.delay);
  let restarted = false;
  try {
    restarted = await e.restart(containerId, async (rec) => {
      if (rec.containerId !== containerId) return false;
      const exit = await e.exitOf(rec);
      return exit !== null && shouldRestart(rec.options.restart, exit.exitCode, rec.restartCount, rec.stoppedByUser);
    });
  } catch (err) {
    // the start failed (e.g. the image is gone): the container stays exited, as docker gives up
    e.log?.(`restart of ${containerId} failed: ${(err as Error).message}`);
    restarted = false;
  }
  if (restarted) return 'restarted';
  return e.withLock(async () => {
    const c = await current();
    if ('outcome' in c) return c.outcome;
    return noRestart(c.rec);
  });
}

/**
 * The monitor's exit command for a runtime container: node running bin/berth with the same store
 * paths (`berth --root R --run-root RR container cleanup CONTAINER_ID`). Pass to the monitor as
 * exitCommand / exitCommandArgs (MonitorOptions).
 */
export function exitCommandFor(opts: { root: string; runRoot: string; containerId: string; berthBin?: string; configFile?: string }): { exitCommand: string; exitCommandArgs: string[] } {
  const bin = opts.berthBin ?? defaultBerthBin();
  return {
    exitCommand: process.execPath,
    exitCommandArgs: [bin, '--root', opts.root, '--run-root', opts.runRoot, ...(opts.configFile !== undefined ? ['--config', opts.configFile] : []), 'container', 'cleanup', opts.containerId],
  };
}

/** <repo>/bin/berth found from this file (src/engine or dist/src/engine). */
export function defaultBerthBin(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'bin', 'berth');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '../../../bin/berth');
}
