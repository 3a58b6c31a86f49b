/**
 * berth's commands around containers beyond their lifecycle: volumes, events, exec, stats, top, cp,
 * system df/prune and the internal `container cleanup` the monitor runs after an exit (restart
 * policies, --rm). Thin front ends over src/engine/{volumes,events,restart}.ts and the engine.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Writable, type Readable } from 'node:stream';
import { BerthError } from '../../runtime/errors';
import { containerCgroup } from '../../runtime/container/cgroup';
import { applyLayer, cleanComponents, resolveInRoot, resolveParent } from '../../image/unpack';
import { memoryFigures } from '../../daemon/container-stats';
import { runExec, type RunExecOptions } from '../../daemon/container-stream';
import type { StreamIO } from '../../cri/streaming/types';
import type { Engine, Session } from '../../engine/engine';
import { openEngine } from '../../engine/open';
import { BackoffStore, containerCleanup, type CleanupEngine } from '../../engine/restart';
import type { ContainerRecord, ContainerRuntimeInfo } from '../../engine/types';
import { DEFAULT_DETACH_KEYS, openTerminal } from './terminal';
import { enginePaths, type EnginePaths } from '../../engine/paths';
import { VolumeStore, dirSize, type VolumeInfo } from '../../engine/volumes';
import { displayName, imageSummaries } from '../../image/service';
import { eventJson, eventLine, followEvents, parseEventFilters, parseTimeArg, readEvents, recordEvent, type EngineEvent, type ReadEventsOptions } from '../../engine/events';
import { RecordStore } from '../../engine/store';
import { withEngineLock } from '../../engine/lock';
import { formatRows, parseTemplate, renderTemplate, type Column } from '../common/format';
import { filterBool, parseFilters } from '../common/filter';
import { renderTable } from '../common/table';
import { humanSize } from '../common/units';
import { UsageError, type Flags, type FlagSpec } from './args';
import type { Context } from './context';
import type { CommandSpec, GroupSpec } from './spec';

export function pathsOf(ctx: Context): EnginePaths {
  return enginePaths(ctx.global.root, ctx.global.runRoot);
}

function volumes(ctx: Context): VolumeStore {
  const p = pathsOf(ctx);
  return new VolumeStore(p.volumes, p.records);
}

// ---- volume -------------------------------------------------------------------------------------

export const VOLUME_CREATE_FLAGS: FlagSpec[] = [
  { name: 'driver', short: 'd', type: 'string', metavar: 'string', help: 'Volume driver name (only local)', default: 'local', choices: ['local'] },
  { name: 'label', type: 'list', metavar: 'list', help: 'Set metadata for a volume (KEY=VALUE); repeatable' },
  { name: 'opt', short: 'o', type: 'list', metavar: 'map', help: 'Set driver specific options (none supported by local)' },
];
export const VOLUME_LS_FLAGS: FlagSpec[] = [
  { name: 'filter', short: 'f', type: 'list', metavar: 'filter', help: 'Filter output: dangling=true|false, name=, label=KEY[=VALUE], driver=; repeatable' },
  { name: 'format', type: 'string', metavar: 'string', help: "Format output: 'table', 'json', 'table TEMPLATE' or a template such as '{{.Name}}'" },
  { name: 'quiet', short: 'q', type: 'bool', help: 'Only display volume names' },
];
export const VOLUME_INSPECT_FLAGS: FlagSpec[] = [{ name: 'format', short: 'f', type: 'string', metavar: 'string', help: "Format output: 'json' or a template such as '{{.Mountpoint}}'" }];
export const VOLUME_RM_FLAGS: FlagSpec[] = [{ name: 'force', short: 'f', type: 'bool', help: 'Do not fail on volumes that do not exist (volumes in use are never removed)' }];
export const VOLUME_PRUNE_FLAGS: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'bool', help: 'Remove all unused volumes, not just anonymous ones' },
  { name: 'filter', type: 'list', metavar: 'filter', help: 'Provide filter values (label=KEY[=VALUE])' },
  { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
];

function keyValues(list: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of list) {
    const eq = s.indexOf('=');
    const k = eq < 0 ? s : s.slice(0, eq);
    if (k === '') throw new BerthError('INVALID_ARGUMENT', `invalid ${what} ${JSON.stringify(s)}`);
    out[k] = eq < 0 ? '' : s.slice(eq + 1);
  }
  return out;
}

/** docker's volume inspect shape. */
export function volumeJson(v: VolumeInfo): Record<string, unknown> {
  return { CreatedAt: v.createdAt, Driver: v.driver, Labels: v.labels, Mountpoint: v.mountpoint, Name: v.name, Options: v.options, Scope: 'local' };
}

export async function cmdVolumeCreate(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const p = pathsOf(ctx);
  const labels = keyValues(flags.list('label'), 'label');
  const options = keyValues(flags.list('opt'), 'option');
  const v = await withEngineLock(p.lock, async () => {
    const r = await volumes(ctx).create(args[0], { labels, options, anonymous: false });
    if (r.created) recordEvent(p.events, { type: 'volume', action: 'create', id: r.volume.name, attributes: { driver: 'local' } });
    return r.volume;
  });
  ctx.out(`${v.name}\n`);
  return 0;
}

const VOLUME_COLUMNS: Column[] = [
  { field: 'Driver', header: 'DRIVER' },
  { field: 'Name', header: 'VOLUME NAME' },
];

export async function cmdVolumeLs(ctx: Context, flags: Flags): Promise<number> {
  const store = volumes(ctx);
  const filters = parseFilters(flags.list('filter'), ['dangling', 'name', 'label', 'driver']);
  const records = new RecordStore(pathsOf(ctx).records).loadAll();
  let list = store.list();
  for (const [k, vals] of filters) {
    list = list.filter((v) =>
      vals.some((val) => {
        if (k === 'dangling') return filterBool(k, val) === (store.users(v.name, records).length === 0);
        if (k === 'name') return v.name.includes(val);
        if (k === 'driver') return v.driver === val;
        const eq = val.indexOf('=');
        return eq < 0 ? val in v.labels : v.labels[val.slice(0, eq)] === val.slice(eq + 1);
      }),
    );
  }
  if (flags.bool('quiet')) {
    ctx.out(list.map((v) => `${v.name}\n`).join(''));
    return 0;
  }
  const rows = list.map((v) => ({
    Driver: v.driver,
    Name: v.name,
    Mountpoint: v.mountpoint,
    Labels: Object.entries(v.labels)
      .map(([k, x]) => `${k}=${x}`)
      .join(','),
    Scope: 'local',
    CreatedAt: v.createdAt,
    Anonymous: v.anonymous,
  }));
  const fmt = flags.string('format');
  ctx.out(formatRows(rows, { ...(fmt !== undefined ? { format: fmt } : {}), columns: VOLUME_COLUMNS }, renderTable));
  return 0;
}

