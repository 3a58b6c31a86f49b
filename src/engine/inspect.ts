/**
 * `berth inspect` of a container: docker's shape (the fields scripts read: Id, Name, State, Config,
 * HostConfig, NetworkSettings.Ports, Mounts, RestartCount, LogPath), plus berth's own under "Berth"
 * (pod and runtime container ids).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Engine } from './engine';
import type { ContainerRecord } from './types';

function podIp(engine: Engine, rec: ContainerRecord): string {
  try {
    const pod = JSON.parse(fs.readFileSync(path.join(engine.paths.engineRoot, 'pods', rec.podId, 'meta.json'), 'utf8')) as { ips?: string[] };
    return pod.ips?.[0] ?? '';
  } catch {
    return '';
  }
}

export async function inspectContainer(engine: Engine, rec: ContainerRecord): Promise<Record<string, unknown>> {
  const st = await engine.stateOf(rec);
  const o = rec.options;
  const info = engine.runtimeInfo(rec);
  const ports: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const p of o.ports) {
    const k = `${p.containerPort}/${p.protocol}`;
    ports[k] = [...(ports[k] ?? []), { HostIp: p.hostIp === '' ? '0.0.0.0' : p.hostIp, HostPort: String(p.hostPort) }];
  }
  const binds = o.mounts.filter((m) => m.type === 'bind').map((m) => `${m.source}:${m.target}${m.readonly ? ':ro' : ''}`);
  const ip = podIp(engine, rec);
  return {
    Id: rec.id,
    Created: rec.created,
    Path: rec.argv[0] ?? '',
    Args: rec.argv.slice(1),
    State: {
      Status: st.state,
      Running: st.state === 'running',
      Paused: st.state === 'paused',
      Restarting: st.state === 'restarting',
      OOMKilled: st.oomKilled,
      Dead: st.state === 'dead',
      Pid: st.pid,
      ExitCode: st.exitCode ?? 0,
      Error: st.error,
      StartedAt: st.startedAt === '' ? '0001-01-01T00:00:00Z' : st.startedAt,
      FinishedAt: st.finishedAt === '' ? '0001-01-01T00:00:00Z' : st.finishedAt,
    },
    Image: rec.imageId,
    LogPath: rec.logPath,
    Name: `/${rec.name}`,
    RestartCount: rec.restartCount,
    Driver: 'overlay',
    Platform: 'linux',
    HostConfig: {
      Binds: binds.length > 0 ? binds : null,
      NetworkMode: o.network,
      PortBindings: Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, v])),
      RestartPolicy: { Name: o.restart.name, MaximumRetryCount: o.restart.maximumRetryCount },
      AutoRemove: o.autoRemove,
      CapAdd: o.capAdd.length > 0 ? o.capAdd : null,
      CapDrop: o.capDrop.length > 0 ? o.capDrop : null,
      Privileged: o.privileged,
      ReadonlyRootfs: o.readOnly,
      SecurityOpt: [
        ...(o.seccomp.kind === 'unconfined' ? ['seccomp=unconfined'] : o.seccomp.kind === 'profile' ? [`seccomp=${o.seccomp.path}`] : []),
        ...(o.noNewPrivileges ? ['no-new-privileges'] : []),
      ],
      Memory: o.memory ?? 0,
      NanoCpus: o.cpus !== undefined ? Math.round(o.cpus * 1e9) : 0,
      PidsLimit: o.pidsLimit ?? null,
      Runtime: rec.runtime.kind === 'oci' ? rec.runtime.name : 'berth',
      Init: o.init,
    },
    Mounts: o.mounts.map((m, i) => {
      const v = m.type === 'volume' ? rec.volumes.find((x) => x.name === m.source) ?? rec.volumes.filter((x) => x.anonymous)[i] : undefined;
      return {
        Type: m.type,
        ...(m.type === 'volume' ? { Name: v?.name ?? m.source } : {}),
        Source: m.type === 'bind' ? m.source : v ? path.join(engine.paths.volumes, v.name, '_data') : '',
        Destination: m.target,
        RW: !m.readonly,
        Propagation: m.type === 'bind' ? (m.propagation === 'private' ? 'rprivate' : m.propagation) : '',
      };
    }),
    Config: {
      Hostname: o.network === 'host' ? '' : (o.hostname ?? rec.id.slice(0, 12)),
      User: o.user ?? '',
      Tty: o.tty,
      OpenStdin: o.interactive,
      Env: o.env,
      Cmd: o.command.length > 0 ? o.command : null,
      Entrypoint: o.entrypoint ?? null,
      Image: rec.image,
      WorkingDir: o.workdir ?? '',
      Labels: o.labels,
      StopSignal: o.stopSignal ?? null,
      StopTimeout: o.stopTimeout ?? null,
    },
    NetworkSettings: {
      Ports: ports,
      IPAddress: ip,
      Networks: o.network === 'bridge' ? { bridge: { IPAddress: ip } } : o.network === 'host' ? { host: {} } : { none: {} },
    },
    Berth: {
      PodId: rec.podId,
      RuntimeContainerId: rec.containerId,
      Rootfs: info.rootfs,
      AttachSocket: info.attachSocket,
      CgroupsPath: info.cgroupsPath,
    },
  };
}
