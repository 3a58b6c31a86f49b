/**
 * docker's `run`/`create` flags -> a typed RunOptions. Pure: the flag values come through a small
 * accessor (the CLI's Flags fits), files (--env-file) and the process environment through parameters,
 * so unit tests drive it without a CLI. Every fault is a BerthError('INVALID_ARGUMENT') naming the flag
 * (berth exits 125 on it, as docker does).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';
import { checkName } from './names';
import type { MountSpec, NetworkMode, PortSpec, Protocol, PullPolicy, RestartPolicy, RunOptions, SeccompOption } from './types';

/** What run-options needs from parsed flags (src/cli/berth/args.ts Flags has it). */
export interface FlagSource {
  has(name: string): boolean;
  bool(name: string): boolean;
  string(name: string): string | undefined;
  int(name: string): number | undefined;
  list(name: string): string[];
}

export interface ParseEnv {
  /** For `-e KEY` and env-file lines without '=' (default process.env). */
  env?: Record<string, string | undefined>;
  readFile?: (file: string) => string;
  /** Relative bind sources are refused by docker; a cwd lets `-v ./x:/y` work (optional). */
  cwd?: string;
}

export interface ParsedRun {
  options: RunOptions;
  /** Things docker warns about (printed on stderr, not fatal). */
  warnings: string[];
}

function bad(msg: string): never {
  throw new BerthError('INVALID_ARGUMENT', msg);
}

/** "512m", "1g", "1024" (bytes), "1.5g" -> bytes. */
export function parseBytes(s: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgtp]?)i?b?$/i.exec(s.trim());
  if (!m) bad(`invalid argument ${JSON.stringify(s)} for "${flag}" flag: want a size such as 512m or 1g`);
  const mult: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
  const n = Math.floor(Number(m[1]) * mult[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(n)) bad(`invalid argument ${JSON.stringify(s)} for "${flag}" flag: too large`);
  return n;
}

function parsePort(s: string, what: string, allowZero: boolean): number {
  if (!/^\d+$/.test(s)) bad(`invalid ${what} ${JSON.stringify(s)}: not a port number`);
  const n = Number(s);
  if (n > 65535 || (!allowZero && n === 0)) bad(`invalid ${what} ${JSON.stringify(s)}: out of range`);
  return n;
}

/** -p [hostIp:][hostPort:]containerPort[/proto]; hostIp may be [v6]. */
export function parsePublish(spec: string): PortSpec {
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    const p = rest.slice(slash + 1).toLowerCase();
    if (p !== 'tcp' && p !== 'udp' && p !== 'sctp') bad(`invalid publish ${JSON.stringify(spec)}: protocol must be tcp, udp or sctp`);
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIp = '';
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0 || rest[end + 1] !== ':') bad(`invalid publish ${JSON.stringify(spec)}: bad IPv6 address`);
    hostIp = rest.slice(1, end);
    rest = rest.slice(end + 2);
    const parts = rest.split(':');
    if (parts.length !== 2) bad(`invalid publish ${JSON.stringify(spec)}: want [ip]:hostPort:containerPort`);
    return { hostIp, hostPort: parts[0] === '' ? 0 : parsePort(parts[0]!, 'host port', false), containerPort: parsePort(parts[1]!, 'container port', false), protocol };
  }
  const parts = rest.split(':');
  if (parts.some((p) => p.includes('-'))) bad(`invalid publish ${JSON.stringify(spec)}: port ranges are not supported`);
  if (parts.length === 1) return { hostIp, hostPort: 0, containerPort: parsePort(parts[0]!, 'container port', false), protocol };
  if (parts.length === 2) return { hostIp, hostPort: parsePort(parts[0]!, 'host port', false), containerPort: parsePort(parts[1]!, 'container port', false), protocol };
  if (parts.length === 3) {
    hostIp = parts[0]!;
    if (!/^(\d{1,3}\.){3}\d{1,3}$/.test(hostIp) && hostIp !== '') bad(`invalid publish ${JSON.stringify(spec)}: ${JSON.stringify(hostIp)} is not an IP address`);
    return { hostIp, hostPort: parts[1] === '' ? 0 : parsePort(parts[1]!, 'host port', false), containerPort: parsePort(parts[2]!, 'container port', false), protocol };
  }
  return bad(`invalid publish ${JSON.stringify(spec)}: want [ip:][hostPort:]containerPort[/proto]`);
}

