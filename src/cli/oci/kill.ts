/** berth-oci kill [--all] <id> [signal] */
import { killContainer } from '../../runtime/container/kill';
import { containerIdArg, expectArgs, runtimeOptions, type CommandContext } from './context';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, 2);
  await killContainer(runtimeOptions(ctx), containerIdArg(ctx), ctx.args[1] ?? 'SIGTERM', ctx.flags.bool('all'));
  return 0;
}
