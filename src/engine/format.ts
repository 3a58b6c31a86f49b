/**
 * ps / port output as docker prints it: "Up 3 minutes", "Exited (0) 2 seconds ago", "Created";
 * ports "127.0.0.1:8080->80/tcp"; the quoted, truncated command; the rows `berth ps` formats
 * (table, json, templates: src/cli/common/format.ts).
 */
import { humanDuration } from '../cli/common/time';
import type { ContainerSummary, PortSpec } from './types';

function ms(iso: string): number {
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : 0;
}

/** docker's STATUS column. */
export function statusText(s: Pick<ContainerSummary, 'state' | 'exitCode' | 'startedAt' | 'finishedAt'>, now: number = Date.now()): string {
  switch (s.state) {
    case 'running':
      return `Up ${humanDuration(Math.max(0, now - ms(s.startedAt)))}`;
    case 'paused':
      return `Up ${humanDuration(Math.max(0, now - ms(s.startedAt)))} (Paused)`;
    case 'restarting':
      return `Restarting (${s.exitCode ?? 0}) ${humanDuration(Math.max(0, now - ms(s.finishedAt)))} ago`;
    case 'exited':
      if (s.finishedAt === '' || ms(s.finishedAt) === 0) return `Exited (${s.exitCode ?? 0})`;
      return `Exited (${s.exitCode ?? 0}) ${humanDuration(Math.max(0, now - ms(s.finishedAt)))} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    case 'created':
      return 'Created';
  }
}

/** One port: "127.0.0.1:8080->80/tcp", "0.0.0.0:8080->80/tcp", "80/tcp" (not published). */
export function portText(p: PortSpec): string {
  if (p.hostPort === 0) return `${p.containerPort}/${p.protocol}`;
  const ip = p.hostIp === '' ? '0.0.0.0' : p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp;
  return `${ip}:${p.hostPort}->${p.containerPort}/${p.protocol}`;
}

export function portsText(ports: readonly PortSpec[]): string {
  return ports.map(portText).join(', ');
}

/** `berth port` lines: "80/tcp -> 127.0.0.1:8080". */
export function portLines(ports: readonly PortSpec[], filter?: string): string[] {
  let want: { port: number; proto: string } | undefined;
  if (filter !== undefined) {
    const [p, proto] = filter.split('/');
    want = { port: Number(p), proto: proto ?? 'tcp' };
  }
  return ports
    .filter((p) => p.hostPort !== 0 && (!want || (p.containerPort === want.port && p.protocol === want.proto)))
    .map((p) => {
      const ip = p.hostIp === '' ? '0.0.0.0' : p.hostIp.includes(':') ? `[${p.hostIp}]` : p.hostIp;
      return want ? `${ip}:${p.hostPort}` : `${p.containerPort}/${p.protocol} -> ${ip}:${p.hostPort}`;
    });
}

/** Shell-ish join of a command: words with spaces or quotes are single-quoted. */
export function commandText(argv: readonly string[]): string {
  return argv.map((a) => (a === '' || /[\s'"\\$`]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ');
}

/** docker's COMMAND column: quoted, truncated to 20 characters with an ellipsis unless noTrunc. */
export function commandColumn(cmd: string, noTrunc: boolean): string {
  const c = !noTrunc && cmd.length > 20 ? `${cmd.slice(0, 19)}…` : cmd;
  return `"${c}"`;
}

export const PS_COLUMNS = [
  { field: 'ID', header: 'CONTAINER ID' },
  { field: 'Image', header: 'IMAGE' },
  { field: 'Command', header: 'COMMAND' },
  { field: 'RunningFor', header: 'CREATED' },
  { field: 'Status', header: 'STATUS' },
  { field: 'Ports', header: 'PORTS' },
  { field: 'Names', header: 'NAMES' },
] as const;

/** A ps row (docker's field names, so `--format '{{.Names}}'` works as with docker). */
export function psRow(s: ContainerSummary, noTrunc: boolean, now: number = Date.now()): Record<string, string | number | null> {
  return {
    ID: noTrunc ? s.id : s.id.slice(0, 12),
    Image: s.image,
    Command: commandColumn(s.command, noTrunc),
    CreatedAt: s.created,
    RunningFor: `${humanDuration(Math.max(0, now - ms(s.created)))} ago`,
    Status: statusText(s, now),
    State: s.state,
    Ports: portsText(s.ports),
    Names: s.createdBy === 'berthd' ? `${s.name} (cri)` : s.name,
    Labels: Object.entries(s.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    CreatedBy: s.createdBy,
    ExitCode: s.exitCode,
  };
}
