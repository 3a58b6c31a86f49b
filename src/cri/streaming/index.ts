/**
 * The CRI streaming server (exec, attach, port-forward over SPDY/3.1 and websockets).
 * berthd: `const streaming = await startStreamingServer({ runtime, address, port })`, then answer
 * Exec/Attach/PortForward with streaming.execUrl(...) etc., and `await streaming.close()` on stop.
 */
export { startStreamingServer, type StreamingServerTuning } from './server';
export type {
  AttachRequest,
  ExecRequest,
  PortForwardRequest,
  ResizeSource,
  StreamIO,
  StreamingRuntime,
  StreamingServer,
  StreamingServerOptions,
  TerminalSize,
} from './types';
