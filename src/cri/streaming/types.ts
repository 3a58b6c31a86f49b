/**
 * The contract between the CRI streaming server (exec / attach / port-forward over SPDY/3.1 and
 * websockets, src/cri/streaming) and the runtime that does the work (src/daemon). Plain types only:
 * the server knows the wire protocols, the runtime knows containers.
 */
import type { Duplex, Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface AttachRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface PortForwardRequest {
  podSandboxId: string;
  /** Ports the client asked for in the CRI request (may be empty: any port, named per stream). */
  ports: number[];
}

/** Terminal resizes from the client (the resize channel); tty sessions only. */
export interface ResizeSource {
  onResize(listener: (size: TerminalSize) => void): void;
}

/**
 * The client's streams for one session. A stream is null when the request did not ask for it. The
 * runtime ends stdout/stderr when the process's output ends; stdin ends when the client closes it.
 */
export interface StreamIO {
  stdin: Readable | null;
  stdout: Writable | null;
  stderr: Writable | null;
  resize: ResizeSource | null;
}

export interface StreamingRuntime {
  /** Runs cmd in the container; resolves with its exit code (the server reports non-zero to the client). */
  exec(req: ExecRequest, io: StreamIO): Promise<{ exitCode: number }>;
  /** Attaches to the container's main process until it exits or the client goes away. */
  attach(req: AttachRequest, io: StreamIO): Promise<void>;
  /**
   * Connects `stream` to 127.0.0.1:port inside the pod's network namespace until either side ends;
   * rejects (the server reports the message on the error stream) when the connection fails.
   */
  portForward(podSandboxId: string, port: number, stream: Duplex): Promise<void>;
}

export interface StreamingServerOptions {
  /** Listen address, default 127.0.0.1 (loopback by default, as the CRI asks). */
  address?: string;
  /** 0 picks a free port. */
  port?: number;
  /** How long an unused URL stays valid (ms); default 60000. Each URL works once. */
  tokenTtlMs?: number;
  runtime: StreamingRuntime;
}

export interface StreamingServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly baseUrl: string;
  /** The URLs Exec, Attach and PortForward return (single-use, expiring tokens). */
  execUrl(req: ExecRequest): string;
  attachUrl(req: AttachRequest): string;
  portForwardUrl(req: PortForwardRequest): string;
  close(): Promise<void>;
}
