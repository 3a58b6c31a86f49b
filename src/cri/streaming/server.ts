/**
 * The CRI streaming server: an HTTP server (loopback by default) whose URLs
 * /exec/TOKEN, /attach/TOKEN and /portforward/TOKEN are returned by Exec, Attach and PortForward.
 * A token names one cached request; it works once and expires. The connection is upgraded to SPDY/3.1
 * (client-go's SPDY executor and port forwarder, X-Stream-Protocol-Version negotiation) or to a
 * websocket (the channel.k8s.io subprotocols).
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type {
  AttachRequest,
  ExecRequest,
  PortForwardRequest,
  StreamingRuntime,
  StreamingServer,
  StreamingServerOptions,
} from './types';
import { TokenStore } from './tokens';
import { REMOTECOMMAND_SPDY_PROTOCOLS, serveRemoteCommandSpdy, serveRemoteCommandWebSocket, type RemoteCommandOptions, type RemoteCommandRunner } from './remotecommand';
import { PORTFORWARD_PROTOCOL_V1, parsePort, servePortForwardSpdy, servePortForwardWebSocket } from './portforward';
import {
  PORTFORWARD_WS_PROTOCOLS,
  REMOTECOMMAND_WS_PROTOCOLS,
  WebSocketByteStream,
  chooseSubprotocol,
  chooseTunnelProtocol,
  offeredSubprotocols,
  type ChannelProtocol,
} from './websocket';

type Pending =
  | { kind: 'exec'; req: ExecRequest }
  | { kind: 'attach'; req: AttachRequest }
  | { kind: 'portforward'; req: PortForwardRequest };

/** Extra knobs (tests); not part of StreamingServerOptions. */
export interface StreamingServerTuning {
  streamCreationTimeoutMs?: number;
  maxPendingTokens?: number;
}

const TUNNEL_PLACEHOLDER = 'berth-spdy-tunnel';

const ROUTE_RE = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,64})\/?$/;

function copyExec(r: ExecRequest): ExecRequest {
  return { containerId: r.containerId, cmd: [...r.cmd], tty: r.tty, stdin: r.stdin, stdout: r.stdout, stderr: r.stderr };
}

