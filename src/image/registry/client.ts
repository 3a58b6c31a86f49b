/**
 * Distribution-spec v2 registry client: manifests, blobs (with redirects, Range resume, a no-progress
 * timeout, retries with exponential backoff, an overall deadline and a concurrency limit), push, and
 * authentication (bearer token challenge flow with per-scope token caching, or basic auth).
 */
import * as fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import { BerthError } from '../../runtime/errors';
import { MANIFEST_ACCEPT, type Descriptor } from '../manifest/types';
import {
  Challenge,
  CredentialSource,
  Credentials,
  TokenCache,
  basicAuthHeader,
  parseTokenResponse,
  parseWwwAuthenticate,
  repositoryScope,
} from './auth';
import { HostCapability, RegistryHost, resolveRegistryHosts } from './hosts';
import { HttpRequest, HttpStatusError, NetworkError, drain, httpRequest, isRetriable, isTlsError, readBody } from './http';
import { Semaphore } from './semaphore';

export interface RegistryClientOptions {
  /** hosts.toml directory (docs/registry-hosts.md); undefined: defaults only. */
  hostsDir?: string;
  /** Credentials lookup (see auth.ts credentialChain). */
  credentials?: CredentialSource;
  /** Retries per request after the first attempt (network errors, 5xx, 429). Default 4. */
  retries?: number;
  /** First backoff delay (ms), doubled each retry up to maxBackoffMs. Default 250 / 8000. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** Time allowed for response headers (ms). Default 30000. */
  requestTimeoutMs?: number;
  /** A blob body that delivers no bytes for this long (ms) is aborted and resumed. Default 30000. */
  noProgressTimeoutMs?: number;
  /** Concurrent blob downloads per client. Default 3. */
  maxConcurrentDownloads?: number;
}

/** Per-operation limits. */
export interface OperationOptions {
  /** Absolute time (Date.now() ms) after which the operation fails with TIMEOUT. */
  deadline?: number;
  signal?: AbortSignal;
}

export interface RepositoryName {
  /** Registry name from the reference (e.g. "docker.io"). */
  domain: string;
  /** Repository path (e.g. "library/busybox"). */
  path: string;
}

export interface FetchedManifest {
  bytes: Buffer;
  mediaType: string;
  digest: string;
  /** The host that served it. */
  host: string;
}

/** Where blob bytes go: `offset` is how many bytes the sink already holds. */
export interface BlobSink {
  readonly offset: number;
  write(chunk: Buffer): Promise<void>;
}

/** Counters, for tests and progress. */
export interface ClientStats {
  requests: number;
  retries: number;
  resumes: number;
  tokenFetches: number;
}

