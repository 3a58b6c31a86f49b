/** berth-oci start <id> */
import { startContainer } from '../../runtime/container/start';
import { containerIdArg, expectArgs, runtimeOptions, type CommandContext } from './context';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, 1);
  await startContainer(runtimeOptions(ctx), containerIdArg(ctx));
  return 0;
}
