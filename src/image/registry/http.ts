/**
 * Minimal HTTP(S) request helper over node:http / node:https with keep-alive agents, a response-header
 * timeout, abort signals and typed errors.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { BerthError } from '../../runtime/errors';

export interface TlsOptions {
  ca?: Buffer[];
  rejectUnauthorized?: boolean;
  cert?: Buffer;
  key?: Buffer;
}

export interface HttpRequest {
  method: string;
  url: URL;
  headers?: Record<string, string>;
  /** A Buffer, or a factory for a fresh stream (so a request can be replayed). */
  body?: Buffer | (() => Readable);
  tls?: TlsOptions;
  /** Time allowed until response headers arrive (ms). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 32 });
const httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 32 });

/** A network-level failure (connection refused/reset, timeout, TLS): retriable. */
export class NetworkError extends BerthError {
  readonly errno: string | undefined;
  constructor(message: string, errno?: string, cause?: unknown) {
    super(errno === 'TIMEOUT' ? 'TIMEOUT' : 'INTERNAL', message, { cause });
    this.errno = errno;
    this.name = 'NetworkError';
  }
}

/** A response with an unexpected HTTP status. */
export class HttpStatusError extends BerthError {
  readonly status: number;
  readonly body: string;
  constructor(status: number, message: string, body = '') {
    super(statusCode(status), message);
    this.status = status;
    this.body = body;
    this.name = 'HttpStatusError';
  }
}

function statusCode(status: number): BerthError['code'] {
  if (status === 401 || status === 403) return 'PERMISSION_DENIED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 400 || status === 405 || status === 416) return 'INVALID_ARGUMENT';
  return 'INTERNAL';
}

export function isTlsError(err: unknown): boolean {
  const e = err as { errno?: string; cause?: { code?: string; message?: string }; message?: string };
  const code = e?.errno ?? e?.cause?.code ?? '';
  const msg = `${e?.message ?? ''} ${e?.cause?.message ?? ''}`;
  return code === 'EPROTO' || code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || /wrong version number|SSL routines|packet length too long/i.test(msg);
}

/** Retriable: network errors, timeouts, 5xx and 429. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof HttpStatusError) return err.status >= 500 || err.status === 429 || err.status === 408;
  if (err instanceof NetworkError) return true;
  return false;
}

export function httpRequest(req: HttpRequest): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const isHttps = req.url.protocol === 'https:';
    const headers: Record<string, string> = { 'user-agent': 'berth/0.1', ...(req.headers ?? {}) };
    if (Buffer.isBuffer(req.body)) headers['content-length'] = String(req.body.length);
    const options: https.RequestOptions = {
      method: req.method,
      host: req.url.hostname.replace(/^\[|\]$/g, ''),
      port: req.url.port || (isHttps ? 443 : 80),
      path: `${req.url.pathname}${req.url.search}`,
      headers,
      agent: isHttps ? httpsAgent : httpAgent,
    };
    if (isHttps && req.tls) {
      if (req.tls.ca && req.tls.ca.length) options.ca = [...req.tls.ca];
      if (req.tls.rejectUnauthorized === false) options.rejectUnauthorized = false;
      if (req.tls.cert) options.cert = req.tls.cert;
      if (req.tls.key) options.key = req.tls.key;
    }
    let settled = false;
    const onAbort = (): void => {
      r.destroy(new NetworkError(`${req.method} ${req.url.href}: aborted`, 'ABORTED', req.signal?.reason));
    };
    const r = (isHttps ? https : http).request(options, (res) => {
      settled = true;
      r.setTimeout(0);
      req.signal?.removeEventListener('abort', onAbort);
      resolve(res);
    });
    r.on('error', (err: NodeJS.ErrnoException) => {
      req.signal?.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      if (err instanceof BerthError) reject(err);
      else reject(new NetworkError(`${req.method} ${req.url.href}: ${err.message}`, err.code, err));
    });
    if (req.timeoutMs !== undefined && req.timeoutMs > 0) {
      r.setTimeout(req.timeoutMs, () => {
        r.destroy(new NetworkError(`${req.method} ${req.url.href}: no response within ${req.timeoutMs} ms`, 'TIMEOUT'));
      });
    }
    if (req.signal) {
      if (req.signal.aborted) {
        onAbort();
        return;
      }
      req.signal.addEventListener('abort', onAbort, { once: true });
    }
    if (req.body === undefined) r.end();
    else if (Buffer.isBuffer(req.body)) r.end(req.body);
    else {
      const s = req.body();
      s.on('error', (e) => r.destroy(e));
      s.pipe(r);
    }
  });
}

/** Read a whole (small) response body; refuses bodies over `max` bytes. */
export function readBody(res: http.IncomingMessage, max = 16 * 1024 * 1024): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    res.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        res.destroy(new BerthError('INVALID_ARGUMENT', `response body larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', (e) => reject(e instanceof BerthError ? e : new NetworkError(`reading response: ${e.message}`, (e as NodeJS.ErrnoException).code, e)));
    res.on('aborted', () => reject(new NetworkError('response aborted', 'ECONNRESET')));
  });
}

/** Discard a response body (so the socket can be reused). */
export function drain(res: http.IncomingMessage): void {
  res.resume();
  res.on('error', () => undefined);
}