interface HostState extends RegistryHost {
  authScheme?: 'bearer' | 'basic';
  realm?: string;
  service?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort); // never leave one behind per retry
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class RegistryClient {
  readonly options: Required<Omit<RegistryClientOptions, 'hostsDir' | 'credentials'>> & Pick<RegistryClientOptions, 'hostsDir' | 'credentials'>;
  readonly tokens = new TokenCache();
  readonly stats: ClientStats = { requests: 0, retries: 0, resumes: 0, tokenFetches: 0 };
  private readonly downloads: Semaphore;
  private readonly hostCache = new Map<string, HostState[]>();

  constructor(opts: RegistryClientOptions = {}) {
    this.options = {
      retries: opts.retries ?? 4,
      backoffMs: opts.backoffMs ?? 250,
      maxBackoffMs: opts.maxBackoffMs ?? 8000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30000,
      noProgressTimeoutMs: opts.noProgressTimeoutMs ?? 30000,
      maxConcurrentDownloads: opts.maxConcurrentDownloads ?? 3,
      hostsDir: opts.hostsDir,
      credentials: opts.credentials,
    };
    this.downloads = new Semaphore(this.options.maxConcurrentDownloads);
  }

  /** Hosts for a registry with a capability, in the order they are tried. */
  hosts(domain: string, capability: HostCapability): HostState[] {
    let all = this.hostCache.get(domain);
    if (!all) {
      all = resolveRegistryHosts(domain, { configDir: this.options.hostsDir }).map((h) => ({ ...h }));
      this.hostCache.set(domain, all);
    }
    const hs = all.filter((h) => h.capabilities.includes(capability));
    if (!hs.length) throw new BerthError('FAILED_PRECONDITION', `no host configured with capability "${capability}" for registry ${domain}`);
    return hs;
  }

  private creds(repo: RepositoryName, host: HostState): Credentials | undefined {
    return this.options.credentials?.(repo.domain, host.host);
  }

  private tls(host: HostState): HttpRequest['tls'] {
    const t: NonNullable<HttpRequest['tls']> = {};
    if (host.ca.length) t.ca = host.ca;
    if (host.skipVerify) t.rejectUnauthorized = false;
    const c = host.client[0];
    if (c) {
      t.cert = c.cert;
      if (c.key) t.key = c.key;
    }
    return t;
  }

  private checkDeadline(op: OperationOptions, what: string): void {
    if (op.signal?.aborted) throw new BerthError('TIMEOUT', `${what}: aborted`, { cause: op.signal.reason });
    if (op.deadline !== undefined && Date.now() > op.deadline) throw new BerthError('TIMEOUT', `${what}: deadline exceeded`);
  }

  /** Run `fn` with retries on retriable errors, exponential backoff, honouring the deadline. */
  async retrying<T>(what: string, op: OperationOptions, fn: (attempt: number) => Promise<T>, progressed?: () => boolean): Promise<T> {
    let attempt = 0;
    for (;;) {
      this.checkDeadline(op, what);
      try {
        return await fn(attempt);
      } catch (err) {
        if (!isRetriable(err)) throw err;
        if (progressed?.()) attempt = 0; // bytes arrived: a fresh budget
        if (attempt >= this.options.retries) throw err;
        const delay = Math.min(this.options.maxBackoffMs, this.options.backoffMs * 2 ** attempt) * (0.8 + Math.random() * 0.4);
        if (op.deadline !== undefined && Date.now() + delay > op.deadline) {
          throw new BerthError('TIMEOUT', `${what}: deadline exceeded (last error: ${(err as Error).message})`, { cause: err });
        }
        attempt++;
        this.stats.retries++;
        await sleep(delay, op.signal);
      }
    }
  }

  private authorization(host: HostState, repo: RepositoryName, actions: string[]): string | undefined {
    const c = this.creds(repo, host);
    if (c?.registryToken) return `Bearer ${c.registryToken}`;
    if (host.authScheme === 'bearer' && host.realm) {
      const t = this.tokens.get(TokenCache.key(host.realm, host.service, repositoryScope(repo.path, actions)));
      return t ? `Bearer ${t}` : undefined;
    }
    if (host.authScheme === 'basic' && c) return basicAuthHeader(c);
    return undefined;
  }

  /** React to a 401: learn the scheme and obtain a token. Returns the header to retry with. */
  private async authenticate(host: HostState, repo: RepositoryName, actions: string[], challenges: Challenge[], op: OperationOptions): Promise<string | undefined> {
    const c = this.creds(repo, host);
    const bearer = challenges.find((x) => x.scheme === 'bearer');
    if (bearer && bearer.params.realm) {
      host.authScheme = 'bearer';
      host.realm = bearer.params.realm;
      host.service = bearer.params.service;
      if (c?.registryToken) return `Bearer ${c.registryToken}`;
      const scope = repositoryScope(repo.path, actions);
      const scopes = [scope];
      if (bearer.params.scope && bearer.params.scope !== scope) scopes.push(...bearer.params.scope.split(' ').filter((s) => s && s !== scope));
      const token = await this.fetchToken(host, bearer.params.realm, bearer.params.service, scopes, c, op);
      this.tokens.set(TokenCache.key(host.realm, host.service, scope), token.token, token.expiresIn);
      return `Bearer ${token.token}`;
    }
    if (challenges.some((x) => x.scheme === 'basic')) {
      host.authScheme = 'basic';
      return c ? basicAuthHeader(c) : undefined;
    }
    return undefined;
  }

  private async fetchToken(
    host: HostState,
    realm: string,
    service: string | undefined,
    scopes: string[],
    c: Credentials | undefined,
    op: OperationOptions,
  ): Promise<{ token: string; expiresIn?: number }> {
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new BerthError('PERMISSION_DENIED', `registry ${host.host} sent an invalid token realm ${JSON.stringify(realm)}`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new BerthError('PERMISSION_DENIED', `token realm ${realm} is not http(s)`);
    const sameHost = url.host === host.host;
    return this.retrying(`token from ${realm}`, op, async () => {
      this.stats.tokenFetches++;
      this.stats.requests++;
      let req: HttpRequest;
      if (c?.identityToken) {
        const form = new URLSearchParams();
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', c.identityToken);
        form.set('client_id', 'berth');
        if (service) form.set('service', service);
        form.set('scope', scopes.join(' '));
        req = { method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: Buffer.from(form.toString()) };
      } else {
        const u = new URL(url.href);
        if (service) u.searchParams.set('service', service);
        for (const s of scopes) u.searchParams.append('scope', s);
        const headers: Record<string, string> = {};
        const basic = c ? basicAuthHeader(c) : undefined;
        if (basic) {
          headers.authorization = basic;
          if (c?.username) u.searchParams.set('account', c.username);
        }
        req = { method: 'GET', url: u, headers };
      }
      req.timeoutMs = this.options.requestTimeoutMs;
      if (sameHost) req.tls = this.tls(host);
      if (op.signal) req.signal = op.signal;
      const res = await httpRequest(req);
      const body = (await readBody(res, 1 << 20)).toString('utf8');
      const status = res.statusCode ?? 0;
      if (status === 401 || status === 403) {
        throw new HttpStatusError(status, `token server ${url.host} refused the credentials for ${scopes.join(' ')} (HTTP ${status})`, body);
      }
      if (status !== 200) throw new HttpStatusError(status, `token server ${url.host}: HTTP ${status}`, body);
      return parseTokenResponse(body);
    });
  }

  private makeUrl(host: HostState, target: string | URL): URL {
    if (target instanceof URL) return target;
    return new URL(`${host.scheme}://${host.host}${host.path}${target}`);
  }

  /**
   * One request with authentication and redirects (no retries). `target` is a path under the API
   * prefix ("/library/busybox/manifests/latest") or an absolute URL (upload locations).
   */
  async send(
    host: HostState,
    repo: RepositoryName,
    req: { method: string; target: string | URL; headers?: Record<string, string>; body?: HttpRequest['body']; actions: string[] },
    op: OperationOptions,
  ): Promise<IncomingMessage> {
    const doRequest = async (url: URL, authz: string | undefined): Promise<IncomingMessage> => {
      // Credentials and configured headers go only to the configured host (an upload Location may
      // name another one).
      const own = url.host === host.host;
      const headers: Record<string, string> = { ...(own ? host.headers : {}), ...(req.headers ?? {}) };
      if (authz && own) headers.authorization = authz;
      const r: HttpRequest = { method: req.method, url, headers, timeoutMs: this.options.requestTimeoutMs };
      if (own) r.tls = this.tls(host);
      if (req.body !== undefined) r.body = req.body;
      if (op.signal) r.signal = op.signal;
      this.stats.requests++;
      try {
        return await httpRequest(r);
      } catch (err) {
        if (host.httpFallback && host.scheme === 'https' && isTlsError(err) && url.host === host.host) {
          host.scheme = 'http';
          const u = new URL(url.href);
          u.protocol = 'http:';
          this.stats.requests++;
          return httpRequest({ ...r, url: u });
        }
        throw err;
      }
    };
    let url = this.makeUrl(host, req.target);
    let res = await doRequest(url, this.authorization(host, repo, req.actions));
    url = this.makeUrl(host, req.target); // the scheme may have fallen back to http
    if (res.statusCode === 401) {
      const header = res.headers['www-authenticate'];
      drain(res);
      const challenges = parseWwwAuthenticate(Array.isArray(header) ? header.join(', ') : header ?? '');
      const authz = await this.authenticate(host, repo, req.actions, challenges, op);
      if (!authz) {
        throw new HttpStatusError(401, `${host.host} requires authentication for ${repo.path} and no credentials are configured`);
      }
      url = this.makeUrl(host, req.target);
      res = await doRequest(url, authz);
      if (res.statusCode === 401 || res.statusCode === 403) {
        const body = (await readBody(res, 65536).catch(() => Buffer.alloc(0))).toString('utf8');
        throw new HttpStatusError(res.statusCode, `${host.host}: access to ${repo.path} denied (HTTP ${res.statusCode}) ${body.slice(0, 200).trim()}`, body);
      }
    }
    // Follow redirects for GET/HEAD; to another origin, without our Authorization and host headers.
    let hops = 0;
    const origin = `${url.protocol}//${url.host}`;
    const authz0 = this.authorization(host, repo, req.actions);
    while ((req.method === 'GET' || req.method === 'HEAD') && REDIRECTS.has(res.statusCode ?? 0)) {
      const loc = res.headers.location;
      drain(res);
      if (!loc) throw new HttpStatusError(res.statusCode ?? 0, `${url.href}: redirect without Location`);
      if (++hops > 10) throw new HttpStatusError(res.statusCode ?? 0, `${url.href}: too many redirects`);
      url = new URL(loc, url);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BerthError('INVALID_ARGUMENT', `redirect to unsupported URL ${url.href}`);
      const same = `${url.protocol}//${url.host}` === origin;
      const headers: Record<string, string> = same ? { ...host.headers, ...(req.headers ?? {}) } : { ...(req.headers ?? {}) };
      if (same && authz0) headers.authorization = authz0;
      const r: HttpRequest = { method: req.method, url, headers, timeoutMs: this.options.requestTimeoutMs };
      if (same) r.tls = this.tls(host);
      if (op.signal) r.signal = op.signal;
      this.stats.requests++;
      res = await httpRequest(r);
    }
    return res;
  }

  /** Try each host in order; 404 (and exhausted retries) moves on to the next host. */
  private async overHosts<T>(repo: RepositoryName, capability: HostCapability, what: string, fn: (h: HostState) => Promise<T>): Promise<T> {
    const hosts = this.hosts(repo.domain, capability);
    let last: unknown;
    for (const h of hosts) {
      try {
        return await fn(h);
      } catch (err) {
        last = err;
        const moveOn = (err instanceof HttpStatusError && err.status === 404) || isRetriable(err) || err instanceof NetworkError;
        if (!moveOn) throw err;
      }
    }
    if (last instanceof HttpStatusError && last.status === 404) {
      throw new BerthError('NOT_FOUND', `${what}: not found (tried ${hosts.map((h) => `${h.scheme}://${h.host}`).join(', ')})`);
    }
    throw last;
  }

  /** GET /v2/ on each host: checks reachability and authentication. */
  async ping(domain: string, op: OperationOptions = {}): Promise<string> {
    const repo = { domain, path: '' };
    return this.overHosts(repo, 'pull', `ping ${domain}`, (h) =>
      this.retrying(`ping ${h.host}`, op, async () => {
        const res = await this.send(h, repo, { method: 'GET', target: '/', actions: [] }, op);
        drain(res);
        if (res.statusCode !== 200 && res.statusCode !== 401) throw new HttpStatusError(res.statusCode ?? 0, `${h.host}/v2/: HTTP ${res.statusCode}`);
        return h.host;
      }),
    );
  }

  /** HEAD a manifest: its descriptor (digest, media type, size) without the body. */
  async resolve(repo: RepositoryName, reference: string, op: OperationOptions = {}): Promise<Descriptor> {
    const cap: HostCapability = reference.includes(':') ? 'pull' : 'resolve';
    return this.overHosts(repo, cap, `manifest ${repo.domain}/${repo.path}:${reference}`, (h) =>
      this.retrying(`HEAD manifest ${reference}`, op, async () => {
        const res = await this.send(h, repo, { method: 'HEAD', target: `/${repo.path}/manifests/${reference}`, headers: { accept: MANIFEST_ACCEPT.join(', ') }, actions: ['pull'] }, op);
        drain(res);
        if (res.statusCode !== 200) throw new HttpStatusError(res.statusCode ?? 0, `HEAD ${repo.path}/manifests/${reference}: HTTP ${res.statusCode}`);
        const digest = res.headers['docker-content-digest'];
        const mediaType = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
        const size = Number(res.headers['content-length']);
        if (typeof digest !== 'string' || !Number.isSafeInteger(size)) {
          const m = await this.fetchManifest(repo, reference, op);
          return { mediaType: m.mediaType, digest: m.digest, size: m.bytes.length };
        }
        return { mediaType, digest, size };
      }),
    );
  }

  /**
   * GET a manifest by tag or digest; the digest is computed from the bytes and checked against the
   * requested digest (or the registry's Docker-Content-Digest header for a tag).
   */
  async fetchManifest(repo: RepositoryName, reference: string, op: OperationOptions = {}, maxSize = 4 * 1024 * 1024): Promise<FetchedManifest> {
    const byDigest = reference.includes(':');
    return this.overHosts(repo, byDigest ? 'pull' : 'resolve', `manifest ${repo.domain}/${repo.path}${byDigest ? '@' : ':'}${reference}`, (h) =>
      this.retrying(`GET manifest ${reference}`, op, async () => {
        const res = await this.send(h, repo, { method: 'GET', target: `/${repo.path}/manifests/${reference}`, headers: { accept: MANIFEST_ACCEPT.join(', ') }, actions: ['pull'] }, op);
        if (res.statusCode !== 200) {
          const body = (await readBody(res, 65536).catch(() => Buffer.alloc(0))).toString('utf8');
          throw new HttpStatusError(res.statusCode ?? 0, `GET ${repo.path}/manifests/${reference}: HTTP ${res.statusCode} ${body.slice(0, 200).trim()}`, body);
        }
        const bytes = await readBody(res, maxSize);
        const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
        if (byDigest && digest !== reference) {
          throw new BerthError('INVALID_ARGUMENT', `manifest from ${h.host} does not match its digest: asked ${reference}, got ${digest}`);
        }
        const header = res.headers['docker-content-digest'];
        if (!byDigest && typeof header === 'string' && header.startsWith('sha256:') && header !== digest) {
          throw new BerthError('INVALID_ARGUMENT', `manifest from ${h.host}: Docker-Content-Digest ${header} does not match the content (${digest})`);
        }
        const mediaType = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
        return { bytes, mediaType, digest, host: h.host };
      }),
    );
  }

  /**
   * Download a blob into `sink`, starting at sink.offset (Range), resuming after broken connections,
   * and aborting a body that stalls for noProgressTimeoutMs. Waits for a download slot first.
   * Digest verification is the sink's job (the content store ingest does it at commit).
   */
  async fetchBlob(repo: RepositoryName, desc: Descriptor, sink: BlobSink, op: OperationOptions = {}): Promise<void> {
    const release = await this.downloads.acquire();
    try {
      await this.overHosts(repo, 'pull', `blob ${desc.digest}`, (h) => this.fetchBlobFrom(h, repo, desc, sink, op));
    } finally {
      release();
    }
  }

  private async fetchBlobFrom(h: HostState, repo: RepositoryName, desc: Descriptor, sink: BlobSink, op: OperationOptions): Promise<void> {
    let lastOffset = sink.offset;
    const progressed = (): boolean => {
      const p = sink.offset > lastOffset;
      lastOffset = sink.offset;
      return p;
    };
    await this.retrying(`GET blob ${desc.digest}`, op, async (attempt) => {
      if (sink.offset >= desc.size) return;
      const start = sink.offset;
      if (attempt > 0 && start > 0) this.stats.resumes++;
      const headers: Record<string, string> = {};
      if (start > 0) headers.range = `bytes=${start}-`;
      const res = await this.send(h, repo, { method: 'GET', target: `/${repo.path}/blobs/${desc.digest}`, headers, actions: ['pull'] }, op);
      let skip = 0;
      if (res.statusCode === 206) {
        const cr = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        if (!cr || Number(cr[1]) !== start) {
          drain(res);
          throw new NetworkError(`blob ${desc.digest}: server answered a range request from ${start} with ${res.headers['content-range']}`, 'EBADRANGE');
        }
      } else if (res.statusCode === 200) {
        skip = start; // range ignored: discard what we already have
      } else {
        const body = (await readBody(res, 65536).catch(() => Buffer.alloc(0))).toString('utf8');
        throw new HttpStatusError(res.statusCode ?? 0, `GET ${repo.path}/blobs/${desc.digest}: HTTP ${res.statusCode} ${body.slice(0, 200).trim()}`, body);
      }
      await this.pumpBody(res, desc, sink, skip, op);
      if (sink.offset < desc.size) {
        throw new NetworkError(`blob ${desc.digest}: connection closed after ${sink.offset} of ${desc.size} bytes`, 'ECONNRESET');
      }
    }, progressed);
  }

  private async pumpBody(res: IncomingMessage, desc: Descriptor, sink: BlobSink, skip: number, op: OperationOptions): Promise<void> {
    const stall = this.options.noProgressTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const arm = (): void => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => {
        res.destroy(new NetworkError(`blob ${desc.digest}: no data for ${stall} ms`, 'TIMEOUT'));
      }, stall);
    };
    let deadlineTimer: NodeJS.Timeout | undefined;
    if (op.deadline !== undefined) {
      deadlineTimer = setTimeout(() => res.destroy(new BerthError('TIMEOUT', `blob ${desc.digest}: deadline exceeded`)), Math.max(0, op.deadline - Date.now()));
    }
    const onAbort = (): void => {
      res.destroy(new BerthError('TIMEOUT', `blob ${desc.digest}: aborted`));
    };
    op.signal?.addEventListener('abort', onAbort, { once: true });
    arm();
    try {
      for await (const c of res as AsyncIterable<Buffer>) {
        arm();
        let chunk = c;
        if (skip > 0) {
          if (chunk.length <= skip) {
            skip -= chunk.length;
            continue;
          }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        // The no-progress timeout measures the server: time spent in our own sink (a slow disk, an
        // unpacker waiting for a parent layer) does not count.
        if (timer) clearTimeout(timer);
        timer = undefined;
        await sink.write(chunk);
        arm();
      }
    } catch (err) {
      // The caller's abort is final; anything else that broke the body (a reset connection:
      // "aborted"/ECONNRESET, a premature close, a stall) is a network error, retried and resumed
      // with Range by fetchBlobFrom.
      if (op.signal?.aborted) throw new BerthError('TIMEOUT', `blob ${desc.digest}: aborted`, { cause: op.signal.reason });
      if (err instanceof NetworkError || err instanceof BerthError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new NetworkError(`blob ${desc.digest}: ${e.message}`, e.code ?? 'ECONNRESET', err);
    } finally {
      if (timer) clearTimeout(timer);
      if (deadlineTimer) clearTimeout(deadlineTimer);
      op.signal?.removeEventListener('abort', onAbort);
    }
  }

  // ------------------------------------------------------------------------------------------ push

  /** HEAD a blob: does the repository have it? */
  async blobExists(repo: RepositoryName, digest: string, op: OperationOptions = {}): Promise<boolean> {
    const h = this.hosts(repo.domain, 'push')[0]!;
    return this.retrying(`HEAD blob ${digest}`, op, async () => {
      const res = await this.send(h, repo, { method: 'HEAD', target: `/${repo.path}/blobs/${digest}`, actions: ['pull', 'push'] }, op);
      drain(res);
      if (res.statusCode === 200) return true;
      if (res.statusCode === 404) return false;
      throw new HttpStatusError(res.statusCode ?? 0, `HEAD ${repo.path}/blobs/${digest}: HTTP ${res.statusCode}`);
    });
  }

  /**
   * Upload a blob (Buffer or file path). Monolithic POST + PUT, or chunked PATCHes when `chunkSize`
   * is set; with `mountFrom` a cross-repository mount is tried first. Returns what happened.
   */
  async pushBlob(
    repo: RepositoryName,
    desc: { digest: string; size: number },
    source: Buffer | string,
    opts: { chunkSize?: number; mountFrom?: string } & OperationOptions = {},
  ): Promise<'exists' | 'mounted' | 'uploaded'> {
    if (await this.blobExists(repo, desc.digest, opts)) return 'exists';
    const h = this.hosts(repo.domain, 'push')[0]!;
    const actions = ['pull', 'push'];
    const uploadFail = async (res: IncomingMessage, what: string): Promise<never> => {
      const body = (await readBody(res, 65536).catch(() => Buffer.alloc(0))).toString('utf8');
      throw new HttpStatusError(res.statusCode ?? 0, `${what} ${repo.path} blob ${desc.digest}: HTTP ${res.statusCode} ${body.slice(0, 300).trim()}`, body);
    };
    const location = (res: IncomingMessage, base: URL): URL => {
      const loc = res.headers.location;
      if (!loc) throw new HttpStatusError(res.statusCode ?? 0, `${repo.path}: upload response without Location`);
      return new URL(loc, base);
    };
    return this.retrying(`push blob ${desc.digest}`, opts, async () => {
      const base = new URL(`${h.scheme}://${h.host}${h.path}/${repo.path}/blobs/uploads/`);
      let start = new URL(base.href);
      if (opts.mountFrom) {
        start.searchParams.set('mount', desc.digest);
        start.searchParams.set('from', opts.mountFrom);
      }
      let res = await this.send(h, repo, { method: 'POST', target: start, headers: { 'content-length': '0' }, body: Buffer.alloc(0), actions }, opts);
      if (opts.mountFrom && res.statusCode === 201) {
        drain(res);
        return 'mounted';
      }
      if (res.statusCode !== 202) return uploadFail(res, 'POST upload');
      drain(res);
      let loc = location(res, start);
      if (opts.chunkSize && opts.chunkSize > 0) {
        let offset = 0;
        const fh = typeof source === 'string' ? await fs.promises.open(source, 'r') : undefined;
        try {
          while (offset < desc.size) {
            const n = Math.min(opts.chunkSize, desc.size - offset);
            let chunk: Buffer;
            if (fh) {
              chunk = Buffer.alloc(n);
              await fh.read(chunk, 0, n, offset);
            } else {
              chunk = (source as Buffer).subarray(offset, offset + n);
            }
            res = await this.send(h, repo, {
              method: 'PATCH',
              target: loc,
              headers: { 'content-type': 'application/octet-stream', 'content-range': `${offset}-${offset + n - 1}` },
              body: chunk,
              actions,
            }, opts);
            if (res.statusCode !== 202) return uploadFail(res, 'PATCH upload');
            drain(res);
            loc = location(res, loc);
            offset += n;
          }
        } finally {
          await fh?.close();
        }
        loc.searchParams.set('digest', desc.digest);
        res = await this.send(h, repo, { method: 'PUT', target: loc, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(0), actions }, opts);
      } else {
        loc.searchParams.set('digest', desc.digest);
        const body: HttpRequest['body'] = typeof source === 'string' ? () => fs.createReadStream(source) : source;
        res = await this.send(h, repo, {
          method: 'PUT',
          target: loc,
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(desc.size) },
          body,
          actions,
        }, opts);
      }
      if (res.statusCode !== 201) return uploadFail(res, 'PUT upload');
      drain(res);
      return 'uploaded';
    });
  }

  /** PUT a manifest under a tag or digest; returns the digest the registry reports (or computes). */
  async pushManifest(repo: RepositoryName, reference: string, bytes: Buffer, mediaType: string, op: OperationOptions = {}): Promise<string> {
    const h = this.hosts(repo.domain, 'push')[0]!;
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    return this.retrying(`push manifest ${reference}`, op, async () => {
      const res = await this.send(h, repo, { method: 'PUT', target: `/${repo.path}/manifests/${reference}`, headers: { 'content-type': mediaType }, body: bytes, actions: ['pull', 'push'] }, op);
      if (res.statusCode !== 201 && res.statusCode !== 200) {
        const body = (await readBody(res, 65536).catch(() => Buffer.alloc(0))).toString('utf8');
        throw new HttpStatusError(res.statusCode ?? 0, `PUT ${repo.path}/manifests/${reference}: HTTP ${res.statusCode} ${body.slice(0, 300).trim()}`, body);
      }
      drain(res);
      const got = res.headers['docker-content-digest'];
      if (typeof got === 'string' && got !== digest) {
        throw new BerthError('INTERNAL', `registry stored manifest ${reference} as ${got}, expected ${digest}`);
      }
      return digest;
    });
  }
}
