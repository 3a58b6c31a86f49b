/** berth-oci update [--resources FILE|-] [--memory 512m] [--cpu-quota N] ... <id> */
import * as fs from 'node:fs';
import type { LinuxResources } from '../../runtime/cgroups/spec';
import { updateContainer } from '../../runtime/container/update';
import { BerthError } from '../../runtime/errors';
import type { Flags } from './args';
import { containerIdArg, expectArgs, runtimeOptions, type CommandContext } from './context';
import { parseIntFlag, parseSize } from './units';

function readResources(file: string): LinuxResources {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new BerthError('INVALID_ARGUMENT', `--resources: reading ${file}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new BerthError('INVALID_CONFIG', `--resources: invalid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BerthError('INVALID_CONFIG', 'linux.resources: must be a JSON object');
  return raw as LinuxResources;
}

/** linux.resources from --resources and the individual flags (flags win). */
export function resourcesFromFlags(flags: Flags): LinuxResources {
  const r: LinuxResources = flags.has('resources') ? readResources(flags.string('resources')!) : {};
  const str = (name: string): string | undefined => flags.string(name);
  const cpu = (): NonNullable<LinuxResources['cpu']> => (r.cpu ??= {});
  const mem = (): NonNullable<LinuxResources['memory']> => (r.memory ??= {});
  let v: string | undefined;
  if ((v = str('cpu-period')) !== undefined) cpu().period = parseIntFlag('cpu-period', v);
  if ((v = str('cpu-quota')) !== undefined) cpu().quota = parseIntFlag('cpu-quota', v);
  if ((v = str('cpu-share')) !== undefined) cpu().shares = parseIntFlag('cpu-share', v);
  if ((v = str('cpu-rt-period')) !== undefined) cpu().realtimePeriod = parseIntFlag('cpu-rt-period', v);
  if ((v = str('cpu-rt-runtime')) !== undefined) cpu().realtimeRuntime = parseIntFlag('cpu-rt-runtime', v);
  if ((v = str('cpuset-cpus')) !== undefined) cpu().cpus = v;
  if ((v = str('cpuset-mems')) !== undefined) cpu().mems = v;
  if ((v = str('memory')) !== undefined) mem().limit = parseSize('memory', v);
  if ((v = str('memory-reservation')) !== undefined) mem().reservation = parseSize('memory-reservation', v);
  if ((v = str('memory-swap')) !== undefined) mem().swap = parseSize('memory-swap', v);
  if ((v = str('kernel-memory')) !== undefined) mem().kernel = parseSize('kernel-memory', v);
  if ((v = str('kernel-memory-tcp')) !== undefined) mem().kernelTCP = parseSize('kernel-memory-tcp', v);
  const pids = flags.int('pids-limit');
  if (pids !== undefined) r.pids = { limit: pids };
  const blkio = flags.int('blkio-weight');
  if (blkio !== undefined) r.blockIO = { ...(r.blockIO ?? {}), weight: blkio };
  if (flags.has('l3-cache-schema') || flags.has('mem-bw-schema')) {
    throw new BerthError('UNSUPPORTED', 'Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported');
  }
  return r;
}

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, 1);
  await updateContainer(runtimeOptions(ctx), containerIdArg(ctx), resourcesFromFlags(ctx.flags));
  return 0;
}
