/**
 * Docker-style flag parsing driven by flag specs: `-q`, `--quiet`, `--format json`, `--format=json`,
 * combined short flags (`-it`, `-qa`), a short flag's value attached or next (`-ofile`, `-o file`),
 * repeated flags (list flags accumulate, others keep the last value), `--bool=false`, and `--` to
 * end flags. Flags and arguments may be interleaved unless a command stops at its first argument.
 */
import { BerthError } from '../../runtime/errors';

export type FlagType = 'bool' | 'string' | 'list' | 'int';

export interface FlagSpec {
  name: string;
  short?: string;
  type: FlagType;
  help: string;
  /** Default shown in help and returned when the flag is absent. */
  default?: string | number | boolean;
  /** Placeholder in help ("string", "FILE"). */
  metavar?: string;
  /** Allowed values (checked while parsing). */
  choices?: readonly string[];
  hidden?: boolean;
}

export type FlagValue = string | boolean | number | string[];

export class UsageError extends BerthError {
  /** The command whose usage the message refers to ("pull", "image ls"), for "See 'berth pull --help'." */
  readonly command: string | undefined;
  constructor(message: string, command?: string) {
    super('INVALID_ARGUMENT', message);
    this.name = 'UsageError';
    this.command = command;
  }
}

export interface ParsedArgs {
  flags: Map<string, FlagValue>;
  positionals: string[];
}

export interface ParseOptions {
  /** Stop taking flags at the first positional (global flags; `run IMAGE CMD...`). */
  stopAtFirstPositional?: boolean;
  /** For error messages. */
  command?: string;
}

const TRUE = new Set(['true', '1', 't', 'T', 'TRUE', 'True']);
const FALSE = new Set(['false', '0', 'f', 'F', 'FALSE', 'False']);

function setValue(out: Map<string, FlagValue>, spec: FlagSpec, raw: string | undefined, shown: string, command?: string): void {
  switch (spec.type) {
    case 'bool': {
      if (raw === undefined || TRUE.has(raw)) out.set(spec.name, true);
      else if (FALSE.has(raw)) out.set(spec.name, false);
      else throw new UsageError(`invalid argument ${JSON.stringify(raw)} for "${shown}" flag: want true or false`, command);
      return;
    }
    case 'int': {
      if (raw === undefined || !/^-?\d+$/.test(raw)) throw new UsageError(`invalid argument ${JSON.stringify(raw ?? '')} for "${shown}" flag: not an integer`, command);
      out.set(spec.name, Number(raw));
      return;
    }
    case 'string':
    case 'list': {
      if (raw === undefined) throw new UsageError(`flag needs an argument: ${shown}`, command);
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`invalid argument ${JSON.stringify(raw)} for "${shown}" flag: want one of ${spec.choices.join(', ')}`, command);
      }
      if (spec.type === 'list') {
        const prev = out.get(spec.name);
        out.set(spec.name, [...(Array.isArray(prev) ? prev : []), raw]);
      } else out.set(spec.name, raw);
      return;
    }
  }
}

export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], opts: ParseOptions = {}): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags = new Map<string, FlagValue>();
  const positionals: string[] = [];
  let i = 0;
  const cmd = opts.command;
  while (i < argv.length) {
    const a = argv[i]!;
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unknown flag: --${name}`, cmd);
      let raw: string | undefined = eq < 0 ? undefined : a.slice(eq + 1);
      if (raw === undefined && spec.type !== 'bool') {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`, cmd);
        raw = argv[++i];
      }
      setValue(flags, spec, raw, `--${name}`, cmd);
      i++;
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      // a cluster of short flags; a value-taking flag consumes the rest of the cluster or the next arg
      let j = 1;
      while (j < a.length) {
        const c = a[j]!;
        const spec = byShort.get(c);
        if (!spec) throw new UsageError(`unknown shorthand flag: '${c}' in ${a}`, cmd);
        if (spec.type === 'bool') {
          if (a[j + 1] === '=') {
            setValue(flags, spec, a.slice(j + 2), `-${c}`, cmd);
            j = a.length;
          } else {
            setValue(flags, spec, undefined, `-${c}`, cmd);
            j++;
          }
          continue;
        }
        let raw: string | undefined = a.slice(j + 1);
        if (raw.startsWith('=')) raw = raw.slice(1);
        if (raw === '') {
          if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${c}' in -${c}`, cmd);
          raw = argv[++i];
        }
        setValue(flags, spec, raw, `-${c}`, cmd);
        j = a.length;
      }
      i++;
      continue;
    }
    if (opts.stopAtFirstPositional) {
      positionals.push(...argv.slice(i));
      break;
    }
    positionals.push(a);
    i++;
  }
  return { flags, positionals };
}

/** Typed access to parsed flags with the specs' defaults. */
export class Flags {
  constructor(
    private readonly values: Map<string, FlagValue>,
    private readonly specs: readonly FlagSpec[] = [],
  ) {}

  private def(name: string): FlagValue | undefined {
    return this.specs.find((s) => s.name === name)?.default;
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  bool(name: string): boolean {
    const v = this.values.get(name) ?? this.def(name);
    return v === true;
  }

  string(name: string): string | undefined {
    const v = this.values.get(name) ?? this.def(name);
    return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
  }

  int(name: string): number | undefined {
    const v = this.values.get(name) ?? this.def(name);
    return typeof v === 'number' ? v : undefined;
  }

  list(name: string): string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : [];
  }
}

/** Help lines for flags: "  -q, --quiet            Only show image IDs". */
export function formatFlags(specs: readonly FlagSpec[]): string {
  const visible = specs.filter((s) => !s.hidden);
  const left = visible.map((s) => {
    const short = s.short ? `-${s.short}, ` : '    ';
    const meta = s.type === 'bool' ? '' : ` ${s.metavar ?? (s.type === 'int' ? 'int' : s.type === 'list' ? 'list' : 'string')}`;
    return `  ${short}--${s.name}${meta}`;
  });
  const width = Math.max(0, ...left.map((l) => l.length));
  return visible
    .map((s, i) => {
      let help = s.help;
      if (s.default !== undefined && s.default !== false && s.default !== '') help += ` (default ${JSON.stringify(s.default)})`;
      return `${left[i]!.padEnd(width)}   ${help}`;
    })
    .join('\n');
}
