/**
 * Spawned `bin/berth` on a temporary --root/--run-root for the demo and CLI end-to-end tests
 * (test/integration/berth-demo*.test.ts): run a command without blocking the event loop, an env with
 * its own store and an empty config, the demo image imported into it, and a teardown that removes
 * every container and mount the env made.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readMountInfo } from '../../src/pod/mounts';
import { makeDemoRootfs } from '../../src/demo/demo-rootfs';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const BERTH = path.join(REPO, 'bin', 'berth');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command without blocking the event loop (a test's own servers keep answering). */
export function exec(cmd: string, args: string[], opts: { timeoutMs?: number; input?: Buffer } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export function toolsSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!fs.existsSync('/bin/busybox')) return 'needs busybox-static';
  for (const p of ['bridge', 'host-local', 'portmap']) {
    if (!fs.existsSync(`/usr/lib/cni/${p}`) && !fs.existsSync(`/opt/cni/bin/${p}`)) return 'needs the CNI plugins';
  }
  if (!fs.existsSync(path.join(REPO, 'native', 'build', 'berth-monitor'))) return 'berth-monitor is not built';
  // the container commands are being built in this same session: skip until `berth run` exists
  const r = spawnSync(process.execPath, [BERTH, 'run', '--help'], { encoding: 'utf8' });
  if (r.status !== 0) return '`berth run` does not exist yet';
  return undefined;
}

/** A temporary berth root, run root and empty config; `berth(...)` runs the CLI on them. */
export interface Env {
  work: string;
  root: string;
  runRoot: string;
  globals: string[];
  berth(args: string[], opts?: { timeoutMs?: number; input?: Buffer }): Promise<Run>;
}

export function makeEnv(tag: string): Env {
  // short: the monitor's attach socket path (<runRoot>/engine/c/<64-hex id>/attach) must fit in 108 bytes
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `b${tag}-`));
  const root = path.join(work, 'root');
  const runRoot = path.join(work, 'run');
  const config = path.join(work, 'berth.toml');
  fs.writeFileSync(config, '');
  const globals = ['--root', root, '--run-root', runRoot, '--config', config];
  return { work, root, runRoot, globals, berth: (args, opts) => exec(process.execPath, [BERTH, ...globals, ...args], opts) };
}

/** Removes every container of the env (berth rm -f), then whatever is left under its work dir. */
export async function destroyEnv(env: Env): Promise<void> {
  const ids = (await env.berth(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter((l) => /^[0-9a-f]{12,64}$/.test(l));
  if (ids.length > 0) await env.berth(['rm', '-f', ...ids]);
  for (const m of readMountInfo().filter((x) => x.mountPoint.startsWith(`${env.work}/`)).reverse()) {
    spawnSync('umount', ['-l', m.mountPoint]);
  }
  fs.rmSync(env.work, { recursive: true, force: true });
}

/** Imports the demo image (busybox-static + /www/index.html) into the env's store. */
export async function importDemoImage(env: Env, name: string, page: string): Promise<void> {
  const rootfs = path.join(env.work, 'rootfs');
  makeDemoRootfs(rootfs, page);
  const tar = execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
  const r = await env.berth(['import', '--change', 'CMD ["sh"]', '-', name], { input: tar });
  assert.equal(r.status, 0, `import: ${r.stderr}`);
}
