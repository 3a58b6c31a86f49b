/**
 * What a berth command runs with: global options (flags over the TOML config file over defaults),
 * the terminal streams (injectable for tests), and the image service opened on first use.
 */
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { parse as parseToml } from 'smol-toml';
import { BerthError, ConfigError, isErrno } from '../../runtime/errors';
import { ImageService } from '../../image/service';
import { imageUsersHook } from '../../engine/open';

export const DEFAULTS = {
  root: '/var/lib/berth',
  runRoot: '/run/berth',
  config: '/etc/berth/berth.toml',
  hostsDir: '/etc/berth/certs.d',
} as const;

export interface GlobalOptions {
  root: string;
  runRoot: string;
  debug: boolean;
  /** The config file read (undefined when the default one does not exist). */
  configFile: string | undefined;
  hostsDir: string;
  dockerConfig: string | undefined;
  maxConcurrentDownloads: number | undefined;
}

export interface OutStream {
  write(s: string | Uint8Array): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface Io {
  stdout: OutStream;
  stderr: OutStream;
  stdin: Readable & { isTTY?: boolean };
  /** Where binary output (save) goes; defaults to stdout. */
  binaryOut?: NodeJS.WritableStream;
}

/** Keys accepted in berth.toml (top level). */
const CONFIG_KEYS = ['root', 'run_root', 'hosts_dir', 'docker_config', 'max_concurrent_downloads', 'debug'] as const;

export interface FileConfig {
  root?: string;
  run_root?: string;
  hosts_dir?: string;
  docker_config?: string;
  max_concurrent_downloads?: number;
  debug?: boolean;
}

/** Read berth.toml; a missing file is an error only when it was named explicitly. */
export function readConfigFile(file: string, explicit: boolean): FileConfig | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT') && !explicit) return undefined;
    throw new BerthError('INVALID_ARGUMENT', `cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(file, `not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const out: FileConfig = {};
  for (const [k, v] of Object.entries(doc)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(k)) throw new ConfigError(`${file}: ${k}`, `unknown key (known: ${CONFIG_KEYS.join(', ')})`);
    if (k === 'max_concurrent_downloads') {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new ConfigError(`${file}: ${k}`, 'must be a positive integer');
      out.max_concurrent_downloads = v;
    } else if (k === 'debug') {
      if (typeof v !== 'boolean') throw new ConfigError(`${file}: ${k}`, 'must be true or false');
      out.debug = v;
    } else {
      if (typeof v !== 'string' || v === '') throw new ConfigError(`${file}: ${k}`, 'must be a non-empty string');
      (out as Record<string, string>)[k] = v;
    }
  }
  return out;
}

export class Context {
  private svc: ImageService | undefined;
  constructor(
    readonly global: GlobalOptions,
    readonly io: Io,
  ) {}

  get stdout(): OutStream {
    return this.io.stdout;
  }

  get stderr(): OutStream {
    return this.io.stderr;
  }

  /** The image service for --root (created on first use). */
  images(): ImageService {
    if (!this.svc) {
      const o: ConstructorParameters<typeof ImageService>[0] = { root: this.global.root, hostsDir: this.global.hostsDir };
      if (this.global.dockerConfig !== undefined) o.dockerConfig = this.global.dockerConfig;
      if (this.global.maxConcurrentDownloads !== undefined) o.maxConcurrentDownloads = this.global.maxConcurrentDownloads;
      this.svc = new ImageService(o);
      // containers (berth's and berthd's under this root) keep their images from rmi / image prune -a
      this.svc.imageUsers = imageUsersHook(this.global.root, this.global.runRoot);
    }
    return this.svc;
  }

  out(s: string): void {
    this.io.stdout.write(s);
  }

  err(s: string): void {
    this.io.stderr.write(s);
  }
}
