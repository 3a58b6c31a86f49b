/**
 * Mount compilation: option strings -> mount(2) flags, propagation, mount_setattr(2) attributes and
 * data; bind sources resolved and stat'ed on the host; cgroup mounts marked for the executor.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, isErrno } from '../errors';
import {
  MOUNT_OPTIONS,
  MS_BIND,
  MS_REC,
  MS_REMOUNT,
  MOUNT_ATTR__ATIME,
} from './linux';
import type { PlanMount } from './types';
import type { SpecMount } from '../spec/types';

export interface ParsedMountOptions {
  /** MS_* flags for mount(2) (MS_BIND / MS_BIND|MS_REC included for bind mounts). */
  flags: number;
  propagation: number[];
  /** Comma-joined filesystem-specific options. */
  data: string;
  recAttrSet: number;
  recAttrClr: number;
  bind: boolean;
}

/**
 * Parse a mount's options. Later options override earlier ones ("ro,rw" is read-write). Unknown
 * options are filesystem-specific and go into data, in order. `p` is the JSON path of the options
 * array, for errors.
 */
export function parseMountOptions(options: readonly string[], p = 'options'): ParsedMountOptions {
  let flags = 0;
  let data: string[] = [];
  const propagation: number[] = [];
  let recAttrSet = 0;
  let recAttrClr = 0;
  let bind = false;
  options.forEach((opt, i) => {
    const o = MOUNT_OPTIONS.get(opt);
    if (o === undefined) {
      if (opt !== '') data.push(opt);
      return;
    }
    switch (o.kind) {
      case 'flag':
        if (o.clear) flags &= ~o.flag;
        else flags |= o.flag;
        if (o.flag & MS_BIND) bind = true;
        break;
      case 'propagation':
        propagation.push(o.value);
        break;
      case 'recattr':
        // The atime field is replaced as a whole; other bits: the last option wins.
        if (o.clr & MOUNT_ATTR__ATIME) {
          recAttrSet &= ~MOUNT_ATTR__ATIME;
          recAttrClr |= MOUNT_ATTR__ATIME;
          recAttrSet |= o.set;
        } else {
          recAttrSet = (recAttrSet & ~o.clr) | o.set;
          recAttrClr = (recAttrClr & ~o.set) | o.clr;
        }
        break;
      case 'unsupported':
        throw new ConfigError(`${p}[${i}]`, o.reason);
    }
  });
  data = data.filter((d) => d.length > 0);
  return { flags, propagation, data: data.join(','), recAttrSet, recAttrClr, bind };
}

export interface MountContext {
  /** Absolute bundle directory: relative bind sources are resolved against it. */
  bundle: string;
}

function normDest(d: string): string {
  return path.posix.normalize(d).replace(/(.)\/+$/, '$1');
}

/** Compile mounts[i] into one or more plan mounts. */
export function compileMount(m: SpecMount, i: number, ctx: MountContext): PlanMount[] {
  const p = `mounts[${i}]`;
  const parsed = parseMountOptions(m.options ?? [], `${p}.options`);
  const destination = normDest(m.destination);
  const fstype = m.type ?? '';
  const bind = parsed.bind || fstype === 'bind';

  if (bind) {
    const src = m.source ?? '';
    const source = path.resolve(ctx.bundle, src);
    let st: fs.Stats;
    try {
      st = fs.statSync(source);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) {
        throw new ConfigError(`${p}.source`, `bind mount source ${JSON.stringify(source)} does not exist`);
      }
      throw new ConfigError(`${p}.source`, `cannot stat bind mount source ${JSON.stringify(source)}: ${(err as Error).message}`);
    }
    return [
      {
        source,
        destination,
        fstype: '',
        flags: parsed.flags | MS_BIND,
        propagation: parsed.propagation,
        data: parsed.data,
        recAttrSet: parsed.recAttrSet,
        recAttrClr: parsed.recAttrClr,
        destType: st.isDirectory() ? 'dir' : 'file',
        kind: 'bind',
      },
    ];
  }

  if (fstype === 'cgroup' || fstype === 'cgroup2') return compileCgroupMount(m, destination, parsed);

  return [
    {
      source: m.source !== undefined && m.source !== '' ? m.source : fstype,
      destination,
      fstype,
      flags: parsed.flags,
      propagation: parsed.propagation,
      data: parsed.data,
      recAttrSet: parsed.recAttrSet,
      recAttrClr: parsed.recAttrClr,
      destType: 'dir',
      kind: 'normal',
    },
  ];
}

/**
 * A `cgroup`/`cgroup2` mount stays one plan mount of kind 'cgroup'; the executor expands it once the
 * container process sits in its cgroups (see native/init/rootfs.c): with a new cgroup namespace on a
 * v2 host a cgroup2 mount, otherwise bind mounts of the container's own cgroup directories (one per v1
 * hierarchy under a tmpfs, with symlinks for co-mounted controllers), read-only when "ro" is given.
 */
function compileCgroupMount(m: SpecMount, destination: string, parsed: ParsedMountOptions): PlanMount[] {
  return [
    {
      source: m.source !== undefined && m.source !== '' ? m.source : 'cgroup',
      destination,
      fstype: m.type ?? 'cgroup',
      flags: parsed.flags & ~(MS_BIND | MS_REC | MS_REMOUNT),
      propagation: parsed.propagation,
      data: parsed.data,
      recAttrSet: parsed.recAttrSet,
      recAttrClr: parsed.recAttrClr,
      destType: 'dir',
      kind: 'cgroup',
    },
  ];
}
