/**
 * The engine's event journal: <root>/engine/events.log, JSON lines appended by engine actions
 * (create, start, die, stop, kill, destroy, rename, restart, exec_create, volume create...), read by
 * `berth events` (past events by --since/--until, then following new ones). Each event is one
 * O_APPEND write, so concurrent berth processes never interleave within a line. Recording is best
 * effort: a failure to write never fails the action it describes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';

export type EventType = 'container' | 'volume' | 'image' | 'network';

export interface EngineEvent {
  type: EventType;
  /** docker's action names: create, start, die, stop, kill, destroy, rename, restart, exec_create... */
  action: string;
  /** The object's id (container id, volume name, image id). */
  id: string;
  /** name, image, exitCode, signal, oldName... */
  attributes: Record<string, string>;
  /** Nanoseconds since the epoch (a decimal string: beyond 2^53). */
  timeNano: string;
}

export interface RecordEventInput {
  type?: EventType;
  action: string;
  id: string;
  attributes?: Record<string, string | number | boolean | undefined | null>;
  /** For tests; default now. */
  time?: Date;
}

/** Keep the journal bounded: past this size it is rotated once to events.log.1 (best effort). */
export const EVENTS_MAX_BYTES = 8 * 1024 * 1024;

let lastNano = 0n;

function nowNano(d?: Date): bigint {
  if (d !== undefined) return BigInt(d.getTime()) * 1_000_000n;
  const hr = process.hrtime.bigint() % 1_000_000n;
  let n = BigInt(Date.now()) * 1_000_000n + hr;
  if (n <= lastNano) n = lastNano + 1n;
  lastNano = n;
  return n;
}

/** Appends one event; never throws (returns false when it could not be written). */
export function recordEvent(eventsFile: string, input: RecordEventInput): boolean {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.attributes ?? {})) if (v !== undefined && v !== null) attributes[k] = String(v);
  const ev: EngineEvent = { type: input.type ?? 'container', action: input.action, id: input.id, attributes, timeNano: nowNano(input.time).toString() };
  try {
    fs.mkdirSync(path.dirname(eventsFile), { recursive: true, mode: 0o711 });
    try {
      if (fs.statSync(eventsFile).size > EVENTS_MAX_BYTES) fs.renameSync(eventsFile, `${eventsFile}.1`);
    } catch {
      /* no journal yet */
    }
    fs.appendFileSync(eventsFile, JSON.stringify(ev) + '\n', { mode: 0o600 });
    return true;
  } catch {
    return false;
  }
}

export function parseEventLine(line: string): EngineEvent | null {
  try {
    const v = JSON.parse(line) as Partial<EngineEvent>;
    if (typeof v.action !== 'string' || typeof v.id !== 'string' || typeof v.timeNano !== 'string' || !/^\d+$/.test(v.timeNano)) return null;
    const attributes: Record<string, string> = {};
    if (typeof v.attributes === 'object' && v.attributes !== null) {
      for (const [k, x] of Object.entries(v.attributes)) if (typeof x === 'string') attributes[k] = x;
    }
    const type = (['container', 'volume', 'image', 'network'] as const).find((t) => t === v.type) ?? 'container';
    return { type, action: v.action, id: v.id, attributes, timeNano: v.timeNano };
  } catch {
    return null;
  }
}

/**
 * docker's --since/--until: an RFC 3339 date/time, a Unix timestamp (seconds[.fraction]), or a
 * duration back from now (10m, 1h30m, 45s). Returns nanoseconds since the epoch.
 */
export function parseTimeArg(value: string, now: number = Date.now()): bigint {
  const v = value.trim();
  if (/^\d+(\.\d{1,9})?$/.test(v)) {
    const [s, frac = ''] = v.split('.');
    return BigInt(s!) * 1_000_000_000n + BigInt(frac.padEnd(9, '0') || '0');
  }
  const dur = /^((\d+(\.\d+)?)(h|m|s|ms))+$/.test(v);
  if (dur) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
      const n = Number(m[1]);
      ms += m[2] === 'h' ? n * 3_600_000 : m[2] === 'm' ? n * 60_000 : m[2] === 's' ? n * 1000 : n;
    }
    return BigInt(Math.round(now - ms)) * 1_000_000n;
  }
  const t = Date.parse(v);
  if (!Number.isNaN(t) && /^\d{4}-\d{2}-\d{2}/.test(v)) {
    // keep sub-millisecond digits of RFC 3339Nano
    const frac = /\.(\d+)/.exec(v)?.[1] ?? '';
    const extra = frac.length > 3 ? BigInt(frac.slice(3, 9).padEnd(6, '0')) : 0n;
    return BigInt(t) * 1_000_000n + extra;
  }
  throw new BerthError('INVALID_ARGUMENT', `invalid time ${JSON.stringify(value)}: want an RFC 3339 time, Unix seconds or a duration such as 10m`);
}

export const EVENT_FILTER_KEYS = ['container', 'event', 'type', 'image', 'label', 'volume'] as const;

/** Filter values by key; an event passes when, for every key given, one of its values matches. */
export type EventFilters = Map<string, string[]>;

export function parseEventFilters(values: readonly string[]): EventFilters {
  const out: EventFilters = new Map();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new BerthError('INVALID_ARGUMENT', `bad filter ${JSON.stringify(v)}: want KEY=VALUE`);
    const k = v.slice(0, eq);
    if (!(EVENT_FILTER_KEYS as readonly string[]).includes(k)) {
      throw new BerthError('INVALID_ARGUMENT', `invalid filter ${JSON.stringify(k)} (known: ${EVENT_FILTER_KEYS.join(', ')})`);
    }
    out.set(k, [...(out.get(k) ?? []), v.slice(eq + 1)]);
  }
  return out;
}