/** `--format json` / none: the JSON array; a template: one line per object. */
function printObjects(ctx: Context, objs: Record<string, unknown>[], format: string | undefined): void {
  if (format === undefined || format === '' || format === 'json') {
    ctx.out(JSON.stringify(objs, null, 4) + '\n');
    return;
  }
  const parts = parseTemplate(format);
  for (const o of objs) ctx.out(renderTemplate(parts, o, new Set(Object.keys(o))) + '\n');
}

export async function cmdVolumeInspect(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const store = volumes(ctx);
  const out: Record<string, unknown>[] = [];
  let failed = false;
  for (const name of args) {
    try {
      out.push(volumeJson(store.inspect(name)));
    } catch (err) {
      if (!(err instanceof BerthError && err.code === 'NOT_FOUND')) throw err;
      ctx.err(`Error: ${err.message}\n`);
      failed = true;
    }
  }
  printObjects(ctx, out, flags.string('format'));
  return failed ? 1 : 0;
}

export async function cmdVolumeRm(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  const p = pathsOf(ctx);
  const store = volumes(ctx);
  let failed = false;
  await withEngineLock(p.lock, async () => {
    const records = new RecordStore(p.records).loadAll();
    for (const name of args) {
      try {
        await store.remove(name, { records });
        recordEvent(p.events, { type: 'volume', action: 'destroy', id: name });
        ctx.out(`${name}\n`);
      } catch (err) {
        if (!(err instanceof BerthError)) throw err;
        if (err.code === 'NOT_FOUND' && flags.bool('force')) continue;
        ctx.err(`Error response: ${err.message}\n`);
        failed = true;
      }
    }
  });
  return failed ? 1 : 0;
}

export async function cmdVolumePrune(ctx: Context, flags: Flags): Promise<number> {
  const p = pathsOf(ctx);
  const labels: string[] = [];
  for (const f of flags.list('filter')) {
    if (!f.startsWith('label=')) throw new BerthError('INVALID_ARGUMENT', `invalid filter ${JSON.stringify(f)}: only label=KEY[=VALUE]`);
    labels.push(f.slice(6));
  }
  if (!flags.bool('force') && !(await confirm(ctx, flags.bool('all') ? 'This will remove all volumes not used by at least one container.' : 'This will remove anonymous volumes not used by at least one container.'))) return 0;
  const r = await withEngineLock(p.lock, async () => {
    const res = await volumes(ctx).prune({ all: flags.bool('all'), labels, records: new RecordStore(p.records).loadAll() });
    for (const n of res.removed) recordEvent(p.events, { type: 'volume', action: 'destroy', id: n });
    return res;
  });
  if (r.removed.length > 0) ctx.out(`Deleted Volumes:\n${r.removed.map((n) => `${n}\n`).join('')}\n`);
  ctx.out(`Total reclaimed space: ${humanSizeOf(r.reclaimed)}\n`);
  return 0;
}

/** docker prints "0B" and "1.234MB" in prune summaries (4 significant digits). */
function humanSizeOf(n: number): string {
  return humanSize(n, 4);
}

/** docker's "Are you sure you want to continue? [y/N]" on stdin; no terminal: refuse (use -f). */
export async function confirm(ctx: Context, what: string): Promise<boolean> {
  const stdin = ctx.io.stdin;
  ctx.err(`WARNING! ${what}\nAre you sure you want to continue? [y/N] `);
  const line = await new Promise<string>((resolve) => {
    let buf = '';
    const onData = (d: Buffer | string): void => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl >= 0) finish(buf.slice(0, nl));
    };
    const onEnd = (): void => finish(buf);
    const finish = (s: string): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
      resolve(s);
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.resume();
  });
  return /^\s*y(es)?\s*$/i.test(line);
}

// ---- events -------------------------------------------------------------------------------------

export const EVENTS_FLAGS: FlagSpec[] = [
  { name: 'filter', short: 'f', type: 'list', metavar: 'filter', help: 'Filter output: container=, event=, type=, image=, label=, volume=; repeatable' },
  { name: 'format', type: 'string', metavar: 'string', help: "Format output: 'json' (one object per line) or a template such as '{{.Action}} {{.Actor.ID}}'" },
  { name: 'since', type: 'string', metavar: 'string', help: 'Show events created since timestamp (RFC 3339, Unix seconds, or a duration such as 10m)' },
  { name: 'until', type: 'string', metavar: 'string', help: 'Stream events until this timestamp' },
];

/** docker's event JSON, with timeNano as the exact integer (beyond 2^53). */
function eventJsonText(ev: EngineEvent): string {
  return JSON.stringify({ ...eventJson(ev), timeNano: 0 }).replace(/"timeNano":0\}$/, `"timeNano":${ev.timeNano}}`);
}

/**
 * Templates for events: {{json .}}, {{.Field}} and nested {{.Actor.Attributes.name}} (docker's usual
 * ones); "\t" and "\n" escapes.
 */
