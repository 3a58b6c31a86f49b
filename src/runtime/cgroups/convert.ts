/** Value conversions and validations shared by the v1 and v2 managers (pure functions). */
import { BerthError } from '../errors';
import { LinuxDeviceCgroup } from './spec';

export const RES = 'linux.resources';

/** v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000); 0 = unset -> 0. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  const s = Math.min(Math.max(shares, 2), 262144);
  return 1 + Math.floor(((s - 2) * 9999) / 262142);
}

/** v1 blkio weight (10..1000) -> v2 io.weight (1..10000); 0 = unset -> 0. */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight === 0) return 0;
  const w = Math.min(Math.max(weight, 10), 1000);
  return 1 + Math.floor(((w - 10) * 9999) / 990);
}

/**
 * OCI memory.swap is memory+swap (v1 memsw). v2 memory.swap.max is swap alone. Returns the value to
 * write to memory.swap.max: 'max', a number string, or undefined to leave it alone.
 */
export function swapToV2(swap: number | undefined, limit: number | undefined): string | undefined {
  if (swap === undefined || swap === 0) return undefined;
  if (swap < 0) return 'max';
  if (limit === undefined || limit === 0 || limit < 0) {
    throw new BerthError('INVALID_CONFIG', `cgroups: ${RES}.memory.swap: a swap limit needs a memory limit (linux.resources.memory.limit) on cgroup v2`);
  }
  if (swap < limit) {
    throw new BerthError(
      'INVALID_CONFIG',
      `cgroups: ${RES}.memory.swap: ${swap} is below memory.limit ${limit} (swap is the memory+swap total)`,
    );
  }
  return String(swap - limit);
}

/** A device rule in devices.allow/deny syntax: "c 1:3 rwm", "a *:* rwm". */
export function deviceRuleString(rule: LinuxDeviceCgroup, index: number): string {
  const key = `${RES}.devices[${index}]`;
  const type = rule.type ?? 'a';
  if (type !== 'a' && type !== 'c' && type !== 'b') {
    throw new BerthError('INVALID_CONFIG', `cgroups: ${key}.type: ${JSON.stringify(type)} is not one of a, c, b`);
  }
  const num = (n: number | null | undefined, what: string): string => {
    if (n === undefined || n === null || n === -1) return '*';
    if (!Number.isInteger(n) || n < 0) throw new BerthError('INVALID_CONFIG', `cgroups: ${key}.${what}: ${n} is not a device number`);
    return String(n);
  };
  const access = rule.access === undefined || rule.access === '' ? 'rwm' : rule.access;
  if (!/^[rwm]{1,3}$/.test(access) || new Set(access).size !== access.length) {
    throw new BerthError('INVALID_CONFIG', `cgroups: ${key}.access: ${JSON.stringify(access)} must be a combination of r, w, m`);
  }
  return `${type} ${num(rule.major, 'major')}:${num(rule.minor, 'minor')} ${access}`;
}

function isWildcard(rule: LinuxDeviceCgroup): boolean {
  const wild = (n: number | null | undefined) => n === undefined || n === null || n === -1;
  const access = rule.access === undefined || rule.access === '' ? 'rwm' : rule.access;
  return (rule.type ?? 'a') === 'a' && wild(rule.major) && wild(rule.minor) && new Set(access).size === 3;
}

/** True when the rules leave every device allowed: none given, or the last rule is "allow a *:* rwm". */
export function devicesAllowAll(rules: LinuxDeviceCgroup[] | undefined): boolean {
  if (!rules || rules.length === 0) return true;
  const last = rules[rules.length - 1];
  return last.allow && isWildcard(last);
}

/** Validate a hugepage size ("2MB", "1GB", "64KB") and return it. */
export function hugepageSize(pageSize: string, index: number): string {
  if (!/^[1-9][0-9]*[KMG]B$/.test(pageSize)) {
    throw new BerthError('INVALID_CONFIG', `cgroups: ${RES}.hugepageLimits[${index}].pageSize: ${JSON.stringify(pageSize)} must look like 2MB or 1GB`);
  }
  return pageSize;
}

export function requireInt(v: number, key: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new BerthError('INVALID_CONFIG', `cgroups: ${key}: ${JSON.stringify(v)} is not an integer`);
  }
  return v;
}

/** RDMA limits for one device: "mlx5_1 hca_handle=3 hca_object=max"-style line, or undefined when empty. */
export function rdmaLine(dev: string, handles: number | undefined, objects: number | undefined): string | undefined {
  if (!/^[A-Za-z0-9_.:-]+$/.test(dev)) {
    throw new BerthError('INVALID_CONFIG', `cgroups: ${RES}.rdma: ${JSON.stringify(dev)} is not a device name`);
  }
  const parts: string[] = [];
  if (handles !== undefined) parts.push(`hca_handle=${requireInt(handles, `${RES}.rdma.${dev}.hcaHandles`)}`);
  if (objects !== undefined) parts.push(`hca_object=${requireInt(objects, `${RES}.rdma.${dev}.hcaObjects`)}`);
  return parts.length === 0 ? undefined : `${dev} ${parts.join(' ')}`;
}

/** Keys of the unified map are bare file names: no '/', no '..', not empty. */
export function checkUnifiedKey(key: string): void {
  if (key === '' || key.includes('/') || key.includes('..') || key.includes('\0') || key === '.') {
    throw new BerthError('INVALID_CONFIG', `cgroups: ${RES}.unified: key ${JSON.stringify(key)} must be a plain cgroup file name`);
  }
}
