/**
 * The gRPC front end of berthd: binds the CRI unix socket and serves runtime.v1 RuntimeService and
 * ImageService from plain TypeScript implementations (see service.ts). This file is the edge: it
 * decodes requests (through @grpc/proto-loader), calls the implementation, and maps thrown errors to
 * gRPC status codes (errors.ts). Methods an implementation leaves out answer UNIMPLEMENTED.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { BerthError, isErrno } from '../runtime/errors';
import { toServiceError, unimplemented, grpcStatusFor } from './errors';
import { loadCri } from './proto';
import type { CallContext, PartialImageService, PartialRuntimeService, ServerStreamSink } from './service';

export const DEFAULT_CRI_SOCKET = '/run/berth/berthd.sock';

/** kubelet's own limit for CRI messages (both directions). */
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** sun_path holds 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107;

export interface CriServerOptions {
  /** Unix socket path; default /run/berth/berthd.sock. Its directory is created if missing. */
  socketPath?: string;
  runtime: PartialRuntimeService;
  image: PartialImageService;
  /** Socket file mode; default 0o600 (root only). */
  socketMode?: number;
  /** Group to give the socket (with a mode such as 0o660), as a gid. */
  socketGid?: number;
  /** Called for failures that become INTERNAL (bugs, unexpected OS errors); default: stderr. */
  onInternalError?: (method: string, err: unknown) => void;
}

export interface CriServer {
  readonly socketPath: string;
  /** Stops accepting calls, waits briefly for running ones, and removes the socket file. */
  close(): Promise<void>;
}

type AnyMethod = (...args: unknown[]) => Promise<unknown>;

function methodOf(impl: object, name: string): AnyMethod | undefined {
  const fn: unknown = (impl as Record<string, unknown>)[name];
  return typeof fn === 'function' ? (fn as AnyMethod).bind(impl) : undefined;
}

function callContext(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, method: string): CallContext {
  const ac = new AbortController();
  call.on('cancelled', () => ac.abort(new BerthError('TIMEOUT', `${method}: cancelled by the client`)));
  const d = call.getDeadline();
  const deadline = d instanceof Date ? d : Number.isFinite(d) ? new Date(d) : undefined;
  return deadline === undefined ? { signal: ac.signal, method } : { signal: ac.signal, deadline, method };
}

