/**
 * --runtime: berth's own runtime (default, or "berth"), or an OCI runtime binary with a runc-style CLI
 * ("runc", "crun": looked up on PATH; or an absolute path), driven through ContainerManager's oci
 * handler type, as berthd's [runtimes.NAME] type = "oci" entries are.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';

export type ResolvedRuntime = { kind: 'berth' } | { kind: 'oci'; name: string; binary: string };

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

export function resolveRuntime(spec: string | undefined, pathEnv: string = process.env['PATH'] ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'): ResolvedRuntime {
  if (spec === undefined || spec === '' || spec === 'berth') return { kind: 'berth' };
  let binary: string | undefined;
  if (spec.includes('/')) {
    if (!path.isAbsolute(spec)) throw new BerthError('INVALID_ARGUMENT', `--runtime ${spec}: give a name on PATH or an absolute path`);
    if (executable(spec)) binary = spec;
  } else {
    for (const d of pathEnv.split(':')) {
      if (d !== '' && executable(path.join(d, spec))) {
        binary = path.join(d, spec);
        break;
      }
    }
  }
  if (binary === undefined) throw new BerthError('NOT_FOUND', `unknown runtime ${JSON.stringify(spec)}: not berth, and no executable of that name on PATH`);
  const name = path.basename(binary).toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'oci';
  if (name === 'berth') return { kind: 'berth' };
  return { kind: 'oci', name, binary };
}
