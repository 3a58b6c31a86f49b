/**
 * berth's container lifecycle commands (run, create, start, stop, restart, kill, rm, ps, logs,
 * inspect, wait, rename, port): thin front ends over src/engine. Exit statuses as docker's: 125 for
 * berth's own errors (main maps thrown errors), 126/127 when the container's command cannot be run or
 * found, otherwise the container's; multi-container commands (stop, rm, kill...) print an error per
 * container that failed and then exit 125, as berth's rmi does.
 */
import * as os from 'node:os';
import { BerthError } from '../../runtime/errors';
import { parseSignal } from '../../image/config/signal';
import { displayName } from '../../image/service';
import { canonical, familiarName, parseReference } from '../../image/ref';
import { inspectImage } from '../../image/service';
import { ContainerCommandError, type Engine } from '../../engine/engine';
import { openEngine } from '../../engine/open';
import { parseRunOptions } from '../../engine/run-options';
import { portLines, psRow, PS_COLUMNS } from '../../engine/format';
import { streamLogs } from '../../engine/logs';
import { inspectContainer } from '../../engine/inspect';
import { parseTimeArg } from '../../engine/events';
import type { ContainerRecord, ContainerSummary, RunOptions } from '../../engine/types';
import { ProgressView } from '../common/progress';
import { formatRows } from '../common/format';
import { renderTable } from '../common/table';
import { parseFilters } from '../common/filter';
import { pullEventToUpdate } from './image';
import { attachSession, DEFAULT_DETACH_KEYS } from './terminal';
import { confirm } from './container-extra';
import { humanSize } from '../common/units';
import type { Flags, FlagSpec } from './args';
import type { Context } from './context';

/** Exit status of a multi-object command when one of them failed (125, as berth's rmi and image inspect). */
const EXIT_SOME_FAILED = 125;

export function engineFor(ctx: Context): Engine {
  return openEngine({ root: ctx.global.root, runRoot: ctx.global.runRoot, hostsDir: ctx.global.hostsDir, debug: ctx.global.debug, images: ctx.images() });
}

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new BerthError('PERMISSION_DENIED', 'containers need root: run berth as root (sudo berth ...)');
  }
}

// ---- flags ---------------------------------------------------------------------------------------

