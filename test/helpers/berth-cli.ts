/**
 * The `berth` CLI driven as a user would, for integration tests: a temporary --root / --run-root /
 * empty --config, the busybox-static image imported as bb:1, spawned commands (optionally under a pty
 * with util-linux `script`), and a teardown that removes every container, waits for the monitors' exit
 * commands, unmounts what is left under the work dir and checks that no process of ours remains.
 */
import * as assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readMountInfo } from '../../src/pod/mounts';
import { makeDemoRootfs } from '../../src/demo/demo-rootfs';

export const REPO = path.resolve(__dirname, '..', '..', '..');
export const BERTH = path.join(REPO, 'bin', 'berth');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface BerthEnv {
  work: string;
  /** The global flags selecting this env's stores. */
  globals: string[];
  berth(args: string[], opts?: { input?: string | Buffer; timeoutMs?: number }): Promise<Run>;
  /** A shell command line running berth with this env's globals (for `script -c`). */
  cmdline(args: string[]): string;
}

/** Why the berth CLI integration tests cannot run here, or undefined. */
export function berthSkip(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root';
  if (!fs.existsSync('/bin/busybox')) return 'needs busybox-static';
  for (const p of ['bridge', 'host-local', 'portmap']) {
    if (!fs.existsSync(`/usr/lib/cni/${p}`) && !fs.existsSync(`/opt/cni/bin/${p}`)) return 'needs the CNI plugins';
  }
  for (const b of ['berth-monitor', 'berth-init', 'berth-pause']) {
    if (!fs.existsSync(path.join(REPO, 'native', 'build', b))) return `${b} is not built`;
  }
  const r = spawnSync(process.execPath, [BERTH, 'run', '--help'], { encoding: 'utf8' });
  if (r.status !== 0) return '`berth run` does not exist yet';
  return undefined;
}

export function exec(cmd: string, args: string[], opts: { input?: string | Buffer; timeoutMs?: number } = {}): Promise<Run> {
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

function shq(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function makeEnv(tag: string): Promise<BerthEnv> {
  // short: the monitor's sockets live under <runRoot>/engine/c/<64 hex>/ and sun_path holds 107 bytes
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `b-${tag.slice(0, 4)}-`));
  const config = path.join(work, 'berth.toml');
  fs.writeFileSync(config, '');
  const globals = ['--root', path.join(work, 'root'), '--run-root', path.join(work, 'run'), '--config', config];
  const env: BerthEnv = {
    work,
    globals,
    berth: (args, opts) => exec(process.execPath, [BERTH, ...globals, ...args], opts),
    cmdline: (args) => [process.execPath, BERTH, ...globals, ...args].map(shq).join(' '),
  };
  const rootfs = path.join(work, 'rootfs');
  makeDemoRootfs(rootfs, 'hello from the image');
  const tar = execFileSync('tar', ['--numeric-owner', '-C', rootfs, '-c', '.'], { maxBuffer: 64 << 20 });
  fs.rmSync(rootfs, { recursive: true, force: true });
  const r = await env.berth(['import', '--change', 'CMD ["sh"]', '-', 'bb:1'], { input: tar });
  assert.equal(r.status, 0, `import: ${r.stderr}`);
  return env;
}

/** Pids of processes whose command line mentions `s`. */
export function processesMentioning(s: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(s)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Removes everything the env made; asserts nothing of it is left (mounts, processes). */
export async function destroyEnv(env: BerthEnv, check = true): Promise<void> {
  const ids = (await env.berth(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter((l) => /^[0-9a-f]{12,64}$/.test(l));
  if (ids.length > 0) await env.berth(['rm', '-f', '-v', ...ids]);
  // the monitors' exit commands (berth container cleanup) may still be running: let them finish
  for (let i = 0; i < 100 && processesMentioning(`${env.work}/root`).length > 0; i++) await sleep(100);
  const left = processesMentioning(env.work);
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  const mounts = readMountInfo().filter((x) => x.mountPoint.startsWith(`${env.work}/`)).reverse();
  for (const m of mounts) spawnSync('umount', ['-l', m.mountPoint]);
  fs.rmSync(env.work, { recursive: true, force: true });
  if (check) {
    assert.deepEqual(left, [], 'no process of the test left behind');
    // <runRoot>/engine/pods is the PodManager's own private bind mount for pinning namespaces (made once,
    // kept on purpose, as berthd's); anything else is a leak
    const leaked = mounts.map((m) => m.mountPoint).filter((m) => m !== path.join(env.work, 'run', 'engine', 'pods'));
    assert.deepEqual(leaked, [], 'no mount left behind');
  }
}

export interface PtySession {
  child: ChildProcess;
  /** Everything the pty printed so far. */
  output(): string;
  type(s: string): void;
  /** Resolves once the output matches (or rejects after timeoutMs with the output so far). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The exit status of `script` (with -e: the command's). */
  exited: Promise<number | null>;
}

/** Runs a shell command line on a pty (util-linux script -qfec), its input fed from us. */
export function onPty(cmdline: string): PtySession {
  const child = spawn('script', ['-qfec', cmdline, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  const waiters: (() => void)[] = [];
  const feed = (b: Buffer): void => {
    out += b.toString('utf8');
    for (const w of waiters.splice(0)) w();
  };
  child.stdout!.on('data', feed);
  child.stderr!.on('data', feed);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    output: () => out,
    type: (s) => {
      child.stdin!.write(s);
    },
    waitFor: async (re, timeoutMs = 20_000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (Date.now() > end) throw new Error(`timed out waiting for ${re} in pty output:\n${JSON.stringify(out)}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
    exited,
  };
}
