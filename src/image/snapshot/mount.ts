/**
 * mount/umount through util-linux (Node has no mount(2)). One spawn per mount, never per file.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { BerthError } from '../../runtime/errors';
import { runProgram, SpawnError, spawnerAvailable } from '../../util/spawner';

export interface Mount {
  /** "overlay" or "bind". */
  type: string;
  source: string;
  /** Options as mount(8) takes them (lowerdir=..., ro, rbind, ...). */
  options: string[];
}

export function run(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  if (spawnerAvailable()) return runThroughSpawner(cmd, args, cwd);
  return runWithNode(cmd, args, cwd);
}

/** The same through berth-spawner (src/util/spawner.ts); child_process when the helper fails. */
async function runThroughSpawner(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await runProgram({ file: cmd, args, ...(cwd !== undefined ? { cwd } : {}) });
    return { code: r.signal !== 0 ? -1 : r.code, stdout: r.stdout.subarray(0, 1 << 20).toString('utf8'), stderr: r.stderr.subarray(0, 1 << 16).toString('utf8') };
  } catch (e) {
    if (e instanceof SpawnError) throw new BerthError('INTERNAL', `cannot run ${cmd}: ${e.message}`);
    return runWithNode(cmd, args, cwd);
  }
}

function runWithNode(cmd: string, args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < 1 << 20) stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 1 << 16) stderr += d;
    });
    child.on('error', (err) => reject(new BerthError('INTERNAL', `cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export async function runOk(cmd: string, args: string[], cwd?: string): Promise<string> {
  const r = await run(cmd, args, cwd);
  if (r.code !== 0) throw new BerthError('INTERNAL', `${cmd} ${args.join(' ')}: ${r.stderr.trim() || `exit status ${r.code}`}`);
  return r.stdout;
}

/** Mounts `m` on `target`; relative paths in the options are resolved against `cwd`. */
export async function doMount(m: Mount, target: string, cwd?: string): Promise<void> {
  if (m.type === 'bind') {
    await runOk('mount', ['--bind', m.source, target], cwd);
    if (m.options.includes('ro')) await runOk('mount', ['-o', 'remount,bind,ro', target]);
    return;
  }
  const opts = m.options.join(',');
  if (opts.length > 4095) {
    throw new BerthError('UNSUPPORTED', `mount options for ${target} are ${opts.length} bytes; the kernel takes at most 4095`);
  }
  await runOk('mount', ['-t', m.type, m.source, '-o', opts, target], cwd);
}

export async function doUnmount(target: string): Promise<void> {
  await runOk('umount', [target]);
}

/** Mount points from /proc/self/mountinfo (field 5, octal escapes decoded). */
export async function mountPoints(): Promise<string[]> {
  const text = await fsp.readFile('/proc/self/mountinfo', 'utf8');
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) out.push(f[4].replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export async function isMountPoint(p: string): Promise<boolean> {
  return (await mountPoints()).includes(p);
}
