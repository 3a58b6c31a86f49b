/**
 * Registry hosts configuration, in containerd's hosts.toml directory model (docs/registry-hosts.md):
 *
 *   <configDir>/<registry>/hosts.toml     e.g. /etc/berth/certs.d/docker.io/hosts.toml
 *   <configDir>/_default/hosts.toml       for registries without their own directory
 *
 *   server = "https://registry-1.docker.io"     # the upstream; tried after every [host] entry
 *   capabilities = ["pull", "resolve", "push"]   # of the server (default: all three)
 *   skip_verify = false
 *   ca = "ca.pem"                                # or a list; relative paths are relative to this dir
 *   client = [["client.pem", "client.key"]]      # TLS client certificates
 *   override_path = false
 *   [header]
 *     x-custom = "value"
 *
 *   [host."http://127.0.0.1:5000"]              # mirrors, tried in file order before the server
 *     capabilities = ["pull", "resolve"]
 *     skip_verify = true
 *     override_path = false
 *
 * Fallback to the real registry happens only because `server` defaults to it: setting `server` to the
 * mirror (or to any other URL) means the upstream host is never contacted.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfigError, isErrno } from '../../runtime/errors';

export type HostCapability = 'pull' | 'resolve' | 'push';
const ALL_CAPS: HostCapability[] = ['pull', 'resolve', 'push'];

export interface RegistryHost {
  scheme: 'http' | 'https';
  /** host[:port] to connect to */
  host: string;
  /** API prefix, normally "/v2" */
  path: string;
  capabilities: HostCapability[];
  skipVerify: boolean;
  /** PEM CA certificates to trust (in addition to the system store) */
  ca: Buffer[];
  /** TLS client certificate/key pairs (PEM) */
  client: Array<{ cert: Buffer; key?: Buffer }>;
  headers: Record<string, string>;
  /** Plain-HTTP retry when TLS fails; set for loopback registries without configuration. */
  httpFallback: boolean;
  /** True for [host] entries, false for the server. */
  mirror: boolean;
}

export interface HostsOptions {
  /** Directory holding <registry>/hosts.toml; undefined: no configuration (defaults only). */
  configDir?: string;
}

/** The host a registry name is served from by default (docker.io -> registry-1.docker.io). */
export function defaultServerHost(registry: string): string {
  return registry === 'docker.io' ? 'registry-1.docker.io' : registry;
}