export function renderEventTemplate(tpl: string, obj: Record<string, unknown>): string {
  const text = tpl.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  return text.replace(/\{\{\s*(.*?)\s*\}\}/g, (_m, action: string) => {
    const json = /^json\s+/.test(action);
    const expr = json ? action.replace(/^json\s+/, '') : action;
    if (!/^\.([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$/.test(expr)) {
      throw new BerthError('INVALID_ARGUMENT', `unsupported template action {{${action}}}: berth supports {{.Field}}, {{.A.B}}, {{json .}} and {{json .Field}}`);
    }
    let v: unknown = obj;
    for (const k of expr.split('.').slice(1).filter((x) => x !== '')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
    if (json) return JSON.stringify(v ?? null);
    return v === undefined || v === null ? '<no value>' : typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
}

function renderEvent(ev: EngineEvent, format: string | undefined): string {
  if (format === undefined || format === '') return eventLine(ev) + '\n';
  if (format === 'json' || format === '{{json .}}') return eventJsonText(ev) + '\n';
  const row: Record<string, unknown> = { ...eventJson(ev), ID: ev.id, Status: ev.action, From: ev.attributes.image ?? '' };
  return renderEventTemplate(format, row) + '\n';
}

export async function cmdEvents(ctx: Context, flags: Flags): Promise<number> {
  const p = pathsOf(ctx);
  const format = flags.string('format');
  if (format !== undefined && format !== 'json') renderEventTemplate(format, {}); // reject bad templates early
  const o: ReadEventsOptions = { filters: parseEventFilters(flags.list('filter')) };
  const since = flags.string('since');
  const until = flags.string('until');
  if (since !== undefined) o.since = parseTimeArg(since);
  if (until !== undefined) o.until = parseTimeArg(until);
  const past = readEvents(p.events, o);
  // without --since only new events are shown, as docker
  if (since !== undefined) for (const ev of past.events) ctx.out(renderEvent(ev, format));
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  if (o.until !== undefined && o.until <= nowNs) return 0;
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await followEvents(p.events, past.offset, o, (ev) => ctx.out(renderEvent(ev, format)), ac.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  return 0;
}

// ---- engine access -------------------------------------------------------------------------------

function requireRoot(): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new BerthError('PERMISSION_DENIED', 'containers need root: run berth as root (sudo berth ...)');
  }
}

function engineOf(ctx: Context): Engine {
  return openEngine({ root: ctx.global.root, runRoot: ctx.global.runRoot, hostsDir: ctx.global.hostsDir, debug: ctx.global.debug, images: ctx.images() });
}

/** The managers, loaded under the lock and used after it (reads and execs only, no mutation). */
async function managersOf(engine: Engine): Promise<Session> {
  return engine.locked(async (s) => s);
}

/** A running container's pid, or FAILED_PRECONDITION. */
function runningPid(engine: Engine, rec: ContainerRecord, what: string): { info: ContainerRuntimeInfo; pid: number } {
  const info = engine.runtimeInfo(rec);
  if (info.pid <= 0) throw new BerthError('FAILED_PRECONDITION', `${what}: container ${rec.name} (${rec.id.slice(0, 12)}) is not running`);
  return { info, pid: info.pid };
}

// ---- container cleanup (the monitor's exit command) ---------------------------------------------

export async function cmdContainerCleanup(ctx: Context, _flags: Flags, args: string[]): Promise<number> {
  const engine = engineOf(ctx);
  const p = pathsOf(ctx);
  let session: Session | null = null;
  const find = (records: readonly ContainerRecord[], ref: string): ContainerRecord | undefined => records.find((r) => r.containerId === ref) ?? records.find((r) => r.id === ref);
  const ce: CleanupEngine = {
    withLock: (fn) =>
      engine.locked(async (s) => {
        session = s;
        try {
          return await fn();
        } finally {
          session = null;
        }
      }),
    load: (ref) => find(session?.records ?? engine.records(), ref),
    save: (rec) => engine.store.save(rec),
    exitOf: async (rec) => {
      const e = await engine.exitRecord(rec);
      if (e === null) return null;
      let oom = false;
      try {
        const info = engine.runtimeInfo(rec);
        if (info.cgroupsPath !== '') {
          const cg = containerCgroup(rec.containerId, info.cgroupsPath, 'cgroupfs');
          oom = cg !== null && (await cg.exists()) && (await cg.oomKillCount()) > 0;
        }
      } catch {
        oom = false;
      }
      return { exitCode: e.exitCode, finishedAt: e.exitedAt, oomKilled: oom };
    },
    remove: async (rec) => {
      if (session === null) throw new BerthError('INTERNAL', 'cleanup: remove outside the lock');
      await engine.removeLocked(session, rec, { force: true, volumes: true });
    },
    restart: async (ref, guard) => {
      const rec = find(engine.records(), ref);
      if (rec === undefined) return false;
      const r = await engine.restartAfterExit(rec.id, guard);
      return r !== null;
    },
    event: (action, rec, attributes) => {
      recordEvent(p.events, { action, id: rec.id, attributes: { name: rec.name, image: rec.image, ...(attributes ?? {}) } });
    },
  };
  // the monitor runs this with stdio on /dev/null: failures go to <root>/engine/restart/cleanup.log
  const logFile = path.join(p.engineRoot, 'restart', 'cleanup.log');
  ce.log = (m) => {
    try {
      fs.mkdirSync(path.dirname(logFile), { recursive: true, mode: 0o700 });
      if ((fs.statSync(logFile, { throwIfNoEntry: false })?.size ?? 0) > 1 << 20) fs.renameSync(logFile, `${logFile}.1`);
      fs.appendFileSync(logFile, `${new Date().toISOString()} ${m}\n`, { mode: 0o600 });
    } catch {
      // nowhere to report
    }
    if (ctx.global.debug) ctx.err(`${m}\n`);
  };
  try {
    const outcome = await containerCleanup(ce, new BackoffStore(path.join(p.engineRoot, 'restart')), args[0]!);
    if (ctx.global.debug) ctx.err(`cleanup ${args[0]}: ${outcome}\n`);
    return 0;
  } catch (err) {
    ce.log(`cleanup of ${args[0]} failed: ${(err as Error).message}`);
    return 1;
  }
}

// ---- exec ---------------------------------------------------------------------------------------

export const EXEC_FLAGS: FlagSpec[] = [
  { name: 'detach', short: 'd', type: 'bool', help: 'Detached mode: run command in the background' },
  { name: 'detach-keys', type: 'string', metavar: 'string', help: 'Override the key sequence for detaching', default: DEFAULT_DETACH_KEYS },
  { name: 'env', short: 'e', type: 'list', metavar: 'list', help: 'Set environment variables (KEY=VALUE, or KEY to take it from here)' },
  { name: 'env-file', type: 'list', metavar: 'list', help: 'Read in a file of environment variables' },
  { name: 'interactive', short: 'i', type: 'bool', help: 'Keep STDIN open even if not attached' },
  { name: 'tty', short: 't', type: 'bool', help: 'Allocate a pseudo-TTY' },
  { name: 'user', short: 'u', type: 'string', metavar: 'string', help: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
  { name: 'workdir', short: 'w', type: 'string', metavar: 'string', help: 'Working directory inside the container' },
  { name: 'privileged', type: 'bool', help: 'Give extended privileges to the command (not supported)', hidden: true },
];

function execEnv(flags: Flags): string[] {
  const out: string[] = [];
  const take = (s: string, where: string): void => {
    const eq = s.indexOf('=');
    const key = eq < 0 ? s : s.slice(0, eq);
    if (key === '' || /\s/.test(key)) throw new BerthError('INVALID_ARGUMENT', `${where}: invalid environment variable ${JSON.stringify(s)}`);
    if (eq >= 0) out.push(s);
    else if (process.env[key] !== undefined) out.push(`${key}=${process.env[key]}`);
  };
  for (const f of flags.list('env-file')) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch (err) {
      throw new BerthError('INVALID_ARGUMENT', `open ${f}: ${(err as Error).message}`);
    }
    for (const line of text.split('\n')) {
      const l = line.replace(/\r$/, '');
      if (l.trim() === '' || l.trimStart().startsWith('#')) continue;
      take(l.trimStart(), f);
    }
  }
  for (const e of flags.list('env')) take(e, '--env');
  return out;
}

/** A Writable that hands chunks to the CLI's stream and is never really closed. */
function sink(out: { write(s: string | Uint8Array): unknown }): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.write(chunk);
      cb();
    },
  });
}

