/**
 * The exec fifo: `create` leaves the container process blocked opening it for writing; `start` opens
 * it for reading and takes the one byte the process writes before it calls execve. The executor makes
 * the fifo itself (the plan's execFifoCreate: Node has no mkfifo(3)).
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { BerthError, isErrno } from '../errors';

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
