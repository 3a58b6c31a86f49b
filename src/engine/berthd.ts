/**
 * berthd's containers, read-only: `berth ps` lists them (marked CREATED-BY berthd, names shown with
 * " (cri)") and berth refuses to change them. Reads <root>/containers/<id>/meta.json and the monitor's
 * exit file under <runRoot>/c/<id>/; never writes there.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ContainerMeta } from '../daemon/container-store';
import { readExitFile } from '../monitor/exit-file';
import { isSameLiveProcess } from '../runtime/container/procstat';
import { berthdPaths } from './paths';
import { commandText } from './format';
import type { ContainerSummary, PortSpec } from './types';

function readMetas(dir: string): ContainerMeta[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: ContainerMeta[] = [];
  for (const n of names) {
    if (!/^[0-9a-f]{64}$/.test(n)) continue;
    try {
      const m = JSON.parse(fs.readFileSync(path.join(dir, n, 'meta.json'), 'utf8')) as ContainerMeta;
      if (m.version === 1 && m.id === n) out.push(m);
    } catch {
      // half-written or gone: berthd's own recovery deals with it
    }
  }
  return out;
}

function nsToIso(ns: string): string {
  try {
    return ns === '0' || ns === '' ? '' : new Date(Number(BigInt(ns) / 1_000_000n)).toISOString();
  } catch {
    return '';
  }
}

export function findBerthd(roots: { root: string; runRoot: string }, ref: string): ContainerMeta | undefined {
  if (ref === '') return undefined;
  const metas = readMetas(berthdPaths(roots.root, roots.runRoot).containers);
  return metas.find((m) => m.id === ref) ?? metas.find((m) => m.metadata.name === ref) ?? (/^[0-9a-f]+$/.test(ref) ? metas.find((m) => m.id.startsWith(ref)) : undefined);
}

export async function listBerthd(roots: { root: string; runRoot: string }): Promise<ContainerSummary[]> {
  const p = berthdPaths(roots.root, roots.runRoot);
  const out: ContainerSummary[] = [];
  for (const m of readMetas(p.containers)) {
    const dir = path.join(p.runContainers, m.id);
    const exit = await readExitFile(path.join(dir, 'exit')).catch(() => null);
    let argv: string[] = [];
    try {
      const spec = JSON.parse(fs.readFileSync(path.join(dir, 'bundle', 'config.json'), 'utf8')) as { process?: { args?: string[] } };
      argv = spec.process?.args ?? [];
    } catch {
      argv = [];
    }
    const alive = isSameLiveProcess(m.pid, m.pidStartTime);
    const state: ContainerSummary['state'] = m.phase === 'creating' ? 'created' : exit !== null ? 'exited' : alive ? (m.phase === 'started' ? 'running' : 'created') : 'dead';
    out.push({
      id: m.id,
      name: m.metadata.name,
      image: m.image,
      imageId: m.imageId,
      command: commandText(argv),
      created: nsToIso(m.createdAt),
      state,
      status: '',
      ports: [],
      labels: m.labels,
      exitCode: exit?.exitCode ?? null,
      startedAt: nsToIso(m.startedAt),
      finishedAt: exit?.exitedAt ?? '',
      createdBy: 'berthd',
      pid: alive ? m.pid : 0,
    });
  }
  return out;
}

/** Host ports berthd's ready pods map (so berth does not shadow them with a second DNAT rule). */
export function berthdPorts(roots: { root: string; runRoot: string }): PortSpec[] {
  const dir = berthdPaths(roots.root, roots.runRoot).pods;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const out: PortSpec[] = [];
  for (const n of names) {
    try {
      const pod = JSON.parse(fs.readFileSync(path.join(dir, n, 'meta.json'), 'utf8')) as { phase?: string; portMappings?: { hostPort?: number; containerPort?: number; protocol?: string; hostIP?: string }[] };
      if (pod.phase !== 'ready') continue;
      for (const p of pod.portMappings ?? []) {
        if (!p.hostPort) continue;
        const protocol = p.protocol === 'udp' || p.protocol === 'sctp' ? p.protocol : 'tcp';
        out.push({ hostIp: p.hostIP ?? '', hostPort: p.hostPort, containerPort: p.containerPort ?? 0, protocol });
      }
    } catch {
      // not a pod record
    }
  }
  return out;
}
