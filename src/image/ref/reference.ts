/**
 * Image references, docker-style.
 *
 *   reference := name [ ":" tag ] [ "@" digest ]
 *   name      := [ domain "/" ] path-component ( "/" path-component )*
 *   domain    := host [ ":" port ]            (host: DNS labels joined by ".", or "[ipv6]")
 *   path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
 *   digest    := algorithm ":" hex   (sha256: 64 lowercase hex; sha512: 128)
 *
 * Normalisation: the first "/"-separated component is a registry domain only if it contains "." or ":"
 * or is "localhost"; otherwise the registry is docker.io, and a single-component docker.io path gets
 * the "library/" prefix. index.docker.io is folded into docker.io. A reference with neither tag nor
 * digest gets the tag "latest".
 */
import { BerthError } from '../../runtime/errors';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
/** Longest name (domain + "/" + path) accepted. */
export const NAME_MAX_LENGTH = 255;
export const TAG_MAX_LENGTH = 128;

export interface Reference {
  /** Registry host, with port if any: "docker.io", "127.0.0.1:5000", "localhost", "[::1]:5000". */
  readonly domain: string;
  /** Repository path inside the registry: "library/busybox". */
  readonly path: string;
  /** Tag; "latest" when the reference had neither tag nor digest. */
  readonly tag?: string;
  /** Content digest ("sha256:<hex>") when the reference pins one. */
  readonly digest?: string;
}

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
const IPV6_HOST = /^\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?\]$/;
const PORT = /^[0-9]+$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const HEX64 = /^[a-f0-9]{64}$/;

function invalid(ref: string, why: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid image reference ${JSON.stringify(ref)}: ${why}`);
}

/** Validate a digest string ("sha256:<64 lowercase hex>"); returns it or throws INVALID_ARGUMENT. */
export function validateDigest(digest: string, context = digest): string {
  if (!DIGEST.test(digest)) throw invalid(context, `malformed digest ${JSON.stringify(digest)}`);
  const [alg, hex] = digest.split(':') as [string, string];
  if (alg === 'sha256') {
    if (!HEX64.test(hex)) throw invalid(context, 'sha256 digest must be 64 lowercase hex characters');
  } else if (alg === 'sha512') {
    if (!/^[a-f0-9]{128}$/.test(hex)) throw invalid(context, 'sha512 digest must be 128 lowercase hex characters');
  } else {
    throw invalid(context, `unsupported digest algorithm ${JSON.stringify(alg)}`);
  }
  return digest;
}

/** Is `s` a syntactically valid registry domain (host[:port])? */
export function isValidDomain(s: string): boolean {
  let host = s;
  let port: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return false;
    host = s.slice(0, close + 1);
    const rest = s.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return false;
      port = rest.slice(1);
    }
    if (!IPV6_HOST.test(host)) return false;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0) {
      host = s.slice(0, colon);
      port = s.slice(colon + 1);
    }
    if (host === '' || !host.split('.').every((l) => DOMAIN_LABEL.test(l))) return false;
  }
  if (port !== undefined) {
    if (!PORT.test(port)) return false;
    const n = Number(port);
    if (n < 1 || n > 65535) return false;
  }
  return true;
}

/** Does the first component of a name look like a registry (contains "." or ":" or is "localhost")? */
function looksLikeDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('[');
}

/**
 * Parse and normalise a reference. Throws BerthError('INVALID_ARGUMENT') naming what is wrong.
 * `parseReference('busybox')` -> { domain: 'docker.io', path: 'library/busybox', tag: 'latest' }.
 */
export function parseReference(input: string): Reference {
  if (typeof input !== 'string' || input === '') throw invalid(String(input), 'empty reference');
  if (input !== input.trim() || /\s/.test(input)) throw invalid(input, 'whitespace is not allowed');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (digest.includes('@')) throw invalid(input, 'more than one "@"');
    validateDigest(digest, input);
  }
  // A tag is after the last ':' that follows the last '/'.
  let tag: string | undefined;
  const slash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > slash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') throw invalid(input, 'empty tag');
    if (tag.length > TAG_MAX_LENGTH) throw invalid(input, `tag longer than ${TAG_MAX_LENGTH} characters`);
    if (!TAG.test(tag)) throw invalid(input, `invalid tag ${JSON.stringify(tag)} (allowed: [A-Za-z0-9_.-], not starting with "." or "-")`);
  }
  if (rest === '') throw invalid(input, 'empty repository name');
  if (HEX64.test(rest) && tag === undefined && digest === undefined) {
    throw invalid(input, 'a 64-character hexadecimal string is an image ID, not a repository name');
  }
  let domain: string;
  let path: string;
  const firstSlash = rest.indexOf('/');
  const first = firstSlash < 0 ? rest : rest.slice(0, firstSlash);
  if (firstSlash >= 0 && looksLikeDomain(first)) {
    domain = first;
    path = rest.slice(firstSlash + 1);
    if (!isValidDomain(domain)) throw invalid(input, `invalid registry domain ${JSON.stringify(domain)}`);
  } else {
    domain = DEFAULT_DOMAIN;
    path = rest;
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (path === '') throw invalid(input, 'empty repository path');
  if (path !== path.toLowerCase()) throw invalid(input, 'repository name must be lowercase');
  for (const c of path.split('/')) {
    if (c === '') throw invalid(input, 'empty path component (double or trailing "/")');
    if (!PATH_COMPONENT.test(c)) {
      throw invalid(input, `invalid path component ${JSON.stringify(c)} (allowed: [a-z0-9] separated by ".", "_", "__" or "-")`);
    }
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  const name = `${domain}/${path}`;
  if (name.length > NAME_MAX_LENGTH) throw invalid(input, `repository name longer than ${NAME_MAX_LENGTH} characters`);
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const ref: { domain: string; path: string; tag?: string; digest?: string } = { domain, path };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** "docker.io/library/busybox" */
export function repositoryName(ref: Reference): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified form: "docker.io/library/busybox:latest", "host:5000/a/b@sha256:...". */
export function canonical(ref: Reference): string {
  let s = repositoryName(ref);
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The short form people type: "busybox:latest", "user/app:1", "quay.io/x/y:z". */
export function familiar(ref: Reference): string {
  let name = repositoryName(ref);
  if (ref.domain === DEFAULT_DOMAIN) {
    name = ref.path.startsWith(OFFICIAL_REPO_PREFIX) && ref.path.split('/').length === 2
      ? ref.path.slice(OFFICIAL_REPO_PREFIX.length)
      : ref.path;
  }
  let s = name;
  if (ref.tag !== undefined) s += `:${ref.tag}`;
  if (ref.digest !== undefined) s += `@${ref.digest}`;
  return s;
}

/** The familiar repository name without tag or digest: "busybox", "quay.io/x/y". */
export function familiarName(ref: Reference): string {
  return familiar({ domain: ref.domain, path: ref.path });
}

/** Same reference with a different tag (digest dropped). */
export function withTag(ref: Reference, tag: string): Reference {
  return parseReference(`${repositoryName(ref)}:${tag}`);
}

/** Same repository pinned to a digest (tag dropped). */
export function withDigest(ref: Reference, digest: string): Reference {
  return parseReference(`${repositoryName(ref)}@${digest}`);
}

/** The string to use in /v2/<name>/manifests/<reference>: the digest if pinned, else the tag. */
export function manifestReference(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}
