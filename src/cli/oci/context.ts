/** What every command receives: its parsed flags and arguments, global options, logger, runtime options. */
import type { RuntimeOptions, CgroupDriverName } from '../../runtime/container/options';
import { BerthError } from '../../runtime/errors';
import type { Flags } from './args';
import type { CliLogger } from './log';

export interface GlobalOptions {
  root: string;
  cgroupDriver: CgroupDriverName;
  debug: boolean;
}

export interface CommandContext {
  name: string;
  flags: Flags;
  args: string[];
  globals: GlobalOptions;
  logger: CliLogger;
}

export function runtimeOptions(ctx: CommandContext): RuntimeOptions {
  return { root: ctx.globals.root, logger: ctx.logger, cgroupDriver: ctx.globals.cgroupDriver };
}

/** The single container id argument most commands take. */
export function containerIdArg(ctx: CommandContext): string {
  const id = ctx.args[0];
  if (id === undefined || id === '') throw new BerthError('INVALID_ARGUMENT', `"${ctx.name}" requires a container id`);
  return id;
}

export function expectArgs(ctx: CommandContext, min: number, max: number): void {
  if (ctx.args.length < min || ctx.args.length > max) {
    const want = min === max ? `exactly ${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new BerthError('INVALID_ARGUMENT', `"${ctx.name}" requires ${want} argument(s), got ${ctx.args.length}`);
  }
}

export function writeOut(text: string): void {
  process.stdout.write(text);
}
