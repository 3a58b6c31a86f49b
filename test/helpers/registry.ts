/**
 * Test fixtures for registry work:
 * - startRegistry: Debian's docker-registry (distribution 2.8) on 127.0.0.1:<free port>, storage in a
 *   temp dir, optionally with htpasswd basic auth or token auth; stop() kills it by pid and removes
 *   the directory.
 * - startTokenServer: an in-process bearer token server (JWT RS256 with an x5c certificate chain, as
 *   distribution's token auth expects); generate its key pair with makeCertPair (openssl).
 * - startProxy: an in-process loopback HTTP proxy in front of a registry that records every request
 *   and can inject faults (status codes, connections cut after N bytes, throttling, redirects).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSign, randomBytes, X509Certificate } from 'node:crypto';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export const DOCKER_REGISTRY = '/usr/bin/docker-registry';

export function haveDockerRegistry(): boolean {
  return fs.existsSync(DOCKER_REGISTRY);
}

/** htpasswd (apache2-utils) makes the bcrypt entries for basic-auth registries. */
export function haveHtpasswd(): boolean {
  return ['/usr/bin/htpasswd', '/usr/sbin/htpasswd'].some((p) => fs.existsSync(p));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

/** Write an htpasswd file with a bcrypt entry (htpasswd from apache2-utils). */
export function makeHtpasswd(file: string, users: Record<string, string>): void {
  const lines = Object.entries(users).map(([u, p]) => execFileSync('htpasswd', ['-Bbn', u, p], { encoding: 'utf8' }).trim());
  fs.writeFileSync(file, lines.join('\n') + '\n');
}

export interface CertPair {
  keyPem: string;
  certPem: string;
  certFile: string;
  keyFile: string;
}

/** A self-signed RSA certificate and key made with openssl, written into `dir`. */
export function makeCertPair(dir: string, cn = 'berth-test-token', san?: string): CertPair {
  const keyFile = path.join(dir, `${cn}.key`);
  const certFile = path.join(dir, `${cn}.crt`);
  const args = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${cn}`];
  if (san) args.push('-addext', `subjectAltName=${san}`);
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  return { keyPem: fs.readFileSync(keyFile, 'utf8'), certPem: fs.readFileSync(certFile, 'utf8'), certFile, keyFile };
}

export interface AccessEntry {
  method: string;
  uri: string;
  status: number;
}

export interface RegistryServer {
  /** "127.0.0.1:<port>" */
  host: string;
  port: number;
  url: string;
  pid: number;
  dir: string;
  logFile: string;
  /** Requests from the registry's access log so far. */
  accessLog(): AccessEntry[];
  stop(): Promise<void>;
}

export type RegistryAuth =
  | { kind: 'none' }
  | { kind: 'htpasswd'; users: Record<string, string> }
  | { kind: 'token'; realm: string; service: string; issuer: string; rootCertBundle: string };

async function waitReady(url: string, child: ChildProcess, logFile: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited (${child.exitCode}): ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
    const ok = await new Promise<boolean>((resolve) => {
      const get = url.startsWith('https:') ? (u: string, cb: (res: http.IncomingMessage) => void) => https.get(u, { rejectUnauthorized: false }, cb) : http.get;
      const r = get(`${url}/v2/`, (res) => {
        res.resume();
        resolve(res.statusCode === 200 || res.statusCode === 401);
      });
      r.on('error', () => resolve(false));
      r.setTimeout(1000, () => r.destroy());
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`docker-registry did not become ready: ${fs.readFileSync(logFile, 'utf8').slice(-2000)}`);
}

/** Start docker-registry on a free loopback port. */
export async function startRegistry(opts: { auth?: RegistryAuth; tls?: { certFile: string; keyFile: string } } = {}): Promise<RegistryServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-registry-'));
  const auth = opts.auth ?? { kind: 'none' };
  let authYaml = '';
  if (auth.kind === 'htpasswd') {
    const file = path.join(dir, 'htpasswd');
    makeHtpasswd(file, auth.users);
    authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${file}\n`;
  } else if (auth.kind === 'token') {
    authYaml = `auth:\n  token:\n    realm: ${auth.realm}\n    service: ${auth.service}\n    issuer: ${auth.issuer}\n    rootcertbundle: ${auth.rootCertBundle}\n`;
  }
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = path.join(dir, 'config.yml');
    fs.writeFileSync(
      config,
      `version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${path.join(dir, 'data')}
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: ${host}
  secret: ${randomBytes(16).toString('hex')}
${opts.tls ? `  tls:\n    certificate: ${opts.tls.certFile}\n    key: ${opts.tls.keyFile}\n` : ''}health:
  storagedriver:
    enabled: false
${authYaml}`,
    );
    const logFile = path.join(dir, `registry-${port}.log`);
    const fd = fs.openSync(logFile, 'a');
    const child = spawn(DOCKER_REGISTRY, ['serve', config], { stdio: ['ignore', fd, fd] });
    fs.closeSync(fd);
    const url = `${opts.tls ? 'https' : 'http'}://${host}`;
    try {
      await waitReady(url, child, logFile);
    } catch (err) {
      lastErr = err;
      if (child.exitCode === null) child.kill('SIGKILL');
      continue;
    }
    const pid = child.pid!;
    return {
      host,
      port,
      url,
      pid,
      dir,
      logFile,
      accessLog() {
        const out: AccessEntry[] = [];
        const re = /"(GET|HEAD|PUT|POST|PATCH|DELETE) (\S+) HTTP\/[\d.]+" (\d{3})/g;
        const text = fs.readFileSync(logFile, 'utf8');
        for (const m of text.matchAll(re)) out.push({ method: m[1]!, uri: m[2]!, status: Number(m[3]) });
        return out;
      },
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          process.kill(pid, 'SIGTERM');
          const t = setTimeout(() => {
            if (child.exitCode === null && child.signalCode === null) process.kill(pid, 'SIGKILL');
          }, 5000);
          await exited;
          clearTimeout(t);
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}

// ------------------------------------------------------------------------------------ token server

export interface TokenServer {
  url: string;
  realm: string;
  service: string;
  issuer: string;
  /** Token requests seen: scopes asked for, user (or anonymous), granted or not. */
  requests: Array<{ scopes: string[]; user: string | undefined; granted: boolean; method: string }>;
  close(): Promise<void>;
}

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

/**
 * A bearer token server: GET <realm>?service=&scope= with basic auth (or POST with a refresh token
 * equal to `refreshTokens[user]`). Users in `users` get what they ask for; anonymous requests get
 * pull only when `anonymousPull`.
 */
export async function startTokenServer(opts: {
  cert: CertPair;
  users: Record<string, string>;
  refreshTokens?: Record<string, string>;
  anonymousPull?: boolean;
  service?: string;
  issuer?: string;
  expiresIn?: number;
}): Promise<TokenServer> {
  const service = opts.service ?? 'berth-test-registry';
  const issuer = opts.issuer ?? 'berth-test-issuer';
  const certDer = new X509Certificate(opts.cert.certPem).raw.toString('base64');
  const requests: TokenServer['requests'] = [];
  const sign = (sub: string, access: Array<{ type: string; name: string; actions: string[] }>): string => {
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'RS256', x5c: [certDer] };
    const claims = { iss: issuer, sub, aud: service, exp: now + (opts.expiresIn ?? 300), nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
    const data = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const s = createSign('RSA-SHA256').update(data).sign(opts.cert.keyPem);
    return `${data}.${b64url(s)}`;
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      let scopes = u.searchParams.getAll('scope');
      let user: string | undefined;
      let ok = true;
      if (req.method === 'POST') {
        const form = new URLSearchParams(Buffer.concat(chunks).toString());
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const rt = form.get('refresh_token');
        user = Object.entries(opts.refreshTokens ?? {}).find(([, t]) => t === rt)?.[0];
        ok = user !== undefined;
      } else {
        const h = req.headers.authorization;
        if (h?.startsWith('Basic ')) {
          const [name, ...pw] = Buffer.from(h.slice(6), 'base64').toString().split(':');
          if (name && opts.users[name] === pw.join(':')) user = name;
          else ok = false;
        }
      }
      const access: Array<{ type: string; name: string; actions: string[] }> = [];
      if (ok) {
        for (const s of scopes) {
          const m = /^repository:([^:]+):(.+)$/.exec(s);
          if (!m) continue;
          const actions = m[2]!.split(',').filter((a) => user !== undefined || (opts.anonymousPull && a === 'pull'));
          if (actions.length) access.push({ type: 'repository', name: m[1]!, actions });
        }
      }
      requests.push({ scopes, user, granted: ok, method: req.method ?? '' });
      if (!ok) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      const token = sign(user ?? '', access);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(req.method === 'POST' ? { access_token: token, expires_in: opts.expiresIn ?? 300 } : { token, expires_in: opts.expiresIn ?? 300 }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    realm: `${url}/token`,
    service,
    issuer,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ------------------------------------------------------------------------------------------ proxy

export interface ProxyRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
  status?: number;
}

export type ProxyAction =
  | { status: number; headers?: Record<string, string>; body?: string }
  | { cutAfter: number }
  | { resetAfter: number } // send this many body bytes, then reset the connection (TCP RST)
  | { throttle: number } // bytes per second for the response body
  | { redirect: string } // origin to redirect to (same path)
  | { ignoreRange: true }
  | { delayMs: number };

/** Rules are tried in order; the first that matches (and has uses left) fires. */
export interface ProxyRule {
  match: (method: string, url: string) => boolean;
  /** How many times the rule fires (default: always). */
  times?: number;
  action: ProxyAction;
}

export interface Proxy {
  host: string;
  url: string;
  requests: ProxyRequest[];
  rules: ProxyRule[];
  /** Count of requests matching method and a URL regexp. */
  count(method: string, re: RegExp): number;
  /** Most blob GETs in flight at once. */
  maxInflightBlobGets(): number;
  close(): Promise<void>;
}

/** A loopback proxy in front of `target` ("127.0.0.1:port"), listening on `bindHost`. */
export async function startProxy(target: string, rules: ProxyRule[] = [], bindHost = '127.0.0.1'): Promise<Proxy> {
  const requests: ProxyRequest[] = [];
  const upstream = new Set<http.ClientRequest>();
  let inflight = 0;
  let maxInflight = 0;
  const [thost, tport] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const server = http.createServer((req, res) => {
    const entry: ProxyRequest = { method: req.method ?? '', url: req.url ?? '' };
    if (req.headers.range) entry.range = req.headers.range;
    if (req.headers.authorization) entry.authorization = req.headers.authorization;
    requests.push(entry);
    if (entry.method === 'GET' && /\/blobs\/sha256:/.test(entry.url)) {
      inflight++;
      maxInflight = Math.max(maxInflight, inflight);
      res.on('close', () => inflight--);
    }
    // the first matching rule with uses left fires
    const actions: ProxyAction[] = [];
    for (const r of rules) {
      if ((r.times === undefined || r.times > 0) && r.match(entry.method, entry.url)) {
        if (r.times !== undefined) r.times--;
        actions.push(r.action);
        break;
      }
    }
    const fixed = actions.find((a): a is { status: number; headers?: Record<string, string>; body?: string } => 'status' in a);
    if (fixed) {
      entry.status = fixed.status;
      res.writeHead(fixed.status, fixed.headers ?? {});
      res.end(fixed.body ?? '');
      req.resume();
      return;
    }
    const redirect = actions.find((a): a is { redirect: string } => 'redirect' in a);
    if (redirect) {
      entry.status = 307;
      res.writeHead(307, { location: `${redirect.redirect}${entry.url}` });
      res.end();
      req.resume();
      return;
    }
    const cut = actions.find((a): a is { cutAfter: number } => 'cutAfter' in a);
    const reset = actions.find((a): a is { resetAfter: number } => 'resetAfter' in a);
    const throttle = actions.find((a): a is { throttle: number } => 'throttle' in a);
    const delay = actions.find((a): a is { delayMs: number } => 'delayMs' in a);
    const headers = { ...req.headers, host: target };
    if (actions.some((a) => 'ignoreRange' in a)) delete headers.range;
    const pauses = new Set<NodeJS.Timeout>();
    const go = (): void => {
      if (res.destroyed) return; // the client left during a delay
      const up = http.request({ host: thost, port: tport, method: req.method, path: req.url, headers, agent: false }, (ures) => {
        entry.status = ures.statusCode;
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        let sent = 0;
        const started = Date.now();
        let gone = false;
        ures.on('data', (c: Buffer) => {
          if (gone) return;
          if (reset && sent + c.length > reset.resetAfter) {
            gone = true;
            const n = Math.max(0, reset.resetAfter - sent);
            sent = reset.resetAfter;
            ures.destroy();
            const sock = res.socket;
            res.write(c.subarray(0, n), () => sock?.resetAndDestroy());
            return;
          }
          if (cut && sent + c.length > cut.cutAfter) {
            res.write(c.subarray(0, Math.max(0, cut.cutAfter - sent)));
            sent = cut.cutAfter;
            ures.destroy();
            res.socket?.end();
            return;
          }
          sent += c.length;
          const ok = res.write(c);
          if (throttle) {
            const due = started + (sent / throttle.throttle) * 1000;
            const wait = due - Date.now();
            if (wait > 0) {
              ures.pause();
              const timer = setTimeout(() => {
                pauses.delete(timer);
                if (!ures.destroyed) ures.resume();
              }, wait);
              pauses.add(timer);
            }
          } else if (!ok) {
            ures.pause();
            res.once('drain', () => ures.resume());
          }
        });
        ures.on('end', () => res.end());
        ures.on('error', () => res.destroy());
        // the client went away (or the proxy closed): drop the upstream connection too
        res.on('close', () => ures.destroy());
        if (res.destroyed) ures.destroy();
      });
      // the client went away (at any point, even before the upstream answered): stop the paced
      // resumes and drop the upstream request, so nothing is left writing to a dead socket
      res.on('close', () => {
        for (const t of pauses) clearTimeout(t);
        pauses.clear();
        up.destroy();
      });
      upstream.add(up);
      up.on('close', () => upstream.delete(up));
      up.on('error', () => {
        if (res.destroyed) return;
        // after the headers went out (the client left mid-body, ...) only dropping is left
        if (res.headersSent) res.destroy();
        else {
          res.writeHead(502);
          res.end();
        }
      });
      req.pipe(up);
    };
    if (delay) setTimeout(go, delay.delayMs);
    else go();
  });
  await new Promise<void>((resolve) => server.listen(0, bindHost, () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  const host = `${bindHost === '::1' ? '[::1]' : bindHost}:${port}`;
  return {
    host,
    url: `http://${host}`,
    requests,
    rules,
    count: (method, re) => requests.filter((r) => r.method === method && re.test(r.url)).length,
    maxInflightBlobGets: () => maxInflight,
    close: () =>
      new Promise<void>((resolve) => {
        for (const u of upstream) u.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
