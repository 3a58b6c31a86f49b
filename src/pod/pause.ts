/**
 * The pause process: pid 1 of a pod's shared PID namespace (CRI NamespaceMode POD). A PID namespace
 * lives only as long as its init, so unlike net/ipc/uts it cannot be pinned with a bind mount.
 *
 * berth-pause (native/pause/pause.c) is started by berth's own executor with an exec-mode plan: it
 * joins the pod's pinned net/ipc/uts namespaces by path and is cloned into a new PID namespace. It
 * stays in the host's mount namespace (a copy would hold other pods' pinned namespace files), runs as
 * root with every capability dropped and no_new_privs, and has /dev/null as stdio. Containers join
 * its PID namespace through /proc/<pid>/ns/pid.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';
import { launch } from '../runtime/init/launch';
import { readProcStat } from '../runtime/container/procstat';
import { CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWUTS } from '../runtime/plan/linux';
import { execModePlan } from '../runtime/plan/compile';
import type { Plan, PlanNamespaceJoin } from '../runtime/plan/types';

export interface PauseOptions {
  /** Namespace files to join (absent = stay in berthd's, i.e. the host's). */
  netns?: string;
  ipcns?: string;
  utsns?: string;
  /** Default: <repo>/native/build/berth-pause. */
  pausePath?: string;
  /** Default: the launcher's (<repo>/native/build/berth-init). */
  initPath?: string;
  /** Called with the pause pid before it runs (e.g. to place it in the pod's cgroup). */
  onPid?: (pid: number) => Promise<void>;
}

export interface PauseProcess {
  pid: number;
  /** /proc/<pid>/stat field 22: tells the pause from a process that reused its pid. */
  startTime: string;
  /** The PID namespace file containers join. */
  pidnsPath: string;
}

let cachedPausePath: string | undefined;

/** <repo>/native/build/berth-pause, found from this file's location (src/ or dist/src/). */
export function defaultPausePath(): string {
  if (cachedPausePath !== undefined) return cachedPausePath;
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'native', 'build', 'berth-pause');
    if (fs.existsSync(candidate)) return (cachedPausePath = candidate);
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '../../../native/build/berth-pause');
}

/** The exec-mode plan that runs berth-pause as pid 1 of a new PID namespace. */
export function pausePlan(pausePath: string, joins: PlanNamespaceJoin[]): Plan {
  return execModePlan(
    joins,
    {
      args: [pausePath],
      env: [],
      cwd: '/',
      user: { uid: 0, gid: 0, additionalGids: [], umask: -1 },
      terminal: false,
      consoleSocket: '',
      consoleHeight: 0,
      consoleWidth: 0,
      rlimits: [],
      capabilities: { bounding: 0n, effective: 0n, permitted: 0n, inheritable: 0n, ambient: 0n },
      noNewPrivileges: true,
      scheduler: null,
      ioPriority: null,
      cpuAffinityInitial: [],
      cpuAffinityFinal: [],
      personality: -1,
      apparmorProfile: '',
      selinuxLabel: '',
      seccomp: null,
    },
    { foreground: false, preserveFds: 0, cloneFlags: CLONE_NEWPID },
  );
}

/** Start berth-pause in a new PID namespace, in the given namespaces. */
export async function startPause(opts: PauseOptions): Promise<PauseProcess> {
  const pausePath = opts.pausePath ?? defaultPausePath();
  try {
    fs.accessSync(pausePath, fs.constants.X_OK);
  } catch {
    throw new BerthError('FAILED_PRECONDITION', `pause program ${pausePath} is missing or not executable (run make -C native)`);
  }
  const joins: PlanNamespaceJoin[] = [];
  if (opts.netns !== undefined) joins.push({ flag: CLONE_NEWNET, path: opts.netns });
  if (opts.ipcns !== undefined) joins.push({ flag: CLONE_NEWIPC, path: opts.ipcns });
  if (opts.utsns !== undefined) joins.push({ flag: CLONE_NEWUTS, path: opts.utsns });
  const launched = await launch({
    plan: pausePlan(pausePath, joins),
    initPath: opts.initPath,
    stdio: ['ignore', 'ignore', 'ignore'],
    onPid: async (pid) => {
      if (opts.onPid) await opts.onPid(pid);
      return '';
    },
  });
  // the executor exits right after the PID message (not foreground): collect it
  await launched.exited;
  const st = readProcStat(launched.pid);
  if (st === null || st.state === 'Z') {
    throw new BerthError('INTERNAL', `pause process ${launched.pid} exited right after it started`);
  }
  return { pid: launched.pid, startTime: st.startTime, pidnsPath: `/proc/${launched.pid}/ns/pid` };
}

/** Whether the recorded pause process is still alive (not a reused pid, not a zombie). */
export function pauseAlive(p: Pick<PauseProcess, 'pid' | 'startTime'>): boolean {
  const st = readProcStat(p.pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X' && (p.startTime === '' || st.startTime === p.startTime);
}

/**
 * Kill the pause process (SIGKILL: the kernel then kills everything left in its PID namespace) and
 * wait until it is gone or a zombie. Nothing happens when the pid now belongs to another process.
 */
export async function stopPause(p: Pick<PauseProcess, 'pid' | 'startTime'>, timeoutMs = 10_000): Promise<void> {
  if (!pauseAlive(p)) return;
  try {
    process.kill(p.pid, 'SIGKILL');
  } catch {
    return; // already gone
  }
  const deadline = Date.now() + timeoutMs;
  while (pauseAlive(p)) {
    if (Date.now() > deadline) throw new BerthError('TIMEOUT', `pause process ${p.pid} did not exit after SIGKILL`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
