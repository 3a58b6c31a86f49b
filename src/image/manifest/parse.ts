/**
 * Strict parsing of manifests, indexes and image configs. Registries and image files are hostile:
 * every field Berth relies on is type-checked, digests are validated, sizes must be safe integers.
 */
import { BerthError } from '../../runtime/errors';
import { validateDigest } from '../ref/reference';
import {
  Descriptor,
  ImageConfig,
  ImageIndex,
  ImageManifest,
  MediaType,
  Platform,
  SCHEMA1_MEDIA_TYPES,
  isIndexMediaType,
  isManifestMediaType,
} from './types';

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; index: ImageIndex }
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest };

function bad(what: string, why: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `invalid ${what}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, what: string, field: string): Record<string, string> {
  if (!isObject(v)) throw bad(what, `${field} must be an object of strings`);
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw bad(what, `${field}.${k} must be a string`);
  }
  return v as Record<string, string>;
}

function schema1Error(): BerthError {
  return new BerthError(
    'UNSUPPORTED',
    `Docker image manifest schema 1 (${MediaType.DockerManifestSchema1}) is not supported: it is deprecated ` +
      'and insecure; push the image again as Docker schema 2 or OCI',
  );
}

export function parseDescriptor(v: unknown, what: string, field: string): Descriptor {
  if (!isObject(v)) throw bad(what, `${field} must be an object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string' || mediaType === '') throw bad(what, `${field}.mediaType must be a non-empty string`);
  if (typeof digest !== 'string') throw bad(what, `${field}.digest must be a string`);
  try {
    validateDigest(digest);
  } catch {
    throw bad(what, `${field}.digest ${JSON.stringify(digest)} is not a valid digest`);
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw bad(what, `${field}.size must be a non-negative integer`);
  }
  const d: Descriptor = { mediaType, digest, size };
  if (v.urls !== undefined) {
    if (!Array.isArray(v.urls) || !v.urls.every((u) => typeof u === 'string')) throw bad(what, `${field}.urls must be an array of strings`);
    d.urls = v.urls as string[];
  }
  if (v.annotations !== undefined) d.annotations = stringMap(v.annotations, what, `${field}.annotations`);
  if (v.artifactType !== undefined) {
    if (typeof v.artifactType !== 'string') throw bad(what, `${field}.artifactType must be a string`);
    d.artifactType = v.artifactType;
  }
  if (v.platform !== undefined) d.platform = parsePlatformObject(v.platform, what, `${field}.platform`);
  return d;
}

function parsePlatformObject(v: unknown, what: string, field: string): Platform {
  if (!isObject(v)) throw bad(what, `${field} must be an object`);
  if (typeof v.architecture !== 'string' || typeof v.os !== 'string') throw bad(what, `${field} needs string os and architecture`);
  const p: Platform = { architecture: v.architecture, os: v.os };
  if (v.variant !== undefined) {
    if (typeof v.variant !== 'string') throw bad(what, `${field}.variant must be a string`);
    p.variant = v.variant;
  }
  if (v['os.version'] !== undefined) {
    if (typeof v['os.version'] !== 'string') throw bad(what, `${field}.os.version must be a string`);
    p['os.version'] = v['os.version'];
  }
  for (const k of ['os.features', 'features'] as const) {
    const x = v[k];
    if (x === undefined) continue;
    if (!Array.isArray(x) || !x.every((s) => typeof s === 'string')) throw bad(what, `${field}.${k} must be an array of strings`);
    p[k] = x as string[];
  }
  return p;
}

function parseJson(bytes: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (err) {
    throw bad(what, `not JSON (${(err as Error).message})`);
  }
}

/**
 * Parse manifest bytes. `contentType` is the registry's Content-Type (or the descriptor's media type);
 * when both it and the document's own mediaType are known they must agree. Schema 1 is refused with
 * BerthError('UNSUPPORTED').
 */