function reportInternal(opts: CriServerOptions, method: string, err: unknown): void {
  if (grpcStatusFor(err).code !== grpc.status.INTERNAL) return;
  if (opts.onInternalError) opts.onInternalError(method, err);
  else process.stderr.write(`berthd: ${method}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
}

/** grpc-js handlers for every method of `definition`, dispatching to `impl`. */
export function buildHandlers(definition: grpc.ServiceDefinition, impl: object, opts: CriServerOptions): grpc.UntypedServiceImplementation {
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const [name, def] of Object.entries(definition)) {
    const fn = methodOf(impl, name);
    const method = def.path;
    if (def.requestStream) throw new BerthError('INTERNAL', `${method}: client streaming is not part of CRI`);
    if (!def.responseStream) {
      const unary: grpc.handleUnaryCall<unknown, unknown> = (call, callback) => {
        if (fn === undefined) {
          callback(unimplemented(method));
          return;
        }
        const ctx = callContext(call, method);
        Promise.resolve()
          .then(() => fn(call.request, ctx))
          .then(
            (res) => callback(null, res ?? {}),
            (err: unknown) => {
              reportInternal(opts, method, err);
              callback(toServiceError(err));
            },
          );
      };
      handlers[name] = unary;
    } else {
      const streaming: grpc.handleServerStreamingCall<unknown, unknown> = (call) => {
        if (fn === undefined) {
          call.emit('error', unimplemented(method));
          return;
        }
        const ctx = callContext(call, method);
        const sink: ServerStreamSink<unknown> = {
          write: (message) => call.write(message),
          drained: () => new Promise<void>((resolve) => call.once('drain', () => resolve())),
        };
        Promise.resolve()
          .then(() => fn(call.request, sink, ctx))
          .then(
            () => call.end(),
            (err: unknown) => {
              if (ctx.signal.aborted) return; // the client went away; nobody to tell
              reportInternal(opts, method, err);
              call.emit('error', toServiceError(err));
            },
          );
      };
      handlers[name] = streaming;
    }
  }
  return handlers;
}

type SocketState = 'absent' | 'stale' | 'live' | 'not-a-socket';

/** Whether something listens on a unix socket path (a refused connect means a stale file). */
export async function probeSocket(socketPath: string): Promise<SocketState> {
  let st: fs.Stats;
  try {
    st = await fs.promises.lstat(socketPath);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return 'absent';
    throw err;
  }
  if (!st.isSocket()) return 'not-a-socket';
  return new Promise<SocketState>((resolve) => {
    const sock = net.connect({ path: socketPath });
    const done = (state: SocketState): void => {
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      resolve(state);
    };
    sock.setTimeout(2000, () => done('live')); // accepted-but-silent still counts as someone there
    sock.once('connect', () => done('live'));
    sock.once('error', (err) => done(isErrno(err, 'ECONNREFUSED') || isErrno(err, 'ENOENT') ? 'stale' : 'live'));
  });
}

function bindAsync(server: grpc.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.bindAsync(`unix:${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
}

async function prepareSocketPath(socketPath: string): Promise<void> {
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
    throw new BerthError('INVALID_ARGUMENT', `socket path too long (max ${MAX_SOCKET_PATH} bytes): ${socketPath}`);
  }
  await fs.promises.mkdir(path.dirname(socketPath), { recursive: true, mode: 0o755 });
  const state = await probeSocket(socketPath);
  if (state === 'live') throw new BerthError('ALREADY_EXISTS', `another server is listening on ${socketPath}`);
  if (state === 'not-a-socket') throw new BerthError('FAILED_PRECONDITION', `${socketPath} exists and is not a socket`);
  if (state === 'stale') await fs.promises.unlink(socketPath).catch((err: unknown) => {
    if (!isErrno(err, 'ENOENT')) throw err;
  });
}

/**
 * Starts serving CRI on a unix socket. The socket only becomes visible under its final name once its
 * mode (and group) are set: it is bound under a temporary name in the same directory, chmod'ed, then
 * renamed into place, so no client can connect through a wider mode in between.
 */
export async function startCriServer(opts: CriServerOptions): Promise<CriServer> {
  const socketPath = path.resolve(opts.socketPath ?? DEFAULT_CRI_SOCKET);
  const mode = opts.socketMode ?? 0o600;
  const pkg = loadCri().runtime.v1;
  await prepareSocketPath(socketPath);

  const server = new grpc.Server({
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
  });
  server.addService(pkg.RuntimeService.service, buildHandlers(pkg.RuntimeService.service, opts.runtime, opts));
  server.addService(pkg.ImageService.service, buildHandlers(pkg.ImageService.service, opts.image, opts));

  const tmp = path.join(path.dirname(socketPath), `.${path.basename(socketPath)}.${process.pid}.tmp`);
  const direct = Buffer.byteLength(tmp) > MAX_SOCKET_PATH; // no room for a temporary name: bind, then chmod
  const bindPath = direct ? socketPath : tmp;
  let ino: number;
  try {
    await fs.promises.unlink(tmp).catch(() => undefined);
    await bindAsync(server, bindPath);
    if (opts.socketGid !== undefined) await fs.promises.chown(bindPath, -1, opts.socketGid);
    await fs.promises.chmod(bindPath, mode);
    if (!direct) await fs.promises.rename(tmp, socketPath);
    ino = (await fs.promises.lstat(socketPath)).ino;
  } catch (err) {
    server.forceShutdown();
    await fs.promises.unlink(bindPath).catch(() => undefined);
    throw err;
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      // Remove our socket file, unless someone else's has replaced it meanwhile.
      try {
        if ((await fs.promises.lstat(socketPath)).ino === ino) await fs.promises.unlink(socketPath);
      } catch (err) {
        if (!isErrno(err, 'ENOENT')) throw err;
      }
    })();
    return closing;
  };
  return { socketPath, close };
}
