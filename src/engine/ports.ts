/**
 * Host ports for -p: a port asked for must be free (no other engine container maps it, and a bind
 * test on the host succeeds: docker's "port is already allocated"); -p CONTAINERPORT (host port 0)
 * gets a free ephemeral port, as docker gives one.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { BerthError } from '../runtime/errors';
import type { PortSpec } from './types';

function overlaps(a: PortSpec, b: PortSpec): boolean {
  if (a.hostPort !== b.hostPort || a.protocol !== b.protocol) return false;
  return a.hostIp === '' || b.hostIp === '' || a.hostIp === '0.0.0.0' || b.hostIp === '0.0.0.0' || a.hostIp === b.hostIp;
}

/** Can a socket bind hostIp:port right now? 0 asks the kernel for a free one; resolves to the port bound or null. */
export function bindTest(hostIp: string, port: number, protocol: PortSpec['protocol']): Promise<number | null> {
  const host = hostIp === '' ? '0.0.0.0' : hostIp;
  if (protocol === 'udp') {
    return new Promise((resolve) => {
      const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.once('error', () => {
        s.close();
        resolve(null);
      });
      s.bind(port, host, () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
  }
  if (protocol === 'sctp') return Promise.resolve(port === 0 ? null : port);
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ port, host, exclusive: true }, () => {
      const a = srv.address();
      const p = typeof a === 'object' && a !== null ? a.port : port;
      srv.close(() => resolve(p));
    });
  });
}

function shown(p: PortSpec): string {
  return `${p.hostIp === '' ? '0.0.0.0' : p.hostIp}:${p.hostPort}`;
}

export async function assignPorts(wanted: readonly PortSpec[], usedByOthers: readonly PortSpec[], test: typeof bindTest = bindTest): Promise<PortSpec[]> {
  const out: PortSpec[] = [];
  for (const w of wanted) {
    if (w.hostPort === 0) {
      let got: number | null = null;
      for (let i = 0; i < 20 && got === null; i++) {
        const p = await test(w.hostIp, 0, w.protocol);
        if (p !== null && ![...usedByOthers, ...out].some((u) => overlaps(u, { ...w, hostPort: p }))) got = p;
      }
      if (got === null) throw new BerthError('FAILED_PRECONDITION', `no free host port for ${w.containerPort}/${w.protocol}`);
      out.push({ ...w, hostPort: got });
      continue;
    }
    if ([...usedByOthers, ...out].some((u) => overlaps(u, w))) {
      throw new BerthError('ALREADY_EXISTS', `Bind for ${shown(w)} failed: port is already allocated (by another berth container)`);
    }
    if ((await test(w.hostIp, w.hostPort, w.protocol)) === null) {
      throw new BerthError('ALREADY_EXISTS', `Bind for ${shown(w)} failed: port is already in use on the host (${w.protocol})${w.hostIp !== '' && w.hostIp !== '0.0.0.0' ? `, or ${w.hostIp} is not an address of this host` : ''}`);
    }
    out.push({ ...w });
  }
  return out;
}
