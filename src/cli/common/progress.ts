/**
 * Per-layer pull progress, as docker shows it.
 *
 * On a terminal (`tty: true`) every layer has one line, redrawn in place with ANSI cursor movement:
 *   "3f4e5a6b7c8d: Downloading [=========>                    ]  12.3MB/45.6MB"
 * Elsewhere one plain line is printed per state change of a layer ("3f4e5a6b7c8d: Pull complete"),
 * never per byte count. Messages (not tied to a layer) are printed as lines of their own.
 */
import { humanSize, shortId } from './units';

export type LayerState =
  | 'queued' // "Pulling fs layer"
  | 'waiting' // another pull is fetching this blob
  | 'downloading'
  | 'verifying'
  | 'downloaded'
  | 'extracting'
  | 'complete'
  | 'exists'
  | 'error';

export interface LayerUpdate {
  /** Layer digest (shown as its 12-character short form) or any short id. */
  id: string;
  state: LayerState;
  current?: number;
  total?: number;
  error?: string;
}

export interface TextSink {
  write(s: string): unknown;
}

export const BAR_WIDTH = 40;

const STATE_TEXT: Record<LayerState, string> = {
  queued: 'Pulling fs layer',
  waiting: 'Waiting',
  downloading: 'Downloading',
  verifying: 'Verifying Checksum',
  downloaded: 'Download complete',
  extracting: 'Extracting',
  complete: 'Pull complete',
  exists: 'Already exists',
  error: 'Error',
};

/** "[=========>                    ]" for current/total. */
export function progressBar(current: number, total: number, width = BAR_WIDTH): string {
  if (total <= 0) return `[${' '.repeat(width)}]`;
  const filled = Math.max(0, Math.min(width, Math.floor((width * current) / total)));
  if (filled >= width) return `[${'='.repeat(width)}]`;
  return `[${'='.repeat(filled)}>${' '.repeat(width - filled - 1)}]`;
}

/** The text of a layer's line on a terminal. */
export function layerLine(u: LayerUpdate): string {
  const id = shortId(u.id);
  if (u.state === 'error') return `${id}: Error: ${u.error ?? 'failed'}`;
  const text = STATE_TEXT[u.state];
  if (u.state === 'downloading' && u.total !== undefined && u.total > 0) {
    const cur = Math.min(u.current ?? 0, u.total);
    return `${id}: ${text} ${progressBar(cur, u.total)} ${humanSize(cur, 3).padStart(7)}/${humanSize(u.total, 3)}`;
  }
  return `${id}: ${text}`;
}

/** The plain line for a state change (no bar; sizes once). */
export function plainLine(u: LayerUpdate): string {
  const id = shortId(u.id);
  if (u.state === 'error') return `${id}: Error: ${u.error ?? 'failed'}`;
  const text = STATE_TEXT[u.state];
  if (u.state === 'downloading' && u.total !== undefined && u.total > 0) return `${id}: ${text} ${humanSize(u.total, 3)}`;
  return `${id}: ${text}`;
}

export class ProgressView {
  private readonly out: TextSink;
  private readonly tty: boolean;
  private readonly columns: number;
  /** TTY: the lines on screen (layer id or undefined for a message), cursor below the last one. */
  private readonly lines: Array<{ id: string | undefined; text: string }> = [];
  /** Last state printed per layer (plain mode), or last text (TTY). */
  private readonly last = new Map<string, string>();

  constructor(out: TextSink, opts: { tty: boolean; columns?: number }) {
    this.out = out;
    this.tty = opts.tty;
    this.columns = opts.columns && opts.columns > 20 ? opts.columns : 0;
  }

  private fit(text: string): string {
    return this.columns && text.length >= this.columns ? text.slice(0, this.columns - 1) : text;
  }

  /** A line not tied to a layer. */
  message(text: string): void {
    if (this.tty) this.lines.push({ id: undefined, text });
    this.out.write(`${this.tty ? this.fit(text) : text}\n`);
  }

  update(u: LayerUpdate): void {
    const key = shortId(u.id);
    if (!this.tty) {
      if (this.last.get(key) === u.state) return;
      this.last.set(key, u.state);
      this.out.write(`${plainLine(u)}\n`);
      return;
    }
    const text = this.fit(layerLine(u));
    if (this.last.get(key) === text) return;
    this.last.set(key, text);
    const i = this.lines.findIndex((l) => l.id === key);
    if (i < 0) {
      this.lines.push({ id: key, text });
      this.out.write(`${text}\n`);
      return;
    }
    this.lines[i]!.text = text;
    const up = this.lines.length - i;
    // up to the layer's line, clear it, write, back down to the line below the last one
    this.out.write(`\x1b[${up}A\r\x1b[2K${text}\x1b[${up}B\r`);
  }

  /** Current state of a layer as last shown (for tests and callers that merge events). */
  shown(id: string): string | undefined {
    return this.last.get(shortId(id));
  }
}
