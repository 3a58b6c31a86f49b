/**
 * A pod's namespaces, pinned without a long-running process: the network, IPC and UTS namespaces
 * are created by util-linux `unshare --net=FILE --ipc=FILE --uts=FILE hostname NAME` (one exec: it
 * unshares, bind-mounts /proc/<child>/ns/* onto the files, and sets the hostname inside), and live
 * as long as those bind mounts do. A shared PID namespace needs a live pid 1: the pause process
 * (pause.ts) is started only for that.
 *
 * Layout: <root>/<podId>/ns/{net,ipc,uts,state.json}; <root> (default /run/berth/pods) is made a
 * private bind mount of itself so the namespace mounts never propagate into other mount namespaces.
 * state.json (written temp + fsync + rename before and after every step that creates something)
 * lets a restarted berthd tear down what an earlier one made. Teardown is idempotent.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../util/atomic-file';
import { readProcStat } from '../runtime/container/procstat';
import { BerthError, isErrno } from '../runtime/errors';
import { ensurePrivateMountPoint, mountsAt, unmountAll } from './mounts';
import { startPause, stopPause, type PauseProcess } from './pause';
import { runChecked } from './run';

export const DEFAULT_POD_RUNTIME_ROOT = '/run/berth/pods';

const NS_TYPES = ['net', 'ipc', 'uts'] as const;
type PinnedType = (typeof NS_TYPES)[number];

export interface PodNamespaceOptions {
  /** The sandbox id: [A-Za-z0-9][A-Za-z0-9_.-]*, at most 128 characters. */
  podId: string;
  /** Default /run/berth/pods. */
  runtimeRoot?: string;
  /** Use the host's network namespace; this also means the host's UTS namespace (as containerd does). */
  hostNetwork?: boolean;
  /** Use the host's IPC namespace. */
  hostIpc?: boolean;
  /** Hostname set in the new UTS namespace ('' or absent: keep the copy of the host's name). */
  hostname?: string;
  /** A PID namespace shared by the pod's containers (CRI NamespaceMode POD): starts the pause process. */
  sharedPid?: boolean;
  /** Make the runtime root a private bind mount of itself (default true). */
  privateMount?: boolean;
  pausePath?: string;
  initPath?: string;
  /** Called with the pause pid before it runs (e.g. to place it in the pod's cgroup). */
  onPausePid?: (pid: number) => Promise<void>;
}

export interface PodNamespaces {
  podId: string;
  /** <root>/<podId>/ns */
  dir: string;
  /** Namespace files to join; null = the host's namespace (nothing was created). */
  net: string | null;
  ipc: string | null;
  uts: string | null;
  hostname: string;
  /** The pause process holding the shared PID namespace; null when there is none. */
  pause: PauseProcess | null;
  /** false when a create was under way and never finished (a crash): tear it down. */
  ready: boolean;
}

/** What state.json holds. 'creating' = a create was under way (a crash leaves it so). */
interface NamespaceState extends Omit<PodNamespaces, 'ready'> {
  version: 1;
  phase: 'creating' | 'ready';
}

const POD_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function checkPodId(podId: string): void {
  if (!POD_ID.test(podId)) throw new BerthError('INVALID_ARGUMENT', `invalid pod id ${JSON.stringify(podId)}`);
}

/** RFC 1123-ish and what sethostname(2) takes: at most 64 bytes, no NUL, no whitespace. */
function checkHostname(name: string): void {
  if (Buffer.byteLength(name) > 64 || /[\s\0/]/.test(name) || name.startsWith('-')) {
    throw new BerthError('INVALID_ARGUMENT', `invalid hostname ${JSON.stringify(name)}`);
  }
}

export function podNamespaceDir(podId: string, runtimeRoot = DEFAULT_POD_RUNTIME_ROOT): string {
  checkPodId(podId);
  return path.join(path.resolve(runtimeRoot), podId, 'ns');
}

function stateFile(dir: string): string {
  return path.join(dir, 'state.json');
}

async function writeState(s: NamespaceState): Promise<void> {
  await writeFileAtomic(stateFile(s.dir), JSON.stringify(s), 0o600);
}

