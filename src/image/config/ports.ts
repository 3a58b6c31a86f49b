/** ExposedPorts ("80/tcp", "53/udp", "8080", "8000-8010/tcp") -> sorted, de-duplicated ports. */
import { ConfigError } from '../../runtime/errors';
import type { ExposedPort } from './types';

const MAX_RANGE = 65535;

export function parseExposedPorts(ports: Record<string, unknown> | null | undefined, path = 'ExposedPorts'): ExposedPort[] {
  const out = new Map<string, ExposedPort>();
  for (const key of Object.keys(ports ?? {})) {
    const m = /^([0-9]+)(?:-([0-9]+))?(?:\/([A-Za-z]+))?$/.exec(key.trim());
    if (!m) throw new ConfigError(`${path}[${JSON.stringify(key)}]`, 'expected PORT[-PORT][/PROTOCOL]');
    const proto = (m[3] ?? 'tcp').toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') {
      throw new ConfigError(`${path}[${JSON.stringify(key)}]`, `unknown protocol ${m[3]}`);
    }
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (lo < 1 || hi > 65535 || hi < lo || hi - lo >= MAX_RANGE) {
      throw new ConfigError(`${path}[${JSON.stringify(key)}]`, 'port out of range 1..65535');
    }
    for (let p = lo; p <= hi; p++) out.set(`${p}/${proto}`, { port: p, protocol: proto });
  }
  return [...out.values()].sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}