export async function cmdExec(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  if (flags.bool('privileged')) throw new BerthError('UNSUPPORTED', 'exec --privileged is not supported');
  const [ref, ...cmd] = args;
  if (cmd.length === 0) throw new UsageError('"berth exec" requires at least 2 arguments: CONTAINER COMMAND [ARG...]', 'exec');
  const engine = engineOf(ctx);
  const rec = engine.resolve(ref!);
  runningPid(engine, rec, 'exec');
  const tty = flags.bool('tty');
  const interactive = flags.bool('interactive');
  const detach = flags.bool('detach');
  const env = execEnv(flags);
  const user = flags.string('user');
  const cwd = flags.string('workdir');
  if (tty && interactive && ctx.io.stdin.isTTY !== true && !detach) {
    throw new BerthError('INVALID_ARGUMENT', 'the input device is not a TTY');
  }
  const s = await managersOf(engine);
  const p = pathsOf(ctx);
  recordEvent(p.events, { action: `exec_create: ${cmd.join(' ')}`, id: rec.id, attributes: { name: rec.name, image: rec.image } });
  const opts: RunExecOptions = {
    cmd,
    tty,
    stdin: interactive && !detach,
    stdout: !detach,
    stderr: !detach,
    ...(env.length > 0 ? { env } : {}),
    ...(user !== undefined && user !== '' ? { user } : {}),
    ...(cwd !== undefined && cwd !== '' ? { cwd } : {}),
    ...(detach ? { detach: true } : {}),
  };
  if (detach) {
    await runExec(s.containers, rec.containerId, opts, { stdin: null, stdout: null, stderr: null, resize: null });
    recordEvent(p.events, { action: `exec_start: ${cmd.join(' ')}`, id: rec.id, attributes: { name: rec.name, image: rec.image } });
    return 0;
  }
  const term = openTerminal({
    stdin: ctx.io.stdin,
    stdout: ctx.io.stdout as unknown as Writable,
    tty,
    openStdin: interactive,
    detachKeys: flags.string('detach-keys') ?? DEFAULT_DETACH_KEYS,
  });
  try {
    const size = term.size();
    if (size !== null && tty) opts.size = size;
    const io: StreamIO = { stdin: term.input, stdout: sink(ctx.io.stdout), stderr: sink(ctx.io.stderr), resize: term.resize };
    recordEvent(p.events, { action: `exec_start: ${cmd.join(' ')}`, id: rec.id, attributes: { name: rec.name, image: rec.image } });
    const r = await Promise.race([runExec(s.containers, rec.containerId, opts, io), term.detached.then(() => null)]);
    if (r === null) return 0; // detached: the process runs on
    recordEvent(p.events, { action: 'exec_die', id: rec.id, attributes: { name: rec.name, image: rec.image, exitCode: r.exitCode } });
    return r.exitCode;
  } finally {
    term.close();
  }
}

// ---- top ----------------------------------------------------------------------------------------

/** docker's top: the host's ps (default -ef), rows of the container's processes only. */
export function filterPsOutput(text: string, pids: ReadonlySet<number>): { titles: string[]; rows: string[][] } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw new BerthError('INTERNAL', 'ps printed nothing');
  const titles = lines[0]!.trim().split(/\s+/);
  const pidIdx = titles.indexOf('PID');
  if (pidIdx < 0) throw new BerthError('INVALID_ARGUMENT', `couldn't find PID field in ps output`);
  const rows: string[][] = [];
  for (const l of lines.slice(1)) {
    // the last column (CMD/COMMAND) may contain spaces
    const fields = l.trim().split(/\s+/);
    const row = [...fields.slice(0, titles.length - 1), fields.slice(titles.length - 1).join(' ')];
    const pid = Number(row[pidIdx]);
    if (pids.has(pid)) rows.push(row);
  }
  return { titles, rows };
}

export async function cmdTop(ctx: Context, _flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const [ref, ...psArgs] = args;
  const engine = engineOf(ctx);
  const rec = engine.resolve(ref!);
  const { info } = runningPid(engine, rec, 'top');
  const cg = containerCgroup(rec.containerId, info.cgroupsPath, 'cgroupfs');
  let pids: number[] = [];
  if (cg !== null && info.cgroupsPath !== '' && (await cg.exists())) pids = await cg.pids();
  if (pids.length === 0) pids = [info.pid];
  const text = await new Promise<string>((resolve, reject) => {
    execFile('ps', psArgs.length > 0 ? psArgs : ['-ef'], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new BerthError('INVALID_ARGUMENT', `ps ${psArgs.join(' ')}: ${stderr.trim() || err.message}`)) : resolve(stdout),
    );
  });
  const t = filterPsOutput(text, new Set(pids));
  ctx.out(renderTable(t.titles, t.rows));
  return 0;
}

// ---- stats --------------------------------------------------------------------------------------

export const STATS_FLAGS: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
  { name: 'format', type: 'string', metavar: 'string', help: "Format output: 'table', 'json' or a template such as '{{.Name}} {{.CPUPerc}}'" },
  { name: 'no-stream', type: 'bool', help: 'Disable streaming stats and only pull the first result' },
  { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
];

interface StatSample {
  atNs: bigint;
  cpuNs: number;
}

export interface StatsRow {
  Container: string;
  ID: string;
  Name: string;
  CPUPerc: string;
  MemUsage: string;
  MemPerc: string;
  NetIO: string;
  BlockIO: string;
  PIDs: string;
}

const STATS_COLUMNS: Column[] = [
  { field: 'Container', header: 'CONTAINER ID' },
  { field: 'Name', header: 'NAME' },
  { field: 'CPUPerc', header: 'CPU %' },
  { field: 'MemUsage', header: 'MEM USAGE / LIMIT' },
  { field: 'MemPerc', header: 'MEM %' },
  { field: 'NetIO', header: 'NET I/O' },
  { field: 'BlockIO', header: 'BLOCK I/O' },
  { field: 'PIDs', header: 'PIDS' },
];

/** docker's binary sizes for memory ("%.4g" and a binary unit): "1.5KiB", "316KiB", "23.54GiB". */
export function binarySize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  let t = v === 0 ? '0' : v.toPrecision(4);
  if (t.includes('.')) t = t.replace(/0+$/, '').replace(/\.$/, '');
  return `${t}${units[i]}`;
}

/** CPU % between two samples: container CPU time over wall time (100% = one core busy). */
export function cpuPercent(prev: StatSample | undefined, cur: StatSample): number {
  if (prev === undefined) return 0;
  const wall = Number(cur.atNs - prev.atNs);
  if (wall <= 0) return 0;
  return Math.max(0, ((cur.cpuNs - prev.cpuNs) / wall) * 100);
}

function netIo(pid: number): { rx: number; tx: number } | null {
  try {
    const text = fs.readFileSync(`/proc/${pid}/net/dev`, 'utf8');
    let rx = 0;
    let tx = 0;
    for (const line of text.split('\n').slice(2)) {
      const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
      if (!m || m[1]!.trim() === 'lo') continue;
      const f = m[2]!.trim().split(/\s+/).map(Number);
      rx += f[0] ?? 0;
      tx += f[8] ?? 0;
    }
    return { rx, tx };
  } catch {
    return null;
  }
}

