/** `berth version` and `berth completion bash`. */
import { BerthError } from '../../runtime/errors';
import type { Flags } from './args';
import type { Context } from './context';
import { bashCompletion } from './completion';

export const VERSION = '0.1.0';

export async function cmdVersion(ctx: Context, flags: Flags): Promise<number> {
  const info = { Version: VERSION, Node: process.version, Os: process.platform, Arch: process.arch, Root: ctx.global.root };
  if (flags.string('format') === 'json') ctx.out(JSON.stringify(info) + '\n');
  else ctx.out(`berth version ${VERSION}\nnode ${process.version} ${process.platform}/${process.arch}\nroot ${ctx.global.root}\n`);
  return 0;
}

export async function cmdCompletion(ctx: Context, _flags: Flags, args: string[]): Promise<number> {
  if (args[0] !== 'bash') throw new BerthError('INVALID_ARGUMENT', `completion: unsupported shell ${JSON.stringify(args[0])}: berth has bash completion only`);
  ctx.out(bashCompletion());
  return 0;
}
