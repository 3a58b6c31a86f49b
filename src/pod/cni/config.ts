/**
 * Network configuration: parsing and validating CNI config files, choosing the network from a config
 * directory (the first file in lexicographic order, as containerd does), and berth's built-in default
 * network for when the directory holds none.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { isErrno } from '../../runtime/errors';
import { CniConfigError } from './errors';
import type { Json, JsonObject, LoadedNetwork, NetworkConfigList, PluginConf } from './types';
import { SUPPORTED_VERSIONS, isVersion, selectVersion } from './version';

export const DEFAULT_CONF_DIR = '/etc/cni/net.d';
export const DEFAULT_BIN_DIRS: readonly string[] = ['/usr/lib/cni', '/opt/cni/bin'];
/** File name endings read from the config directory. */
export const CONFIG_EXTENSIONS: readonly string[] = ['.conf', '.conflist', '.json'];
/** Largest config file read (a config is a few hundred bytes; this only bounds a mistake). */
const MAX_CONFIG_BYTES = 1024 * 1024;

export interface DefaultNetworkOptions {
  /** Network name (default "berth"). */
  name?: string;
  /** Bridge device (default "berth0"). */
  bridge?: string;
  /** IPv4 subnet for host-local (default 10.89.0.0/16; the lab's containerd has 10.88.0.0/16). */
  subnet?: string;
  /** host-local's allocation directory (default /var/lib/berth/cni/networks). */
  dataDir?: string;
  /** Masquerade traffic leaving the subnet (default false: pods reach the host and each other only). */
  ipMasq?: boolean;
}

/**
 * The built-in default network: a bridge with host-local IPAM, the bridge as the pods' gateway and
 * hairpin mode on, then portmap (with SNAT, so host ports work from the host itself) for port mappings.
 */
export function defaultNetworkConfig(opts: DefaultNetworkOptions = {}): NetworkConfigList {
  return {
    cniVersion: '1.0.0',
    name: opts.name ?? 'berth',
    plugins: [
      {
        type: 'bridge',
        bridge: opts.bridge ?? 'berth0',
        isGateway: true,
        ipMasq: opts.ipMasq ?? false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: opts.subnet ?? '10.89.0.0/16' }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: opts.dataDir ?? '/var/lib/berth/cni/networks',
        },
      },
      { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    ],
  };
}

/** Why `cidr` is not a network address with a prefix length (IPv4 or IPv6), or null when it is. */
export function cidrFault(cidr: string): string | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!m) return 'not of the form ADDRESS/PREFIX';
  const addr = m[1]!;
  const prefix = Number(m[2]);
  const family = net.isIP(addr);
  if (family === 0) return `${JSON.stringify(addr)} is not an IP address`;
  const bits = family === 4 ? 32 : 128;
  if (prefix > bits) return `prefix length ${prefix} is more than ${bits}`;
  const value = family === 4 ? ipv4Value(addr) : ipv6Value(addr);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  if ((value & hostMask) !== 0n) return 'host bits are set (give the network address)';
  return null;
}

function ipv4Value(a: string): bigint {
  return a.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}