async function statsRow(engine: Engine, rec: ContainerRecord, prev: Map<string, StatSample>, noTrunc: boolean): Promise<StatsRow> {
  const info = engine.runtimeInfo(rec);
  const id = noTrunc ? rec.id : rec.id.slice(0, 12);
  const empty: StatsRow = { Container: id, ID: rec.id, Name: rec.name, CPUPerc: '0.00%', MemUsage: '0B / 0B', MemPerc: '0.00%', NetIO: '0B / 0B', BlockIO: '0B / 0B', PIDs: '0' };
  if (info.pid <= 0 || info.cgroupsPath === '') return { ...empty, CPUPerc: '--', MemUsage: '-- / --', MemPerc: '--', NetIO: '--', BlockIO: '--', PIDs: '--' };
  const cg = containerCgroup(rec.containerId, info.cgroupsPath, 'cgroupfs');
  if (cg === null || !(await cg.exists())) return empty;
  const st = await cg.stats();
  const cur: StatSample = { atNs: process.hrtime.bigint(), cpuNs: st.cpu.usage.total };
  const cpu = cpuPercent(prev.get(rec.id), cur);
  prev.set(rec.id, cur);
  const mem = memoryFigures(st);
  const limitRaw = st.memory.usage.limit;
  const limit = limitRaw > 0 && limitRaw < os.totalmem() ? limitRaw : os.totalmem();
  const used = mem.workingSetBytes;
  let read = 0;
  let write = 0;
  for (const e of st.blkio.ioServiceBytesRecursive) {
    if (/^read$/i.test(e.op)) read += e.value;
    else if (/^write$/i.test(e.op)) write += e.value;
  }
  const net = netIo(info.pid);
  return {
    ...empty,
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${binarySize(used)} / ${binarySize(limit)}`,
    MemPerc: `${limit > 0 ? ((used / limit) * 100).toFixed(2) : '0.00'}%`,
    NetIO: net === null ? '--' : `${humanSize(net.rx)} / ${humanSize(net.tx)}`,
    BlockIO: `${humanSize(read)} / ${humanSize(write)}`,
    PIDs: String(st.pids.current),
  };
}

export async function cmdStats(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const engine = engineOf(ctx);
  const noTrunc = flags.bool('no-trunc');
  const format = flags.string('format');
  const pick = (): ContainerRecord[] => {
    const all = engine.records().filter((r) => r.phase === 'created');
    if (args.length > 0) return args.map((a) => engine.resolve(a, all));
    return all.filter((r) => flags.bool('all') || engine.runtimeInfo(r).pid > 0);
  };
  if (args.length > 0) pick(); // unknown names: 125 before anything is printed
  const prev = new Map<string, StatSample>();
  const render = async (): Promise<string> => {
    const rows: StatsRow[] = [];
    for (const r of pick()) rows.push(await statsRow(engine, r, prev, noTrunc));
    if (format === 'json') return rows.map((r) => JSON.stringify(r) + '\n').join('');
    return formatRows(rows as unknown as Record<string, unknown>[], { ...(format !== undefined ? { format } : {}), columns: STATS_COLUMNS }, renderTable);
  };
  if (flags.bool('no-stream')) {
    await render(); // first sample for CPU %
    await new Promise((r) => setTimeout(r, 500));
    ctx.out(await render());
    return 0;
  }
  const tty = ctx.stdout.isTTY === true;
  let stop = false;
  const onSig = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  try {
    await render();
    while (!stop) {
      await new Promise((r) => setTimeout(r, 1000));
      if (stop) break;
      const text = await render();
      ctx.out(tty ? `\x1b[2J\x1b[H${text}` : text);
    }
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
  return 0;
}

// ---- cp -----------------------------------------------------------------------------------------

export const CP_FLAGS: FlagSpec[] = [
  { name: 'archive', short: 'a', type: 'bool', help: 'Archive mode (copy all uid/gid information; berth always does as root)' },
  { name: 'follow-link', short: 'L', type: 'bool', help: 'Always follow symbol link in SRC_PATH' },
  { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress progress output (berth prints none)' },
];

/** "CONTAINER:PATH" -> [container, path]; a local path (no colon before any slash) -> null. */
export function splitCpArg(arg: string): { container: string; path: string } | null {
  if (arg.startsWith('/') || arg.startsWith('.')) return null;
  const i = arg.indexOf(':');
  if (i <= 0) return null;
  const slash = arg.indexOf('/');
  if (slash >= 0 && slash < i) return null;
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

function sedEscape(s: string): string {
  return s.replace(/[\\^$.*[\]|+?(){}/,]/g, (c) => `\\${c}`);
}
function sedReplacement(s: string): string {
  return s.replace(/[\\&,]/g, (c) => `\\${c}`);
}

/**
 * `tar -c` of `name` under `dir` (renamed to `as` in the archive when given). `out` is its output,
 * piped at once: Node resumes (and so discards) a child's unread stdout when the child exits, and a
 * small archive's tar exits before a consumer that first awaits something has attached.
 */
function tarCreate(dir: string, name: string, as?: string): { proc: ChildProcess; out: PassThrough } {
  const args = ['-C', dir, '-cf', '-', '--numeric-owner'];
  if (as !== undefined && as !== name) args.push(`--transform=s,^${sedEscape(name)},${sedReplacement(as)},`);
  args.push('--', name);
  const proc = spawn('tar', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = new PassThrough();
  proc.stdout!.pipe(out);
  return { proc, out };
}

function waitTar(p: ChildProcess, what: string): Promise<void> {
  let err = '';
  p.stderr?.setEncoding('utf8');
  p.stderr?.on('data', (d: string) => {
    if (err.length < 2000) err += d;
  });
  return new Promise((resolve, reject) => {
    p.on('error', (e) => reject(new BerthError('INTERNAL', `${what}: ${e.message}`)));
    p.on('close', (code) => (code === 0 ? resolve() : reject(new BerthError('INTERNAL', `${what}: ${err.trim() || `tar exit ${code}`}`))));
  });
}

/**
 * The filesystem root of a container seen from the host: its process's root (its mount namespace:
 * volumes and binds included), else its mounted rootfs (created or exited containers).
 */
function containerRoot(engine: Engine, rec: ContainerRecord): string {
  const info = engine.runtimeInfo(rec);
  if (info.pid > 0) return `/proc/${info.pid}/root`;
  try {
    if (fs.readdirSync(info.rootfs).length > 0) return info.rootfs;
  } catch {
    /* not mounted */
  }
  throw new BerthError('FAILED_PRECONDITION', `container ${rec.name} (${rec.id.slice(0, 12)}) has no mounted filesystem now (start it first)`);
}

interface Located {
  /** Absolute host path of the parent directory (symlinks resolved inside the root). */
  parent: string;
  /** Final component ('.' for the root itself). */
  base: string;
  st: fs.Stats | null;
}

/** Resolves a container path safely inside root: parents through symlinks as in a chroot, the last component as asked. */
async function locate(root: string, p: string, follow: boolean): Promise<Located | null> {
  const comps = cleanComponents(p);
  if (comps.length === 0) return { parent: root, base: '.', st: fs.lstatSync(root) };
  if (follow) {
    const rel = await resolveInRoot(root, p);
    if (rel === null) return null;
    const c = cleanComponents(rel);
    if (c.length === 0) return { parent: root, base: '.', st: fs.lstatSync(root) };
    const parent = path.join(root, ...c.slice(0, -1));
    return { parent, base: c[c.length - 1]!, st: fs.lstatSync(path.join(parent, c[c.length - 1]!)) };
  }
  const parentRel = await resolveParent(root, comps, { mkdirs: false }).catch(() => null);
  if (parentRel === null) return null;
  const parent = path.join(root, parentRel);
  const base = comps[comps.length - 1]!;
  let st: fs.Stats | null = null;
  try {
    st = fs.lstatSync(path.join(parent, base));
  } catch {
    st = null;
  }
  return { parent, base, st };
}

async function cpFromContainer(ctx: Context, engine: Engine, rec: ContainerRecord, src: string, dest: string, follow: boolean): Promise<void> {
  const root = containerRoot(engine, rec);
  const loc = await locate(root, src, follow);
  if (loc === null || loc.st === null) throw new BerthError('NOT_FOUND', `Could not find the file ${src} in container ${rec.name}`);
  const srcIsDir = loc.st.isDirectory();
  const contentsOnly = srcIsDir && /\/\.$/.test(src);
  if (dest === '-') {
    const t = tarCreate(loc.parent, loc.base);
    const done = waitTar(t.proc, 'tar');
    for await (const chunk of t.out) (ctx.io.binaryOut ?? ctx.io.stdout).write(chunk as Buffer);
    await done;
    return;
  }
  let destSt: fs.Stats | null = null;
  try {
    destSt = fs.statSync(dest);
  } catch {
    destSt = null;
  }
  let target: string;
  let name = loc.base;
  let as: string | undefined;
  if (srcIsDir) {
    if (destSt !== null && !destSt.isDirectory()) throw new BerthError('INVALID_ARGUMENT', `cannot copy a directory to a file: ${dest}`);
    if (destSt === null) {
      if (!fs.existsSync(path.dirname(path.resolve(dest)))) throw new BerthError('NOT_FOUND', `no such directory: ${path.dirname(dest)}`);
      fs.mkdirSync(dest, { mode: loc.st.mode & 0o7777 });
      target = dest;
      name = '.';
      loc.parent = path.join(loc.parent, loc.base);
    } else if (contentsOnly) {
      target = dest;
      loc.parent = path.join(loc.parent, loc.base);
      name = '.';
    } else target = dest;
  } else if (destSt !== null && destSt.isDirectory()) {
    target = dest;
  } else {
    if (dest.endsWith('/')) throw new BerthError('NOT_FOUND', `no such directory: ${dest}`);
    target = path.dirname(path.resolve(dest));
    if (!fs.existsSync(target)) throw new BerthError('NOT_FOUND', `no such directory: ${target}`);
    as = path.basename(dest);
  }
  const c = tarCreate(loc.parent, name, as);
  const x = spawn('tar', ['-C', target, '-xf', '-', '--numeric-owner'], { stdio: ['pipe', 'ignore', 'pipe'] });
  c.out.pipe(x.stdin!);
  await Promise.all([waitTar(c.proc, 'tar (container side)'), waitTar(x, 'tar (host side)')]);
}

async function cpToContainer(ctx: Context, engine: Engine, rec: ContainerRecord, src: string, dest: string, follow: boolean): Promise<void> {
  // the container's own view (its mount namespace: an overlay mounted on the host elsewhere is a
  // different instance whose caches would not see the new files), volumes and binds included
  const root = containerRoot(engine, rec);
  const destLoc = await locate(root, dest, true);
  const destIsDir = destLoc !== null && destLoc.st !== null && destLoc.st.isDirectory();
  const apply = async (tar: Readable, dir: string): Promise<void> => {
    // dir was resolved inside root (locate): keep it as is, realpath would leave /proc/PID/root
    if (dir !== root && !dir.startsWith(`${root}/`)) throw new BerthError('INVALID_ARGUMENT', `destination ${rec.name}:${dest} resolves outside the container`);
    await applyLayer(tar, dir, { digest: false, devices: 'skip', keepTargetPath: true });
  };
  if (src === '-') {
    if (!destIsDir) throw new BerthError('INVALID_ARGUMENT', `destination ${rec.name}:${dest} must be a directory when copying from stdin`);
    await apply(ctx.io.stdin, path.join(destLoc.parent, destLoc.base));
    return;
  }
  let st: fs.Stats;
  try {
    st = follow ? fs.statSync(src) : fs.lstatSync(src);
  } catch {
    throw new BerthError('NOT_FOUND', `could not find the file ${src}`);
  }
  const abs = path.resolve(src);
  let dir = path.dirname(abs);
  let name = path.basename(abs);
  if (follow && fs.lstatSync(src).isSymbolicLink()) {
    const real = fs.realpathSync(src);
    dir = path.dirname(real);
    name = path.basename(real);
  }
  let target: string;
  let as: string | undefined = follow ? path.basename(abs) : undefined;
  if (st.isDirectory()) {
    if (destLoc !== null && destLoc.st !== null && !destIsDir) throw new BerthError('INVALID_ARGUMENT', `cannot copy a directory to a file: ${rec.name}:${dest}`);
    if (destIsDir) {
      target = path.join(destLoc!.parent, destLoc!.base);
      if (/\/\.$/.test(src)) {
        dir = abs;
        name = '.';
        as = undefined;
      }
    } else {
      const parent = await locate(root, dest, false);
      if (parent === null) throw new BerthError('NOT_FOUND', `no such directory: ${path.dirname(dest)} in container ${rec.name}`);
      target = parent.parent;
      as = parent.base;
    }
  } else if (destIsDir) {
    target = path.join(destLoc!.parent, destLoc!.base);
  } else {
    if (dest.endsWith('/')) throw new BerthError('NOT_FOUND', `no such directory: ${dest} in container ${rec.name}`);
    const parent = await locate(root, dest, false);
    if (parent === null) throw new BerthError('NOT_FOUND', `no such directory: ${path.dirname(dest)} in container ${rec.name}`);
    target = parent.parent;
    as = parent.base;
  }
  const c = tarCreate(dir, name, as);
  if (ctx.global.debug) ctx.err(`cp: tar -C ${dir} ${name}${as !== undefined ? ` as ${as}` : ''} -> ${target}\n`);
  await Promise.all([waitTar(c.proc, 'tar (host side)'), apply(c.out, target)]);
}

export async function cmdCp(ctx: Context, flags: Flags, args: string[]): Promise<number> {
  requireRoot();
  const [a, b] = args as [string, string];
  const from = splitCpArg(a);
  const to = splitCpArg(b);
  if ((from === null) === (to === null)) {
    throw new UsageError(from === null ? 'copying between local paths is not supported: one of SRC and DEST must be CONTAINER:PATH' : 'copying between containers is not supported', 'cp');
  }
  const engine = engineOf(ctx);
  const follow = flags.bool('follow-link');
  if (from !== null) {
    const rec = engine.resolve(from.container);
    await cpFromContainer(ctx, engine, rec, from.path === '' ? '/' : from.path, b, follow);
  } else {
    const rec = engine.resolve(to!.container);
    await cpToContainer(ctx, engine, rec, a, to!.path === '' ? '/' : to!.path, follow);
  }
  return 0;
}

// ---- system df / prune --------------------------------------------------------------------------

export const DF_FLAGS: FlagSpec[] = [
  { name: 'format', type: 'string', metavar: 'string', help: "Format output: 'table', 'json' or a template such as '{{.Type}} {{.Size}}'" },
  { name: 'verbose', short: 'v', type: 'bool', help: 'Show detailed information on space usage (per image, container and volume)' },
];
export const SYSTEM_PRUNE_FLAGS: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'bool', help: 'Remove all unused images not just dangling ones' },
  { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
  { name: 'volumes', type: 'bool', help: 'Prune anonymous volumes' },
];

const DF_COLUMNS: Column[] = [
  { field: 'Type', header: 'TYPE' },
  { field: 'TotalCount', header: 'TOTAL' },
  { field: 'Active', header: 'ACTIVE' },
  { field: 'Size', header: 'SIZE' },
  { field: 'Reclaimable', header: 'RECLAIMABLE' },
];

function reclaimable(bytes: number, total: number): string {
  return total > 0 ? `${humanSize(bytes)} (${Math.round((bytes / total) * 100)}%)` : humanSize(bytes);
}

export async function cmdSystemDf(ctx: Context, flags: Flags): Promise<number> {
  requireRoot();
  const engine = engineOf(ctx);
  const svc = ctx.images();
  const records = engine.records().filter((r) => r.phase === 'created');
  // images: one entry per image ID
  const images = new Map<string, { size: number; names: string[] }>();
  for (const i of await imageSummaries(svc)) {
    const e = images.get(i.ID) ?? { size: i.Size, names: [] };
    e.names.push(`${i.Repository}:${i.Tag}`);
    images.set(i.ID, e);
  }
  const usedImages = new Set(records.map((r) => r.imageId));
  let imgSize = 0;
  let imgFree = 0;
  for (const [id, e] of images) {
    imgSize += e.size;
    if (!usedImages.has(id)) imgFree += e.size;
  }
  // containers: the writable layer
  const snaps = await svc.snapshotter();
  const ctrs: { rec: ContainerRecord; size: number; running: boolean }[] = [];
  for (const r of records) {
    const m = engine.meta(r);
    let size = 0;
    if (m !== null) size = (await snaps.usage(m.snapshotKey).catch(() => ({ bytes: 0 }))).bytes;
    ctrs.push({ rec: r, size, running: engine.runtimeInfo(r).pid > 0 });
  }
  const cSize = ctrs.reduce((a, c) => a + c.size, 0);
  const cFree = ctrs.filter((c) => !c.running).reduce((a, c) => a + c.size, 0);
  // volumes
  const store = volumes(ctx);
  const vols: { v: VolumeInfo; size: number; used: boolean }[] = [];
  for (const v of store.list()) vols.push({ v, size: await dirSize(v.mountpoint), used: store.users(v.name, records).length > 0 });
  const vSize = vols.reduce((a, v) => a + v.size, 0);
  const vFree = vols.filter((v) => !v.used).reduce((a, v) => a + v.size, 0);
  const rows = [
    { Type: 'Images', TotalCount: String(images.size), Active: String([...images.keys()].filter((i) => usedImages.has(i)).length), Size: humanSize(imgSize), Reclaimable: reclaimable(imgFree, imgSize) },
    { Type: 'Containers', TotalCount: String(ctrs.length), Active: String(ctrs.filter((c) => c.running).length), Size: humanSize(cSize), Reclaimable: reclaimable(cFree, cSize) },
    { Type: 'Local Volumes', TotalCount: String(vols.length), Active: String(vols.filter((v) => v.used).length), Size: humanSize(vSize), Reclaimable: reclaimable(vFree, vSize) },
    { Type: 'Build Cache', TotalCount: '0', Active: '0', Size: '0B', Reclaimable: '0B' },
  ];
  const format = flags.string('format');
  if (format === 'json') {
    ctx.out(rows.map((r) => JSON.stringify(r) + '\n').join(''));
    return 0;
  }
  ctx.out(formatRows(rows, { ...(format !== undefined ? { format } : {}), columns: DF_COLUMNS }, renderTable));
  if (flags.bool('verbose')) {
    ctx.out('\nImages space usage:\n\n');
    ctx.out(renderTable(['REPOSITORY:TAG', 'IMAGE ID', 'SIZE', 'CONTAINERS'], [...images].map(([id, e]) => [e.names.join(', '), id.replace(/^sha256:/, '').slice(0, 12), humanSize(e.size), String(records.filter((r) => r.imageId === id).length)])));
    ctx.out('\nContainers space usage:\n\n');
    ctx.out(renderTable(['CONTAINER ID', 'IMAGE', 'SIZE', 'NAMES'], ctrs.map((c) => [c.rec.id.slice(0, 12), c.rec.image, humanSize(c.size), c.rec.name])));
    ctx.out('\nLocal Volumes space usage:\n\n');
    ctx.out(renderTable(['VOLUME NAME', 'LINKS', 'SIZE'], vols.map((v) => [v.v.name, String(store.users(v.v.name, records).length), humanSize(v.size)])));
  }
  return 0;
}

export async function cmdSystemPrune(ctx: Context, flags: Flags): Promise<number> {
  requireRoot();
  const all = flags.bool('all');
  const withVolumes = flags.bool('volumes');
  if (!flags.bool('force')) {
    const what = ['all stopped containers', ...(withVolumes ? ['all anonymous volumes not used by at least one container'] : []), all ? 'all images without at least one container associated to them' : 'all dangling images'];
    if (!(await confirm(ctx, `This will remove:\n${what.map((w) => `  - ${w}\n`).join('')}`))) return 0;
  }
  const engine = engineOf(ctx);
  let reclaimed = 0;
  const removed: string[] = [];
  const snaps = await ctx.images().snapshotter();
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
      ctx.err(`Error removing container ${r.id.slice(0, 12)}: ${(err as Error).message}\n`);
    }
  }
  if (removed.length > 0) ctx.out(`Deleted Containers:\n${removed.map((i) => `${i}\n`).join('')}\n`);
  if (withVolumes) {
    const p = pathsOf(ctx);
    const r = await withEngineLock(p.lock, async () => {
      const res = await volumes(ctx).prune({ records: new RecordStore(p.records).loadAll() });
      for (const n of res.removed) recordEvent(p.events, { type: 'volume', action: 'destroy', id: n });
      return res;
    });
    if (r.removed.length > 0) ctx.out(`Deleted Volumes:\n${r.removed.map((n) => `${n}\n`).join('')}\n`);
    reclaimed += r.reclaimed;
  }
  const ir = await ctx.images().prune(all);
  if (ir.untagged.length > 0 || ir.deleted.length > 0) {
    ctx.out('Deleted Images:\n');
    for (const u of ir.untagged) ctx.out(`untagged: ${displayName(u)}\n`);
    for (const d of ir.deleted) ctx.out(`deleted: ${d}\n`);
    ctx.out('\n');
  }
  reclaimed += ir.bytes;
  ctx.out(`Total reclaimed space: ${humanSizeOf(reclaimed)}\n`);
  return 0;
}

// ---- the command table entries (spread into commands.ts) ---------------------------------------

export const EXTRA_GROUPS: GroupSpec[] = [
  { name: 'volume', summary: 'Manage volumes' },
  { name: 'system', summary: 'Manage berth' },
];

export const EXTRA_COMMANDS: CommandSpec[] = [
  {
    name: 'volume create',
    summary: 'Create a volume',
    usage: 'volume create [OPTIONS] [VOLUME]',
    flags: VOLUME_CREATE_FLAGS,
    args: { min: 0, max: 1, kind: 'any' },
    notes: 'Volumes live under <root>/engine/volumes/NAME/_data. Without a name the volume gets a random one.\nCreating an existing volume is not an error (it is left as is).',
    run: cmdVolumeCreate,
  },
  {
    name: 'volume ls',
    aliases: ['volume list'],
    summary: 'List volumes',
    usage: 'volume ls [OPTIONS]',
    flags: VOLUME_LS_FLAGS,
    args: { min: 0, max: 0, kind: 'none' },
    run: (ctx, flags) => cmdVolumeLs(ctx, flags),
  },
  {
    name: 'volume inspect',
    summary: 'Display detailed information on one or more volumes',
    usage: 'volume inspect [OPTIONS] VOLUME [VOLUME...]',
    flags: VOLUME_INSPECT_FLAGS,
    args: { min: 1, kind: 'any' },
    run: cmdVolumeInspect,
  },
  {
    name: 'volume rm',
    aliases: ['volume remove'],
    summary: 'Remove one or more volumes',
    usage: 'volume rm [OPTIONS] VOLUME [VOLUME...]',
    flags: VOLUME_RM_FLAGS,
    args: { min: 1, kind: 'any' },
    notes: 'A volume that a container (running or not) uses cannot be removed: remove the container first.',
    run: cmdVolumeRm,
  },
  {
    name: 'volume prune',
    summary: 'Remove unused volumes',
    usage: 'volume prune [OPTIONS]',
    flags: VOLUME_PRUNE_FLAGS,
    args: { min: 0, max: 0, kind: 'none' },
    notes: 'By default only anonymous volumes (from -v /path without a name) are removed; --all removes\nunused named volumes too.',
    run: (ctx, flags) => cmdVolumePrune(ctx, flags),
  },
  {
    name: 'container exec',
    aliases: ['exec'],
    summary: 'Execute a command in a running container',
    usage: 'exec [OPTIONS] CONTAINER COMMAND [ARG...]',
    flags: EXEC_FLAGS,
    args: { min: 2, kind: 'any' },
    stopAtFirstPositional: true,
    notes: 'Exit status: the command\'s; 126 when it cannot be invoked, 127 when it is not found, 125 when\nberth fails. With -it, detach with ctrl-p ctrl-q (--detach-keys): the command keeps running.',
    run: cmdExec,
  },
  {
    name: 'container top',
    aliases: ['top'],
    summary: 'Display the running processes of a container',
    usage: 'top CONTAINER [ps OPTIONS]',
    flags: [],
    args: { min: 1, kind: 'any' },
    stopAtFirstPositional: true,
    notes: "The host's ps (default -ef), showing only the processes in the container's cgroup.",
    run: cmdTop,
  },
  {
    name: 'container stats',
    aliases: ['stats'],
    summary: 'Display a live stream of container(s) resource usage statistics',
    usage: 'stats [OPTIONS] [CONTAINER...]',
    flags: STATS_FLAGS,
    args: { min: 0, kind: 'any' },
    notes: 'CPU % is CPU time over wall time (100% = one core). MEM USAGE is the working set (usage less\ninactive file cache); the limit is the memory limit, or the host memory without one.',
    run: cmdStats,
  },
  {
    name: 'container cp',
    aliases: ['cp'],
    summary: 'Copy files/folders between a container and the local filesystem',
    usage: 'cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n        berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
    flags: CP_FLAGS,
    args: { min: 2, max: 2, kind: 'file' },
    notes: "'-' streams a tar archive: to stdout (from the container) or from stdin (into a directory of the\ncontainer). Container paths resolve inside the container (symlinks cannot lead out of it).",
    run: cmdCp,
  },
  {
    name: 'container cleanup',
    summary: '(internal) Record an exit and apply --rm and the restart policy; run by the monitor',
    usage: 'container cleanup CONTAINER_ID',
    flags: [],
    args: { min: 1, max: 1, kind: 'any' },
    run: cmdContainerCleanup,
  },
  {
    name: 'system df',
    summary: 'Show berth disk usage',
    usage: 'system df [OPTIONS]',
    flags: DF_FLAGS,
    args: { min: 0, max: 0, kind: 'none' },
    run: (ctx, flags) => cmdSystemDf(ctx, flags),
  },
  {
    name: 'system prune',
    summary: 'Remove unused data',
    usage: 'system prune [OPTIONS]',
    flags: SYSTEM_PRUNE_FLAGS,
    args: { min: 0, max: 0, kind: 'none' },
    notes: 'Removes stopped containers, dangling images (all unused ones with --all) and, with --volumes,\nanonymous volumes no container uses.',
    run: (ctx, flags) => cmdSystemPrune(ctx, flags),
  },
  {
    name: 'events',
    aliases: ['system events'],
    summary: 'Get real time events from berth',
    usage: 'events [OPTIONS]',
    flags: EVENTS_FLAGS,
    args: { min: 0, max: 0, kind: 'none' },
    notes: 'Events are what berth commands did (create, start, die, stop, kill, destroy, rename, restart,\nexec_create, volume create/destroy), from <root>/engine/events.log. Without --since only new\nevents are shown; with --until in the past the command ends after the past ones.',
    run: (ctx, flags) => cmdEvents(ctx, flags),
  },
];