function readState(dir: string): NamespaceState | null {
  let text: string;
  try {
    text = fs.readFileSync(stateFile(dir), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null; // a torn write cannot happen (rename), but a hand-edited file can: fall back to the dir
  }
  if (typeof v !== 'object' || v === null || (v as { version?: unknown }).version !== 1) return null;
  return v as NamespaceState;
}

function toPublic(s: NamespaceState): PodNamespaces {
  return { podId: s.podId, dir: s.dir, net: s.net, ipc: s.ipc, uts: s.uts, hostname: s.hostname, pause: s.pause, ready: s.phase === 'ready' };
}

/**
 * Create and pin the pod's namespaces. On any failure everything created so far is torn down before
 * the error is thrown. ALREADY_EXISTS when the pod already has namespaces.
 */
export async function createPodNamespaces(opts: PodNamespaceOptions): Promise<PodNamespaces> {
  checkPodId(opts.podId);
  const hostname = opts.hostname ?? '';
  if (hostname !== '') checkHostname(hostname);
  const rootIn = path.resolve(opts.runtimeRoot ?? DEFAULT_POD_RUNTIME_ROOT);
  fs.mkdirSync(rootIn, { recursive: true, mode: 0o711 });
  const root = fs.realpathSync(rootIn);
  if (opts.privateMount !== false) await ensurePrivateMountPoint(root);
  const dir = path.join(root, opts.podId, 'ns');
  if (readState(dir) !== null) throw new BerthError('ALREADY_EXISTS', `pod ${opts.podId} already has namespaces in ${dir}`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o711 });

  const want: Record<PinnedType, boolean> = {
    net: opts.hostNetwork !== true,
    ipc: opts.hostIpc !== true,
    uts: opts.hostNetwork !== true,
  };
  const file = (t: PinnedType): string | null => (want[t] ? path.join(dir, t) : null);
  const state: NamespaceState = {
    version: 1,
    phase: 'creating',
    podId: opts.podId,
    dir,
    net: file('net'),
    ipc: file('ipc'),
    uts: file('uts'),
    hostname: want.uts ? hostname : '',
    pause: null,
  };
  try {
    await writeState(state);
    const args: string[] = [];
    for (const t of NS_TYPES) {
      const f = state[t];
      if (f === null) continue;
      await unmountAll([f]); // leftovers of a crashed create with no state file
      fs.closeSync(fs.openSync(f, fs.constants.O_RDONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW, 0o444));
      args.push(`--${t}=${f}`);
    }
    if (args.length > 0) {
      const cmd = state.hostname !== '' ? ['hostname', state.hostname] : ['true'];
      await runChecked('unshare', [...args, '--', ...cmd]);
    }
    if (opts.sharedPid === true) {
      state.pause = await startPause({
        netns: state.net ?? undefined,
        ipcns: state.ipc ?? undefined,
        utsns: state.uts ?? undefined,
        pausePath: opts.pausePath,
        initPath: opts.initPath,
        onPid: async (pid) => {
          // recorded before the pause runs, so a crash from here on cannot leak it
          const st = readProcStat(pid);
          if (st === null) throw new BerthError('INTERNAL', `pause process ${pid} vanished before it ran`);
          state.pause = { pid, startTime: st.startTime, pidnsPath: `/proc/${pid}/ns/pid` };
          await writeState(state);
          if (opts.onPausePid) await opts.onPausePid(pid);
        },
      });
    }
    state.phase = 'ready';
    await writeState(state);
  } catch (err) {
    try {
      await teardown(dir, state);
    } catch {
      // the create error is the one to report; a later removePodNamespaces retries
    }
    throw err;
  }
  return toPublic(state);
}

/** The pod's namespaces as recorded, or null when it has none (or only a half-made, unrecorded dir). */
export function loadPodNamespaces(podId: string, runtimeRoot = DEFAULT_POD_RUNTIME_ROOT): PodNamespaces | null {
  const s = readState(podNamespaceDir(podId, runtimeRoot));
  return s === null ? null : toPublic(s);
}

/** Pod ids that have a namespace directory under the runtime root (for cleanup after a crash). */
export function listPodNamespaceIds(runtimeRoot = DEFAULT_POD_RUNTIME_ROOT): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(runtimeRoot);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  return names.filter((n) => POD_ID.test(n) && fs.existsSync(path.join(runtimeRoot, n, 'ns'))).sort();
}

async function teardown(dir: string, state: NamespaceState | null): Promise<void> {
  if (state?.pause) await stopPause(state.pause);
  // whatever the state says, every pinned file that may exist is unmounted
  const files = NS_TYPES.map((t) => path.join(dir, t));
  await unmountAll(files);
  for (const f of [...files, stateFile(dir)]) fs.rmSync(f, { force: true });
  try {
    fs.rmdirSync(dir);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) throw err;
  }
  try {
    fs.rmdirSync(path.dirname(dir)); // <root>/<podId>, when nothing else lives there
  } catch (err) {
    if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
  }
}

/**
 * Tear down the pod's namespaces: kill the pause process (if it is still the recorded one), unmount
 * and remove the namespace files and the directory. Idempotent: a missing pod is not an error.
 */
export async function removePodNamespaces(podId: string, runtimeRoot = DEFAULT_POD_RUNTIME_ROOT): Promise<void> {
  const rootIn = path.resolve(runtimeRoot);
  let root = rootIn;
  try {
    root = fs.realpathSync(rootIn);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return;
    throw err;
  }
  const dir = podNamespaceDir(podId, root);
  await teardown(dir, readState(dir));
}

/**
 * Undo the runtime root's private bind mount when no pod is left under it (tests and uninstall; a
 * daemon leaves it in place, as `ip netns` leaves /run/netns).
 */
export async function releasePodRuntimeRoot(runtimeRoot = DEFAULT_POD_RUNTIME_ROOT): Promise<void> {
  if (listPodNamespaceIds(runtimeRoot).length > 0) return;
  await unmountAll([fs.realpathSync(runtimeRoot)]);
}

/**
 * The identity of a namespace file ("net:[4026532255]"). For /proc/PID/ns/* the link of an open fd
 * says it; for a bind-mounted namespace file that link is the file's own path, so the root field of
 * its nsfs mount in /proc/self/mountinfo says it instead.
 */
export function namespaceId(file: string): string {
  const fd = fs.openSync(file, fs.constants.O_RDONLY);
  let link: string;
  try {
    link = fs.readlinkSync(`/proc/self/fd/${fd}`);
  } finally {
    fs.closeSync(fd);
  }
  if (/^[a-z_]+:\[\d+\]$/.test(link)) return link;
  const mounts = mountsAt(fs.realpathSync(file)).filter((m) => m.fstype === 'nsfs');
  const top = mounts[mounts.length - 1];
  if (top === undefined) throw new BerthError('INVALID_ARGUMENT', `${file} is not a namespace file`);
  return top.root;
}
