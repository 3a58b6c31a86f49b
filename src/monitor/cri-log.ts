/**
 * The CRI container log format as kubelet reads it: `<RFC3339Nano> <stdout|stderr> <P|F> <message>`.
 * P marks a piece of a longer line (or output that ended without a newline); F ends a line.
 */
export type LogStream = 'stdout' | 'stderr';

export interface CriLogLine {
  /** The timestamp as written. */
  time: string;
  /** The same instant in nanoseconds since the epoch. */
  timeNs: bigint;
  stream: LogStream;
  partial: boolean;
  /** The message bytes (without the line's newline). */
  message: Buffer;
}

const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/** RFC3339 (optional fraction up to ns) to ns since the epoch, or null. */
export function parseRfc3339Nano(s: string): bigint | null {
  const m = TIME_RE.exec(s);
  if (!m) return null;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60) return null;
  let ms = Date.UTC(y, mo - 1, d, h, mi, se);
  const zone = m[8]!;
  if (zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const off = Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6));
    ms -= sign * off * 60_000;
  }
  const frac = (m[7] ?? '').padEnd(9, '0');
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}

/** One log line (a trailing '\n' is allowed); null when it is not in the CRI format. */
export function parseCriLogLine(line: Buffer | string): CriLogLine | null {
  let b = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  if (b.length > 0 && b[b.length - 1] === 0x0a) b = b.subarray(0, b.length - 1);
  const s1 = b.indexOf(0x20);
  if (s1 <= 0) return null;
  const time = b.subarray(0, s1).toString('latin1');
  const timeNs = parseRfc3339Nano(time);
  if (timeNs === null) return null;
  const s2 = b.indexOf(0x20, s1 + 1);
  if (s2 < 0) return null;
  const stream = b.subarray(s1 + 1, s2).toString('latin1');
  if (stream !== 'stdout' && stream !== 'stderr') return null;
  // the tag; kubelet also reads the older format without one, which berth never writes
  const tag = b.subarray(s2 + 1, s2 + 2).toString('latin1');
  if ((tag !== 'P' && tag !== 'F') || (b.length > s2 + 2 && b[s2 + 2] !== 0x20)) return null;
  const message = Buffer.from(b.subarray(Math.min(b.length, s2 + 3)));
  return { time, timeNs, stream, partial: tag === 'P', message };
}

export interface LogEntry {
  time: string;
  timeNs: bigint;
  stream: LogStream;
  /** The whole line, with its pieces joined (no trailing newline). */
  message: Buffer;
  /** Output that ended without a newline (the last record was P). */
  unterminated: boolean;
}

/**
 * Joins P pieces per stream into whole lines, in the order they complete. The time of a line is its
 * first piece's. flush() returns what is left (lines that never got their F).
 */
export class CriLogAssembler {
  private pending = new Map<LogStream, { first: CriLogLine; parts: Buffer[] }>();

  push(rec: CriLogLine): LogEntry | null {
    const p = this.pending.get(rec.stream);
    if (rec.partial) {
      if (p) p.parts.push(rec.message);
      else this.pending.set(rec.stream, { first: rec, parts: [rec.message] });
      return null;
    }
    this.pending.delete(rec.stream);
    const first = p ? p.first : rec;
    const message = p ? Buffer.concat([...p.parts, rec.message]) : rec.message;
    return { time: first.time, timeNs: first.timeNs, stream: rec.stream, message, unterminated: false };
  }

  flush(): LogEntry[] {
    const out: LogEntry[] = [];
    for (const [stream, p] of this.pending) {
      out.push({ time: p.first.time, timeNs: p.first.timeNs, stream, message: Buffer.concat(p.parts), unterminated: true });
    }
    this.pending.clear();
    return out;
  }
}

/** Parses a whole log file's bytes into entries (malformed lines are skipped). */
export function parseCriLog(content: Buffer): LogEntry[] {
  const asm = new CriLogAssembler();
  const out: LogEntry[] = [];
  let start = 0;
  while (start < content.length) {
    let nl = content.indexOf(0x0a, start);
    if (nl < 0) nl = content.length;
    const rec = parseCriLogLine(content.subarray(start, nl));
    if (rec) {
      const e = asm.push(rec);
      if (e) out.push(e);
    }
    start = nl + 1;
  }
  return out.concat(asm.flush());
}