function rawResponse(socket: Duplex, status: number, reason: string, body: string, extraHeaders: string[] = []): void {
  const text = body.endsWith('\n') ? body : `${body}\n`;
  const head = [
    `HTTP/1.1 ${status} ${reason}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(text)}`,
    'Connection: close',
    ...extraHeaders,
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${text}`);
  const t = setTimeout(() => socket.destroy(), 1000);
  t.unref();
  socket.once('close', () => clearTimeout(t));
}

/** Values of a header that may be repeated and/or comma separated, in order. */
function headerList(req: http.IncomingMessage, name: string): string[] {
  const distinct = req.headersDistinct[name] ?? [];
  return distinct.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v.length > 0);
}

function hasToken(list: string | undefined, token: string): boolean {
  return (list ?? '').split(',').some((v) => v.trim().toLowerCase() === token);
}

export async function startStreamingServer(opts: StreamingServerOptions, tuning: StreamingServerTuning = {}): Promise<StreamingServer> {
  const runtime: StreamingRuntime = opts.runtime;
  const tokens = new TokenStore<Pending>({ ttlMs: opts.tokenTtlMs ?? 60_000, maxTokens: tuning.maxPendingTokens });
  const sweeper = setInterval(() => tokens.sweep(), 10_000);
  sweeper.unref();
  const sockets = new Set<Duplex>();
  // handleProtocols: the subprotocol was chosen before the upgrade (chooseSubprotocol); echo it.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: 4 * 1024 * 1024,
    perMessageDeflate: false,
    handleProtocols: (offered: Set<string>, req: http.IncomingMessage) => {
      const chosen = (req as http.IncomingMessage & { berthSubprotocol?: string }).berthSubprotocol;
      if (chosen === undefined || chosen === '') return false;
      return offered.has(chosen) || offered.has(TUNNEL_PLACEHOLDER) ? chosen : false;
    },
  });
  const streamCreationTimeoutMs = tuning.streamCreationTimeoutMs ?? 30_000;

  const server = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: 60_000, headersTimeout: 30_000 });

  const track = (socket: Duplex): void => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  server.on('connection', (socket: Socket) => track(socket));
  server.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) rawResponse(socket, 400, 'Bad Request', 'bad request');
    else socket.destroy();
  });

  // Plain (non-upgrade) requests: the URLs only work with an upgrade.
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    let path = '/';
    try {
      path = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      // an unparsable URL is just not found
    }
    const m = ROUTE_RE.exec(path);
    const pending = m ? tokens.consume(m[2]) : undefined;
    if (!m || !pending || pending.kind !== m[1]) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('unable to upgrade: missing upgrade headers in request\n');
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    track(socket);
    socket.on('error', () => socket.destroy());
    try {
      handleUpgrade(req, socket, head);
    } catch (err) {
      rawResponse(socket, 500, 'Internal Server Error', err instanceof Error ? err.message : String(err));
    }
  });

  const handleUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = ROUTE_RE.exec(url.pathname);
    const pending = m ? tokens.consume(m[2]) : undefined;
    if (!m || !pending || pending.kind !== m[1]) {
      rawResponse(socket, 404, 'Not Found', 'not found');
      return;
    }
    if (!hasToken(req.headers.connection, 'upgrade')) {
      rawResponse(socket, 400, 'Bad Request', 'unable to upgrade: missing upgrade headers in request');
      return;
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') {
      const tunnel = pending.kind === 'portforward' ? chooseTunnelProtocol(offeredSubprotocols(req), [PORTFORWARD_PROTOCOL_V1]) : undefined;
      if (tunnel !== undefined && pending.kind === 'portforward') {
        // client-go's SPDY-over-websocket dialer (crictl port-forward --transport websocket).
        const podSandboxId = pending.req.podSandboxId;
        const allowedPorts = pending.req.ports;
        // 'SPDY/3.1+portforward.k8s.io' is not an RFC 7230 token ('/'), which the ws package
        // refuses to parse; hand it a placeholder and answer with the real name (handleProtocols).
        req.headers['sec-websocket-protocol'] = TUNNEL_PLACEHOLDER;
        (req as http.IncomingMessage & { berthSubprotocol?: string }).berthSubprotocol = tunnel;
        wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
          const bytes = new WebSocketByteStream(ws);
          servePortForwardSpdy(bytes, Buffer.alloc(0), (port, stream) => runtime.portForward(podSandboxId, port, stream), {
            allowedPorts,
            podSandboxId,
            streamCreationTimeoutMs,
          });
        });
        return;
      }
      const supported = pending.kind === 'portforward' ? PORTFORWARD_WS_PROTOCOLS : REMOTECOMMAND_WS_PROTOCOLS;
      const protocol = chooseSubprotocol(offeredSubprotocols(req), supported);
      if (!protocol) {
        rawResponse(socket, 400, 'Bad Request', `requested protocol(s) are not supported; supports ${supported.map((p) => p.name).filter(Boolean).join(', ')}`);
        return;
      }
      let ports: number[] = [];
      if (pending.kind === 'portforward') {
        const fromQuery = url.searchParams.getAll('port').flatMap((p) => p.split(','));
        if (fromQuery.length > 0) {
          const parsed = fromQuery.map((p) => parsePort(p.trim()));
          const bad = parsed.findIndex((p) => p === undefined);
          if (bad >= 0) {
            rawResponse(socket, 400, 'Bad Request', `invalid port ${JSON.stringify(fromQuery[bad])}`);
            return;
          }
          ports = parsed as number[];
          const allowed = pending.req.ports;
          const notAllowed = ports.find((p) => allowed.length > 0 && !allowed.includes(p));
          if (notAllowed !== undefined) {
            rawResponse(socket, 400, 'Bad Request', `port ${notAllowed} was not requested for forwarding`);
            return;
          }
        } else {
          ports = [...pending.req.ports];
        }
        if (ports.length === 0 || ports.length > 64) {
          rawResponse(socket, 400, 'Bad Request', 'port forwarding over websockets needs 1 to 64 ports');
          return;
        }
      }
      (req as http.IncomingMessage & { berthSubprotocol?: string }).berthSubprotocol = protocol.name;
      wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
        serveWebSocket(ws, protocol, pending, ports);
      });
      return;
    }
    if (!upgrade.split(',').some((u) => u.trim() === 'spdy/3.1')) {
      rawResponse(socket, 400, 'Bad Request', 'unable to upgrade: missing upgrade headers in request');
      return;
    }
    const offered = headerList(req, 'x-stream-protocol-version');
    if (offered.length === 0) {
      rawResponse(socket, 400, 'Bad Request', 'unable to upgrade: X-Stream-Protocol-Version is required');
      return;
    }
    const serverProtocols = pending.kind === 'portforward' ? [PORTFORWARD_PROTOCOL_V1] : [...REMOTECOMMAND_SPDY_PROTOCOLS.keys()];
    const chosen = offered.find((p) => serverProtocols.includes(p));
    if (!chosen) {
      rawResponse(
        socket,
        403,
        'Forbidden',
        `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server accepts ${JSON.stringify(serverProtocols)}`,
        serverProtocols.map((p) => `X-Accepted-Stream-Protocol-Versions: ${p}`),
      );
      return;
    }
    socket.write(
      [
        'HTTP/1.1 101 Switching Protocols',
        'Connection: Upgrade',
        'Upgrade: SPDY/3.1',
        `X-Stream-Protocol-Version: ${chosen}`,
        `Date: ${new Date().toUTCString()}`,
        '',
        '',
      ].join('\r\n'),
    );
    if (pending.kind === 'portforward') {
      const podSandboxId = pending.req.podSandboxId;
      servePortForwardSpdy(socket, head, (port, stream) => runtime.portForward(podSandboxId, port, stream), {
        allowedPorts: pending.req.ports,
        podSandboxId,
        streamCreationTimeoutMs,
      });
      return;
    }
    const version = REMOTECOMMAND_SPDY_PROTOCOLS.get(chosen) ?? 1;
    serveRemoteCommandSpdy(socket, head, version, sessionOptions(pending), runnerFor(pending), { streamCreationTimeoutMs });
  };

  const sessionOptions = (p: Pending & { kind: 'exec' | 'attach' }): RemoteCommandOptions => ({
    stdin: p.req.stdin,
    stdout: p.req.stdout,
    stderr: p.req.stderr && !p.req.tty,
    tty: p.req.tty,
  });

  const runnerFor = (p: Pending & { kind: 'exec' | 'attach' }): RemoteCommandRunner => {
    if (p.kind === 'exec') {
      const req = p.req;
      return (io) => runtime.exec(req, io);
    }
    const req = p.req;
    return (io) => runtime.attach(req, io);
  };

  const serveWebSocket = (ws: WebSocket, protocol: ChannelProtocol, pending: Pending, ports: number[]): void => {
    if (pending.kind === 'portforward') {
      const podSandboxId = pending.req.podSandboxId;
      servePortForwardWebSocket(ws, protocol, ports, (port, stream) => runtime.portForward(podSandboxId, port, stream), {
        allowedPorts: pending.req.ports,
        podSandboxId,
      });
      return;
    }
    serveRemoteCommandWebSocket(ws, protocol, sessionOptions(pending), runnerFor(pending));
  };

  const address = opts.address ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);
  const bound = server.address() as AddressInfo;
  const host = bound.family === 'IPv6' ? `[${bound.address}]` : bound.address;
  const baseUrl = `http://${host}:${bound.port}`;

  let closing: Promise<void> | null = null;
  return {
    baseUrl,
    execUrl(req: ExecRequest): string {
      return `${baseUrl}/exec/${tokens.issue({ kind: 'exec', req: copyExec(req) })}`;
    },
    attachUrl(req: AttachRequest): string {
      return `${baseUrl}/attach/${tokens.issue({ kind: 'attach', req: { ...req } })}`;
    },
    portForwardUrl(req: PortForwardRequest): string {
      return `${baseUrl}/portforward/${tokens.issue({ kind: 'portforward', req: { podSandboxId: req.podSandboxId, ports: [...req.ports] } })}`;
    },
    close(): Promise<void> {
      closing ??= new Promise<void>((resolve) => {
        clearInterval(sweeper);
        tokens.clear();
        server.close(() => resolve());
        for (const ws of wss.clients) ws.terminate();
        for (const s of sockets) s.destroy();
        wss.close();
      });
      return closing;
    },
  };
}
