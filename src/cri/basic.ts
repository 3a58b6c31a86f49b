/**
 * The RPCs that need no pods, containers or images: Version and Status. The daemon composes these
 * with the real services (next stage); readiness comes from probes the daemon supplies.
 */
import type * as cri from './generated';
import { berthVersion } from './proto';
import type { RuntimeServiceImpl } from './service';

/** CRI API version served (VersionResponse.version is the kubelet-facing API version string). */
export const CRI_API_VERSION = 'v1';
export const CRI_VERSION = '0.1.0';
export const RUNTIME_NAME = 'berth';

/** One readiness condition as a probe reports it. */
export interface Readiness {
  ready: boolean;
  /** CamelCase machine reason when not ready (e.g. `NetworkPluginNotReady`). */
  reason?: string;
  message?: string;
}

export interface StatusProbes {
  /** RuntimeReady: can pods and containers be created? */
  runtime(): Readiness | Promise<Readiness>;
  /** NetworkReady: is pod networking usable? */
  network(): Readiness | Promise<Readiness>;
  /** Runtime handlers (RuntimeClass names; '' is the default handler). Default: just ''. */
  handlers?(): string[];
  /** Extra `info` entries for a verbose Status (values are JSON strings, as crictl expects). */
  verboseInfo?(): Record<string, string> | Promise<Record<string, string>>;
}

export function versionResponse(): cri.VersionResponse {
  return {
    version: CRI_VERSION,
    runtime_name: RUNTIME_NAME,
    runtime_version: berthVersion(),
    runtime_api_version: CRI_API_VERSION,
  };
}

function condition(type: string, r: Readiness): cri.RuntimeCondition {
  return { type, status: r.ready, reason: r.ready ? '' : (r.reason ?? 'NotReady'), message: r.ready ? '' : (r.message ?? '') };
}

export async function statusResponse(probes: StatusProbes, verbose: boolean): Promise<cri.StatusResponse> {
  const [rt, net] = await Promise.all([probes.runtime(), probes.network()]);
  const handlers = probes.handlers?.() ?? [''];
  return {
    status: { conditions: [condition('RuntimeReady', rt), condition('NetworkReady', net)] },
    info: verbose && probes.verboseInfo ? await probes.verboseInfo() : {},
    runtime_handlers: handlers.map((name) => ({
      name,
      features: { recursive_read_only_mounts: false, user_namespaces: false },
    })),
    features: { supplemental_groups_policy: false },
  };
}

/** Version and Status as a partial RuntimeService, to merge into the daemon's implementation. */
export function basicRuntimeService(probes: StatusProbes): Pick<RuntimeServiceImpl, 'Version' | 'Status'> {
  return {
    Version: () => Promise.resolve(versionResponse()),
    Status: (req) => statusResponse(probes, req.verbose),
  };
}
