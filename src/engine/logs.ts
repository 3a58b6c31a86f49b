/**
 * `berth logs`: the CRI log file the monitor writes, as docker prints it: stdout entries to stdout,
 * stderr entries to stderr, --tail N, --since/--until, -t (RFC 3339 timestamps in front), -f (follow
 * the file until the container stops and nothing more comes). Holds no lock.
 */
import * as fs from 'node:fs';
import { CriLogAssembler, parseCriLogLine, type LogEntry } from '../monitor/cri-log';

export interface LogSink {
  write(b: Uint8Array | string): unknown;
}

export interface LogsOptions {
  /** Last N lines (undefined = all). */
  tail?: number;
  sinceNs?: bigint;
  untilNs?: bigint;
  timestamps: boolean;
  follow: boolean;
  stdout: LogSink;
  stderr: LogSink;
  /** While following: false once the container has stopped (then the rest is drained and logs ends). */
  running?: () => Promise<boolean>;
  pollMs?: number;
  signal?: AbortSignal;
}

function emit(e: LogEntry, o: LogsOptions): void {
  if (o.sinceNs !== undefined && e.timeNs < o.sinceNs) return;
  if (o.untilNs !== undefined && e.timeNs > o.untilNs) return;
  const sink = e.stream === 'stderr' ? o.stderr : o.stdout;
  const body = e.unterminated ? e.message : Buffer.concat([e.message, Buffer.from('\n')]);
  sink.write(o.timestamps ? Buffer.concat([Buffer.from(`${e.time} `), body]) : body);
}

/** Complete lines of `buf` as entries; returns how many bytes were consumed (through the last newline). */
function parseComplete(buf: Buffer, asm: CriLogAssembler, out: LogEntry[]): number {
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, start);
    if (nl < 0) return start;
    const rec = parseCriLogLine(buf.subarray(start, nl));
    if (rec) {
      const e = asm.push(rec);
      if (e) out.push(e);
    }
    start = nl + 1;
  }
}

function readFrom(file: string, offset: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    return Buffer.alloc(0);
  }
  try {
    const size = fs.fstatSync(fd).size;
    if (size <= offset) return Buffer.alloc(0);
    const b = Buffer.alloc(size - offset);
    const n = fs.readSync(fd, b, 0, b.length, offset);
    return b.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

export async function streamLogs(file: string, o: LogsOptions): Promise<void> {
  const asm = new CriLogAssembler();
  let entries: LogEntry[] = [];
  const first = readFrom(file, 0);
  let offset = parseComplete(first, asm, entries);
  if (!o.follow) entries = entries.concat(asm.flush());
  if (o.sinceNs !== undefined) entries = entries.filter((e) => e.timeNs >= o.sinceNs!);
  if (o.tail !== undefined && o.tail >= 0) entries = o.tail === 0 ? [] : entries.slice(-o.tail);
  for (const e of entries) emit(e, o);
  if (!o.follow) return;
  const poll = o.pollMs ?? 200;
  for (;;) {
    if (o.signal?.aborted) return;
    const more = readFrom(file, offset);
    const got: LogEntry[] = [];
    offset += parseComplete(more, asm, got);
    for (const e of got) emit(e, o);
    if (got.length === 0 && o.running && !(await o.running())) {
      // one last read: the monitor writes the last lines before the exit file
      const last = readFrom(file, offset);
      const tail: LogEntry[] = [];
      offset += parseComplete(last, asm, tail);
      for (const e of [...tail, ...asm.flush()]) emit(e, o);
      return;
    }
    await new Promise((r) => setTimeout(r, poll));
  }
}
