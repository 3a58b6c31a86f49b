/**
 * Mount points from /proc/self/mountinfo, and the few mount changes pod namespaces need, done with
 * util-linux mount/umount (Node has no mount(2)).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runChecked } from './run';

export interface MountInfoEntry {
  mountId: number;
  parentId: number;
  /** "major:minor" of the filesystem. */
  dev: string;
  /** Root of the mount within its filesystem (for nsfs: "net:[4026532255]"). */
  root: string;
  mountPoint: string;
  /** Optional fields: "shared:N", "master:N", "propagate_from:N", "unbindable". */
  optional: string[];
  fstype: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo octal. */
function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const f = line.split(' ');
    const sep = f.indexOf('-', 6);
    if (sep < 0 || f.length < sep + 3) continue;
    out.push({
      mountId: Number(f[0]),
      parentId: Number(f[1]),
      dev: f[2],
      root: unescape(f[3]),
      mountPoint: unescape(f[4]),
      optional: f.slice(6, sep),
      fstype: f[sep + 1],
    });
  }
  return out;
}

export function readMountInfo(): MountInfoEntry[] {
  return parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));
}

/** The mounts stacked on `p` (an absolute, symlink-free path), bottom first. */
export function mountsAt(p: string, table: MountInfoEntry[] = readMountInfo()): MountInfoEntry[] {
  return table.filter((m) => m.mountPoint === p);
}

const privateMountOps = new Map<string, Promise<unknown>>();

/**
 * Make `dir` a mount point with private propagation: a bind mount of itself unless it is one already.
 * Bind-mounted namespace files below it then never propagate into (or get held by) other mount
 * namespaces, and the unmount at teardown is the only reference to drop (the same trick `ip netns`
 * plays on /run/netns, but private).
 */
export function ensurePrivateMountPoint(dir: string): Promise<void> {
  const real = fs.realpathSync(dir);
  // one at a time per directory: two concurrent binds would stack, and the second (non-recursive)
  // bind would hide the namespace mounts made under the first
  const prev = privateMountOps.get(real) ?? Promise.resolve();
  const next = prev.then(() => makePrivate(real));
  const tail = next.catch(() => undefined);
  privateMountOps.set(real, tail);
  void tail.then(() => {
    if (privateMountOps.get(real) === tail) privateMountOps.delete(real);
  });
  return next;
}

async function makePrivate(real: string): Promise<void> {
  const here = mountsAt(real);
  if (here.length === 0) {
    await runChecked('mount', ['--bind', '--make-private', real, real]);
    return;
  }
  const top = here[here.length - 1];
  if (top.optional.some((o) => o.startsWith('shared:') || o.startsWith('master:'))) {
    await runChecked('mount', ['--make-private', real]);
  }
}

/**
 * Unmount every mount stacked on each of `paths` (missing paths and paths that are not mount points
 * are skipped). One umount call for all of them, repeated while something is still stacked.
 */
export async function unmountAll(paths: readonly string[]): Promise<void> {
  const abs = paths.map((p) => path.resolve(p));
  for (let round = 0; round < 8; round++) {
    const table = readMountInfo();
    const mounted = abs.filter((p) => mountsAt(p, table).length > 0);
    if (mounted.length === 0) return;
    await runChecked('umount', mounted);
  }
  const left = abs.filter((p) => mountsAt(p).length > 0);
  if (left.length > 0) await runChecked('umount', ['--lazy', ...left]);
}
