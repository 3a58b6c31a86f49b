/**
 * berthd's configuration: a TOML file (default /etc/berth/berthd.toml), every key optional with a
 * built-in default (docs/berthd.md lists them all; etc/berthd.toml is an example). Validation errors
 * are ConfigErrors naming the TOML key (`runtimes.runc.binary: ...`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { ConfigError, isErrno } from '../runtime/errors';

export const DEFAULT_CONFIG_PATH = '/etc/berth/berthd.toml';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

export type RuntimeHandlerConfig =
  | { name: string; type: 'berth' }
  | { name: string; type: 'oci'; binary: string; root?: string };

export interface DaemonConfig {
  /** The CRI unix socket. */
  socket: string;
  /** Group (name or numeric gid) given to the socket, which then gets mode 0660; undefined: 0600 root only. */
  socketGroup?: string;
  /** Persistent state: images, content, snapshots, pod metadata. */
  root: string;
  /** Runtime state: pod namespaces, container state. */
  runRoot: string;
  /** hosts.toml directory (docs/registry-hosts.md). */
  registryHostsDir: string;
  cni: { confDir: string; binDirs: string[] };
  /** Name of the handler used when a request names none ('' in CRI). */
  defaultRuntime: string;
  runtimes: Record<string, RuntimeHandlerConfig>;
  /** host:port of the streaming server (exec / attach / port-forward); port 0 = any free port. */
  streamAddress: string;
  logLevel: LogLevel;
  /** Reported as the sandbox image (no pause image is ever pulled). */
  sandboxImage: string;
  cgroupDriver: 'cgroupfs' | 'systemd';
  /** Never lower a container's oom_score_adj below berthd's own (hosts without CAP_SYS_RESOURCE). */
  restrictOomScoreAdj: boolean;
}

export function defaultConfig(): DaemonConfig {
  return {
    socket: '/run/berth/berthd.sock',
    root: '/var/lib/berth',
    runRoot: '/run/berth',
    registryHostsDir: '/etc/berth/certs.d',
    cni: { confDir: '/etc/cni/net.d', binDirs: ['/usr/lib/cni', '/opt/cni/bin'] },
    defaultRuntime: 'berth',
    runtimes: { berth: { name: 'berth', type: 'berth' } },
    streamAddress: '127.0.0.1:0',
    logLevel: 'info',
    sandboxImage: 'registry.k8s.io/pause:3.9',
    cgroupDriver: 'cgroupfs',
    restrictOomScoreAdj: false,
  };
}

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

const HANDLER_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

class Reader {
  constructor(
    private readonly t: Table,
    private readonly prefix: string,
  ) {}
  key(k: string): string {
    return this.prefix ? `${this.prefix}.${k}` : k;
  }
  str(k: string): string | undefined {
    const v = this.t[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new ConfigError(this.key(k), `must be a string, got ${describe(v)}`);
    return v;
  }
  absPath(k: string): string | undefined {
    const v = this.str(k);
    if (v === undefined) return undefined;
    if (!path.isAbsolute(v)) throw new ConfigError(this.key(k), `must be an absolute path, got ${JSON.stringify(v)}`);
    return path.normalize(v);
  }
  bool(k: string): boolean | undefined {
    const v = this.t[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new ConfigError(this.key(k), `must be true or false, got ${describe(v)}`);
    return v;
  }
  pathList(k: string): string[] | undefined {
    const v = this.t[k];
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.length === 0) throw new ConfigError(this.key(k), `must be a non-empty list of absolute paths`);
    return v.map((e, i) => {
      if (typeof e !== 'string' || !path.isAbsolute(e)) throw new ConfigError(`${this.key(k)}[${i}]`, `must be an absolute path, got ${describe(e)}`);
      return path.normalize(e);
    });
  }
  table(k: string): Table | undefined {
    const v = this.t[k];
    if (v === undefined) return undefined;
    if (!isTable(v)) throw new ConfigError(this.key(k), `must be a table, got ${describe(v)}`);
    return v;
  }
  /** Refuse keys this reader does not know (a typo would otherwise be silently ignored). */
  only(keys: readonly string[]): void {
    for (const k of Object.keys(this.t)) {
      if (!keys.includes(k)) throw new ConfigError(this.key(k), `unknown key (known: ${keys.join(', ')})`);
    }
  }
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a date';
  if (isTable(v)) return 'a table';
  return `${typeof v} ${JSON.stringify(v)}`;
}

function checkStreamAddress(key: string, v: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) throw new ConfigError(key, `must be host:port (port 0 = any free port), got ${JSON.stringify(v)}`);
  return v;
}

function parseRuntime(name: string, t: Table): RuntimeHandlerConfig {
  const r = new Reader(t, `runtimes.${name}`);
  if (!HANDLER_NAME.test(name)) throw new ConfigError(`runtimes.${name}`, 'a handler name must be a DNS label (lower-case letters, digits and -, at most 63)');
  const type = r.str('type') ?? 'oci';
  if (type === 'berth') {
    r.only(['type']);
    return { name, type: 'berth' };
  }
  if (type !== 'oci') throw new ConfigError(r.key('type'), `must be "berth" or "oci", got ${JSON.stringify(type)}`);
  r.only(['type', 'binary', 'root']);
  const binary = r.str('binary');
  if (binary === undefined || binary === '') throw new ConfigError(r.key('binary'), 'is required for type "oci" (the OCI runtime binary, e.g. "runc" or "/usr/sbin/runc")');
  const root = r.absPath('root');
  return root === undefined ? { name, type: 'oci', binary } : { name, type: 'oci', binary, root };
}

