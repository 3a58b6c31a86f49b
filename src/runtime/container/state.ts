/**
 * The persisted container record (<root>/<id>/state.json) and the runtime-spec state document built
 * from it. Writes are temp file + rename, so a reader (or a crash of the writer) sees the old or the
 * new record, never a torn one.
 *
 * Runtime state is not fsynced (writeStateFile): it lives under --root, /run/berth-oci by default,
 * which does not survive a reboot, and it describes processes that do not survive one either. rename
 * is atomic against a crash of berth-oci itself without fsync; only a power loss could lose the last
 * write, and then the container it describes is gone too. runc writes its state.json the same way.
 * An fsync here cost 2-10 ms per write on this host's disk-backed /run (bench/oci-startup.md).
 * Durable stores use src/util/atomic-file (fsync of file and directory) instead.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../errors';
import type { ContainerStatus } from './status';

export const OCI_VERSION = '1.2.0';

/** What berth keeps about a container between CLI invocations. */
export interface ContainerRecord {
  id: string;
  /** Absolute path of the bundle directory. */
  bundle: string;
  /** Absolute path of the root filesystem. */
  rootfs: string;
  /** Host pid of the container process; 0 before it exists. */
  pid: number;
  /** /proc/PID/stat field 22 of that process, to recognise pid reuse. */
  pidStartTime: string;
  /**
   * The last status berth recorded: "creating" until the executor reports READY, then "created".
   * Later statuses are derived from the kernel (see derive.ts), not recorded.
   */
  status: ContainerStatus;
  annotations: Record<string, string>;
  /** RFC 3339 with nanoseconds, UTC. */
  created: string;
  /** Uid of the user that created the container. */
  ownerUid: number;
  /** The cgroup path the container was placed in ('' = no cgroup management). */
  cgroupsPath: string;
  /** The cgroup driver used: 'cgroupfs', 'systemd' or 'disabled'. */
  cgroupDriver: string;
  /** Whether the container process has its own pid namespace (if not, kill --all is needed to stop it). */
  ownPidNamespace: boolean;
  /** "pid starttime" of the process running create: a "creating" record whose creator is gone is dead. */
  creator: string;
}

/** The runtime-spec state document (what `state` prints and hooks read on stdin). */
export interface OciState {
  ociVersion: string;
  id: string;
  status: ContainerStatus;
  pid?: number;
  bundle: string;
  annotations?: Record<string, string>;
}

/** runc's `state` output: the spec document plus rootfs, created and owner. */
export interface StateOutput extends OciState {
  rootfs: string;
  created: string;
  owner: string;
}

export function ociState(rec: ContainerRecord, status: ContainerStatus): OciState {
  const st: OciState = { ociVersion: OCI_VERSION, id: rec.id, status, bundle: rec.bundle };
  // The spec: pid is REQUIRED when status is created or running, and absent once stopped.
  if (status !== 'stopped' && rec.pid > 0) st.pid = rec.pid;
  if (Object.keys(rec.annotations).length > 0) st.annotations = rec.annotations;
  return st;
}

/** Current time as RFC 3339 with sub-second digits (Go's time.RFC3339Nano: trailing zeros trimmed), UTC. */
export function nowRfc3339Nano(): string {
  // performance.timeOrigin + now() is the wall clock with microsecond resolution.
  const ms = performance.timeOrigin + performance.now();
  const whole = Math.floor(ms);
  const micros = Math.floor((ms - whole) * 1000);
  const iso = new Date(whole).toISOString(); // 2026-01-02T03:04:05.678Z
  const frac = `${iso.slice(20, 23)}${String(micros).padStart(3, '0')}`.replace(/0+$/, '');
  return frac === '' ? `${iso.slice(0, 19)}Z` : `${iso.slice(0, 19)}.${frac}Z`;
}

/** Runtime state: temp file + rename, no fsync (see the header). Synchronous: a few microseconds. */
export function writeStateFile(file: string, data: string, mode = 0o600): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, data, { mode });
    fs.renameSync(tmp, file);
  } catch (err) {
    try {
      fs.unlinkSync(tmp);
    } catch {
      // not created
    }
    throw err;
  }
}

export function writeRecord(file: string, rec: ContainerRecord): void {
  writeStateFile(file, JSON.stringify(rec));
}

export function writeRecordAsync(file: string, rec: ContainerRecord): Promise<void> {
  return new Promise<void>((resolve) => {
    writeRecord(file, rec);
    resolve();
  });
}

/** Reads a record; NOT_FOUND when the container does not exist. */
export function readRecord(file: string, id: string): ContainerRecord {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
      throw new BerthError('NOT_FOUND', `container ${id} does not exist`);
    }
    throw new BerthError('INTERNAL', `reading state of ${id}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BerthError('INTERNAL', `state of ${id} is corrupt: ${(err as Error).message}`, { cause: err });
  }
  return checkRecord(raw, id);
}

function checkRecord(raw: unknown, id: string): ContainerRecord {
  if (typeof raw !== 'object' || raw === null) throw new BerthError('INTERNAL', `state of ${id} is corrupt`);
  const r = raw as Record<string, unknown>;
  const str = (k: string): string => (typeof r[k] === 'string' ? (r[k] as string) : '');
  const num = (k: string): number => (typeof r[k] === 'number' ? (r[k] as number) : 0);
  const status = str('status');
  const statuses: ContainerStatus[] = ['creating', 'created', 'running', 'paused', 'stopped'];
  const annotations: Record<string, string> = {};
  if (typeof r.annotations === 'object' && r.annotations !== null) {
    for (const [k, v] of Object.entries(r.annotations as Record<string, unknown>)) {
      if (typeof v === 'string') annotations[k] = v;
    }
  }
  return {
    id: str('id') || id,
    bundle: str('bundle'),
    rootfs: str('rootfs'),
    pid: num('pid'),
    pidStartTime: str('pidStartTime'),
    status: (statuses as string[]).includes(status) ? (status as ContainerStatus) : 'stopped',
    annotations,
    created: str('created'),
    ownerUid: num('ownerUid'),
    cgroupsPath: str('cgroupsPath'),
    cgroupDriver: str('cgroupDriver') || 'cgroupfs',
    ownPidNamespace: r.ownPidNamespace !== false,
    creator: str('creator'),
  };
}
