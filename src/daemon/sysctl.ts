/**
 * Pod sysctls: only namespaced ones are accepted (as kubelet's safe/unsafe split presumes), each
 * applied inside the namespace it belongs to by writing /proc/sys through nsenter (no shell: the
 * value goes through tee's stdin).
 */
import { BerthError } from '../runtime/errors';
import { run } from '../pod/run';

export type SysctlNamespace = 'net' | 'ipc' | 'uts';

/** Which namespace a sysctl belongs to, or null when it is not namespaced (host-wide). */
export function sysctlNamespace(key: string): SysctlNamespace | null {
  const k = key.replace(/\//g, '.');
  if (k.startsWith('net.')) return 'net';
  if (k === 'kernel.hostname' || k === 'kernel.domainname') return 'uts';
  if (['kernel.shmmax', 'kernel.shmall', 'kernel.shmmni', 'kernel.shm_rmid_forced', 'kernel.msgmax', 'kernel.msgmni', 'kernel.msgmnb', 'kernel.sem'].includes(k)) return 'ipc';
  if (k.startsWith('fs.mqueue.')) return 'ipc';
  return null;
}

/**
 * /proc/sys path of a key: with a '/' in it, '/' separates and '.' is literal (an interface named
 * "eth0.100"); otherwise '.' separates.
 */
export function sysctlPath(key: string): string {
  const parts = key.includes('/') ? key.split('/') : key.split('.');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) throw new BerthError('INVALID_ARGUMENT', `invalid sysctl name ${JSON.stringify(key)}`);
  return `/proc/sys/${parts.join('/')}`;
}

export interface SysctlTargets {
  net: string | null;
  ipc: string | null;
  uts: string | null;
}

/** Check every key before anything is applied: namespaced, and its namespace is the pod's own. */
export function checkSysctls(sysctls: Record<string, string>, ns: { hostNetwork: boolean; hostIpc: boolean }): void {
  for (const [key, value] of Object.entries(sysctls)) {
    const where = `config.linux.sysctls[${JSON.stringify(key)}]`;
    sysctlPath(key);
    if (/[\n\0]/.test(value)) throw new BerthError('INVALID_ARGUMENT', `${where}: the value must not contain a newline or NUL`);
    const n = sysctlNamespace(key);
    if (n === null) throw new BerthError('INVALID_ARGUMENT', `${where}: not a namespaced sysctl (only net.*, IPC and UTS ones can be set for a pod)`);
    if ((n === 'net' || n === 'uts') && ns.hostNetwork) throw new BerthError('INVALID_ARGUMENT', `${where}: cannot be set for a pod in the host's network namespace`);
    if (n === 'ipc' && ns.hostIpc) throw new BerthError('INVALID_ARGUMENT', `${where}: cannot be set for a pod in the host's IPC namespace`);
  }
}

export async function applySysctls(sysctls: Record<string, string>, ns: SysctlTargets): Promise<void> {
  for (const [key, value] of Object.entries(sysctls)) {
    const n = sysctlNamespace(key);
    const file = n === null ? null : ns[n];
    if (file === null) throw new BerthError('INVALID_ARGUMENT', `config.linux.sysctls[${JSON.stringify(key)}]: the pod has no ${n ?? 'such'} namespace of its own`);
    const r = await run('nsenter', [`--${n}=${file}`, '--', 'tee', sysctlPath(key)], { input: value, timeoutMs: 10_000 });
    if (r.code !== 0) {
      throw new BerthError('INVALID_ARGUMENT', `config.linux.sysctls[${JSON.stringify(key)}]: cannot set to ${JSON.stringify(value)}: ${r.stderr.trim().replace(/^tee: /, '')}`);
    }
  }
}
