/**
 * Single-use, expiring tokens for streaming URLs. A token is 32 random bytes, base64url (43 chars);
 * it names one cached request, is removed on its first use (whatever the outcome) and expires after
 * a TTL when unused. The cache is bounded so a flood of Exec calls cannot grow memory without limit.
 */
import { randomBytes } from 'node:crypto';
import { BerthError } from '../../runtime/errors';

export interface TokenStoreOptions {
  /** How long an unused token stays valid (ms). */
  ttlMs: number;
  /** At most this many unused tokens at once (default 4096). */
  maxTokens?: number;
  /** Clock, for tests (ms). */
  now?: () => number;
}

interface Entry<T> {
  value: T;
  expiresAt: number;
}

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;

export class TokenStore<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly ttlMs: number;
  private readonly maxTokens: number;
  private readonly now: () => number;

  constructor(opts: TokenStoreOptions) {
    if (!(opts.ttlMs > 0)) throw new BerthError('INVALID_ARGUMENT', `token TTL must be positive, got ${opts.ttlMs}`);
    this.ttlMs = opts.ttlMs;
    this.maxTokens = opts.maxTokens ?? 4096;
    this.now = opts.now ?? Date.now;
  }

  /** Stores value under a new token and returns the token. */
  issue(value: T): string {
    this.sweep();
    if (this.entries.size >= this.maxTokens) {
      throw new BerthError('UNSUPPORTED', `too many pending streaming requests (${this.entries.size})`);
    }
    let token = '';
    do {
      token = randomBytes(32).toString('base64url');
    } while (this.entries.has(token));
    this.entries.set(token, { value, expiresAt: this.now() + this.ttlMs });
    return token;
  }

  /** Returns and forgets the value of a valid, unexpired token; undefined otherwise. */
  consume(token: string): T | undefined {
    if (!TOKEN_RE.test(token)) return undefined;
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (entry.expiresAt <= this.now()) return undefined;
    return entry.value;
  }

  /** Number of unused, unexpired tokens. */
  get size(): number {
    this.sweep();
    return this.entries.size;
  }

  /** Drops expired tokens. */
  sweep(): void {
    const now = this.now();
    for (const [token, entry] of this.entries) {
      if (entry.expiresAt <= now) this.entries.delete(token);
    }
  }

  clear(): void {
    this.entries.clear();
  }
}