function ipv6Value(a: string): bigint {
  let text = a;
  // a trailing dotted IPv4 part
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const v = ipv4Value(v4[1]!);
    text = text.slice(0, -v4[1]!.length) + `${(v >> 16n).toString(16)}:${(v & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/**
 * The bridge for pods of a pod CIDR: `bridge` (cut to 8 characters) + '-' + 6 hex digits of the
 * CIDRs' hash. The bridge plugin refuses to give a bridge a second IPv4 gateway address, so pods of a
 * new range get a bridge of their own while pods of the old range keep theirs (and their gateway).
 */
export function podCidrBridge(bridge: string, cidrs: readonly string[]): string {
  return `${bridge.slice(0, 8)}-${createHash('sha256').update(cidrs.join(',')).digest('hex').slice(0, 6)}`;
}

/**
 * `netConf` with its host-local IPAM ranges replaced by one range per CIDR (a pod CIDR from
 * UpdateRuntimeConfig; one per address family for dual stack), a default route for each family and,
 * when the ranges differ from the configured ones, a bridge of their own (podCidrBridge); null when no
 * plugin of it uses host-local. The CIDRs must be valid (cidrFault).
 */
export function withPodCidrs(netConf: NetworkConfigList, cidrs: readonly string[]): NetworkConfigList | null {
  const copy = JSON.parse(JSON.stringify(netConf)) as NetworkConfigList;
  for (const plugin of copy.plugins) {
    const ipam = plugin.ipam;
    if (!isObject(ipam) || ipam.type !== 'host-local') continue;
    const before = JSON.stringify(ipam.ranges ?? [[{ subnet: ipam.subnet }]]);
    const after = JSON.stringify(cidrs.map((c) => [{ subnet: c }]));
    if (plugin.type === 'bridge' && before !== after) plugin.bridge = podCidrBridge(typeof plugin.bridge === 'string' ? plugin.bridge : 'cni0', cidrs);
    ipam.ranges = cidrs.map((c) => [{ subnet: c }]);
    delete ipam.subnet;
    delete ipam.rangeStart;
    delete ipam.rangeEnd;
    delete ipam.gateway;
    const v6 = cidrs.some((c) => c.includes(':'));
    const v4 = cidrs.some((c) => !c.includes(':'));
    ipam.routes = [...(v4 ? [{ dst: '0.0.0.0/0' }] : []), ...(v6 ? [{ dst: '::/0' }] : [])];
    return copy;
  }
  return null;
}

/** The network that brings up "lo" in a pod (run before the pod's network, as containerd does). */
export function loopbackNetworkConfig(): NetworkConfigList {
  return { cniVersion: '1.0.0', cniVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'], name: 'cni-loopback', plugins: [{ type: 'loopback' }] };
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkPlugin(v: Json, file: string, at: string): PluginConf {
  if (!isObject(v)) throw new CniConfigError(file, at, 'must be an object');
  const type = v.type;
  if (typeof type !== 'string' || type === '') throw new CniConfigError(file, `${at}.type`, 'must be a non-empty string');
  if (/[/\\\0]/.test(type) || type === '.' || type === '..') {
    throw new CniConfigError(file, `${at}.type`, `${JSON.stringify(type)} is not a plugin name`);
  }
  const caps = v.capabilities;
  if (caps !== undefined) {
    if (!isObject(caps)) throw new CniConfigError(file, `${at}.capabilities`, 'must be an object');
    for (const [k, b] of Object.entries(caps)) {
      if (typeof b !== 'boolean') throw new CniConfigError(file, `${at}.capabilities.${k}`, 'must be true or false');
    }
  }
  return v as PluginConf;
}

/**
 * Parse one config file's text: a configuration list ("plugins") or a single plugin configuration
 * ("type"), the latter turned into a list of one. Validates what the runtime relies on and keeps every
 * other field. `file` names the source in errors.
 */
export function parseNetworkConfig(text: string, file: string): NetworkConfigList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CniConfigError(file, '', `invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw new CniConfigError(file, '', 'must be a JSON object');
  const name = doc.name;
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new CniConfigError(file, 'name', 'must be a name of letters, digits, "_", "." and "-" starting with a letter or digit');
  }
  const cniVersion = doc.cniVersion;
  if (typeof cniVersion !== 'string' || !isVersion(cniVersion)) {
    throw new CniConfigError(file, 'cniVersion', 'must be a version string such as "1.0.0"');
  }
  let cniVersions: string[] | undefined;
  if (doc.cniVersions !== undefined) {
    const list = doc.cniVersions;
    if (!Array.isArray(list)) throw new CniConfigError(file, 'cniVersions', 'must be a list of version strings');
    cniVersions = list.map((v, i) => {
      if (typeof v !== 'string' || !isVersion(v)) throw new CniConfigError(file, `cniVersions[${i}]`, 'must be a version string');
      return v;
    });
  }
  for (const key of ['disableCheck', 'disableGC'] as const) {
    if (doc[key] !== undefined && typeof doc[key] !== 'boolean') throw new CniConfigError(file, key, 'must be true or false');
  }
  let plugins: PluginConf[];
  if (doc.plugins !== undefined) {
    const list = doc.plugins;
    if (!Array.isArray(list) || list.length === 0) throw new CniConfigError(file, 'plugins', 'must be a non-empty list of plugin configurations');
    plugins = list.map((p, i) => checkPlugin(p, file, `plugins[${i}]`));
  } else if (doc.type !== undefined) {
    plugins = [checkPlugin(doc, file, '')];
  } else {
    throw new CniConfigError(file, '', 'has neither "plugins" nor "type"');
  }
  const offered = [cniVersion, ...(cniVersions ?? [])];
  if (selectVersion(offered) === null) {
    throw new CniConfigError(
      file,
      'cniVersion',
      `no version berth supports among ${offered.join(', ')} (supported: ${SUPPORTED_VERSIONS.join(', ')})`,
    );
  }
  const out: NetworkConfigList = { cniVersion, name, plugins };
  if (cniVersions) out.cniVersions = cniVersions;
  if (typeof doc.disableCheck === 'boolean') out.disableCheck = doc.disableCheck;
  if (typeof doc.disableGC === 'boolean') out.disableGC = doc.disableGC;
  return out;
}

/** Config files in `dir` (by extension; regular files only), in lexicographic order. [] when missing. */
export function listConfigFiles(dir: string): string[] {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw new CniConfigError(dir, '', `cannot read the directory: ${(err as Error).message}`);
  }
  return entries
    .filter((e) => CONFIG_EXTENSIONS.some((x) => e.name.endsWith(x)) && !e.name.startsWith('.'))
    .filter((e) => e.isFile() || (e.isSymbolicLink() && fs.statSync(path.join(dir, e.name), { throwIfNoEntry: false })?.isFile() === true))
    .map((e) => path.join(dir, e.name))
    .sort();
}

export function readNetworkConfigFile(file: string): NetworkConfigList {
  let text: string;
  try {
    const st = fs.statSync(file);
    if (st.size > MAX_CONFIG_BYTES) throw new CniConfigError(file, '', `larger than ${MAX_CONFIG_BYTES} bytes`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof CniConfigError) throw err;
    throw new CniConfigError(file, '', `cannot read: ${(err as Error).message}`);
  }
  return parseNetworkConfig(text, file);
}

/**
 * The network to use: the first config file in `confDir`, or `fallback` (the built-in default network,
 * or null for none) when the directory has no config file. A first file that is invalid is an error,
 * not skipped: the administrator meant it to be used.
 */
export function loadNetwork(confDir: string, fallback: NetworkConfigList | null): LoadedNetwork | null {
  const files = listConfigFiles(confDir);
  if (files.length > 0) return { source: files[0], config: readNetworkConfigFile(files[0]) };
  if (fallback === null) return null;
  return { source: '', config: parseNetworkConfig(JSON.stringify(fallback), '') };
}
