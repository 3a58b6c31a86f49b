/** berth-oci pause <id> / berth-oci resume <id> */
import { pauseContainer, resumeContainer } from '../../runtime/container/pause';
import { containerIdArg, expectArgs, runtimeOptions, type CommandContext } from './context';

export async function run(ctx: CommandContext): Promise<number> {
  expectArgs(ctx, 1, 1);
  const op = ctx.name === 'resume' ? resumeContainer : pauseContainer;
  await op(runtimeOptions(ctx), containerIdArg(ctx));
  return 0;
}
