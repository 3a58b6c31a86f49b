/**
 * USER resolution through the image's own /etc/passwd and /etc/group.
 *
 * Forms: "" (root), "name", "uid", "name:group", "uid:gid", "uid:groupname", "name:gid".
 * - A user name must be in /etc/passwd (else NOT_FOUND); a numeric uid need not be.
 * - Without an explicit group, the gid is the passwd entry's (0 when the uid has no entry), and the
 *   additional gids are the groups listing the user's name as a member (runc's rule for the implicit
 *   form). With an explicit group (name: must be in /etc/group; or a number) there are none.
 * - ids are 0..4294967294.
 * Files are read inside the rootfs: the path is resolved with every symlink taken relative to the
 * rootfs (never out of it), the file opened with O_NOFOLLOW|O_NONBLOCK, required to be a regular file,
 * and read up to 4 MiB.
 */
import { constants as C, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { BerthError, ConfigError, isErrno } from '../../runtime/errors';
import { resolveInRoot } from '../unpack/paths';
import type { ResolvedUser } from './types';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The two files' contents; null when the image does not have the file. */
export interface UserDb {
  passwd: string | null;
  group: string | null;
}

const MAX_ID = 4294967294;

function parseId(s: string): number | null {
  if (!/^[0-9]+$/.test(s)) return null;
  const n = Number(s);
  return n <= MAX_ID ? n : null;
}

export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    if (uid === null || gid === null || f[0] === '') continue;
    out.push({ name: f[0], uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = parseId(f[2]);
    if (gid === null || f[0] === '') continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '') });
  }
  return out;
}

/** Resolves a USER string against the image's files (pure). */
export function resolveUser(spec: string, db: UserDb, field = 'User'): ResolvedUser {
  const s = spec.trim();
  const colon = s.indexOf(':');
  const userPart = colon < 0 ? s : s.slice(0, colon);
  const groupPart = colon < 0 ? undefined : s.slice(colon + 1);
  if (groupPart !== undefined && groupPart.includes(':')) throw new ConfigError(field, `malformed user ${JSON.stringify(spec)}`);
  if (colon >= 0 && (userPart === '' || groupPart === '')) throw new ConfigError(field, `malformed user ${JSON.stringify(spec)}`);
  const passwd = db.passwd === null ? [] : parsePasswd(db.passwd);
  const groups = db.group === null ? [] : parseGroup(db.group);

  let entry: PasswdEntry | undefined;
  let uid: number;
  const numericUid = parseId(userPart === '' ? '0' : userPart);
  if (numericUid !== null) {
    uid = numericUid;
    entry = passwd.find((p) => p.uid === uid);
  } else {
    if (/^[0-9]+$/.test(userPart)) throw new ConfigError(field, `uid ${userPart} out of range`);
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      const where = db.passwd === null ? 'the image has no /etc/passwd' : "not in the image's /etc/passwd";
      throw new BerthError('NOT_FOUND', `${field}: user ${JSON.stringify(userPart)} not found: ${where}`);
    }
    uid = entry.uid;
  }

  let gid: number;
  let additionalGids: number[] = [];
  if (groupPart !== undefined) {
    const numericGid = parseId(groupPart);
    if (numericGid !== null) gid = numericGid;
    else {
      if (/^[0-9]+$/.test(groupPart)) throw new ConfigError(field, `gid ${groupPart} out of range`);
      const g = groups.find((x) => x.name === groupPart);
      if (!g) {
        const where = db.group === null ? 'the image has no /etc/group' : "not in the image's /etc/group";
        throw new BerthError('NOT_FOUND', `${field}: group ${JSON.stringify(groupPart)} not found: ${where}`);
      }
      gid = g.gid;
    }
  } else {
    gid = entry ? entry.gid : 0;
    if (entry) {
      const name = entry.name;
      const set = new Set<number>();
      for (const g of groups) if (g.members.includes(name) && g.gid !== gid) set.add(g.gid);
      additionalGids = [...set];
    }
  }
  return {
    uid,
    gid,
    additionalGids,
    ...(entry ? { username: entry.name, home: entry.home } : {}),
  };
}

const MAX_FILE = 4 << 20;

/** Reads a small regular file at `name` inside `rootfs` without following symlinks out of it. */
export async function readFileInRoot(rootfs: string, name: string): Promise<string | null> {
  const rel = await resolveInRoot(rootfs, name);
  if (rel === null || rel === '') return null;
  let fh;
  try {
    fh = await fsp.open(path.join(rootfs, rel), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ELOOP') || isErrno(err, 'ENOTDIR')) return null;
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new BerthError('INVALID_ARGUMENT', `${name} in the image is not a regular file`);
    if (st.size > MAX_FILE) throw new BerthError('INVALID_ARGUMENT', `${name} in the image is larger than ${MAX_FILE} bytes`);
    const buf = Buffer.alloc(Math.min(st.size + 1, MAX_FILE + 1));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    if (bytesRead > MAX_FILE) throw new BerthError('INVALID_ARGUMENT', `${name} in the image is larger than ${MAX_FILE} bytes`);
    return buf.toString('utf8', 0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** /etc/passwd and /etc/group of the rootfs at `rootfs`. */
export async function readUserDb(rootfs: string): Promise<UserDb> {
  const [passwd, group] = await Promise.all([readFileInRoot(rootfs, '/etc/passwd'), readFileInRoot(rootfs, '/etc/group')]);
  return { passwd, group };
}

/** Whether resolving `spec` needs the image's files (a numeric uid:gid does not). */
export function needsUserDb(spec: string): boolean {
  return !/^[0-9]+:[0-9]+$/.test(spec.trim());
}
