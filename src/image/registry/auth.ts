/**
 * Registry authentication: WWW-Authenticate parsing, credentials (caller-supplied CRI AuthConfig or a
 * docker-style config.json), and bearer token caching.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BerthError, ConfigError, isErrno } from '../../runtime/errors';

export interface Challenge {
  /** Lowercased scheme: "bearer", "basic", ... */
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parse a WWW-Authenticate header value (RFC 7235): one or more challenges, each a scheme followed by
 * comma-separated auth-params (token or quoted-string values, backslash escapes allowed).
 */
export function parseWwwAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = header.length;
  const skipWs = (): void => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(header[i]!)) i++;
    return header.slice(start, i);
  };
  let current: Challenge | undefined;
  while (i < n) {
    skipWs();
    if (header[i] === ',') {
      i++;
      continue;
    }
    const start = i;
    const t = token();
    if (t === '') {
      i++; // garbage: skip a character
      continue;
    }
    skipWs();
    if (header[i] === '=' && current) {
      i++;
      skipWs();
      let value: string;
      if (header[i] === '"') {
        i++;
        value = '';
        while (i < n && header[i] !== '"') {
          if (header[i] === '\\' && i + 1 < n) i++;
          value += header[i];
          i++;
        }
        i++; // closing quote
      } else {
        const vs = i;
        while (i < n && header[i] !== ',' && header[i] !== ' ' && header[i] !== '\t') i++;
        value = header.slice(vs, i);
      }
      current.params[t.toLowerCase()] = value;
    } else if (header[i] === '=' && !current) {
      i = start + t.length + 1; // param without scheme: ignore
    } else {
      // token68 (e.g. "Negotiate abc==") after a scheme, or a new scheme
      if (current && Object.keys(current.params).length === 0 && /^[A-Za-z0-9\-._~+/]+=*$/.test(t) && header[start - 1] === ' ') {
        current.params.token68 = t;
        continue;
      }
      current = { scheme: t.toLowerCase(), params: {} };
      out.push(current);
    }
  }
  return out;
}

/** Credentials for one registry. */
export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token, exchanged at the token endpoint (docker "identitytoken"). */
  identityToken?: string;
  /** A bearer token sent as is (CRI "registrytoken"). */
  registryToken?: string;
}

/** CRI runtime.v1.AuthConfig (field names as in the protobuf JSON mapping and in docker). */
export interface CriAuthConfig {
  username?: string;
  password?: string;
  auth?: string;
  server_address?: string;
  serverAddress?: string;
  identity_token?: string;
  identityToken?: string;
  identitytoken?: string;
  registry_token?: string;
  registryToken?: string;
  registrytoken?: string;
}

function decodeBasicAuth(auth: string, where: string): { username: string; password: string } {
  const text = Buffer.from(auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) throw new BerthError('INVALID_ARGUMENT', `${where}: "auth" is not base64("username:password")`);
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** Credentials from a CRI AuthConfig; undefined when it carries none. */
export function credentialsFromAuthConfig(a: CriAuthConfig | undefined): Credentials | undefined {
  if (!a) return undefined;
  const c: Credentials = {};
  if (a.username) c.username = a.username;
  if (a.password) c.password = a.password;
  if (a.auth && !a.username) Object.assign(c, decodeBasicAuth(a.auth, 'AuthConfig'));
  const it = a.identity_token ?? a.identityToken ?? a.identitytoken;
  if (it) c.identityToken = it;
  const rt = a.registry_token ?? a.registryToken ?? a.registrytoken;
  if (rt) c.registryToken = rt;
  return Object.keys(c).length ? c : undefined;
}

/** Normalise a config.json "auths" key or a registry name to host[:port]. */
export function normalizeAuthKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  k = k.toLowerCase();
  if (k === 'index.docker.io' || k === 'registry-1.docker.io' || k === 'registry.hub.docker.com') return 'docker.io';
  return k;
}

export function defaultDockerConfigPath(): string {
  const dir = process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker');
  return path.join(dir, 'config.json');
}

/** A docker-style config.json: { "auths": { "<registry>": { "auth": base64, ... } } }. */
export class DockerConfig {
  private readonly auths = new Map<string, Credentials>();
  readonly path: string | undefined;

