/**
 * `import`: a root filesystem tarball (plain, gzip or zstd) becomes a single-layer image, as
 * `docker import` does. The tar is decompressed and hashed (its diff_id), recompressed with gzip into
 * a staging file under the store root (hashed again: the layer digest), ingested into the content
 * store, then the config (with optional Dockerfile-like changes) and an OCI manifest are written and
 * the name recorded. A lease protects the new blobs until the record exists.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { createHash, randomBytes } from 'node:crypto';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BerthError } from '../../runtime/errors';
import { createLease, type ImageRecord } from '../content';
import { decompressed } from '../archive/members';
import { hostPlatform } from '../manifest/platform';
import { MediaType, type Descriptor, type ImageConfig } from '../manifest/types';
import { canonical, parseReference } from '../ref';
import type { ImageService } from './service';

export interface RootfsImportOptions {
  /** Name for the image; without one it is recorded as "import@<manifest digest>". */
  reference?: string;
  /** Dockerfile-like changes: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME, STOPSIGNAL. */
  changes?: string[];
  /** History comment ("Imported from FILE" by default). */
  message?: string;
  /** Where the tar came from, for the history comment. */
  source?: string;
}

class Hasher extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  private head: Buffer[] = [];
  private headLen = 0;
  constructor(private readonly checkTar: boolean) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    if (this.checkTar && this.headLen < 512) {
      this.head.push(chunk);
      this.headLen += chunk.length;
      if (this.headLen >= 512) {
        const h = Buffer.concat(this.head);
        const empty = h.subarray(0, 512).every((b) => b === 0);
        if (!empty && h.subarray(257, 262).toString('latin1') !== 'ustar') {
          cb(new BerthError('INVALID_ARGUMENT', 'the input is not a tar archive (plain, gzip or zstd)'));
          return;
        }
      }
    }
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    if (this.checkTar && this.headLen < 512) {
      cb(new BerthError('INVALID_ARGUMENT', `the input is not a tar archive (${this.headLen} bytes)`));
      return;
    }
    cb();
  }
}

/** Parse one --change instruction into `cfg` (mutated). */
export function applyChange(cfg: NonNullable<ImageConfig['config']>, change: string): void {
  const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(change);
  if (!m) throw new BerthError('INVALID_ARGUMENT', `invalid --change ${JSON.stringify(change)}: want "INSTRUCTION arguments"`);
  const op = m[1]!.toUpperCase();
  const arg = m[2]!.trim();
  const list = (): string[] => {
    if (arg.startsWith('[')) {
      let v: unknown;
      try {
        v = JSON.parse(arg);
      } catch {
        throw new BerthError('INVALID_ARGUMENT', `invalid --change ${JSON.stringify(change)}: malformed JSON array`);
      }
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new BerthError('INVALID_ARGUMENT', `invalid --change ${JSON.stringify(change)}: want a JSON array of strings`);
      return v as string[];
    }
    return ['/bin/sh', '-c', arg];
  };
  const pairs = (): Array<[string, string]> =>
    arg.split(/\s+/).map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `invalid --change ${JSON.stringify(change)}: want KEY=VALUE`);
      return [kv.slice(0, eq), kv.slice(eq + 1).replace(/^"(.*)"$/, '$1')];
    });
  switch (op) {
    case 'CMD':
      cfg.Cmd = list();
      return;
    case 'ENTRYPOINT':
      cfg.Entrypoint = list();
      return;
    case 'ENV': {
      const env = [...(cfg.Env ?? [])];
      for (const [k, v] of pairs()) {
        const i = env.findIndex((e) => e.startsWith(`${k}=`));
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      cfg.Env = env;
      return;
    }
    case 'LABEL':
      cfg.Labels = { ...(cfg.Labels ?? {}), ...Object.fromEntries(pairs()) };
      return;
    case 'WORKDIR':
      cfg.WorkingDir = arg;
      return;
    case 'USER':
      cfg.User = arg;
      return;
    case 'STOPSIGNAL':
      cfg.StopSignal = arg;
      return;
    case 'EXPOSE': {
      const ports = { ...(cfg.ExposedPorts ?? {}) };
      for (const p of arg.split(/\s+/)) ports[p.includes('/') ? p : `${p}/tcp`] = {};
      cfg.ExposedPorts = ports;
      return;
    }
    case 'VOLUME': {
      const vols = { ...(cfg.Volumes ?? {}) };
      for (const v of arg.startsWith('[') ? (JSON.parse(arg) as string[]) : arg.split(/\s+/)) vols[v] = {};
      cfg.Volumes = vols;
      return;
    }
    default:
      throw new BerthError('INVALID_ARGUMENT', `unsupported --change instruction ${op}: berth supports CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR`);
  }
}

export async function importRootfs(svc: ImageService, input: Readable, opts: RootfsImportOptions = {}): Promise<ImageRecord> {
  const name = opts.reference !== undefined ? parseReference(opts.reference) : undefined;
  if (name?.digest !== undefined) throw new BerthError('INVALID_ARGUMENT', `cannot import as ${opts.reference}: give a name with a tag, not a digest`);
  const now = new Date().toISOString();
  const plat = hostPlatform();
  const cfgPart: NonNullable<ImageConfig['config']> = { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] };
  for (const c of opts.changes ?? []) applyChange(cfgPart, c);

  const staging = path.join(svc.root, `.import-${process.pid}-${randomBytes(4).toString('hex')}`);
  const lease = await createLease(svc.root);
  try {
    const tarHash = new Hasher(true);
    const gzHash = new Hasher(false);
    await pipeline(decompressed(input), tarHash, zlib.createGzip({ level: 6 }), gzHash, fs.createWriteStream(staging, { mode: 0o600 }));
    const diffId = `sha256:${tarHash.hash.digest('hex')}`;
    const layer: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: `sha256:${gzHash.hash.digest('hex')}`, size: gzHash.size };
    await lease.add([layer.digest]);
    const ing = await svc.content.openIngest({ digest: layer.digest, size: layer.size });
    if (ing) {
      try {
        await ing.reset();
        for await (const c of fs.createReadStream(staging, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) await ing.write(c);
        await ing.commit();
      } finally {
        await ing.close(true);
      }
    }
    await svc.content.setLabel(layer.digest, 'berth.uncompressed', diffId);
    const config: ImageConfig = {
      created: now,
      architecture: plat.architecture,
      os: plat.os,
      ...(plat.variant ? { variant: plat.variant } : {}),
      config: cfgPart,
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created: now, created_by: 'berth import', comment: opts.message ?? `Imported from ${opts.source ?? '-'}` }],
    };
    const cfgBytes = Buffer.from(JSON.stringify(config));
    const cfgRef = await svc.content.putBlob(cfgBytes);
    const cfgDesc: Descriptor = { mediaType: MediaType.OciConfig, ...cfgRef };
    await lease.add([cfgDesc.digest]);
    const manBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: cfgDesc, layers: [layer] }));
    const manRef = await svc.content.putBlob(manBytes);
    const manDesc: Descriptor = { mediaType: MediaType.OciManifest, ...manRef };
    await lease.add([manDesc.digest]);
    const recName = name ? canonical(name) : canonical(parseReference(`import@${manDesc.digest}`));
    return await svc.images.put({
      name: recName,
      target: manDesc,
      manifest: manDesc,
      config: cfgDesc,
      layers: [layer],
      diffIds: [diffId],
      platform: { os: plat.os, architecture: plat.architecture, ...(plat.variant ? { variant: plat.variant } : {}) },
    });
  } finally {
    await fs.promises.rm(staging, { force: true });
    await lease.release();
  }
}
