/**
 * `login` / `logout`: credentials checked against the registry, then kept in (or removed from) a
 * docker-style config.json ("auths": { "<registry>": { "auth": base64("user:password") } }), the
 * file the registry client reads credentials from. Written temp + fsync + rename, mode 0600.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError, isErrno } from '../../runtime/errors';
import { writeFileAtomic } from '../content';
import { RegistryClient, defaultDockerConfigPath, normalizeAuthKey, type Credentials } from '../registry';
import { isValidDomain, DEFAULT_DOMAIN } from '../ref';

/** docker's key for Docker Hub in config.json. */
export const DOCKER_HUB_AUTH_KEY = 'https://index.docker.io/v1/';

export function registryOfServer(server: string | undefined): string {
  if (server === undefined || server === '') return DEFAULT_DOMAIN;
  const r = normalizeAuthKey(server);
  if (!isValidDomain(r)) throw new BerthError('INVALID_ARGUMENT', `invalid registry ${JSON.stringify(server)}: want host[:port]`);
  return r;
}

function readDoc(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return {};
    throw err;
  }
  try {
    const doc = JSON.parse(text) as unknown;
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not an object');
    return doc as Record<string, unknown>;
  } catch (err) {
    throw new BerthError('INVALID_CONFIG', `${file}: not a JSON object (${(err as Error).message}); fix or remove it`);
  }
}

function authsOf(doc: Record<string, unknown>): Record<string, unknown> {
  const a = doc.auths;
  return typeof a === 'object' && a !== null && !Array.isArray(a) ? (a as Record<string, unknown>) : {};
}

/** Check `creds` against `server` (GET /v2/ with authentication), then store them. Returns the key. */
export async function login(server: string | undefined, creds: Required<Pick<Credentials, 'username' | 'password'>>, opts: { hostsDir?: string; configFile?: string } = {}): Promise<{ registry: string; file: string }> {
  const registry = registryOfServer(server);
  const co: ConstructorParameters<typeof RegistryClient>[0] = { credentials: () => creds, retries: 1 };
  if (opts.hostsDir !== undefined && fs.existsSync(opts.hostsDir)) co.hostsDir = opts.hostsDir;
  await new RegistryClient(co).ping(registry, { deadline: Date.now() + 60_000 });
  const file = opts.configFile ?? defaultDockerConfigPath();
  const doc = readDoc(file);
  const auths = authsOf(doc);
  for (const k of Object.keys(auths)) if (normalizeAuthKey(k) === registry) delete auths[k];
  auths[registry === DEFAULT_DOMAIN ? DOCKER_HUB_AUTH_KEY : registry] = { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') };
  doc.auths = auths;
  await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomic(file, JSON.stringify(doc, null, '\t') + '\n', 0o600);
  return { registry, file };
}

/** Remove stored credentials for `server`; returns false when there were none. */
export async function logout(server: string | undefined, opts: { configFile?: string } = {}): Promise<boolean> {
  const registry = registryOfServer(server);
  const file = opts.configFile ?? defaultDockerConfigPath();
  const doc = readDoc(file);
  const auths = authsOf(doc);
  const keys = Object.keys(auths).filter((k) => normalizeAuthKey(k) === registry);
  if (keys.length === 0) return false;
  for (const k of keys) delete auths[k];
  doc.auths = auths;
  await writeFileAtomic(file, JSON.stringify(doc, null, '\t') + '\n', 0o600);
  return true;
}
