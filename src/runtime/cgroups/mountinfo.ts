/**
 * Where the cgroup hierarchies are: parsed from mountinfo text (default /proc/self/mountinfo) or, for
 * a fake tree without mountinfo, from the directories under the root. Also parses /proc/self/cgroup.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** One mounted v1 hierarchy. */
export interface V1Hierarchy {
  /** Controllers bound to it: ['cpu', 'cpuacct'], or ['name=systemd'] for a named hierarchy. */
  controllers: string[];
  /** Where it is mounted. */
  mountPoint: string;
  /** The path inside the hierarchy that is mounted there ("/" normally; "/docker/x" inside a container). */
  root: string;
}

export interface CgroupMounts {
  v1: V1Hierarchy[];
  /** The cgroup2 mount under the root, if any. */
  v2?: { mountPoint: string; root: string };
}

/** Undo mountinfo's octal escapes (\040 for space, ...). */
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

function under(p: string, root: string): boolean {
  const r = root.endsWith('/') ? root.slice(0, -1) : root;
  return p === r || p.startsWith(r + '/');
}

/** Parse mountinfo text and keep the cgroup/cgroup2 mounts at or under `root`. */
export function parseCgroupMountinfo(text: string, root: string): CgroupMounts {
  const out: CgroupMounts = { v1: [] };
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    if (left.length < 5 || right.length < 3) continue;
    const fstype = right[0];
    if (fstype !== 'cgroup' && fstype !== 'cgroup2') continue;
    const mountRoot = unescapeMountinfo(left[3]);
    const mountPoint = unescapeMountinfo(left[4]);
    if (!under(mountPoint, root)) continue;
    if (fstype === 'cgroup2') {
      // Later mounts shadow earlier ones at the same point; keep the last.
      out.v2 = { mountPoint, root: mountRoot };
      continue;
    }
    const controllers = right[2]
      .split(',')
      .filter((o) => o !== 'rw' && o !== 'ro' && !isMountFlag(o))
      .filter((o) => o.startsWith('name=') || /^[a-z_]+$/.test(o));
    if (controllers.length === 0) continue;
    const key = controllers.slice().sort().join(',');
    if (seen.has(key)) {
      // Same hierarchy mounted twice: keep the first (canonical) mount point.
      continue;
    }
    seen.add(key);
    out.v1.push({ controllers, mountPoint, root: mountRoot });
  }
  return out;
}

const MOUNT_FLAG_OPTS = new Set([
  'relatime',
  'noatime',
  'nosuid',
  'nodev',
  'noexec',
  'xattr',
  'clone_children',
  'noprefix',
  'nsdelegate',
  'memory_recursiveprot',
  'memory_localevents',
  'memory_hugetlb_accounting',
  'favordynmods',
  'cpuset_v2_mode',
]);

function isMountFlag(o: string): boolean {
  return MOUNT_FLAG_OPTS.has(o) || o.startsWith('release_agent=');
}

/**
 * For a fake tree without mountinfo: every directory under `root` is a v1 hierarchy named by its
 * directory name (split on ','); `unified` holding cgroup.controllers is the hybrid v2 mount; a root
 * holding cgroup.controllers is a pure v2 mount. Symlinks (cpu -> cpu,cpuacct) are skipped.
 */
export function scanCgroupRoot(root: string): CgroupMounts {
  const out: CgroupMounts = { v1: [] };
  if (fs.existsSync(path.join(root, 'cgroup.controllers'))) {
    out.v2 = { mountPoint: root, root: '/' };
    return out;
  }
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const mp = path.join(root, e.name);
    if (e.name === 'unified' && fs.existsSync(path.join(mp, 'cgroup.controllers'))) {
      out.v2 = { mountPoint: mp, root: '/' };
      continue;
    }
    const controllers = e.name === 'systemd' ? ['name=systemd'] : e.name.split(',');
    out.v1.push({ controllers, mountPoint: mp, root: '/' });
  }
  return out;
}

/** /proc/self/cgroup text -> { controller -> path } for v1 lines, and '' -> path for the v2 line. */
export function parseProcCgroup(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    if (m[2] === '') {
      out[''] = m[3];
      continue;
    }
    for (const c of m[2].split(',')) out[c] = m[3];
  }
  return out;
}
