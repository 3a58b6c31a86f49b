/**
 * ContainerRequest (plain, container-request.ts) + image config + pod record -> OCI runtime Spec, for
 * berth's own runtime (and any OCI runtime). Pure apart from reading host files it is pointed at
 * (device nodes, a Localhost seccomp profile, host mount sources it creates when missing, as
 * containerd does). Faults name fields through a FieldNames table (CRI paths from berthd's edge).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';
import { CAPABILITIES } from '../runtime/plan/linux';
import { defaultSeccompProfile } from '../runtime/seccomp';
import type { LinuxSeccomp } from '../runtime/seccomp';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from '../runtime/spec/default';
import { OCI_VERSION, type Spec, type SpecDevice, type SpecMount, type SpecNamespace, type RootfsPropagation } from '../runtime/spec/types';
import type { LinuxResources, LinuxDeviceCgroup } from '../runtime/cgroups/spec';
import type { ImageRuntimeConfig } from '../image/config';
import type { PodRecord } from './pod-store';
import { PLAIN_FIELD_NAMES, type ContainerRequest, type ContainerResources, type ContainerSecurityContext, type FieldNames, type SecurityProfileRequest } from './container-request';

/** containerd's default capability set for CRI containers. */
export const DEFAULT_CRI_CAPS = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

export const ALL_CAPS: readonly string[] = [...CAPABILITIES.keys()];

/**
 * The capabilities a privileged container gets: every one this process has in its bounding set
 * (root here may lack some, e.g. CAP_SYS_RESOURCE; asking for more fails capset).
 */
export function currentCapabilities(statusText?: string): string[] {
  let text = statusText;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/status', 'utf8');
    } catch {
      return [...ALL_CAPS];
    }
  }
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(text);
  if (!m) return [...ALL_CAPS];
  const bits = BigInt(`0x${m[1]}`);
  return ALL_CAPS.filter((name) => ((bits >> BigInt(CAPABILITIES.get(name) ?? 0)) & 1n) === 1n);
}

function capName(c: string): string {
  const u = c.toUpperCase();
  return u.startsWith('CAP_') ? u : `CAP_${u}`;
}

/** add/drop (with "ALL") over the default set (containerd's CRI one). */
export function containerCapabilities(add: readonly string[], drop: readonly string[], privileged: boolean, names: FieldNames = PLAIN_FIELD_NAMES): string[] {
  if (privileged) return currentCapabilities();
  const addAll = add.some((c) => c.toUpperCase() === 'ALL');
  const dropAll = drop.some((c) => c.toUpperCase() === 'ALL');
  let caps = new Set<string>(addAll ? currentCapabilities() : DEFAULT_CRI_CAPS);
  if (dropAll) caps = new Set();
  for (const c of add) {
    if (c.toUpperCase() === 'ALL') continue;
    const n = capName(c);
    if (!CAPABILITIES.has(n)) throw new BerthError('INVALID_ARGUMENT', `${names.capAdd}: unknown capability ${JSON.stringify(c)}`);
    caps.add(n);
  }
  if (!dropAll) {
    for (const c of drop) {
      const n = capName(c);
      if (!CAPABILITIES.has(n)) throw new BerthError('INVALID_ARGUMENT', `${names.capDrop}: unknown capability ${JSON.stringify(c)}`);
      caps.delete(n);
    }
  }
  // drop ALL + add X: only X (added after the drop); add ALL + drop X: all but X
  return [...caps].sort((a, b) => (CAPABILITIES.get(a) ?? 0) - (CAPABILITIES.get(b) ?? 0));
}

