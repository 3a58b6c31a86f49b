/**
 * Test helpers for driving bin/berth-oci as a subprocess: a private --root in a temp dir, a busybox
 * bundle, unique container ids, and cleanup (delete --force, remove bundle and root) registered with
 * t.after so it runs even when the test fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultSpec } from '../../src/runtime/spec/default';
import type { Spec } from '../../src/runtime/spec/types';
import { makeBundle, type Bundle } from './bundle';

/** <repo>/bin/berth-oci (this file runs from dist/test/helpers). */
export const BERTH_OCI = path.resolve(__dirname, '../../../bin/berth-oci');

export interface OciResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  /** Extra fds for the CLI process, placed at 3, 4, ... */
  extraFds?: number[];
  env?: NodeJS.ProcessEnv;
}

export function newId(): string {
  return `berth-test-${crypto.randomBytes(5).toString('hex')}`;
}

/**
 * Runs berth-oci synchronously. stdout/stderr go through files, not pipes, so a detached container
 * that inherits them does not keep the call waiting.
 */
export function runOci(args: string[], opts: RunOptions = {}): OciResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-oci-io-'));
  try {
    const out = fs.openSync(path.join(dir, 'out'), 'w+');
    const err = fs.openSync(path.join(dir, 'err'), 'w+');
    const r = spawnSync(BERTH_OCI, args, {
      input: opts.input,
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', out, err, ...(opts.extraFds ?? [])],
      timeout: opts.timeoutMs ?? 60_000,
      env: opts.env ?? process.env,
    });
    fs.closeSync(out);
    fs.closeSync(err);
    return {
      code: r.status ?? (r.signal ? 128 + (os.constants.signals[r.signal] ?? 0) : -1),
      stdout: fs.readFileSync(path.join(dir, 'out'), 'utf8'),
      stderr: fs.readFileSync(path.join(dir, 'err'), 'utf8'),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs berth-oci asynchronously (for foreground `run` that the test signals or reads while it runs). */
export function spawnOci(args: string[]) {
  return spawn(BERTH_OCI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface OciEnv {
  root: string;
  bundle: Bundle;
  id: string;
  /** berth-oci --root <root> ...args */
  oci(args: string[], opts?: RunOptions): OciResult;
  /** Writes config.json from the default spec (terminal off) modified by `edit`. */
  config(args: string[], edit?: (spec: Spec) => void): Spec;
  /** `state <id>` parsed, or null when it fails. */
  state(id?: string): { status: string; pid: number; [k: string]: unknown } | null;
}

interface AfterHook {
  after(fn: () => void | Promise<void>): void;
}

export function ociEnv(t: AfterHook): OciEnv {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-oci-root-'));
  const bundle = makeBundle('berth-oci-bundle-');
  const id = newId();
  const ids = new Set<string>([id]);
  const oci = (args: string[], opts?: RunOptions): OciResult => {
    for (const a of args) if (a.startsWith('berth-test-')) ids.add(a);
    return runOci(['--root', root, ...args], opts);
  };
  t.after(() => {
    for (const cid of ids) runOci(['--root', root, 'delete', '--force', cid]);
    bundle.remove();
    fs.rmSync(root, { recursive: true, force: true });
  });
  return {
    root,
    bundle,
    id,
    oci,
    config(args, edit) {
      const spec = defaultSpec({ rootless: false });
      spec.process!.terminal = false;
      spec.process!.args = args;
      spec.root = { path: 'rootfs', readonly: false };
      edit?.(spec);
      bundle.writeConfig(spec);
      return spec;
    },
    state(cid = id) {
      const r = oci(['state', cid]);
      if (r.code !== 0) return null;
      return JSON.parse(r.stdout) as { status: string; pid: number };
    },
  };
}

/** Every /sys/fs/cgroup/<controller>/<id> (and unified) directory that exists for `id`. */
export function leftoverCgroups(id: string): string[] {
  const found: string[] = [];
  const base = '/sys/fs/cgroup';
  let entries: string[] = [];
  try {
    entries = fs.readdirSync(base);
  } catch {
    return found;
  }
  for (const e of entries) {
    const p = path.join(base, e, id);
    if (fs.existsSync(p)) found.push(p);
  }
  if (fs.existsSync(path.join(base, id))) found.push(path.join(base, id));
  return found;
}

/** Mount points in this mount namespace whose path contains `needle`. */
export function leftoverMounts(needle: string): string[] {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.includes(needle));
}

/** Polls `fn` until it returns true or `timeoutMs` passes. */
export async function waitFor(fn: () => boolean, timeoutMs = 5000, stepMs = 20): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (fn()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return fn();
}