const TOP_KEYS = [
  'socket',
  'socket_group',
  'root',
  'run_root',
  'registry_hosts_dir',
  'cni',
  'default_runtime',
  'runtimes',
  'stream_address',
  'log_level',
  'sandbox_image',
  'cgroup_driver',
  'restrict_oom_score_adj',
] as const;

/** Parse a config document; `source` names the file in error messages. */
export function parseConfig(text: string, source = 'berthd.toml'): DaemonConfig {
  let doc: Table;
  try {
    doc = parseToml(text) as Table;
  } catch (err) {
    throw new ConfigError(source, `not valid TOML: ${(err as Error).message.split('\n')[0]}`);
  }
  const cfg = defaultConfig();
  const r = new Reader(doc, '');
  r.only(TOP_KEYS);
  cfg.socket = r.absPath('socket') ?? cfg.socket;
  const group = r.str('socket_group');
  if (group !== undefined && group !== '') {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$/.test(group)) throw new ConfigError('socket_group', `not a group name or gid: ${JSON.stringify(group)}`);
    cfg.socketGroup = group;
  }
  cfg.root = r.absPath('root') ?? cfg.root;
  cfg.runRoot = r.absPath('run_root') ?? cfg.runRoot;
  cfg.registryHostsDir = r.absPath('registry_hosts_dir') ?? cfg.registryHostsDir;
  const cni = r.table('cni');
  if (cni) {
    const c = new Reader(cni, 'cni');
    c.only(['conf_dir', 'bin_dirs']);
    cfg.cni.confDir = c.absPath('conf_dir') ?? cfg.cni.confDir;
    cfg.cni.binDirs = c.pathList('bin_dirs') ?? cfg.cni.binDirs;
  }
  const runtimes = r.table('runtimes');
  if (runtimes) {
    for (const [name, v] of Object.entries(runtimes)) {
      if (!isTable(v)) throw new ConfigError(`runtimes.${name}`, `must be a table, got ${describe(v)}`);
      cfg.runtimes[name] = parseRuntime(name, v);
    }
  }
  cfg.defaultRuntime = r.str('default_runtime') ?? cfg.defaultRuntime;
  if (cfg.runtimes[cfg.defaultRuntime] === undefined) {
    throw new ConfigError('default_runtime', `names no handler: ${JSON.stringify(cfg.defaultRuntime)} (known: ${Object.keys(cfg.runtimes).join(', ')})`);
  }
  const stream = r.str('stream_address');
  if (stream !== undefined) cfg.streamAddress = checkStreamAddress('stream_address', stream);
  const level = r.str('log_level');
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new ConfigError('log_level', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
    cfg.logLevel = level as LogLevel;
  }
  cfg.sandboxImage = r.str('sandbox_image') ?? cfg.sandboxImage;
  const driver = r.str('cgroup_driver');
  if (driver !== undefined) {
    if (driver !== 'cgroupfs' && driver !== 'systemd') throw new ConfigError('cgroup_driver', `must be "cgroupfs" or "systemd", got ${JSON.stringify(driver)}`);
    cfg.cgroupDriver = driver;
  }
  cfg.restrictOomScoreAdj = r.bool('restrict_oom_score_adj') ?? cfg.restrictOomScoreAdj;
  return cfg;
}

/** Whether systemd is the running init (what sd_booted checks). */
export function systemdRunning(): boolean {
  return fs.existsSync('/run/systemd/system');
}

/** Checks that depend on the host, after parsing (kept apart so parsing stays pure). */
export function checkHost(cfg: DaemonConfig, isSystemd: () => boolean = systemdRunning): void {
  if (cfg.cgroupDriver === 'systemd' && !isSystemd()) {
    throw new ConfigError('cgroup_driver', 'is "systemd" but systemd is not running on this host (no /run/systemd/system): use "cgroupfs"');
  }
}

export interface ConfigOverrides {
  socket?: string;
  root?: string;
  runRoot?: string;
  logLevel?: LogLevel;
}

/**
 * Read the config file. A missing file at the default path means all defaults; a missing file that
 * was named explicitly is an error.
 */
export function loadConfig(file: string | undefined, overrides: ConfigOverrides = {}): DaemonConfig {
  const p = file ?? DEFAULT_CONFIG_PATH;
  let text = '';
  try {
    text = fs.readFileSync(p, 'utf8');
  } catch (err) {
    if (!(isErrno(err, 'ENOENT') && file === undefined)) throw new ConfigError(p, `cannot read: ${(err as Error).message}`);
  }
  const cfg = parseConfig(text, p);
  if (overrides.socket !== undefined) cfg.socket = path.resolve(overrides.socket);
  if (overrides.root !== undefined) cfg.root = path.resolve(overrides.root);
  if (overrides.runRoot !== undefined) cfg.runRoot = path.resolve(overrides.runRoot);
  if (overrides.logLevel !== undefined) cfg.logLevel = overrides.logLevel;
  return cfg;
}