function isLoopback(hostport: string): boolean {
  let h = hostport;
  if (h.startsWith('[')) h = h.slice(1, h.indexOf(']'));
  else if (h.includes(':')) h = h.slice(0, h.lastIndexOf(':'));
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** The default host list for a registry with no configuration. */
export function defaultHosts(registry: string): RegistryHost[] {
  const host = defaultServerHost(registry);
  return [
    {
      scheme: 'https',
      host,
      path: '/v2',
      capabilities: [...ALL_CAPS],
      skipVerify: false,
      ca: [],
      client: [],
      headers: {},
      httpFallback: isLoopback(host),
      mirror: false,
    },
  ];
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

interface Section {
  capabilities?: HostCapability[];
  skipVerify?: boolean;
  ca: Buffer[];
  client: Array<{ cert: Buffer; key?: Buffer }>;
  overridePath: boolean;
  headers: Record<string, string>;
}

const SECTION_KEYS = new Set(['capabilities', 'skip_verify', 'ca', 'client', 'override_path', 'header']);

function readFileRel(dir: string, p: string, jsonPath: string): Buffer {
  const full = path.isAbsolute(p) ? p : path.join(dir, p);
  try {
    return fs.readFileSync(full);
  } catch (err) {
    throw new ConfigError(jsonPath, `cannot read ${full}: ${(err as Error).message}`);
  }
}

function parseSection(t: Record<string, unknown>, where: string, dir: string, allowed: Set<string>): Section {
  for (const k of Object.keys(t)) {
    if (!allowed.has(k) && !SECTION_KEYS.has(k)) throw new ConfigError(`${where}${k}`, 'unknown key');
  }
  const s: Section = { ca: [], client: [], overridePath: false, headers: {} };
  if (t.capabilities !== undefined) {
    if (!Array.isArray(t.capabilities)) throw new ConfigError(`${where}capabilities`, 'must be an array of strings');
    s.capabilities = t.capabilities.map((c, i) => {
      if (c !== 'pull' && c !== 'resolve' && c !== 'push') {
        throw new ConfigError(`${where}capabilities[${i}]`, `must be "pull", "resolve" or "push" (got ${JSON.stringify(c)})`);
      }
      return c;
    });
  }
  if (t.skip_verify !== undefined) {
    if (typeof t.skip_verify !== 'boolean') throw new ConfigError(`${where}skip_verify`, 'must be a boolean');
    s.skipVerify = t.skip_verify;
  }
  if (t.override_path !== undefined) {
    if (typeof t.override_path !== 'boolean') throw new ConfigError(`${where}override_path`, 'must be a boolean');
    s.overridePath = t.override_path;
  }
  if (t.ca !== undefined) {
    const list = typeof t.ca === 'string' ? [t.ca] : t.ca;
    if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new ConfigError(`${where}ca`, 'must be a string or an array of strings');
    s.ca = (list as string[]).map((p) => readFileRel(dir, p, `${where}ca`));
  }
  if (t.client !== undefined) {
    const raw = typeof t.client === 'string' ? [t.client] : t.client;
    if (!Array.isArray(raw)) throw new ConfigError(`${where}client`, 'must be a string or an array');
    s.client = raw.map((c, i) => {
      if (typeof c === 'string') return { cert: readFileRel(dir, c, `${where}client[${i}]`) };
      if (Array.isArray(c) && c.length === 2 && typeof c[0] === 'string' && typeof c[1] === 'string') {
        return { cert: readFileRel(dir, c[0], `${where}client[${i}]`), key: readFileRel(dir, c[1], `${where}client[${i}]`) };
      }
      throw new ConfigError(`${where}client[${i}]`, 'must be "cert.pem" or ["cert.pem", "key.pem"]');
    });
  }
  if (t.header !== undefined) {
    if (!isTable(t.header)) throw new ConfigError(`${where}header`, 'must be a table');
    for (const [k, v] of Object.entries(t.header)) {
      if (typeof v === 'string') s.headers[k] = v;
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) s.headers[k] = v.join(', ');
      else throw new ConfigError(`${where}header.${k}`, 'must be a string or an array of strings');
    }
  }
  return s;
}

function parseHostUrl(raw: string, where: string): { scheme: 'http' | 'https'; host: string; path: string } {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `https://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new ConfigError(where, `invalid URL ${JSON.stringify(raw)}`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(where, `scheme must be http or https (got ${u.protocol})`);
  if (u.search || u.hash || u.username || u.password) throw new ConfigError(where, 'URL must not have credentials, a query or a fragment');
  return { scheme: u.protocol === 'http:' ? 'http' : 'https', host: u.host, path: u.pathname.replace(/\/+$/, '') };
}

function apiPath(urlPath: string, overridePath: boolean): string {
  if (overridePath) return urlPath;
  return urlPath.endsWith('/v2') ? urlPath : `${urlPath}/v2`;
}

function toHost(url: { scheme: 'http' | 'https'; host: string; path: string }, s: Section, mirror: boolean): RegistryHost {
  return {
    scheme: url.scheme,
    host: url.host,
    path: apiPath(url.path, s.overridePath),
    capabilities: s.capabilities ?? [...ALL_CAPS],
    skipVerify: s.skipVerify ?? false,
    ca: s.ca,
    client: s.client,
    headers: s.headers,
    httpFallback: false,
    mirror,
  };
}

/**
 * Parse one hosts.toml for `registry`. `dir` resolves relative certificate paths. The result lists
 * [host] entries in file order, then the server.
 */
export function parseHostsToml(text: string, registry: string, dir: string, file = 'hosts.toml'): RegistryHost[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(file, `TOML: ${(err as Error).message}`);
  }
  const top = parseSection(
    Object.fromEntries(Object.entries(doc).filter(([k]) => k !== 'host' && k !== 'server')),
    '',
    dir,
    new Set(),
  );
  const out: RegistryHost[] = [];
  if (doc.host !== undefined) {
    if (!isTable(doc.host)) throw new ConfigError('host', 'must be a table of [host."URL"] tables');
    for (const [url, t] of Object.entries(doc.host)) {
      if (!isTable(t)) throw new ConfigError(`host."${url}"`, 'must be a table');
      const where = `host."${url}".`;
      out.push(toHost(parseHostUrl(url, `host."${url}"`), parseSection(t, where, dir, new Set()), true));
    }
  }
  let serverUrl: { scheme: 'http' | 'https'; host: string; path: string };
  if (doc.server !== undefined) {
    if (typeof doc.server !== 'string') throw new ConfigError('server', 'must be a string URL');
    serverUrl = parseHostUrl(doc.server, 'server');
  } else {
    serverUrl = { scheme: 'https', host: defaultServerHost(registry), path: '' };
  }
  const server = toHost(serverUrl, top, false);
  if (doc.server === undefined && isLoopback(server.host)) server.httpFallback = true;
  out.push(server);
  return out;
}

/** The directory consulted for a registry, or undefined. */
export function hostsDir(configDir: string, registry: string): string | undefined {
  const candidates = [registry];
  if (registry === 'docker.io') candidates.push('registry-1.docker.io', 'index.docker.io');
  for (const c of [...candidates, '_default']) {
    const d = path.join(configDir, c);
    if (fs.existsSync(path.join(d, 'hosts.toml'))) return d;
  }
  return undefined;
}

/**
 * Hosts to try for `registry` (a reference's domain), in order. `capability` filters them
 * ("resolve" for tag -> digest, "pull" for blobs and manifests by digest, "push").
 */
export function resolveRegistryHosts(registry: string, opts: HostsOptions = {}, capability?: HostCapability): RegistryHost[] {
  let hosts: RegistryHost[] | undefined;
  if (opts.configDir) {
    const dir = hostsDir(opts.configDir, registry);
    if (dir) {
      const file = path.join(dir, 'hosts.toml');
      let text: string | undefined;
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
      if (text !== undefined) {
        try {
          hosts = parseHostsToml(text, registry, dir, file);
        } catch (err) {
          if (err instanceof ConfigError) throw new ConfigError(`${file}: ${err.path}`, err.message.slice(err.path.length + 2));
          throw err;
        }
      }
    }
  }
  hosts ??= defaultHosts(registry);
  return capability ? hosts.filter((h) => h.capabilities.includes(capability)) : hosts;
}
