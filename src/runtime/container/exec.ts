/**
 * exec: run another process inside a created or running container: join its namespaces, enter its
 * cgroup (in the executor's PID step), execve. Foreground execs resolve `exited` with the status.
 */
import type { ChildProcess } from 'node:child_process';
import { launch } from '../init/launch';
import { compileExecPlan } from '../plan/compile';
import type { SpecProcess } from '../spec/types';
import { validateProcess } from '../spec/validate';
import type { LaunchStdio } from './create';
import { loadContainer } from './load';
import type { RuntimeOptions } from './options';
import { writePidFile } from './pidfile';
import { readSavedSpec } from './spec-file';
import { ociState } from './state';
import { assertCan } from './status';

export interface ExecOptions {
  id: string;
  /** The process to run, as config.json's `process` (unvalidated: checked here). */
  process: unknown;
  detach?: boolean;
  consoleSocket?: string;
  pidFile?: string;
  preserveFds?: number;
  stdio?: LaunchStdio;
}

export interface ExecedProcess {
  pid: number;
  executor: ChildProcess;
  exited: Promise<number>;
}

/** The container's saved process (the base `exec` flags modify). */
export async function containerProcess(opts: RuntimeOptions, id: string): Promise<SpecProcess | undefined> {
  const c = await loadContainer(opts, id);
  return readSavedSpec(c.paths.config).process;
}

export async function execProcess(opts: RuntimeOptions, eo: ExecOptions): Promise<ExecedProcess> {
  const c = await loadContainer(opts, eo.id);
  assertCan('exec', c.status);
  const spec = readSavedSpec(c.paths.config);
  // Faults are named by JSON path (`process.args`, ...).
  const checked: SpecProcess = validateProcess(eo.process);
  const plan = compileExecPlan(checked, {
    pid: c.record.pid,
    spec,
    foreground: !eo.detach,
    consoleSocket: eo.consoleSocket ?? '',
    preserveFds: eo.preserveFds ?? 0,
  });
  const cgroup = c.cgroup;
  const launched = await launch({
    plan,
    stdio: eo.stdio,
    preserveFds: eo.preserveFds ?? 0,
    onPid: async (pid: number): Promise<string> => {
      if (cgroup !== null) await cgroup.apply(pid);
      return JSON.stringify(ociState(c.record, c.status));
    },
  });
  if (eo.pidFile) writePidFile(eo.pidFile, launched.pid);
  return { pid: launched.pid, executor: launched.executor, exited: launched.exited };
}
