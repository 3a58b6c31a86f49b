/**
 * The result cache: for each attachment (network, container id, interface) the configuration and
 * parameters it was added with and the final ADD result, which DEL and CHECK need (SPEC.md section
 * 3) and which outlive a berthd restart. Files are written temp + fsync + rename.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../../util/atomic-file';
import { BerthError, isErrno } from '../../runtime/errors';
import type { CapabilityArgs, JsonObject, NetworkConfigList } from './types';

export const DEFAULT_CACHE_DIR = '/var/lib/berth/cni/results';

export interface CachedAttachment {
  kind: 'berth-cni-cache/v1';
  network: string;
  containerId: string;
  ifName: string;
  netns: string;
  args: [string, string][];
  capabilityArgs: CapabilityArgs;
  /** The configuration the attachment was added with (DEL uses it even if the config dir changed). */
  config: NetworkConfigList;
  /** The spec version the plugins were called with. */
  cniVersion: string;
  /** The final ADD result; null while the ADD is under way (a crash leaves it so: DEL still runs). */
  result: JsonObject | null;
}

const SAFE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** Interface names: what the kernel takes (at most 15 bytes, no '/', no whitespace, not . or ..). */
export function checkIfName(name: string): void {
  if (name === '' || Buffer.byteLength(name) > 15 || /[/\s:\0]/.test(name) || name === '.' || name === '..') {
    throw new BerthError('INVALID_ARGUMENT', `invalid interface name ${JSON.stringify(name)}`);
  }
}

export function checkContainerId(id: string): void {
  if (!SAFE.test(id) || id.length > 256) throw new BerthError('INVALID_ARGUMENT', `invalid CNI container id ${JSON.stringify(id)}`);
}

export class ResultCache {
  readonly dir: string;
  constructor(dir: string = DEFAULT_CACHE_DIR) {
    this.dir = path.resolve(dir);
  }

  file(network: string, containerId: string, ifName: string): string {
    checkContainerId(containerId);
    checkIfName(ifName);
    if (!SAFE.test(network)) throw new BerthError('INVALID_ARGUMENT', `invalid network name ${JSON.stringify(network)}`);
    return path.join(this.dir, `${network}-${containerId}-${ifName}`);
  }

  async put(entry: CachedAttachment): Promise<void> {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.file(entry.network, entry.containerId, entry.ifName), JSON.stringify(entry), 0o600);
  }

  get(network: string, containerId: string, ifName: string): CachedAttachment | null {
    const f = this.file(network, containerId, ifName);
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return null;
      throw err;
    }
    try {
      const v = JSON.parse(text) as Partial<CachedAttachment>;
      if (v.kind !== 'berth-cni-cache/v1' || v.containerId !== containerId || v.ifName !== ifName || typeof v.config !== 'object') return null;
      return v as CachedAttachment;
    } catch {
      return null;
    }
  }

  remove(network: string, containerId: string, ifName: string): void {
    fs.rmSync(this.file(network, containerId, ifName), { force: true });
  }

  /** The container ids that have a cache entry. */
  containerIds(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const ids = new Set<string>();
    for (const n of names) {
      if (n.startsWith('.')) continue;
      try {
        const v = JSON.parse(fs.readFileSync(path.join(this.dir, n), 'utf8')) as Partial<CachedAttachment>;
        if (v.kind === 'berth-cni-cache/v1' && typeof v.containerId === 'string') ids.add(v.containerId);
      } catch {
        // not ours or unreadable
      }
    }
    return [...ids].sort();
  }

  /** Every cached attachment of a container (any network, any interface). */
  forContainer(containerId: string): CachedAttachment[] {
    checkContainerId(containerId);
    let names: string[];
    try {
      names = fs.readdirSync(this.dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
    const out: CachedAttachment[] = [];
    for (const n of names) {
      if (!n.includes(`-${containerId}-`) || n.startsWith('.')) continue;
      try {
        const v = JSON.parse(fs.readFileSync(path.join(this.dir, n), 'utf8')) as Partial<CachedAttachment>;
        if (v.kind === 'berth-cni-cache/v1' && v.containerId === containerId) out.push(v as CachedAttachment);
      } catch {
        // not ours or unreadable
      }
    }
    return out;
  }
}