  constructor(doc: unknown, file?: string) {
    this.path = file;
    const where = file ?? 'config.json';
    if (typeof doc !== 'object' || doc === null) throw new ConfigError(where, 'not a JSON object');
    const auths = (doc as { auths?: unknown }).auths;
    if (auths === undefined) return;
    if (typeof auths !== 'object' || auths === null) throw new ConfigError(`${where}: auths`, 'must be an object');
    for (const [key, v] of Object.entries(auths as Record<string, unknown>)) {
      if (typeof v !== 'object' || v === null) continue;
      const e = v as Record<string, unknown>;
      const c: Credentials = {};
      if (typeof e.auth === 'string' && e.auth !== '') Object.assign(c, decodeBasicAuth(e.auth, `${where}: auths."${key}"`));
      if (typeof e.username === 'string' && e.username !== '') c.username = e.username;
      if (typeof e.password === 'string' && e.password !== '') c.password = e.password;
      if (typeof e.identitytoken === 'string' && e.identitytoken !== '') c.identityToken = e.identitytoken;
      if (typeof e.registrytoken === 'string' && e.registrytoken !== '') c.registryToken = e.registrytoken;
      if (Object.keys(c).length) this.auths.set(normalizeAuthKey(key), c);
    }
  }

  /** Load from `file` (default $DOCKER_CONFIG/config.json or ~/.docker/config.json); empty if missing. */
  static load(file: string = defaultDockerConfigPath()): DockerConfig {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return new DockerConfig({}, file);
      throw err;
    }
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(file, `not JSON: ${(err as Error).message}`);
    }
    return new DockerConfig(doc, file);
  }

  lookup(host: string): Credentials | undefined {
    return this.auths.get(normalizeAuthKey(host));
  }
}

/**
 * Where credentials come from: called with the registry name from the reference and the host
 * actually contacted (a mirror may differ).
 */
export type CredentialSource = (registry: string, host: string) => Credentials | undefined;

/** Caller's credentials first (for any host serving `registry`), then config.json by host, then by registry. */
export function credentialChain(opts: { caller?: Credentials; dockerConfig?: DockerConfig }): CredentialSource {
  return (registry, host) => {
    if (opts.caller) return opts.caller;
    return opts.dockerConfig?.lookup(host) ?? opts.dockerConfig?.lookup(registry);
  };
}

export function basicAuthHeader(c: Credentials): string | undefined {
  if (c.username === undefined && c.password === undefined) return undefined;
  return `Basic ${Buffer.from(`${c.username ?? ''}:${c.password ?? ''}`).toString('base64')}`;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Bearer tokens keyed by realm, service and scope. */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  static key(realm: string, service: string | undefined, scope: string): string {
    return `${realm}\u0000${service ?? ''}\u0000${scope}`;
  }

  get(key: string, now = Date.now()): string | undefined {
    const t = this.tokens.get(key);
    if (!t) return undefined;
    if (t.expiresAt <= now) {
      this.tokens.delete(key);
      return undefined;
    }
    return t.token;
  }

  /** Remember a token for 90% of its lifetime (expires_in seconds, default 60). */
  set(key: string, token: string, expiresInSec = 60, now = Date.now()): void {
    const life = Math.max(1, expiresInSec) * 1000 * 0.9;
    this.tokens.set(key, { token, expiresAt: now + life });
  }

  delete(key: string): void {
    this.tokens.delete(key);
  }
}

/** Parse a token endpoint response: {"token": ...} or {"access_token": ...}, "expires_in". */
export function parseTokenResponse(body: string): { token: string; expiresIn?: number; refreshToken?: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch {
    throw new BerthError('PERMISSION_DENIED', 'token server returned a response that is not JSON');
  }
  const d = doc as Record<string, unknown>;
  const token = typeof d.token === 'string' && d.token ? d.token : typeof d.access_token === 'string' ? d.access_token : undefined;
  if (!token) throw new BerthError('PERMISSION_DENIED', 'token server response has no token');
  const out: { token: string; expiresIn?: number; refreshToken?: string } = { token };
  if (typeof d.expires_in === 'number' && d.expires_in > 0) out.expiresIn = d.expires_in;
  if (typeof d.refresh_token === 'string') out.refreshToken = d.refresh_token;
  return out;
}

export function repositoryScope(repoPath: string, actions: string[]): string {
  return `repository:${repoPath}:${actions.join(',')}`;
}
