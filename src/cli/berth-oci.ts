/**
 * berth-oci: a runc-compatible low-level runtime CLI over src/runtime/container. Thin: parse flags,
 * call the library, map errors to messages and exit status 1. Command modules load lazily.
 */
import * as path from 'node:path';
import { BerthError } from '../runtime/errors';
import { Flags, formatFlags, parseArgs, type FlagSpec } from './oci/args';
import { COMMANDS, findCommand, GLOBAL_FLAGS, type CommandSpec } from './oci/commands';
import type { CommandContext, GlobalOptions } from './oci/context';
import { CliLogger, type LogFormat } from './oci/log';
import type { CgroupDriverName } from '../runtime/container/options';

export const VERSION = '0.1.0';
const SPEC_VERSION = '1.2.0';

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'berth-oci: a runc-compatible OCI runtime',
    '',
    'usage: berth-oci [global options] <command> [command options] [arguments...]',
    '',
    'commands:',
    ...COMMANDS.map((c) => `   ${c.name.padEnd(width)}   ${c.summary}`),
    '',
    'global options:',
    formatFlags(GLOBAL_FLAGS),
    '',
  ].join('\n');
}

function commandHelp(cmd: CommandSpec): string {
  return [`usage: berth-oci ${cmd.usage}`, '', cmd.summary, '', ...(cmd.flags.length ? ['options:', formatFlags(cmd.flags), ''] : [])].join('\n') + '\n';
}

function globalOptions(flags: Flags): GlobalOptions {
  let driver: CgroupDriverName = flags.bool('systemd-cgroup') ? 'systemd' : 'cgroupfs';
  const mgr = flags.string('cgroup-manager');
  if (mgr !== undefined) {
    if (mgr !== 'cgroupfs' && mgr !== 'systemd' && mgr !== 'disabled') {
      throw new BerthError('INVALID_ARGUMENT', `invalid --cgroup-manager ${JSON.stringify(mgr)}: want cgroupfs, systemd or disabled`);
    }
    driver = mgr;
  }
  return { root: path.resolve(flags.string('root') ?? '/run/berth-oci'), cgroupDriver: driver, debug: flags.bool('debug') };
}

function logFormat(flags: Flags): LogFormat {
  const f = flags.string('log-format') ?? 'text';
  if (f !== 'text' && f !== 'json') throw new BerthError('INVALID_ARGUMENT', `invalid --log-format ${JSON.stringify(f)}: want text or json`);
  return f;
}

function message(err: unknown): string {
  if (err instanceof BerthError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export async function main(argv: readonly string[]): Promise<number> {
  // Global flags come before the command.
  let logger = new CliLogger(undefined, 'text', false);
  try {
    const g = parseArgs(argv, GLOBAL_FLAGS, { stopAtFirstPositional: true });
    const gflags = new Flags(g.flags);
    logger = new CliLogger(gflags.string('log'), logFormat(gflags), gflags.bool('debug'));
    if (gflags.bool('version')) {
      process.stdout.write(`berth-oci version ${VERSION}\nspec: ${SPEC_VERSION}\n`);
      return 0;
    }
    const [name, ...rest] = g.positionals;
    if (name === undefined || gflags.bool('help') || name === 'help') {
      const topic = name === 'help' ? rest[0] : undefined;
      const cmd = topic === undefined ? undefined : findCommand(topic);
      process.stdout.write(cmd ? commandHelp(cmd) : mainHelp());
      return name === undefined && !gflags.bool('help') ? 1 : 0;
    }
    const cmd = findCommand(name);
    if (cmd === undefined) throw new BerthError('INVALID_ARGUMENT', `no such command: ${name} (see berth-oci --help)`);
    // Global flags are also accepted after the command; the command's own flag wins a name clash.
    const own = new Set(cmd.flags.flatMap((f) => [f.name, f.short ?? '']));
    const specs: FlagSpec[] = [
      ...cmd.flags,
      ...GLOBAL_FLAGS.filter((f) => !own.has(f.name) && !own.has(f.short ?? '') && f.name !== 'version'),
    ];
    const parsed = parseArgs(rest, specs, { stopAfterPositionals: cmd.stopAfterPositionals });
    const flags = new Flags(new Map([...g.flags, ...parsed.flags]));
    if (parsed.flags.get('help') === true) {
      process.stdout.write(commandHelp(cmd));
      return 0;
    }
    if (parsed.flags.has('log') || parsed.flags.has('log-format') || parsed.flags.has('debug')) {
      logger = new CliLogger(flags.string('log'), logFormat(flags), flags.bool('debug'));
    }
    const ctx: CommandContext = { name, flags, args: parsed.positionals, globals: globalOptions(flags), logger };
    const mod = await cmd.load();
    logger.debug(`${name}: loaded at ${performance.now().toFixed(1)} ms since process start`);
    return await mod.run(ctx);
  } catch (err) {
    const msg = message(err);
    logger.error(msg);
    if (logger.toFile) process.stderr.write(`berth-oci: ${msg}\n`);
    if (!(err instanceof BerthError) && err instanceof Error && err.stack && process.env.BERTH_DEBUG) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`berth-oci: ${message(err)}\n`);
      process.exitCode = 1;
    },
  );
}
