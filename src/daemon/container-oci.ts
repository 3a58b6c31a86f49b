/**
 * Containers on a RuntimeClass handler of type "oci": an OCI runtime binary driven through the runc
 * command-line contract (create under berth-monitor, start, kill, delete --force, update --resources -).
 * The bundle (config.json, mounted rootfs) is made by containers.ts exactly as for the berth handler;
 * the runtime creates the container's cgroups from the spec's linux.cgroupsPath.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';
import type { LinuxResources } from '../runtime/cgroups/spec';

export interface OciHandler {
  /** The handler's name in [runtimes.<name>]. */
  name: string;
  binary: string;
  /** The runtime's state root (--root). */
  root: string;
  /** Pass --systemd-cgroup (berthd's cgroup driver is systemd). */
  systemdCgroup: boolean;
}

/** The handler's state root: its configured root, else <runRoot>/runtimes/<name>. */
export function ociHandlerRoot(runRoot: string, name: string, root: string | undefined): string {
  return root ?? path.join(runRoot, 'runtimes', name);
}

function globalArgs(h: OciHandler): string[] {
  return ['--root', h.root, ...(h.systemdCgroup ? ['--systemd-cgroup'] : [])];
}

/** The monitor's CMD: `binary --root R create --bundle B --pid-file P [--console-socket S] ID`. */
export function ociCreateCommand(h: OciHandler, id: string, bundle: string, pidFile: string, consoleSocket?: string): string[] {
  return [
    h.binary,
    ...globalArgs(h),
    'create',
    '--bundle',
    bundle,
    '--pid-file',
    pidFile,
    ...(consoleSocket !== undefined ? ['--console-socket', consoleSocket] : []),
    id,
  ];
}

/** ExecSync's CMD: `binary --root R exec --process F --pid-file P ID` (foreground, no terminal). */
export function ociExecCommand(h: OciHandler, id: string, processFile: string, pidFile: string): string[] {
  return [h.binary, ...globalArgs(h), 'exec', '--process', processFile, '--pid-file', pidFile, id];
}

/** Runs `binary --root R ARGS...`; a nonzero exit is a BerthError carrying the runtime's last stderr line. */
export function ociRun(h: OciHandler, args: string[], input?: string, timeoutMs = 30_000): Promise<string> {
  const argv = [...globalArgs(h), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(h.binary, argv, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new BerthError('INTERNAL', `${h.binary} ${args[0] ?? ''}: ${e.message}`));
    });
    child.on('close', (code, sig) => {
      clearTimeout(timer);
      if (code === 0) return resolve(out);
      const last = err.trim().split('\n').filter((l) => l.trim() !== '').pop() ?? '';
      const msg = `${h.binary} ${args[0] ?? ''} exited ${code ?? `by ${sig ?? 'signal'}`}: ${last}`;
      reject(new BerthError(/does not exist|not exist|no such/i.test(last) ? 'NOT_FOUND' : 'INTERNAL', msg));
    });
    if (input !== undefined && child.stdin) child.stdin.end(input);
  });
}

export async function ociStart(h: OciHandler, id: string): Promise<void> {
  await ociRun(h, ['start', id]);
}

export async function ociKill(h: OciHandler, id: string, signal: number): Promise<void> {
  await ociRun(h, ['kill', id, String(signal)]);
}

/** `delete --force`; success when the runtime does not know the container. */
export async function ociDelete(h: OciHandler, id: string): Promise<void> {
  try {
    await ociRun(h, ['delete', '--force', id]);
  } catch (err) {
    if (err instanceof BerthError && err.code === 'NOT_FOUND') return;
    throw err;
  }
}

export async function ociUpdate(h: OciHandler, id: string, resources: LinuxResources): Promise<void> {
  await ociRun(h, ['update', '--resources', '-', id], JSON.stringify(resources));
}
