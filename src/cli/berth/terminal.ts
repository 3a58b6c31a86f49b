/**
 * A person's terminal attached to a container's monitor attach socket (native/MONITOR.md): raw mode
 * on a TTY stdin, the pty's size kept in step (initially and on SIGWINCH), detach keys (docker's
 * default ctrl-p,ctrl-q), signals proxied to the container when it has no tty, and the terminal
 * restored on every exit path (normal end, detach, error, this process being signalled or exiting).
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { BerthError } from '../../runtime/errors';
import { attach, type AttachHandle } from '../../monitor/attach';

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/** Signals proxied to the container (docker's --sig-proxy) when it has no tty. */
export const PROXIED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];

/**
 * Parses docker's --detach-keys: a comma-separated sequence of `ctrl-X` (X one of a-z, @, [, \, ], ^,
 * _) or single printable characters. An empty string means "no detach keys".
 */
export function parseDetachKeys(spec: string): Buffer {
  if (spec === '') return Buffer.alloc(0);
  const out: number[] = [];
  for (const part of spec.split(',')) {
    const m = /^ctrl-(.)$/i.exec(part);
    if (m !== null) {
      const c = m[1]!;
      const lower = c.toLowerCase();
      if (lower >= 'a' && lower <= 'z') out.push(lower.charCodeAt(0) - 96);
      else {
        const i = '@[\\]^_'.indexOf(c);
        if (i < 0) throw new BerthError('INVALID_ARGUMENT', `invalid detach keys ${JSON.stringify(spec)}: unknown key ${JSON.stringify(part)}`);
        out.push(i === 0 ? 0 : 27 + i - 1);
      }
    } else if (part.length === 1 && part.charCodeAt(0) >= 0x20 && part.charCodeAt(0) < 0x7f) {
      out.push(part.charCodeAt(0));
    } else {
      throw new BerthError('INVALID_ARGUMENT', `invalid detach keys ${JSON.stringify(spec)}: unknown key ${JSON.stringify(part)}`);
    }
  }
  return Buffer.from(out);
}

/**
 * Watches input for the detach sequence. Bytes that could start the sequence are held back; when the
 * next byte breaks the match they are passed on (so a lone ctrl-p still reaches the container).
 */
export class DetachKeyFilter {
  private held = 0;
  constructor(private readonly keys: Buffer) {}

  /** The bytes to forward, and whether the sequence was completed (the rest of the input is dropped). */
  push(chunk: Buffer): { forward: Buffer; detach: boolean } {
    if (this.keys.length === 0) return { forward: chunk, detach: false };
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.held]) {
        this.held++;
        if (this.held === this.keys.length) {
          this.held = 0;
          return { forward: Buffer.from(out), detach: true };
        }
        continue;
      }
      // mismatch: release what was held, then retry this byte as a new start
      for (let i = 0; i < this.held; i++) out.push(this.keys[i]!);
      this.held = 0;
      if (b === this.keys[0]) {
        this.held = 1;
        if (this.keys.length === 1) return { forward: Buffer.from(out), detach: true };
      } else out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}

/** Something with a terminal size (process.stdout on a TTY). */
interface SizedStream {
  isTTY?: boolean;
  columns?: number;
  rows?: number;
  getWindowSize?: () => [number, number];
}

/** A TTY input (process.stdin on a terminal). */
interface RawCapable {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?: (mode: boolean) => unknown;
}

export interface AttachSessionOptions {
  attachSocket: string;
  /** The person's input; read only when openStdin. */
  stdin: Readable;
  stdout: Writable;
  stderr: Writable;
  /** The container has a pty. */
  tty: boolean;
  /** Forward stdin to the container (-i). */
  openStdin: boolean;
  /** docker's --detach-keys (default ctrl-p,ctrl-q; '' disables). Only watched when stdin is forwarded. */
  detachKeys?: string;
  /**
   * Called with each signal this process gets while the container has no tty (docker's sig-proxy);
   * e.g. kill the container's main process. Without it signals are not caught.
   */
  onSignal?: (sig: NodeJS.Signals) => void | Promise<void>;
  /** Proxy signals (default true; docker's --sig-proxy). Ignored with a tty (keys go as bytes). */
  sigProxy?: boolean;
  /** The process whose signals and exit are watched (default: this process); for tests. */
  proc?: NodeJS.EventEmitter;
  /** Milliseconds after which the initial size is sent again (the pty may appear after attach). */
  resizeRetriesMs?: readonly number[];
  /** Called once connected, e.g. to start the container only when no output can be lost. */
  onAttached?: (session: AttachedSession) => void | Promise<void>;
}