export const CREATE_FLAGS: FlagSpec[] = [
  { name: 'name', type: 'string', metavar: 'string', help: 'Assign a name to the container' },
  { name: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
  { name: 'env', short: 'e', type: 'list', metavar: 'list', help: 'Set environment variables (KEY=VALUE, or KEY to take it from here)' },
  { name: 'env-file', type: 'list', metavar: 'list', help: 'Read in a file of environment variables' },
  { name: 'workdir', short: 'w', type: 'string', metavar: 'string', help: 'Working directory inside the container' },
  { name: 'user', short: 'u', type: 'string', metavar: 'string', help: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'volume', short: 'v', type: 'list', metavar: 'list', help: 'Bind mount a host path (/host:/ctr[:ro]) or a named volume (name:/ctr); /ctr alone: an anonymous volume' },
  { name: 'mount', type: 'list', metavar: 'mount', help: 'Attach a filesystem mount: type=bind|volume,source=..,target=..[,readonly]' },
  { name: 'publish', short: 'p', type: 'list', metavar: 'list', help: "Publish a container's port to the host: [ip:][hostPort:]containerPort[/tcp|udp]" },
  { name: 'network', type: 'string', metavar: 'network', help: 'Connect the container to a network: bridge, host or none', default: 'bridge' },
  { name: 'hostname', type: 'string', metavar: 'string', help: 'Container host name (default: the short id)' },
  { name: 'entrypoint', type: 'string', metavar: 'string', help: "Overwrite the default ENTRYPOINT of the image ('' clears it)" },
  { name: 'label', short: 'l', type: 'list', metavar: 'list', help: 'Set meta data on a container (KEY=VALUE)' },
  { name: 'memory', short: 'm', type: 'string', metavar: 'bytes', help: 'Memory limit (e.g. 512m, 1g)' },
  { name: 'cpus', type: 'string', metavar: 'decimal', help: 'Number of CPUs' },
  { name: 'pids-limit', type: 'int', metavar: 'int', help: 'Tune container pids limit' },
  { name: 'cap-add', type: 'list', metavar: 'list', help: 'Add Linux capabilities (NET_ADMIN, CAP_SYS_TIME, ALL)' },
  { name: 'cap-drop', type: 'list', metavar: 'list', help: 'Drop Linux capabilities' },
  { name: 'privileged', type: 'bool', help: 'Give extended privileges to this container' },
  { name: 'read-only', type: 'bool', help: "Mount the container's root filesystem as read only" },
  { name: 'security-opt', type: 'list', metavar: 'list', help: 'Security options: seccomp=unconfined, seccomp=PROFILE.json, no-new-privileges' },
  { name: 'runtime', type: 'string', metavar: 'string', help: "Runtime for this container: berth (default) or an OCI runtime binary on PATH (runc, crun) or by path" },
  { name: 'pull', type: 'string', metavar: 'string', help: 'Pull image before running', default: 'missing', choices: ['always', 'missing', 'never'] },
  { name: 'restart', type: 'string', metavar: 'string', help: 'Restart policy: no, on-failure[:max-retries], always, unless-stopped', default: 'no' },
  { name: 'rm', type: 'bool', help: 'Automatically remove the container and its anonymous volumes when it exits' },
  { name: 'init', type: 'bool', help: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'stop-signal', type: 'string', metavar: 'string', help: 'Signal to stop the container (default: the image\'s, else SIGTERM)' },
  { name: 'stop-timeout', type: 'int', metavar: 'int', help: 'Timeout (in seconds) to stop a container (default 10)' },
];

export const RUN_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', help: 'Run container in background and print container ID' },
  ...CREATE_FLAGS,
  { name: 'detach-keys', type: 'string', metavar: 'string', help: 'Override the key sequence for detaching a container', default: DEFAULT_DETACH_KEYS },
  { name: 'sig-proxy', type: 'bool', help: 'Proxy received signals to the process (without a tty)', default: true },
  { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress the pull output' },
];

export const RUN_NOTES =
  'Exit status: the container\'s; 125 when berth itself fails (bad flag, unknown image, name or port in\n' +
  'use), 126 when the command cannot be invoked, 127 when it is not found.\n' +
  'Each container gets its own pod: network namespace on the berth0 bridge (or host/none), hostname, and\n' +
  'the published ports (reachable on the host, 127.0.0.1 included).';

// ---- image for run/create --------------------------------------------------------------------------

async function ensureImage(ctx: Context, engine: Engine, image: string, policy: RunOptions['pull'], quiet: boolean): Promise<void> {
  const svc = engine.images.service;
  if (policy !== 'always') {
    try {
      const f = await svc.find(image);
      await svc.unpack(f.byName ?? f.records[0]!);
      return;
    } catch (err) {
      if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND') throw err;
      if (policy === 'never') throw new BerthError('NOT_FOUND', `Unable to find image '${image}' locally, and --pull never forbids pulling it`);
    }
    ctx.err(`Unable to find image '${image}' locally\n`);
  }
  let ref;
  try {
    ref = parseReference(image);
  } catch {
    throw new BerthError('NOT_FOUND', `Unable to find image '${image}' locally (and it is not a reference that could be pulled)`);
  }
  const view = quiet ? undefined : new ProgressView(ctx.stderr, { tty: ctx.stderr.isTTY === true, columns: ctx.stderr.columns ?? 0 });
  view?.message(`${ref.digest ?? ref.tag ?? 'latest'}: Pulling from ${familiarName(ref)}`);
  try {
    const { record } = await svc.pull(image, {
      onProgress: (p) => {
        const u = pullEventToUpdate(p, true);
        if (u && view) view.update(u);
      },
    });
    view?.message(`Digest: ${record.target.digest}`);
    view?.message(`Status: Downloaded newer image for ${displayName(record.name)}`);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    throw new BerthError(err instanceof BerthError ? err.code : 'INTERNAL', `Unable to find image '${image}' locally, and pulling ${displayName(canonical(ref))} failed: ${msg}`, { cause: err });
  }
}

function printWarnings(ctx: Context, warnings: string[]): void {
  for (const w of warnings) ctx.err(`WARNING: ${w}\n`);
}

async function createFromFlags(ctx: Context, engine: Engine, flags: Flags, args: string[]): Promise<RunOptions> {
  const { options, warnings } = parseRunOptions(flags, args, { cwd: process.cwd() });
  printWarnings(ctx, warnings);
  await ensureImage(ctx, engine, options.image, options.pull, flags.bool('quiet'));
  return options;
}

/** The container command's own failure -> its exit status, message on stderr. */
function commandExit(ctx: Context, err: unknown): number {
  if (err instanceof ContainerCommandError) {
    ctx.err(`berth: ${err.message}\n`);
    return err.exitCode;
  }
  throw err;
}

// ---- run / create / start ------------------------------------------------------------------------

/** Attach to a created or running container and stream until it exits (or the person detaches). */
async function attachAndWait(ctx: Context, engine: Engine, rec: ContainerRecord, o: { stdin: boolean; detachKeys: string; sigProxy: boolean; start?: () => Promise<void> }): Promise<{ detached: boolean; exitCode: number }> {
  // (-t with a stdin that is no terminal: docker refuses; berth passes the bytes through without raw mode)
  const info = engine.runtimeInfo(rec);
  let startErr: unknown;
  const res = await attachSession({
    attachSocket: info.attachSocket,
    stdin: ctx.io.stdin,
    stdout: ctx.io.stdout as NodeJS.WritableStream as import('node:stream').Writable,
    stderr: ctx.io.stderr as NodeJS.WritableStream as import('node:stream').Writable,
    tty: rec.options.tty,
    openStdin: o.stdin && rec.options.interactive,
    detachKeys: o.detachKeys,
    sigProxy: o.sigProxy,
    onSignal: (sig) => {
      const pid = engine.runtimeInfo(rec).pid;
      if (pid > 0) {
        try {
          process.kill(pid, sig);
        } catch {
          // gone
        }
      }
    },
    ...(o.start
      ? {
          onAttached: async (session) => {
            try {
              await o.start!();
            } catch (err) {
              startErr = err;
              session.detach();
            }
          },
        }
      : {}),
  });
  if (startErr !== undefined) throw startErr;
  if (res.detached) return { detached: true, exitCode: 0 };
  const code = res.exitCode ?? (await engine.wait(rec.id).catch(() => 0));
  return { detached: false, exitCode: code };
}

export async function cmdRun(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineFor(ctx);
  const options = await createFromFlags(ctx, engine, flags, args);
  if (options.detach) {
    let rec: ContainerRecord;
    try {
      rec = await engine.create(options, { start: true });
    } catch (err) {
      return commandExit(ctx, err);
    }
    ctx.out(`${rec.id}\n`);
    return 0;
  }
  let rec: ContainerRecord;
  try {
    rec = await engine.create(options);
  } catch (err) {
    return commandExit(ctx, err);
  }
  let result: { detached: boolean; exitCode: number };
  try {
    result = await attachAndWait(ctx, engine, rec, {
      stdin: options.interactive,
      detachKeys: flags.string('detach-keys') ?? DEFAULT_DETACH_KEYS,
      sigProxy: flags.bool('sig-proxy'),
      start: async () => {
        await engine.start(rec.id);
      },
    });
  } catch (err) {
    if (options.autoRemove) await engine.remove(rec.id, { force: true, volumes: true }).catch(() => undefined);
    return commandExit(ctx, err);
  }
  if (result.detached) return 0;
  if (options.autoRemove) {
    try {
      await engine.remove(rec.id, { force: true, volumes: true });
    } catch (err) {
      // the exit command (restart.ts) may have removed it already
      if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
    }
  }
  return result.exitCode;
}

export async function cmdCreate(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineFor(ctx);
  const options = await createFromFlags(ctx, engine, flags, args);
  let rec: ContainerRecord;
  try {
    rec = await engine.create({ ...options, detach: true });
  } catch (err) {
    return commandExit(ctx, err);
  }
  ctx.out(`${rec.id}\n`);
  return 0;
}

export async function cmdStart(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineFor(ctx);
  if (flags.bool('attach') || flags.bool('interactive')) {
    if (args.length > 1) throw new BerthError('INVALID_ARGUMENT', 'you cannot start and attach multiple containers at once');
    const rec = engine.resolve(args[0]!);
    try {
      const r = await attachAndWait(ctx, engine, rec, {
        stdin: flags.bool('interactive'),
        detachKeys: flags.string('detach-keys') ?? DEFAULT_DETACH_KEYS,
        sigProxy: true,
        start: async () => {
          await engine.start(rec.id);
        },
      });
      return r.exitCode;
    } catch (err) {
      return commandExit(ctx, err);
    }
  }
  return forEach(ctx, args, async (ref) => {
    try {
      await engine.start(ref);
    } catch (err) {
      if (err instanceof ContainerCommandError) throw new BerthError('FAILED_PRECONDITION', err.message);
      throw err;
    }
    ctx.out(`${ref}\n`);
  });
}

/** Run `fn` for each argument; errors are printed and make the exit status 125. */
async function forEach(ctx: Context, refs: readonly string[], fn: (ref: string) => Promise<void>): Promise<number> {
  let failed = 0;
  for (const ref of refs) {
    try {
      await fn(ref);
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      failed++;
      ctx.err(`Error response from berth: ${err.message}\n`);
    }
  }
  return failed > 0 ? EXIT_SOME_FAILED : 0;
}

// ---- stop / restart / kill / rm ------------------------------------------------------------------

export async function cmdStop(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineFor(ctx);
  const t = flags.int('time');
  return forEach(ctx, args, async (ref) => {
    await engine.stop(ref, t);
    ctx.out(`${ref}\n`);
  });
}

export async function cmdRestart(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineFor(ctx);
  const t = flags.int('time');
  return forEach(ctx, args, async (ref) => {
    await engine.restart(ref, t);
    ctx.out(`${ref}\n`);
  });
}

/** "KILL", "SIGKILL", "9" -> 9. */
export function signalNumber(s: string): number {
  const up = s.toUpperCase();
  if (/^\d+$/.test(up)) {
    const n = Number(up);
    if (n < 1 || n > 64) throw new BerthError('INVALID_ARGUMENT', `invalid signal: ${s}`);
    return n;
  }
  const name = up.startsWith('SIG') ? up : `SIG${up}`;
  const n = (os.constants.signals as Record<string, number | undefined>)[name];
  if (n !== undefined) return n;
  try {
    return parseSignal(s, '--signal');
  } catch {
    throw new BerthError('INVALID_ARGUMENT', `invalid signal: ${s}`);
  }
}

export async function cmdKill(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineFor(ctx);
  const sig = signalNumber(flags.string('signal') ?? 'KILL');
  return forEach(ctx, args, async (ref) => {
    await engine.kill(ref, sig);
    ctx.out(`${ref}\n`);
  });
}

export async function cmdRm(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineFor(ctx);
  return forEach(ctx, args, async (ref) => {
    await engine.remove(ref, { force: flags.bool('force'), volumes: flags.bool('volumes') });
    ctx.out(`${ref}\n`);
  });
}

// ---- ps ------------------------------------------------------------------------------------------

const PS_FILTERS = ['name', 'id', 'status', 'label', 'ancestor', 'exited'];

function safeRegExp(v: string): RegExp {
  try {
    return new RegExp(v);
  } catch {
    throw new BerthError('INVALID_ARGUMENT', `invalid filter 'name=${v}': not a regular expression`);
  }
}

function matchesFilters(s: ContainerSummary, f: Map<string, string[]>): boolean {
  for (const [k, values] of f) {
    const ok = values.some((v) => {
      switch (k) {
        case 'name':
          return s.name.includes(v.replace(/^\//, '')) || safeRegExp(v).test(s.name);
        case 'id':
          return s.id.startsWith(v);
        case 'status':
          return s.state === v;
        case 'label': {
          const eq = v.indexOf('=');
          return eq < 0 ? v in s.labels : s.labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
        case 'ancestor':
          return s.image === v || s.imageId === v || s.imageId.startsWith(v) || s.imageId.startsWith(`sha256:${v}`) || (() => {
            try {
              return canonical(parseReference(s.image)) === canonical(parseReference(v));
            } catch {
              return false;
            }
          })();
        case 'exited':
          return s.state === 'exited' && String(s.exitCode) === v;
        default:
          return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}

export async function cmdPs(ctx: Context, flags: Flags): Promise<number> {
  const engine = engineFor(ctx);
  const filters = parseFilters(flags.list('filter'), PS_FILTERS);
  const status = filters.get('status');
  for (const st of status ?? []) {
    if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(st)) {
      throw new BerthError('INVALID_ARGUMENT', `invalid filter 'status=${st}': want created, restarting, running, removing, paused, exited or dead`);
    }
  }
  const all = flags.bool('all') || status !== undefined || filters.has('exited');
  let list = (await engine.list({ all: all || flags.has('last') || flags.bool('latest') })).filter((s) => matchesFilters(s, filters));
  const last = flags.bool('latest') ? 1 : flags.int('last');
  if (last !== undefined && last >= 0) list = list.slice(0, last);
  const noTrunc = flags.bool('no-trunc');
  if (flags.bool('quiet')) {
    for (const s of list) ctx.out(`${noTrunc ? s.id : s.id.slice(0, 12)}\n`);
    return 0;
  }
  const now = Date.now();
  const rows = list.map((s) => psRow(s, noTrunc, now));
  const spec: Parameters<typeof formatRows>[1] = { columns: [...PS_COLUMNS] };
  const format = flags.string('format');
  if (format !== undefined) spec.format = format;
  ctx.out(formatRows(rows, spec, renderTable));
  return 0;
}

// ---- logs ----------------------------------------------------------------------------------------

export async function cmdLogs(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const engine = engineFor(ctx);
  const rec = engine.resolve(args[0]!);
  const tailRaw = flags.string('tail') ?? 'all';
  let tail: number | undefined;
  if (tailRaw !== 'all') {
    if (!/^-?\d+$/.test(tailRaw)) throw new BerthError('INVALID_ARGUMENT', `invalid --tail ${JSON.stringify(tailRaw)}: a number or "all"`);
    tail = Number(tailRaw) < 0 ? undefined : Number(tailRaw);
  }
  const since = flags.string('since');
  const until = flags.string('until');
  const abort = new AbortController();
  const onSig = (): void => abort.abort();
  process.once('SIGINT', onSig);
  try {
    await streamLogs(rec.logPath, {
      ...(tail !== undefined ? { tail } : {}),
      ...(since !== undefined ? { sinceNs: parseTimeArg(since) } : {}),
      ...(until !== undefined ? { untilNs: parseTimeArg(until) } : {}),
      timestamps: flags.bool('timestamps'),
      follow: flags.bool('follow'),
      stdout: ctx.stdout,
      stderr: ctx.stderr,
      signal: abort.signal,
      running: async () => {
        let cur: ContainerRecord;
        try {
          cur = engine.resolve(rec.id);
        } catch {
          return false;
        }
        const st = await engine.stateOf(cur);
        return st.state === 'running' || st.state === 'created' || st.state === 'restarting' || cur.restarting === true;
      },
    });
  } finally {
    process.off('SIGINT', onSig);
  }
  return 0;
}

// ---- inspect / wait / rename / port --------------------------------------------------------------

export async function cmdInspectAny(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const type = flags.string('type');
  if (type !== undefined && type !== 'container' && type !== 'image') throw new BerthError('INVALID_ARGUMENT', `inspect --type ${type}: want container or image`);
  const engine = engineFor(ctx);
  const docs: Record<string, unknown>[] = [];
  const errors: string[] = [];
  for (const a of args) {
    let done = false;
    if (type !== 'image') {
      try {
        docs.push(await inspectContainer(engine, engine.resolve(a)));
        done = true;
      } catch (err) {
        if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND' || type === 'container') {
          if (err instanceof BerthError) {
            errors.push(err.code === 'NOT_FOUND' ? `No such container: ${a}` : err.message);
            continue;
          }
          throw err;
        }
      }
    }
    if (!done) {
      try {
        const svc = ctx.images();
        const f = await svc.find(a);
        docs.push((await inspectImage(svc, f.byName ? [f.byName, ...f.records.filter((r) => r !== f.byName)] : f.records)) as unknown as Record<string, unknown>);
      } catch (err) {
        if (!(err instanceof BerthError) || err.code !== 'NOT_FOUND') throw err;
        errors.push(type === 'image' ? err.message : `No such object: ${a}`);
      }
    }
  }
  const format = flags.string('format');
  if (format !== undefined && format !== 'json') {
    for (const d of docs) ctx.out(renderPathTemplate(format, d) + '\n');
  } else {
    ctx.out(JSON.stringify(docs, null, 4) + '\n');
  }
  for (const e of errors) ctx.err(`Error: ${e}\n`);
  return errors.length > 0 ? EXIT_SOME_FAILED : 0;
}

export async function cmdWait(ctx: Context, _flags: Flags, args: string[]): Promise<number> {
  const engine = engineFor(ctx);
  return forEach(ctx, args, async (ref) => {
    const code = await engine.wait(ref);
    ctx.out(`${code}\n`);
  });
}

export async function cmdRename(ctx: Context, _flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineFor(ctx);
  await engine.rename(args[0]!, args[1]!);
  return 0;
}

export async function cmdPort(ctx: Context, _flags: Flags, args: string[]): Promise<number> {
  const engine = engineFor(ctx);
  const rec = engine.resolve(args[0]!);
  const lines = portLines(rec.options.ports, args[1]);
  if (args[1] !== undefined && lines.length === 0) throw new BerthError('NOT_FOUND', `No public port '${args[1].includes('/') ? args[1] : `${args[1]}/tcp`}' published for ${args[0]}`);
  for (const l of lines) ctx.out(`${l}\n`);
  return 0;
}

/**
 * inspect's --format: docker's common subset of Go templates over nested documents: text,
 * {{.A.B.C}}, {{json .A.B}}, {{json .}}; maps and arrays print as JSON, strings as they are.
 */
export function renderPathTemplate(tpl: string, doc: unknown): string {
  const text = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return text.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, action: string) => {
    const mm = /^(json\s+)?\.([A-Za-z0-9_.]*)$/.exec(action);
    if (!mm) throw new BerthError('INVALID_ARGUMENT', `unsupported template action {{${action}}}: berth supports {{.Path.To.Field}}, {{json .}} and {{json .Field}}`);
    let v: unknown = doc;
    for (const k of mm[2]!.split('.').filter((x) => x !== '')) {
      if (v === null || typeof v !== 'object' || !(k in (v as Record<string, unknown>))) {
        throw new BerthError('INVALID_ARGUMENT', `template: can't evaluate field ${k} in {{${action}}}`);
      }
      v = (v as Record<string, unknown>)[k];
    }
    if (mm[1] !== undefined) return JSON.stringify(v ?? null);
    if (v === null || v === undefined) return '<no value>';
    if (typeof v === 'object') return JSON.stringify(v);
    return String(v);
  });
}

// ---- container prune -----------------------------------------------------------------------------

export async function cmdContainerPrune(ctx: Context, flags: Flags): Promise<number> {
  requireRoot();
  if (!flags.bool('force') && !(await confirm(ctx, 'This will remove all stopped containers.'))) return 0;
  const engine = engineFor(ctx);
  const snaps = await engine.images.service.snapshotter();
  const removed: string[] = [];
  let reclaimed = 0;
  let failed = 0;
  for (const r of engine.records()) {
    if (r.phase !== 'created') continue;
    const st = await engine.stateOf(r);
    if (st.state === 'running' || st.state === 'restarting' || st.state === 'paused') continue;
    const m = engine.meta(r);
    const size = m !== null ? (await snaps.usage(m.snapshotKey).catch(() => ({ bytes: 0 }))).bytes : 0;
    try {
      await engine.remove(r.id, { force: false, volumes: false });
      removed.push(r.id);
      reclaimed += size;
    } catch (err) {
      if (!(err instanceof BerthError)) throw err;
      failed++;
      ctx.err(`Error removing container ${r.id.slice(0, 12)}: ${err.message}\n`);
    }
  }
  if (removed.length > 0) ctx.out(`Deleted Containers:\n${removed.map((i) => `${i}\n`).join('')}\n`);
  ctx.out(`Total reclaimed space: ${humanSize(reclaimed, 4)}\n`);
  return failed > 0 ? EXIT_SOME_FAILED : 0;
}