const PROPAGATION: Record<string, MountSpec['propagation']> = { private: 'private', rprivate: 'private', slave: 'rslave', rslave: 'rslave', shared: 'rshared', rshared: 'rshared' };

function absTarget(t: string, spec: string): string {
  if (!t.startsWith('/')) bad(`invalid volume specification ${JSON.stringify(spec)}: the container path ${JSON.stringify(t)} must be absolute`);
  if (t === '/') bad(`invalid volume specification ${JSON.stringify(spec)}: the container path cannot be /`);
  return t;
}

/** -v SRC:DST[:OPTS] | -v DST (anonymous volume). SRC absolute (or ./relative with cwd) = bind, else a volume name. */
export function parseVolume(spec: string, cwd?: string): MountSpec {
  const parts = spec.split(':');
  if (parts.length === 1) return { type: 'volume', source: '', target: absTarget(parts[0]!, spec), readonly: false, propagation: 'private' };
  if (parts.length > 3) bad(`invalid volume specification ${JSON.stringify(spec)}: too many colons`);
  let source = parts[0]!;
  const target = absTarget(parts[1]!, spec);
  let readonly = false;
  let propagation: MountSpec['propagation'] = 'private';
  let noCopy = false;
  for (const o of (parts[2] ?? '').split(',').filter((x) => x !== '')) {
    if (o === 'ro') readonly = true;
    else if (o === 'rw') readonly = false;
    else if (o === 'z' || o === 'Z') continue;
    else if (o === 'nocopy') noCopy = true;
    else if (PROPAGATION[o] !== undefined) propagation = PROPAGATION[o]!;
    else bad(`invalid volume specification ${JSON.stringify(spec)}: unknown option ${JSON.stringify(o)}`);
  }
  if (source === '') bad(`invalid volume specification ${JSON.stringify(spec)}: empty source`);
  const isPath = source.startsWith('/') || source.startsWith('./') || source.startsWith('../') || source === '.';
  if (isPath) {
    if (!source.startsWith('/')) {
      if (cwd === undefined) bad(`invalid volume specification ${JSON.stringify(spec)}: the host path must be absolute`);
      source = path.resolve(cwd, source);
    }
    return { type: 'bind', source, target, readonly, propagation };
  }
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) bad(`invalid volume specification ${JSON.stringify(spec)}: ${JSON.stringify(source)} is neither an absolute path nor a volume name`);
  return { type: 'volume', source, target, readonly, propagation: 'private', ...(noCopy ? { noCopy } : {}) };
}

/** --mount type=bind|volume,source=..,target=..[,readonly][,bind-propagation=..][,volume-nocopy] */
export function parseMount(spec: string): MountSpec {
  const kv = new Map<string, string>();
  for (const field of spec.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const k = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    kv.set(k, eq < 0 ? 'true' : field.slice(eq + 1));
  }
  const type = kv.get('type') ?? 'volume';
  const source = kv.get('source') ?? kv.get('src') ?? '';
  const target = kv.get('target') ?? kv.get('destination') ?? kv.get('dst') ?? '';
  if (target === '') bad(`invalid mount ${JSON.stringify(spec)}: target is required`);
  absTarget(target, spec);
  const ro = kv.get('readonly') ?? kv.get('ro');
  const readonly = ro !== undefined && ro !== 'false' && ro !== '0';
  for (const k of kv.keys()) {
    if (!['type', 'source', 'src', 'target', 'destination', 'dst', 'readonly', 'ro', 'bind-propagation', 'volume-nocopy', 'consistency'].includes(k)) {
      bad(`invalid mount ${JSON.stringify(spec)}: unknown key ${JSON.stringify(k)}`);
    }
  }
  if (type === 'bind') {
    if (!source.startsWith('/')) bad(`invalid mount ${JSON.stringify(spec)}: a bind source must be an absolute path`);
    const p = kv.get('bind-propagation') ?? 'rprivate';
    if (PROPAGATION[p] === undefined) bad(`invalid mount ${JSON.stringify(spec)}: unknown bind-propagation ${JSON.stringify(p)}`);
    return { type: 'bind', source, target, readonly, propagation: PROPAGATION[p]! };
  }
  if (type === 'volume') {
    if (source !== '' && !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(source)) bad(`invalid mount ${JSON.stringify(spec)}: ${JSON.stringify(source)} is not a volume name`);
    const nc = kv.get('volume-nocopy');
    return { type: 'volume', source, target, readonly, propagation: 'private', ...(nc !== undefined && nc !== 'false' ? { noCopy: true } : {}) };
  }
  return bad(`invalid mount ${JSON.stringify(spec)}: type ${JSON.stringify(type)} is not supported (bind, volume)`);
}