export interface AttachedSession {
  /** Sends this terminal's size to the container's pty now. */
  syncSize(): void;
  /** Ends the session as a detach (the container keeps running). */
  detach(): void;
}

export interface AttachSessionResult {
  /** The person detached (keys, or this process was told to stop while on a tty). */
  detached: boolean;
  /** The container's exit code when it exited while attached; null otherwise (read the exit file). */
  exitCode: number | null;
}

function terminalSize(s: SizedStream): { rows: number; cols: number } | null {
  if (s.isTTY !== true) return null;
  if (typeof s.getWindowSize === 'function') {
    try {
      const [cols, rows] = s.getWindowSize();
      if (rows > 0 && cols > 0) return { rows, cols };
    } catch {
      /* fall back */
    }
  }
  if (typeof s.rows === 'number' && typeof s.columns === 'number' && s.rows > 0 && s.columns > 0) return { rows: s.rows, cols: s.columns };
  return null;
}

/**
 * Attaches this process's terminal to a container until it exits, the person detaches, or the monitor
 * goes away. Resolves with the exit code from the monitor's EXIT frame when there was one.
 */
export async function attachSession(opts: AttachSessionOptions): Promise<AttachSessionResult> {
  const proc = opts.proc ?? process;
  const keys = parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS);
  const filter = new DetachKeyFilter(keys);
  const input = opts.stdin as Readable & RawCapable;
  const sizeSource = opts.stdout as Writable & SizedStream;
  const wantRaw = opts.tty && opts.openStdin && input.isTTY === true && typeof input.setRawMode === 'function';

  let handle: AttachHandle;
  try {
    handle = await attach(opts.attachSocket, { stdout: opts.stdout, stderr: opts.stderr, useStdin: opts.openStdin });
  } catch (err) {
    if (err instanceof BerthError && err.code === 'NOT_FOUND') {
      // no monitor socket: the container is not running (any more)
      return { detached: false, exitCode: null };
    }
    throw err;
  }

  let detached = false;
  const cleanups: (() => void)[] = [];
  let rawSet = false;
  const restore = (): void => {
    if (rawSet) {
      rawSet = false;
      try {
        input.setRawMode?.(false);
      } catch {
        /* the terminal is gone */
      }
    }
  };
  const doDetach = (): void => {
    if (detached) return;
    detached = true;
    restore();
    handle.detach();
  };

  try {
    if (wantRaw) {
      input.setRawMode!(true);
      rawSet = true;
      const onExit = (): void => restore();
      proc.on('exit', onExit);
      cleanups.push(() => proc.off('exit', onExit));
    }

    // the pty's size
    const syncSize = (): void => {
      const s = terminalSize(sizeSource);
      if (s !== null) handle.resize(s.rows, s.cols);
    };
    if (opts.tty) {
      syncSize();
      const onWinch = (): void => syncSize();
      proc.on('SIGWINCH', onWinch);
      cleanups.push(() => proc.off('SIGWINCH', onWinch));
      for (const ms of opts.resizeRetriesMs ?? [100, 300, 1000]) {
        const t = setTimeout(syncSize, ms);
        t.unref();
        cleanups.push(() => clearTimeout(t));
      }
    }

    // input
    if (opts.openStdin) {
      const onData = (d: Buffer | string): void => {
        const b = typeof d === 'string' ? Buffer.from(d, 'utf8') : d;
        const r = filter.push(b);
        if (r.forward.length > 0) handle.write(r.forward);
        if (r.detach) doDetach();
      };
      const onEnd = (): void => {
        if (!opts.tty) handle.closeStdin();
      };
      input.on('data', onData);
      input.once('end', onEnd);
      input.resume();
      cleanups.push(() => {
        input.off('data', onData);
        input.off('end', onEnd);
        input.pause();
      });
    }

    // signals
    if (!opts.tty && opts.sigProxy !== false && opts.onSignal !== undefined) {
      const onSignal = opts.onSignal;
      for (const sig of PROXIED_SIGNALS) {
        const h = (): void => {
          void Promise.resolve()
            .then(() => onSignal(sig))
            .catch(() => undefined);
        };
        proc.on(sig, h);
        cleanups.push(() => proc.off(sig, h));
      }
    } else if (opts.tty) {
      // this berth process is told to stop: leave the terminal usable, the container keeps running
      for (const sig of ['SIGTERM', 'SIGHUP', 'SIGINT'] as NodeJS.Signals[]) {
        const h = (): void => doDetach();
        proc.on(sig, h);
        cleanups.push(() => proc.off(sig, h));
      }
    }

    if (opts.onAttached !== undefined) await opts.onAttached({ syncSize, detach: doDetach });

    const rec = await handle.done;
    return { detached, exitCode: detached ? null : (rec?.exitCode ?? null) };
  } catch (err) {
    handle.detach();
    throw err;
  } finally {
    for (const c of cleanups.reverse()) c();
    restore();
  }
}

