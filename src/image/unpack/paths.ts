/**
 * Path containment for layer extraction.
 *
 * Rule (the same semantics as containerd's fs.RootPath / a chroot): an entry name is cleaned
 * lexically (`.` and empty components dropped, `..` clamped at the root, a leading `/` ignored), then
 * its parent components are resolved one by one with lstat *inside* the root. A parent component that
 * is a symlink in the tree is followed as if the root were `/`: an absolute target restarts at the
 * root and `..` never climbs above it. The final component is never followed (it is replaced).
 * Every directory the resolution passes through has been seen by lstat to be a real directory, and
 * nothing else writes into the tree during extraction, so the kernel's own path walk of the
 * resolved path visits the same directories: nothing can be created outside the root.
 * The metadata calls are synchronous on purpose: they hit the dentry cache, and threadpool round
 * trips cost more than the calls (measured).
 */
import { lstatSync, mkdirSync, promises as fsp, readlinkSync, type Stats } from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../../runtime/errors';

/** Maximum number of symlinks followed while resolving one path (Linux's MAXSYMLINKS). */
export const MAX_SYMLINK_HOPS = 40;

/** Splits a tar entry name into clean components: no empty, `.` or `..` parts (clamped at the root). */
export function cleanComponents(name: string): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

/** The clean relative form of an entry name ('' for the root itself). */
export function cleanName(name: string): string {
  return cleanComponents(name).join('/');
}

export interface ResolveOptions {
  /** Create missing parent directories (mode 0755 unless `mkdirMeta` says otherwise). */
  mkdirs: boolean;
  /**
   * Called for each directory created; may set its metadata (used to copy metadata from lower
   * layers). `lower` is what the lower layers hold at that path, when `lower` lookup found a dir.
   */
  onMkdir?: (rel: string, abs: string, lower: Stats | null) => Promise<void>;
  /**
   * Overlay layers: what the merged view of the lower layers holds at a (resolved, relative) path
   * missing from the tree. A lower symlink is followed with the same root-relative semantics as an
   * in-tree one (so `bin -> usr/bin` below makes `bin/x` land at usr/bin/x); a lower directory is
   * created in the tree (or, without mkdirs, passed through virtually).
   */
  lower?: (rel: string) => Promise<LowerEntry | null>;
}

/** An entry of the lower layers' merged view (see lookupLower). */
export type LowerEntry = { kind: 'dir'; st: Stats; dir: string } | { kind: 'symlink'; target: string } | { kind: 'other'; st: Stats; dir: string };

/** An overlayfs whiteout: a character device 0:0. */
export function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * Looks `comps` up in the merged view of overlay lower layers (topmost first) without following
 * any symlink: the topmost layer holding the path wins; a whiteout, or a non-directory at an
 * intermediate component, hides the path in every layer below. (Opaque-directory markers are xattrs
 * Node cannot read; they are not honoured here, which can only reveal a hidden lower entry.)
 */
export function lookupLower(lowers: readonly string[], comps: readonly string[]): LowerEntry | null {
  if (comps.length === 0) return null;
  outer: for (const lower of lowers) {
    let p = lower;
    for (let i = 0; i < comps.length; i++) {
      p = path.join(p, comps[i]);
      let st: Stats;
      try {
        st = lstatSync(p);
      } catch {
        continue outer;
      }
      if (isWhiteout(st)) return null;
      if (i === comps.length - 1) {
        if (st.isDirectory()) return { kind: 'dir', st, dir: lower };
        if (st.isSymbolicLink()) return { kind: 'symlink', target: readlinkSync(p) };
        return { kind: 'other', st, dir: lower };
      }
      if (!st.isDirectory()) return null;
    }
  }
  return null;
}

/**
 * Resolves the parent directory of `rel` (clean, relative) inside `root` and returns the resolved
 * relative parent ('' = root). Throws BerthError when a parent component is a non-directory, when
 * symlinks loop, or (without mkdirs) returns null when a parent does not exist.
 */
export async function resolveParent(
  root: string,
  comps: readonly string[],
  opts: ResolveOptions,
): Promise<string | null> {
  const queue = comps.slice(0, -1);
  const stack: string[] = [];
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift() as string;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      stack.pop();
      continue;
    }
    const rel = stack.length ? `${stack.join('/')}/${c}` : c;
    const abs = path.join(root, rel);
    let st;
    try {
      st = lstatSync(abs);
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
      const below = opts.lower ? await opts.lower(rel) : null;
      if (below?.kind === 'symlink') {
        if (++hops > MAX_SYMLINK_HOPS) {
          throw new BerthError('INVALID_ARGUMENT', `too many levels of symbolic links resolving ${comps.join('/')}`);
        }
        if (below.target.startsWith('/')) stack.length = 0;
        queue.unshift(...below.target.split('/'));
        continue;
      }
      if (!opts.mkdirs) {
        if (below?.kind !== 'dir') return null;
        stack.push(c); // a lower directory, not (yet) in this tree
        continue;
      }
      mkdirSync(abs, 0o755);
      if (opts.onMkdir) await opts.onMkdir(rel, abs, below?.kind === 'dir' ? below.st : null);
      stack.push(c);
      continue;
    }
    if (st.isDirectory()) {
      stack.push(c);
      continue;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINK_HOPS) {
        throw new BerthError('INVALID_ARGUMENT', `too many levels of symbolic links resolving ${comps.join('/')}`);
      }
      const target = readlinkSync(abs);
      if (target.startsWith('/')) stack.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    throw new BerthError('INVALID_ARGUMENT', `${comps.join('/')}: parent component ${rel} is not a directory`);
  }
  return stack.join('/');
}

/**
 * Resolves a whole path inside `root`, following symlinks at every component (including the last)
 * with root-relative semantics. Returns the resolved relative path, or null when a component does
 * not exist. Used to read files such as /etc/passwd from an image rootfs.
 */
export async function resolveInRoot(root: string, name: string): Promise<string | null> {
  const comps = cleanComponents(name);
  const queue = comps.slice();
  const stack: string[] = [];
  let hops = 0;
  while (queue.length > 0) {
    const c = queue.shift() as string;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      stack.pop();
      continue;
    }
    const rel = stack.length ? `${stack.join('/')}/${c}` : c;
    let st;
    try {
      st = await fsp.lstat(path.join(root, rel));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
      throw err;
    }
    if (st.isSymbolicLink()) {
      if (++hops > MAX_SYMLINK_HOPS) {
        throw new BerthError('INVALID_ARGUMENT', `too many levels of symbolic links resolving ${name}`);
      }
      const target = await fsp.readlink(path.join(root, rel));
      if (target.startsWith('/')) stack.length = 0;
      queue.unshift(...target.split('/'));
      continue;
    }
    if (queue.length > 0 && !st.isDirectory()) return null;
    stack.push(c);
  }
  return stack.join('/');
}

/**
 * lstat of `root/comps...` where every intermediate component must be a real directory (no symlink
 * is followed at all). Returns null when a component is missing, a symlink, or not a directory.
 * Used to look into lower layers, which are as untrusted as the layer being applied.
 */
export function lstatStrict(root: string, comps: readonly string[]): Stats | null {
  let p = root;
  for (let i = 0; i < comps.length; i++) {
    p = path.join(p, comps[i]);
    let st: Stats;
    try {
      st = lstatSync(p);
    } catch {
      return null;
    }
    if (i === comps.length - 1) return st;
    if (!st.isDirectory()) return null;
  }
  return null;
}