function seccompFor(sc: ContainerSecurityContext | null, caps: string[], names: FieldNames): LinuxSeccomp | undefined {
  if (!sc || sc.privileged === true) return undefined;
  const p: SecurityProfileRequest | undefined = sc.seccomp;
  if (p === undefined || p.kind === 'unconfined') return undefined;
  if (p.kind === 'runtime-default') return defaultSeccompProfile(caps);
  const where = names.seccompLocalhostRef;
  const ref = p.localhostRef ?? '';
  if (!path.isAbsolute(ref)) throw new BerthError('INVALID_ARGUMENT', `${where}: must be an absolute path, got ${JSON.stringify(ref)}`);
  let text: string;
  try {
    text = fs.readFileSync(ref, 'utf8');
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${where}: cannot read ${ref}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text) as LinuxSeccomp;
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${where}: ${ref} is not JSON: ${(err as Error).message}`);
  }
}

/** Whether memory+swap limits can be set (cgroup v1 memsw files present). */
function swapAccounting(): boolean {
  return fs.existsSync('/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes') || fs.existsSync('/sys/fs/cgroup/memory.swap.max');
}

export function apparmorAvailable(): boolean {
  try {
    return fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  } catch {
    return false;
  }
}

function apparmorFor(sc: ContainerSecurityContext | null, available: boolean, names: FieldNames): string | undefined {
  if (!sc || sc.privileged === true) return undefined;
  const p = sc.apparmor;
  if (p === undefined || p.kind === 'unconfined') return undefined;
  // berth loads no default AppArmor profile of its own: RuntimeDefault means none (also where
  // AppArmor is off, as kubelet asks for it by default).
  if (p.kind === 'runtime-default') return undefined;
  if (!available) {
    throw new BerthError('INVALID_ARGUMENT', `${names.apparmor}: profile ${JSON.stringify(p.localhostRef ?? '')} requested but AppArmor is not enabled on this host`);
  }
  return p.localhostRef ?? '';
}

const PROPAGATION: Record<string, string> = {
  private: 'rprivate',
  rslave: 'rslave',
  rshared: 'rshared',
};

function deviceNumbers(rdev: number): { major: number; minor: number } {
  // glibc's gnu_dev_major/minor
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return { major, minor };
}

/** A host device node -> spec device + cgroup rule. */
function hostDevice(hostPath: string, containerPath: string, perms: string, where: string, names: FieldNames): { dev: SpecDevice; rule: LinuxDeviceCgroup } {
  let st: fs.Stats;
  try {
    st = fs.statSync(hostPath);
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `${where}.${names.deviceHostPath}: ${hostPath}: ${(err as Error).message}`);
  }
  let type: 'c' | 'b';
  if (st.isCharacterDevice()) type = 'c';
  else if (st.isBlockDevice()) type = 'b';
  else throw new BerthError('INVALID_ARGUMENT', `${where}.${names.deviceHostPath}: ${hostPath} is not a device node`);
  const { major, minor } = deviceNumbers(st.rdev);
  const access = perms === '' ? 'rwm' : perms;
  if (!/^[rwm]+$/.test(access)) throw new BerthError('INVALID_ARGUMENT', `${where}.${names.devicePermissions}: ${JSON.stringify(perms)} is not a combination of r, w, m`);
  return {
    dev: { path: containerPath, type, major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid },
    rule: { allow: true, type, major, minor, access },
  };
}

/** Every device node under /dev on the host (privileged containers), except the pty and console ones. */
function allHostDevices(): SpecDevice[] {
  const out: SpecDevice[] = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(dir, n);
      if (p === '/dev/pts' || p === '/dev/shm' || p === '/dev/mqueue' || p === '/dev/console' || p === '/dev/ptmx') continue;
      let st: fs.Stats;
      try {
        st = fs.lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p);
      else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const { major, minor } = deviceNumbers(st.rdev);
        out.push({ path: p, type: st.isBlockDevice() ? 'b' : 'c', major, minor, fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
      }
    }
  };
  walk('/dev');
  return out;
}

/** Container resources -> OCI linux.resources (cpu, memory, pids, hugepages, unified; no devices). */
export function linuxResources(res: ContainerResources): LinuxResources {
  const resources: LinuxResources = {};
  const cpu: NonNullable<LinuxResources['cpu']> = {};
  const shares = res.cpuShares ?? 0;
  const quota = res.cpuQuota ?? 0;
  const period = res.cpuPeriod ?? 0;
  if (shares > 0) cpu.shares = shares;
  if (quota !== 0) cpu.quota = quota;
  if (period > 0) cpu.period = period;
  if (res.cpusetCpus !== undefined && res.cpusetCpus !== '') cpu.cpus = res.cpusetCpus;
  if (res.cpusetMems !== undefined && res.cpusetMems !== '') cpu.mems = res.cpusetMems;
  if (Object.keys(cpu).length > 0) resources.cpu = cpu;
  const limit = res.memoryLimitInBytes ?? 0;
  const swap = res.memorySwapLimitInBytes ?? 0;
  if (limit > 0) resources.memory = { limit, ...(swap > 0 && swapAccounting() ? { swap } : {}) };
  if (res.pidsLimit !== undefined && res.pidsLimit > 0) resources.pids = { limit: res.pidsLimit };
  const huge = (res.hugepageLimits ?? []).map((h) => ({ pageSize: h.pageSize, limit: h.limit }));
  if (huge.length > 0) resources.hugepageLimits = huge;
  if (res.unified && Object.keys(res.unified).length > 0) resources.unified = { ...res.unified };
  return resources;
}

export interface BuildSpecInput {
  id: string;
  request: ContainerRequest;
  pod: PodRecord;
  image: ImageRuntimeConfig;
  /** Absolute path of the mounted rootfs. */
  rootfs: string;
  /** cgroupfs path for the container. */
  cgroupsPath: string;
  /** Never lower oom_score_adj below this (restrict_oom_score_adj); null: no restriction. */
  minOomScoreAdj: number | null;
  /** The pod's shared /dev/shm (a tmpfs berthd mounted); absent: a tmpfs of the container's own. */
  podShm?: string;
  /** pid namespace of a TARGET container (its /proc/PID/ns/pid). */
  targetPidNs?: string;
  apparmorAvailable?: boolean;
  /** Make missing host mount sources (default true, as containerd). */
  createMissingHostPaths?: boolean;
  /** How faults name fields (default PLAIN_FIELD_NAMES; berthd's CRI edge: CRI_FIELD_NAMES). */
  names?: FieldNames;
}

export function buildSpec(input: BuildSpecInput): Spec {
  const { request: c, pod, image } = input;
  const names = input.names ?? PLAIN_FIELD_NAMES;
  const sc = c.linux?.securityContext ?? null;
  const privileged = sc?.privileged === true;
  const res = c.linux?.resources ?? null;
  const caps = containerCapabilities(sc?.capabilities?.add ?? [], sc?.capabilities?.drop ?? [], privileged, names);
  const user = image.process.user;
  const groups = new Set<number>(user.additionalGids);
  for (const g of sc?.supplementalGroups ?? []) groups.add(g);
  groups.delete(user.gid);

  const mounts: SpecMount[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', privileged ? 'rw' : 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', privileged ? 'rw' : 'ro'] },
  ];
  const userDests = new Set((c.mounts ?? []).map((m) => path.posix.normalize(m.containerPath)));
  const ro = sc?.readonlyRootfs === true;
  if (!userDests.has('/dev/shm')) {
    if (pod.namespaceOptions.ipc === 'NODE') mounts.push({ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate', 'rw'] });
    else if (input.podShm !== undefined) mounts.push({ destination: '/dev/shm', type: 'bind', source: input.podShm, options: ['rbind', 'rprivate', 'rw'] });
    else mounts.push({ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] });
  }
  const etc: [string, string][] = [
    ['/etc/hostname', pod.hostnameFile],
    ['/etc/hosts', pod.hostsFile],
    ['/etc/resolv.conf', pod.resolvConf],
  ];
  for (const [dest, src] of etc) {
    if (userDests.has(dest) || !fs.existsSync(src)) continue;
    mounts.push({ destination: dest, type: 'bind', source: src, options: ['rbind', 'rprivate', ro ? 'ro' : 'rw'] });
  }
  let rootfsPropagation: RootfsPropagation | undefined;
  const userMounts = [...(c.mounts ?? [])].sort(
    (a, b) => path.posix.normalize(a.containerPath).split('/').length - path.posix.normalize(b.containerPath).split('/').length,
  );
  userMounts.forEach((m, i) => {
    const where = `${names.mounts}[${i}]`;
    const cp = `${where}.${names.mountContainerPath}`;
    const hp = `${where}.${names.mountHostPath}`;
    if (!path.posix.isAbsolute(m.containerPath)) throw new BerthError('INVALID_ARGUMENT', `${cp}: must be absolute, got ${JSON.stringify(m.containerPath)}`);
    if (!path.isAbsolute(m.hostPath)) throw new BerthError('INVALID_ARGUMENT', `${hp}: must be absolute, got ${JSON.stringify(m.hostPath)}`);
    let src = m.hostPath;
    if (!fs.existsSync(src)) {
      if (input.createMissingHostPaths === false) throw new BerthError('INVALID_ARGUMENT', `${hp}: ${src} does not exist`);
      fs.mkdirSync(src, { recursive: true, mode: 0o755 });
    }
    try {
      src = fs.realpathSync(src);
    } catch {
      // keep as given
    }
    const prop = PROPAGATION[m.propagation ?? 'private'] ?? 'rprivate';
    if (prop === 'rshared') rootfsPropagation = 'rshared';
    else if (prop === 'rslave' && rootfsPropagation !== 'rshared') rootfsPropagation = 'rslave';
    mounts.push({ destination: path.posix.normalize(m.containerPath), type: 'bind', source: src, options: ['rbind', prop, m.readonly ? 'ro' : 'rw'] });
  });

  const devices: SpecDevice[] = [];
  const rules: LinuxDeviceCgroup[] = [{ allow: false, access: 'rwm' }];
  if (privileged) {
    devices.push(...allHostDevices());
    rules.splice(0, rules.length, { allow: true, access: 'rwm' });
  }
  (c.devices ?? []).forEach((d, i) => {
    const where = `${names.devices}[${i}]`;
    const { dev, rule } = hostDevice(d.hostPath, d.containerPath, d.permissions ?? '', where, names);
    if (!path.posix.isAbsolute(d.containerPath)) throw new BerthError('INVALID_ARGUMENT', `${where}.${names.deviceContainerPath}: must be absolute`);
    const existing = devices.findIndex((x) => x.path === dev.path);
    if (existing >= 0) devices.splice(existing, 1);
    devices.push(dev);
    if (!privileged) rules.push(rule);
  });

  const resources: LinuxResources = { devices: rules, ...(res ? linuxResources(res) : {}) };

  let oomScoreAdj: number | undefined;
  if (res && res.oomScoreAdj !== undefined) {
    oomScoreAdj = res.oomScoreAdj;
    if (!Number.isSafeInteger(oomScoreAdj) || oomScoreAdj < -1000 || oomScoreAdj > 1000) throw new BerthError('INVALID_ARGUMENT', `${names.oomScoreAdj}: ${oomScoreAdj} is out of range -1000..1000`);
    if (input.minOomScoreAdj !== null && oomScoreAdj < input.minOomScoreAdj) oomScoreAdj = input.minOomScoreAdj;
  }

  const namespaces: SpecNamespace[] = [{ type: 'mount' }];
  if (pod.netns !== null) namespaces.push({ type: 'network', path: pod.netns });
  if (pod.ipcns !== null) namespaces.push({ type: 'ipc', path: pod.ipcns });
  if (pod.utsns !== null) namespaces.push({ type: 'uts', path: pod.utsns });
  const pidMode = sc?.namespaceOptions?.pid ?? 'CONTAINER';
  if (pidMode === 'POD') {
    if (!pod.pause) throw new BerthError('FAILED_PRECONDITION', `${names.pid}: POD, but the pod sandbox has no shared PID namespace`);
    namespaces.push({ type: 'pid', path: pod.pause.pidnsPath });
  } else if (pidMode === 'TARGET') {
    if (!input.targetPidNs) throw new BerthError('NOT_FOUND', `${names.targetId}: no such running container`);
    namespaces.push({ type: 'pid', path: input.targetPidNs });
  } else if (pidMode !== 'NODE') namespaces.push({ type: 'pid' });

  let maskedPaths: string[] = [];
  let readonlyPaths: string[] = [];
  if (!privileged) {
    maskedPaths = sc?.maskedPaths !== undefined ? [...sc.maskedPaths] : [...DEFAULT_MASKED_PATHS];
    readonlyPaths = sc?.readonlyPaths !== undefined ? [...sc.readonlyPaths] : [...DEFAULT_READONLY_PATHS];
  }

  const seccomp = seccompFor(sc, caps, names);
  const apparmor = apparmorFor(sc, input.apparmorAvailable ?? apparmorAvailable(), names);
  const annotations: Record<string, string> = {
    ...(c.annotations ?? {}),
    'io.kubernetes.cri.container-type': 'container',
    'io.kubernetes.cri.container-name': c.name,
    'io.kubernetes.cri.sandbox-id': pod.id,
    'io.kubernetes.cri.sandbox-name': pod.metadata.name,
    'io.kubernetes.cri.sandbox-namespace': pod.metadata.namespace,
    'io.kubernetes.cri.sandbox-uid': pod.metadata.uid,
  };

  const spec: Spec = {
    ociVersion: OCI_VERSION,
    process: {
      terminal: c.tty === true,
      user: { uid: user.uid, gid: user.gid, ...(groups.size > 0 ? { additionalGids: [...groups] } : {}) },
      args: image.process.args,
      env: image.process.env,
      cwd: image.process.cwd,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      noNewPrivileges: sc?.noNewPrivs === true,
      ...(oomScoreAdj !== undefined ? { oomScoreAdj } : {}),
      ...(apparmor !== undefined ? { apparmorProfile: apparmor } : {}),
    },
    root: { path: input.rootfs, readonly: ro },
    mounts,
    annotations,
    linux: {
      namespaces,
      cgroupsPath: input.cgroupsPath,
      resources,
      ...(devices.length > 0 ? { devices } : {}),
      maskedPaths,
      readonlyPaths,
      ...(seccomp ? { seccomp } : {}),
      ...(rootfsPropagation ? { rootfsPropagation } : {}),
    },
  };
  return spec;
}
