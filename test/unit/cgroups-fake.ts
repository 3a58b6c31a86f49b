/** Fake cgroupfs trees for the cgroups unit tests (plain files in a temp dir). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { observeCgroupWrites } from '../../src/runtime/cgroups';

export function tmpdir(prefix = 'berth-cg-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function put(dir: string, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, v] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), v);
}

export function touch(dir: string, files: string[]): void {
  put(dir, Object.fromEntries(files.map((f) => [f, ''])));
}

export function read(file: string): string {
  return fs.readFileSync(file, 'utf8');
}

/** Files a kernel would create in a new v1 cgroup of each controller (subset the manager uses). */
export const V1_FILES: Record<string, string[]> = {
  cpu: ['cgroup.procs', 'cpu.shares', 'cpu.cfs_quota_us', 'cpu.cfs_period_us', 'cpu.cfs_burst_us', 'cpu.rt_runtime_us', 'cpu.rt_period_us', 'cpu.idle', 'cpu.stat'],
  cpuacct: ['cgroup.procs', 'cpuacct.usage', 'cpuacct.usage_percpu', 'cpuacct.stat'],
  cpuset: ['cgroup.procs', 'cpuset.cpus', 'cpuset.mems'],
  memory: [
    'cgroup.procs',
    'memory.limit_in_bytes',
    'memory.memsw.limit_in_bytes',
    'memory.soft_limit_in_bytes',
    'memory.swappiness',
    'memory.oom_control',
    'memory.use_hierarchy',
    'memory.kmem.limit_in_bytes',
    'memory.usage_in_bytes',
  ],
  devices: ['cgroup.procs', 'devices.allow', 'devices.deny'],
  freezer: ['cgroup.procs', 'freezer.state'],
  blkio: [
    'cgroup.procs',
    'blkio.bfq.weight',
    'blkio.bfq.weight_device',
    'blkio.throttle.read_bps_device',
    'blkio.throttle.write_bps_device',
    'blkio.throttle.read_iops_device',
    'blkio.throttle.write_iops_device',
  ],
  pids: ['cgroup.procs', 'pids.max'],
  hugetlb: ['cgroup.procs', 'hugetlb.2MB.limit_in_bytes', 'hugetlb.1GB.limit_in_bytes'],
  systemd: ['cgroup.procs'],
};

/**
 * A hybrid v1 tree like this host's: cpu and cpuacct separate, no net_cls/net_prio/rdma, a cgroup2
 * mount at unified. Returns the root and matching mountinfo text.
 */
export function fakeV1(opts: { comountCpu?: boolean } = {}): { root: string; mountinfo: string; hier: (c: string) => string } {
  const base = tmpdir();
  const root = path.join(base, 'cgroup');
  const hierarchies = opts.comountCpu
    ? ['cpu,cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'systemd']
    : ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids', 'hugetlb', 'systemd'];
  const lines = [`31 23 0:28 / ${root} rw,relatime - tmpfs tmpfs rw,mode=755`];
  let id = 32;
  for (const h of hierarchies) {
    fs.mkdirSync(path.join(root, h), { recursive: true });
    const opt = h === 'systemd' ? 'name=systemd' : h;
    lines.push(`${id} 31 0:${id - 3} / ${root}/${h} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup cgroup rw,${opt}`);
    id++;
  }
  put(path.join(root, 'unified'), { 'cgroup.controllers': 'hugetlb\n' });
  lines.push(`${id} 31 0:${id - 3} / ${root}/unified rw,relatime - cgroup2 cgroup2 rw`);
  // Unrelated mounts, including a cgroup mount outside the root, must be ignored.
  lines.push(`90 23 0:90 / /other/memory rw - cgroup cgroup rw,memory`);
  lines.push(`91 23 8:1 / / rw,relatime - ext4 /dev/sda1 rw`);
  put(path.join(root, 'cpuset'), { 'cpuset.cpus': '0-3\n', 'cpuset.mems': '0\n' });
  const hier = (c: string) => path.join(root, opts.comountCpu && (c === 'cpu' || c === 'cpuacct') ? 'cpu,cpuacct' : c);
  return { root, mountinfo: lines.join('\n') + '\n', hier };
}

/** Pre-create a v1 cgroup's kernel files at `rel` in every hierarchy. */
export function populateV1(root: string, rel: string, comountCpu = false): void {
  for (const [c, files] of Object.entries(V1_FILES)) {
    let h = c;
    if (comountCpu && (c === 'cpu' || c === 'cpuacct')) h = 'cpu,cpuacct';
    touch(path.join(root, h, rel), files);
  }
}

export const V2_FILES = [
  'cgroup.procs',
  'cgroup.controllers',
  'cgroup.subtree_control',
  'cgroup.freeze',
  'cgroup.events',
  'cgroup.kill',
  'memory.max',
  'memory.low',
  'memory.high',
  'memory.swap.max',
  'memory.current',
  'cpu.weight',
  'cpu.max',
  'cpu.max.burst',
  'cpu.idle',
  'cpuset.cpus',
  'cpuset.mems',
  'pids.max',
  'io.weight',
  'io.max',
  'hugetlb.2MB.max',
  'rdma.max',
];

export function fakeV2(): { root: string; mountinfo: string } {
  const base = tmpdir();
  const root = path.join(base, 'cgroup');
  put(root, {
    'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n',
    'cgroup.subtree_control': '',
    'cgroup.procs': '1\n',
  });
  const mountinfo = `30 23 0:27 / ${root} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n`;
  return { root, mountinfo };
}

/** Record every cgroup write made while `fn` runs. */
export async function recordWrites(fn: () => Promise<void>): Promise<[string, string][]> {
  const writes: [string, string][] = [];
  observeCgroupWrites((f, v) => writes.push([f, v]));
  try {
    await fn();
  } finally {
    observeCgroupWrites(undefined);
  }
  return writes;
}

export function rm(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
