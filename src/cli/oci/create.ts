/** berth-oci create [--bundle DIR] [--pid-file F] [--console-socket S] [--preserve-fds N] <id> */
import { createContainer } from '../../runtime/container/create';
import { containerIdArg, expectArgs, runtimeOptions, type CommandContext } from './context';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, 1);
  await createContainer(runtimeOptions(ctx), {
    id: containerIdArg(ctx),
    bundle: ctx.flags.string('bundle') ?? '.',
    config: ctx.flags.string('config'),
    consoleSocket: ctx.flags.string('console-socket'),
    pidFile: ctx.flags.string('pid-file'),
    preserveFds: ctx.flags.int('preserve-fds') ?? 0,
    noPivot: ctx.flags.bool('no-pivot'),
    noNewKeyring: ctx.flags.bool('no-new-keyring'),
  });
  return 0;
}