export function parseManifest(bytes: Buffer | string, contentType?: string): ParsedManifest {
  const ct = contentType?.split(';')[0]?.trim();
  if (ct && SCHEMA1_MEDIA_TYPES.includes(ct)) throw schema1Error();
  const doc = parseJson(bytes, 'manifest');
  if (!isObject(doc)) throw bad('manifest', 'not a JSON object');
  if (doc.schemaVersion === 1) throw schema1Error();
  if (doc.schemaVersion !== 2) throw bad('manifest', `schemaVersion must be 2 (got ${JSON.stringify(doc.schemaVersion)})`);
  let mt: string | undefined;
  if (doc.mediaType !== undefined) {
    if (typeof doc.mediaType !== 'string') throw bad('manifest', 'mediaType must be a string');
    mt = doc.mediaType;
    if (SCHEMA1_MEDIA_TYPES.includes(mt)) throw schema1Error();
  }
  const known = (m: string | undefined): m is string => m !== undefined && (isIndexMediaType(m) || isManifestMediaType(m));
  if (known(mt) && known(ct) && mt !== ct) {
    throw bad('manifest', `document mediaType ${mt} does not match content type ${ct}`);
  }
  let mediaType = known(mt) ? mt : known(ct) ? ct : undefined;
  if (mediaType === undefined) {
    if (mt !== undefined) throw new BerthError('UNSUPPORTED', `unsupported manifest media type ${mt}`);
    if (Array.isArray(doc.manifests)) mediaType = MediaType.OciIndex;
    else if (doc.config !== undefined && Array.isArray(doc.layers)) mediaType = MediaType.OciManifest;
    else throw bad('manifest', 'neither an image manifest nor an index');
  }
  if (mediaType === MediaType.DockerManifestList || mediaType === MediaType.DockerManifest) {
    if (mt === undefined) throw bad('manifest', 'Docker schema 2 documents must carry their mediaType');
  }
  const annotations = doc.annotations === undefined ? undefined : stringMap(doc.annotations, 'manifest', 'annotations');
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw bad('index', 'manifests must be an array');
    if (doc.config !== undefined || doc.layers !== undefined) throw bad('index', 'an index has no config or layers');
    const index: ImageIndex = {
      schemaVersion: 2,
      mediaType,
      manifests: doc.manifests.map((m, i) => parseDescriptor(m, 'index', `manifests[${i}]`)),
    };
    if (annotations) index.annotations = annotations;
    if (doc.subject !== undefined) index.subject = parseDescriptor(doc.subject, 'index', 'subject');
    return { kind: 'index', mediaType, index };
  }
  if (doc.manifests !== undefined) throw bad('manifest', 'an image manifest has no manifests list');
  if (!Array.isArray(doc.layers)) throw bad('manifest', 'layers must be an array');
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: parseDescriptor(doc.config, 'manifest', 'config'),
    layers: doc.layers.map((l, i) => parseDescriptor(l, 'manifest', `layers[${i}]`)),
  };
  if (annotations) manifest.annotations = annotations;
  if (typeof doc.artifactType === 'string') manifest.artifactType = doc.artifactType;
  if (doc.subject !== undefined) manifest.subject = parseDescriptor(doc.subject, 'manifest', 'subject');
  return { kind: 'manifest', mediaType, manifest };
}

/** Parse and check an image config (only what Berth relies on is checked strictly). */
export function parseImageConfig(bytes: Buffer | string): ImageConfig {
  const doc = parseJson(bytes, 'image config');
  if (!isObject(doc)) throw bad('image config', 'not a JSON object');
  if (typeof doc.architecture !== 'string' || typeof doc.os !== 'string') {
    throw bad('image config', 'architecture and os must be strings');
  }
  const rootfs = doc.rootfs;
  if (!isObject(rootfs) || rootfs.type !== 'layers' || !Array.isArray(rootfs.diff_ids)) {
    throw bad('image config', 'rootfs must be {"type":"layers","diff_ids":[...]}');
  }
  rootfs.diff_ids.forEach((d, i) => {
    if (typeof d !== 'string') throw bad('image config', `rootfs.diff_ids[${i}] must be a string`);
    try {
      validateDigest(d);
    } catch {
      throw bad('image config', `rootfs.diff_ids[${i}] ${JSON.stringify(d)} is not a valid digest`);
    }
  });
  if (doc.config !== undefined && doc.config !== null && !isObject(doc.config)) throw bad('image config', 'config must be an object');
  if (doc.config === null) delete doc.config;
  return doc as unknown as ImageConfig;
}
