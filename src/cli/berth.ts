/**
 * berth: the docker-like CLI for people. Thin: parse global flags, find the command in the table,
 * parse its flags, call its handler, map errors to messages and docker's exit statuses (125 for
 * berth's own errors: bad flags, unknown images, failed pulls...).
 */
import { BerthError } from '../runtime/errors';
import { Flags, parseArgs, UsageError } from './berth/args';
import { findGroup, lookupCommand } from './berth/commands';
import { Context, DEFAULTS, readConfigFile, type GlobalOptions, type Io } from './berth/context';
import { commandHelp, groupHelp, mainHelp } from './berth/help';
import { VERSION } from './berth/meta';
import { GLOBAL_FLAGS, HELP_FLAG } from './berth/spec';

/** Exit status for berth's own failures (docker's). */
export const EXIT_BERTH_ERROR = 125;

function globalOptions(flags: Flags): GlobalOptions {
  const explicit = flags.has('config');
  const configPath = flags.string('config') ?? DEFAULTS.config;
  const file = readConfigFile(configPath, explicit);
  return {
    root: flags.has('root') ? flags.string('root')! : (file?.root ?? DEFAULTS.root),
    runRoot: flags.has('run-root') ? flags.string('run-root')! : (file?.run_root ?? DEFAULTS.runRoot),
    debug: flags.bool('debug') || file?.debug === true,
    configFile: file ? configPath : undefined,
    hostsDir: flags.has('hosts-dir') ? flags.string('hosts-dir')! : (file?.hosts_dir ?? DEFAULTS.hostsDir),
    dockerConfig: file?.docker_config,
    maxConcurrentDownloads: file?.max_concurrent_downloads,
  };
}

function describe(err: unknown, debug: boolean): string {
  const msg = err instanceof Error ? err.message : String(err);
  let out = `berth: ${msg}\n`;
  if (err instanceof UsageError) out += `See 'berth ${err.command ? `${err.command} ` : ''}--help'.\n`;
  else if (err instanceof BerthError && err.code === 'PERMISSION_DENIED' && process.getuid?.() !== 0) out += 'berth needs root for this (or a --root you can write).\n';
  if (debug && err instanceof Error && err.stack) out += `${err.stack}\n`;
  return out;
}

/** Run berth with `argv` (without the program name); resolves to the exit status. */
export async function main(argv: readonly string[], io?: Partial<Io>): Promise<number> {
  const fullIo: Io = {
    stdout: io?.stdout ?? process.stdout,
    stderr: io?.stderr ?? process.stderr,
    stdin: io?.stdin ?? process.stdin,
  };
  if (io?.binaryOut) fullIo.binaryOut = io.binaryOut;
  let debug = false;
  try {
    const g = parseArgs(argv, GLOBAL_FLAGS, { stopAtFirstPositional: true });
    const gflags = new Flags(g.flags, GLOBAL_FLAGS);
    debug = gflags.bool('debug');
    if (gflags.bool('version')) {
      fullIo.stdout.write(`berth version ${VERSION}\n`);
      return 0;
    }
    const words = g.positionals;
    if (words.length === 0 || words[0] === 'help') {
      const topic = words.slice(1);
      const found = topic.length ? lookupCommand(topic) : undefined;
      const group = topic.length ? findGroup(topic[0]!) : undefined;
      fullIo.stdout.write(found ? commandHelp(found.cmd) : group ? groupHelp(group) : mainHelp());
      return words.length === 0 && !gflags.bool('help') ? EXIT_BERTH_ERROR : 0;
    }
    const found = lookupCommand(words);
    if (!found) {
      const group = findGroup(words[0]!);
      if (group) {
        const rest = words.slice(1);
        if (rest.length === 0 || rest[0] === '--help' || rest[0] === '-h') {
          fullIo.stdout.write(groupHelp(group));
          return rest.length === 0 ? EXIT_BERTH_ERROR : 0;
        }
        throw new UsageError(`'${rest[0]}' is not a berth ${group.name} command`, group.name);
      }
      throw new UsageError(`'${words[0]}' is not a berth command`);
    }
    const cmd = found.cmd;
    const shown = words.slice(0, found.used).join(' ');
    const specs = [...cmd.flags, HELP_FLAG];
    const parsed = parseArgs(words.slice(found.used), specs, { command: shown, stopAtFirstPositional: cmd.stopAtFirstPositional === true });
    const flags = new Flags(parsed.flags, specs);
    if (flags.bool('help')) {
      fullIo.stdout.write(commandHelp(cmd));
      return 0;
    }
    const n = parsed.positionals.length;
    if (n < cmd.args.min || (cmd.args.max !== undefined && n > cmd.args.max)) {
      const want =
        cmd.args.max === undefined
          ? `at least ${cmd.args.min} argument${cmd.args.min === 1 ? '' : 's'}`
          : cmd.args.min === cmd.args.max
            ? `exactly ${cmd.args.min} argument${cmd.args.min === 1 ? '' : 's'}`
            : `${cmd.args.min} to ${cmd.args.max} arguments`;
      throw new UsageError(`"berth ${shown}" requires ${cmd.args.max === 0 ? 'no arguments' : want}, got ${n}\nUsage:  berth ${cmd.usage}`, shown);
    }
    const ctx = new Context(globalOptions(gflags), fullIo);
    debug = ctx.global.debug;
    return await cmd.run(ctx, flags, parsed.positionals);
  } catch (err) {
    fullIo.stderr.write(describe(err, debug));
    return EXIT_BERTH_ERROR;
  }
}