/** no | always | unless-stopped | on-failure[:N] */
export function parseRestart(s: string): RestartPolicy {
  if (s === '' || s === 'no') return { name: 'no', maximumRetryCount: 0 };
  if (s === 'always' || s === 'unless-stopped') return { name: s, maximumRetryCount: 0 };
  const m = /^on-failure(?::(\d+))?$/.exec(s);
  if (m) return { name: 'on-failure', maximumRetryCount: m[1] !== undefined ? Number(m[1]) : 0 };
  return bad(`invalid restart policy ${JSON.stringify(s)}: want no, always, unless-stopped or on-failure[:max-retries]`);
}

/** KEY=VALUE, or KEY taken from the environment (dropped when unset there), as docker does. */
function envEntry(s: string, env: Record<string, string | undefined>, where: string): string | undefined {
  const eq = s.indexOf('=');
  const key = eq < 0 ? s : s.slice(0, eq);
  if (key === '' || /\s/.test(key)) bad(`${where}: invalid environment variable ${JSON.stringify(s)}`);
  if (eq >= 0) return s;
  const v = env[key];
  return v === undefined ? undefined : `${key}=${v}`;
}

/** The lines of an --env-file: KEY=VALUE or KEY; blank lines and # comments skipped. */
export function parseEnvFile(text: string, file: string, env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const e = envEntry(line, env, `${file}:${i + 1}`);
    if (e !== undefined) out.push(e);
  });
  return out;
}

function parseSecurityOpts(list: string[]): { seccomp: SeccompOption; noNewPrivileges: boolean } {
  let seccomp: SeccompOption = { kind: 'default' };
  let noNewPrivileges = false;
  for (const raw of list) {
    const eq = raw.search(/[=:]/);
    const key = eq < 0 ? raw : raw.slice(0, eq);
    const value = eq < 0 ? '' : raw.slice(eq + 1);
    if (key === 'no-new-privileges') {
      if (value === '' || value === 'true') noNewPrivileges = true;
      else if (value === 'false') noNewPrivileges = false;
      else bad(`invalid --security-opt ${JSON.stringify(raw)}: no-new-privileges takes true or false`);
    } else if (key === 'seccomp') {
      if (value === 'unconfined') seccomp = { kind: 'unconfined' };
      else if (value === '' ) bad(`invalid --security-opt ${JSON.stringify(raw)}: seccomp=unconfined or seccomp=PROFILE.json`);
      else if (value === 'default' || value === 'builtin') seccomp = { kind: 'default' };
      else seccomp = { kind: 'profile', path: value };
    } else if (key === 'apparmor' || key === 'label') {
      if (value !== 'unconfined' && value !== 'disable') bad(`--security-opt ${key}=${value}: not supported on this host (only ${key}=${key === 'label' ? 'disable' : 'unconfined'})`);
    } else bad(`invalid --security-opt ${JSON.stringify(raw)}: known are seccomp=..., no-new-privileges[=true|false]`);
  }
  return { seccomp, noNewPrivileges };
}

function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    const k = eq < 0 ? l : l.slice(0, eq);
    if (k === '') bad(`invalid label ${JSON.stringify(l)}`);
    out[k] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}