export function eventMatches(ev: EngineEvent, f: EventFilters): boolean {
  for (const [k, vals] of f) {
    const ok = vals.some((val) => {
      switch (k) {
        case 'container':
          return ev.type === 'container' && (ev.id === val || ev.id.startsWith(val) || ev.attributes.name === val);
        case 'volume':
          return ev.type === 'volume' && ev.id === val;
        case 'event':
          return ev.action === val || ev.action.split(':')[0] === val;
        case 'type':
          return ev.type === val;
        case 'image':
          return ev.attributes.image === val || (ev.type === 'image' && ev.id === val);
        case 'label': {
          const eq = val.indexOf('=');
          return eq < 0 ? `label.${val}` in ev.attributes || val in ev.attributes : ev.attributes[val.slice(0, eq)] === val.slice(eq + 1);
        }
        default:
          return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}

export interface ReadEventsOptions {
  /** Nanoseconds; inclusive. */
  since?: bigint;
  /** Nanoseconds; inclusive. */
  until?: bigint;
  filters?: EventFilters;
}

function inWindow(ev: EngineEvent, o: ReadEventsOptions): boolean {
  const t = BigInt(ev.timeNano);
  if (o.since !== undefined && t < o.since) return false;
  if (o.until !== undefined && t > o.until) return false;
  return o.filters === undefined || eventMatches(ev, o.filters);
}

/** Journal events (rotated file first) in the window; also the byte offset reached in the live file. */
export function readEvents(eventsFile: string, o: ReadEventsOptions = {}): { events: EngineEvent[]; offset: number } {
  const out: EngineEvent[] = [];
  let offset = 0;
  for (const f of [`${eventsFile}.1`, eventsFile]) {
    let text: string;
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    const end = text.lastIndexOf('\n') + 1; // a line being written is read later
    for (const line of text.slice(0, end).split('\n')) {
      if (line === '') continue;
      const ev = parseEventLine(line);
      if (ev !== null && inWindow(ev, o)) out.push(ev);
    }
    if (f === eventsFile) offset = Buffer.byteLength(text.slice(0, end));
  }
  return { events: out, offset };
}

/**
 * Follows the journal from `offset` (polling), calling onEvent for each new event in the window,
 * until `signal` aborts or `until` passes. Survives a rotation (starts the new file from 0).
 */
export async function followEvents(
  eventsFile: string,
  offset: number,
  o: ReadEventsOptions,
  onEvent: (ev: EngineEvent) => void,
  signal?: AbortSignal,
  pollMs = 200,
): Promise<void> {
  let pos = offset;
  let ino = -1;
  try {
    ino = fs.statSync(eventsFile).ino;
  } catch {
    /* created later */
  }
  let pending = Buffer.alloc(0);
  for (;;) {
    if (signal?.aborted === true) return;
    if (o.until !== undefined && BigInt(Date.now()) * 1_000_000n > o.until) return;
    let st: fs.Stats | null = null;
    try {
      st = fs.statSync(eventsFile);
    } catch {
      st = null;
    }
    if (st !== null) {
      if (st.ino !== ino || st.size < pos) {
        ino = st.ino;
        pos = 0;
        pending = Buffer.alloc(0);
      }
      if (st.size > pos) {
        const fd = fs.openSync(eventsFile, 'r');
        try {
          const buf = Buffer.alloc(st.size - pos);
          const n = fs.readSync(fd, buf, 0, buf.length, pos);
          pos += n;
          pending = Buffer.concat([pending, buf.subarray(0, n)]);
        } finally {
          fs.closeSync(fd);
        }
        let nl: number;
        while ((nl = pending.indexOf(0x0a)) >= 0) {
          const line = pending.subarray(0, nl).toString('utf8');
          pending = pending.subarray(nl + 1);
          const ev = parseEventLine(line);
          if (ev !== null && inWindow(ev, o)) onEvent(ev);
        }
      }
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, pollMs);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}

/** RFC 3339 with nanoseconds, UTC, from a nanosecond string. */
export function nanoToRfc3339(timeNano: string): string {
  const n = BigInt(timeNano);
  const ms = Number(n / 1_000_000n);
  const ns = (n % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${ns}Z`);
}

/** docker's JSON shape for `events --format json` / `{{json .}}`. */
export function eventJson(ev: EngineEvent): Record<string, unknown> {
  const n = BigInt(ev.timeNano);
  const out: Record<string, unknown> = {};
  if (ev.type === 'container') {
    out.status = ev.action;
    out.id = ev.id;
    if (ev.attributes.image !== undefined) out.from = ev.attributes.image;
  }
  out.Type = ev.type;
  out.Action = ev.action;
  out.Actor = { ID: ev.id, Attributes: ev.attributes };
  out.scope = 'local';
  out.time = Number(n / 1_000_000_000n);
  out.timeNano = Number(n);
  return out;
}

/** docker's default line: `2026-11-23T08:00:00.123456789Z container start ID (image=busybox, name=x)`. */
export function eventLine(ev: EngineEvent): string {
  const attrs = Object.keys(ev.attributes)
    .sort()
    .map((k) => `${k}=${ev.attributes[k]}`);
  return `${nanoToRfc3339(ev.timeNano)} ${ev.type} ${ev.action} ${ev.id}${attrs.length > 0 ? ` (${attrs.join(', ')})` : ''}`;
}