export interface TerminalHandle {
  /** The person's input with the detach keys taken out (null without openStdin); ends with stdin. */
  input: Readable | null;
  /** Size changes of this terminal (tty only; SIGWINCH). */
  resize: { onResize(listener: (size: { width: number; height: number }) => void): void } | null;
  /** This terminal's size now (null when stdout is no terminal). */
  size(): { width: number; height: number } | null;
  /** Resolves when the person typed the detach keys. */
  detached: Promise<void>;
  /** Restores the terminal and drops every listener (idempotent). */
  close(): void;
}

/**
 * The terminal side of a session whose transport is someone else's (e.g. `berth exec`, which runs
 * the process under its own monitor): raw mode, detach keys, size changes. Always call close().
 */
export function openTerminal(opts: { stdin: Readable; stdout: Writable; tty: boolean; openStdin: boolean; detachKeys?: string; proc?: NodeJS.EventEmitter }): TerminalHandle {
  const proc = opts.proc ?? process;
  const filter = new DetachKeyFilter(parseDetachKeys(opts.detachKeys ?? DEFAULT_DETACH_KEYS));
  const input = opts.stdin as Readable & RawCapable;
  const sizeSource = opts.stdout as Writable & SizedStream;
  const cleanups: (() => void)[] = [];
  let rawSet = false;
  const restore = (): void => {
    if (!rawSet) return;
    rawSet = false;
    try {
      input.setRawMode?.(false);
    } catch {
      /* gone */
    }
  };
  let resolveDetached!: () => void;
  const detached = new Promise<void>((r) => (resolveDetached = r));
  let out: PassThrough | null = null;
  if (opts.openStdin) {
    if (opts.tty && input.isTTY === true && typeof input.setRawMode === 'function') {
      input.setRawMode(true);
      rawSet = true;
      const onExit = (): void => restore();
      proc.on('exit', onExit);
      cleanups.push(() => proc.off('exit', onExit));
    }
    const pt = new PassThrough();
    out = pt;
    let gone = false;
    const onData = (d: Buffer | string): void => {
      if (gone) return;
      const r = filter.push(typeof d === 'string' ? Buffer.from(d, 'utf8') : d);
      if (r.forward.length > 0) pt.write(r.forward);
      if (r.detach) {
        gone = true;
        restore();
        resolveDetached();
      }
    };
    const onEnd = (): void => {
      if (!gone) pt.end();
    };
    input.on('data', onData);
    input.once('end', onEnd);
    input.resume();
    cleanups.push(() => {
      input.off('data', onData);
      input.off('end', onEnd);
      input.pause();
    });
  }
  const size = (): { width: number; height: number } | null => {
    const s = terminalSize(sizeSource);
    return s === null ? null : { width: s.cols, height: s.rows };
  };
  let resize: TerminalHandle['resize'] = null;
  if (opts.tty) {
    resize = {
      onResize: (listener) => {
        const h = (): void => {
          const s = size();
          if (s !== null) listener(s);
        };
        proc.on('SIGWINCH', h);
        cleanups.push(() => proc.off('SIGWINCH', h));
      },
    };
  }
  let closed = false;
  return {
    input: out,
    resize,
    size,
    detached,
    close: () => {
      if (closed) return;
      closed = true;
      for (const c of cleanups.splice(0).reverse()) c();
      restore();
    },
  };
}