/** `run`/`create` flags and positionals (IMAGE [COMMAND [ARG...]]) -> RunOptions. */
export function parseRunOptions(flags: FlagSource, args: readonly string[], penv: ParseEnv = {}): ParsedRun {
  const env = penv.env ?? process.env;
  const readFile = penv.readFile ?? ((f: string) => fs.readFileSync(f, 'utf8'));
  const warnings: string[] = [];
  const image = args[0];
  if (image === undefined || image === '') bad('"run" requires at least 1 argument: IMAGE [COMMAND] [ARG...]');

  const envList: string[] = [];
  for (const f of flags.list('env-file')) {
    let text: string;
    try {
      text = readFile(f);
    } catch (err) {
      return bad(`--env-file ${f}: ${(err as Error).message}`);
    }
    envList.push(...parseEnvFile(text, f, env));
  }
  for (const e of flags.list('env')) {
    const v = envEntry(e, env, '--env');
    if (v !== undefined) envList.push(v);
  }

  const mounts: MountSpec[] = [...flags.list('volume').map((v) => parseVolume(v, penv.cwd)), ...flags.list('mount').map(parseMount)];
  const targets = new Set<string>();
  for (const m of mounts) {
    const t = m.target.replace(/\/+$/, '');
    if (targets.has(t)) bad(`duplicate mount point: ${m.target}`);
    targets.add(t);
  }

  const netRaw = flags.string('network') ?? 'bridge';
  const network: NetworkMode = netRaw === 'default' ? 'bridge' : (netRaw as NetworkMode);
  if (network !== 'bridge' && network !== 'host' && network !== 'none') bad(`network ${JSON.stringify(netRaw)} not found: berth knows bridge, host and none`);
  let ports = flags.list('publish').map(parsePublish);
  if (ports.length > 0 && network !== 'bridge') {
    warnings.push(`Published ports are discarded when using ${network} network mode`);
    ports = [];
  }
  const hostname = flags.string('hostname');
  if (hostname !== undefined) {
    if (network === 'host') bad('conflicting options: --hostname and the host network');
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(hostname)) bad(`invalid hostname ${JSON.stringify(hostname)}`);
  }

  const name = flags.string('name');
  const restart = parseRestart(flags.string('restart') ?? 'no');
  const autoRemove = flags.bool('rm');
  if (autoRemove && restart.name !== 'no') bad('conflicting options: --restart and --rm');

  let memory: number | undefined;
  const memRaw = flags.string('memory');
  if (memRaw !== undefined) {
    memory = parseBytes(memRaw, '--memory');
    if (memory > 0 && memory < 6 * 1024 * 1024) bad('minimum memory limit allowed is 6MB');
  }
  let cpus: number | undefined;
  const cpusRaw = flags.string('cpus');
  if (cpusRaw !== undefined) {
    if (!/^\d+(\.\d+)?$/.test(cpusRaw) || Number(cpusRaw) <= 0) bad(`invalid argument ${JSON.stringify(cpusRaw)} for "--cpus" flag: want a positive number`);
    cpus = Number(cpusRaw);
  }
  const pidsLimit = flags.int('pids-limit');

  const sec = parseSecurityOpts(flags.list('security-opt'));
  const pull = (flags.string('pull') ?? 'missing') as PullPolicy;
  if (!['always', 'missing', 'never'].includes(pull)) bad(`invalid --pull ${JSON.stringify(pull)}: want always, missing or never`);

  const entrypointRaw = flags.string('entrypoint');
  const workdir = flags.string('workdir');
  if (workdir !== undefined && !workdir.startsWith('/')) bad(`the working directory ${JSON.stringify(workdir)} is invalid: it needs to be an absolute path`);
  const user = flags.string('user');
  const runtime = flags.string('runtime');
  const stopSignal = flags.string('stop-signal');
  const stopTimeout = flags.int('stop-timeout');

  const options: RunOptions = {
    image,
    command: args.slice(1),
    ...(entrypointRaw !== undefined ? { entrypoint: entrypointRaw === '' ? [] : [entrypointRaw] } : {}),
    name: name !== undefined ? checkName(name) : '',
    detach: flags.bool('detach'),
    interactive: flags.bool('interactive'),
    tty: flags.bool('tty'),
    autoRemove,
    env: envList,
    ...(workdir !== undefined ? { workdir } : {}),
    ...(user !== undefined && user !== '' ? { user } : {}),
    mounts,
    ports,
    network,
    ...(hostname !== undefined ? { hostname } : {}),
    labels: parseLabels(flags.list('label')),
    ...(memory !== undefined && memory > 0 ? { memory } : {}),
    ...(cpus !== undefined ? { cpus } : {}),
    ...(pidsLimit !== undefined && pidsLimit > 0 ? { pidsLimit } : {}),
    capAdd: flags.list('cap-add'),
    capDrop: flags.list('cap-drop'),
    privileged: flags.bool('privileged'),
    readOnly: flags.bool('read-only'),
    seccomp: sec.seccomp,
    noNewPrivileges: sec.noNewPrivileges,
    ...(runtime !== undefined && runtime !== '' ? { runtime } : {}),
    pull,
    restart,
    init: flags.bool('init'),
    ...(stopSignal !== undefined ? { stopSignal } : {}),
    ...(stopTimeout !== undefined ? { stopTimeout } : {}),
  };
  return { options, warnings };
}
