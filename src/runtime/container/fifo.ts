/**
 * The exec fifo: `create` leaves the container process blocked opening it for writing; `start` opens
 * it for reading and takes the one byte the process writes before it calls execve.
 *
 * Node has no mkfifo(3). Choices were: have the C executor make it (policy in C: no), mknod tricks
 * (none exist in Node), or the coreutils `mkfifo` program. We spawn `mkfifo` asynchronously at the
 * start of `create`, so its ~2 ms overlap with reading the config and compiling the plan.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { BerthError, isErrno } from '../errors';

const MKFIFO = fs.existsSync('/usr/bin/mkfifo') ? '/usr/bin/mkfifo' : 'mkfifo';

/** Creates a fifo at `file` with `mode` (exact, umask ignored) owned by uid:gid. */
export function makeFifo(file: string, mode: number, uid: number, gid: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const child = spawn(MKFIFO, ['-m', mode.toString(8), file], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('error', (e) => reject(new BerthError('INTERNAL', `mkfifo ${file}: ${e.message}`, { cause: e })));
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new BerthError('INTERNAL', `mkfifo ${file}: ${err.trim() || `exit status ${code}`}`));
        return;
      }
      try {
        if (uid !== 0 || gid !== 0) fs.chownSync(file, uid, gid);
        resolve();
      } catch (e) {
        reject(new BerthError('INTERNAL', `chown ${file}: ${(e as Error).message}`, { cause: e }));
      }
    });
  });
}

/**
 * Opens the fifo for reading and waits for the container's byte. The fifo is opened non-blocking and
 * watched through libuv (a named-pipe stream), so nothing blocks a thread: the byte arrives as data;
 * a writer that closes without writing shows as end of stream. `alive` and the fifo's existence are
 * polled so a container that dies before opening its end, or a concurrent start that took the byte,
 * fail the wait instead of hanging it.
 */
export function readExecFifo(file: string, alive: () => boolean): Promise<void> {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new BerthError('FAILED_PRECONDITION', 'cannot start an already running container');
    throw new BerthError('INTERNAL', `open ${file}: ${(err as Error).message}`, { cause: err });
  }
  const stream = new net.Socket({ fd, readable: true, writable: false });
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (err?: BerthError): void => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      stream.destroy();
      if (err) reject(err);
      else resolve();
    };
    /** The byte may already sit in the pipe, written just before the process exited (timers run before I/O). */
    const byteWaiting = (): boolean => {
      try {
        return fs.readSync(fd, Buffer.alloc(1), 0, 1, null) === 1;
      } catch {
        return false;
      }
    };
    const whyNot = (): BerthError | null => {
      if (!alive()) return new BerthError('FAILED_PRECONDITION', 'container process exited before start');
      if (!fs.existsSync(file)) return new BerthError('FAILED_PRECONDITION', 'cannot start an already running container');
      return null;
    };
    const timer = setInterval(() => {
      if (!alive()) {
        if (byteWaiting()) finish();
        else finish(new BerthError('FAILED_PRECONDITION', 'container process exited before start'));
        return;
      }
      const err = whyNot();
      if (err) finish(err);
    }, 10);
    stream.on('data', () => finish());
    stream.on('error', (e) => finish(new BerthError('INTERNAL', `reading ${file}: ${e.message}`, { cause: e })));
    // End of stream before the byte: the writer went away without writing.
    stream.on('end', () => finish(whyNot() ?? new BerthError('FAILED_PRECONDITION', 'container process closed the exec fifo before start')));
  });
}
