/**
 * Clients of the monitor's attach and ctl sockets: live output, stdin, resize, close-stdin, the exit
 * record at the end; reopening the log; a status query.
 */
import * as net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { BerthError } from '../runtime/errors';
import { parseExitFile, type ExitRecord } from './exit-file';
import {
  F_CLOSE_STDIN,
  F_EXIT,
  F_REOPEN_LOG,
  F_STATUS,
  F_STDERR,
  F_STDIN,
  F_STDOUT,
  F_USE_STDIN,
  FRAME_DATA_MAX,
  FrameDecoder,
  encodeFrame,
  resizeFrame,
  type Frame,
} from './protocol';

export interface AttachOptions {
  /** Piped to the container's stdin; its end sends CLOSE_STDIN unless keepStdinOpen. */
  stdin?: Readable;
  stdout?: Writable;
  stderr?: Writable;
  keepStdinOpen?: boolean;
  /** Declare this client the stdin user (for --stdin-once) even without a stdin stream. */
  useStdin?: boolean;
}

export interface AttachHandle {
  write(data: Buffer | string): void;
  /** TIOCSWINSZ on the container's pty. */
  resize(rows: number, cols: number): void;
  closeStdin(): void;
  /** Disconnects; the container keeps running. */
  detach(): void;
  /** The exit record when the container exits while attached, null when the connection ended first. */
  done: Promise<ExitRecord | null>;
}

function connect(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketPath);
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      const ec = code === 'ENOENT' || code === 'ECONNREFUSED' ? 'NOT_FOUND' : 'INTERNAL';
      reject(new BerthError(ec, `monitor socket ${socketPath}: ${err.message}`, { cause: err }));
    });
  });
}

export async function attach(socketPath: string, opts: AttachOptions = {}): Promise<AttachHandle> {
  const sock = await connect(socketPath);
  const decoder = new FrameDecoder();
  let exit: ExitRecord | null = null;
  const send = (b: Buffer): void => {
    if (!sock.destroyed && sock.writable) sock.write(b);
  };
  const write = (data: Buffer | string): void => {
    let b = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    while (b.length > 0) {
      send(encodeFrame(F_STDIN, b.subarray(0, FRAME_DATA_MAX)));
      b = b.subarray(FRAME_DATA_MAX);
    }
  };
  const onFrame = (f: Frame): void => {
    if (f.type === F_STDOUT) opts.stdout?.write(f.data);
    else if (f.type === F_STDERR) opts.stderr?.write(f.data);
    else if (f.type === F_EXIT) {
      try {
        exit = parseExitFile(f.data.toString('utf8'));
      } catch {
        exit = null;
      }
    }
  };
  const done = new Promise<ExitRecord | null>((resolve) => {
    sock.on('data', (chunk: Buffer) => {
      try {
        for (const f of decoder.push(chunk)) onFrame(f);
      } catch {
        sock.destroy();
      }
    });
    sock.on('error', () => sock.destroy());
    sock.on('close', () => resolve(exit));
  });
  const stdin = opts.stdin;
  const onStdinData = (d: Buffer | string): void => write(d);
  const onStdinEnd = (): void => {
    if (opts.keepStdinOpen !== true) send(encodeFrame(F_CLOSE_STDIN));
  };
  if (stdin !== undefined || opts.useStdin === true) send(encodeFrame(F_USE_STDIN));
  if (stdin !== undefined) {
    stdin.on('data', onStdinData);
    stdin.once('end', onStdinEnd);
  }
  const unhook = (): void => {
    stdin?.off('data', onStdinData);
    stdin?.off('end', onStdinEnd);
  };
  void done.then(unhook);
  return {
    write,
    resize: (rows, cols) => send(resizeFrame(rows, cols)),
    closeStdin: () => send(encodeFrame(F_CLOSE_STDIN)),
    detach: () => {
      unhook();
      sock.end();
    },
    done,
  };
}

/** One request frame on the ctl (or attach) socket and the reply frame of the same type. */
async function request(socketPath: string, type: number, timeoutMs: number): Promise<Buffer> {
  const sock = await connect(socketPath);
  const decoder = new FrameDecoder();
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new BerthError('TIMEOUT', `monitor socket ${socketPath}: no reply in ${timeoutMs} ms`)),
        timeoutMs,
      );
      sock.on('data', (chunk: Buffer) => {
        try {
          for (const f of decoder.push(chunk)) {
            if (f.type === type) {
              clearTimeout(timer);
              resolve(f.data);
            }
          }
        } catch (err) {
          clearTimeout(timer);
          reject(err as Error);
        }
      });
      sock.on('close', () => {
        clearTimeout(timer);
        reject(new BerthError('NOT_FOUND', `monitor socket ${socketPath}: closed without a reply`));
      });
      sock.on('error', () => undefined);
      sock.write(encodeFrame(type));
    });
  } finally {
    sock.destroy();
  }
}

/** Closes and reopens the container log (ReopenContainerLog), e.g. after the caller renamed it. */
export async function reopenLog(ctlPath: string, timeoutMs = 5000): Promise<void> {
  const r = await request(ctlPath, F_REOPEN_LOG, timeoutMs);
  const errno = r.length >= 4 ? r.readInt32LE(0) : -1;
  if (errno !== 0) throw new BerthError('INTERNAL', `monitor: reopening the log failed (errno ${errno})`);
}

export interface MonitorStatus {
  monitorPid: number;
  containerPid: number;
  running: boolean;
  attachClients: number;
}

export async function queryStatus(ctlPath: string, timeoutMs = 5000): Promise<MonitorStatus> {
  const r = await request(ctlPath, F_STATUS, timeoutMs);
  const v = JSON.parse(r.toString('utf8')) as Partial<MonitorStatus>;
  if (typeof v.monitorPid !== 'number' || typeof v.containerPid !== 'number' || typeof v.running !== 'boolean') {
    throw new BerthError('INTERNAL', 'monitor: bad STATUS reply');
  }
  return { monitorPid: v.monitorPid, containerPid: v.containerPid, running: v.running, attachClients: v.attachClients ?? 0 };
}
