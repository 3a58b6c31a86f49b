/** ADD results: checking their shape and reading the pod's addresses out of them. */
import { CniPluginError } from './errors';
import type { CniResult, JsonObject } from './types';

/** Check that an ADD result is an object of the result shape; returns it typed. */
export function asResult(obj: JsonObject | null, plugin: string): CniResult {
  const fail = (why: string): never => {
    throw new CniPluginError(plugin, 'ADD', 6, 'invalid result', why, '');
  };
  if (obj === null) return fail('the plugin printed no result');
  if (obj.cniVersion !== undefined && typeof obj.cniVersion !== 'string') fail('cniVersion is not a string');
  for (const key of ['interfaces', 'ips', 'routes'] as const) {
    const v = obj[key];
    if (v !== undefined && v !== null && !Array.isArray(v)) fail(`${key} is not a list`);
  }
  if (Array.isArray(obj.ips)) {
    obj.ips.forEach((ip, i) => {
      if (typeof ip !== 'object' || ip === null || Array.isArray(ip) || typeof ip.address !== 'string') fail(`ips[${i}].address is missing`);
    });
  }
  return obj as CniResult;
}

export interface PodIPs {
  /** The first IPv4 address (no prefix length), or null. */
  ipv4: string | null;
  /** The first IPv6 address (no prefix length), or null. */
  ipv6: string | null;
  /** Every address of the pod, in result order (CRI's additional_ips come from here). */
  all: string[];
}

function bare(cidr: string): string {
  const slash = cidr.indexOf('/');
  return slash < 0 ? cidr : cidr.slice(0, slash);
}

/**
 * The pod's addresses: the IPs on interfaces inside the sandbox (when the result says which interface
 * an IP is on), else every IP of the result. First IPv4 and first IPv6, as CRI's pod IP and its
 * additional IP.
 */
export function podIP(result: CniResult | null): PodIPs {
  const out: PodIPs = { ipv4: null, ipv6: null, all: [] };
  if (result === null) return out;
  const ifaces = result.interfaces ?? [];
  const ips = result.ips ?? [];
  const inSandbox = ips.filter((ip) => {
    if (typeof ip.interface !== 'number') return false;
    const iface = ifaces[ip.interface];
    return iface !== undefined && typeof iface.sandbox === 'string' && iface.sandbox !== '';
  });
  for (const ip of inSandbox.length > 0 ? inSandbox : ips) {
    const addr = bare(ip.address);
    out.all.push(addr);
    const v6 = ip.version === '6' || addr.includes(':');
    if (v6 && out.ipv6 === null) out.ipv6 = addr;
    if (!v6 && out.ipv4 === null) out.ipv4 = addr;
  }
  return out;
}
