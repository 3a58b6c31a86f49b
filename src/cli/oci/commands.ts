/**
 * The command table: names, usage, flags, and a loader that requires the command's module only
 * when it runs (startup time matters: `state` must not load the plan compiler).
 */
import type { FlagSpec } from './args';
import type { CommandContext } from './context';

export interface CommandModule {
  run(ctx: CommandContext): Promise<number>;
}

export interface CommandSpec {
  name: string;
  usage: string;
  summary: string;
  flags: FlagSpec[];
  stopAfterPositionals?: number;
  load(): Promise<CommandModule>;
}

const bundle: FlagSpec = { name: 'bundle', short: 'b', type: 'string', value: 'DIR', help: 'path to the bundle directory (default: current directory)' };
const configFile: FlagSpec = { name: 'config', short: 'f', type: 'string', value: 'FILE', help: "config file to use instead of the bundle's config.json (as crun)" };
const consoleSocket: FlagSpec = { name: 'console-socket', type: 'string', value: 'PATH', help: 'unix socket that receives the pty master when process.terminal is true' };
const pidFile: FlagSpec = { name: 'pid-file', type: 'string', value: 'FILE', help: 'write the process id to FILE' };
const preserveFds: FlagSpec = { name: 'preserve-fds', type: 'int', value: 'N', help: 'pass N additional fds (3 .. 3+N-1) to the process' };
const noPivot: FlagSpec = { name: 'no-pivot', type: 'bool', help: 'do not use pivot_root (MS_MOVE + chroot instead)' };
const noNewKeyring: FlagSpec = { name: 'no-new-keyring', type: 'bool', help: 'do not create a new session keyring' };

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'root', type: 'string', value: 'DIR', help: 'state directory (default /run/berth-oci)' },
  { name: 'log', type: 'string', value: 'FILE', help: 'write log lines to FILE (default stderr)' },
  { name: 'log-format', type: 'string', value: 'text|json', help: 'log format (default text)' },
  { name: 'debug', type: 'bool', help: 'log debug detail' },
  { name: 'systemd-cgroup', type: 'bool', help: 'use the systemd cgroup driver (cgroupsPath is slice:prefix:name)' },
  { name: 'cgroup-manager', type: 'string', value: 'cgroupfs|systemd|disabled', help: 'cgroup driver (default cgroupfs)' },
  { name: 'rootless', type: 'string', value: 'true|false|auto', help: 'accepted for runc compatibility; ignored' },
  { name: 'criu', type: 'string', value: 'PATH', help: 'accepted for runc compatibility; ignored' },
  { name: 'version', short: 'v', type: 'bool', help: 'print the version' },
  { name: 'help', short: 'h', type: 'bool', help: 'show help' },
];

export const COMMANDS: CommandSpec[] = [
  {
    name: 'create',
    usage: 'create [options] <container-id>',
    summary: 'create a container (its process waits for start)',
    flags: [bundle, configFile, consoleSocket, pidFile, noPivot, noNewKeyring, preserveFds],
    load: () => import('./create'),
  },
  {
    name: 'start',
    usage: 'start <container-id>',
    summary: 'start a created container',
    flags: [],
    load: () => import('./start'),
  },
  {
    name: 'run',
    usage: 'run [options] <container-id>',
    summary: 'create and start a container; without --detach wait for it and exit with its status',
    flags: [
      bundle,
      configFile,
      consoleSocket,
      { name: 'detach', short: 'd', type: 'bool', help: 'detach from the container process' },
      { name: 'keep', type: 'bool', help: 'keep the container state after it exits' },
      pidFile,
      noPivot,
      noNewKeyring,
      preserveFds,
      { name: 'no-subreaper', type: 'bool', help: 'accepted for runc compatibility; ignored' },
    ],
    load: () => import('./run'),
  },
  {
    name: 'state',
    usage: 'state <container-id>',
    summary: 'print the state of a container as JSON',
    flags: [],
    load: () => import('./state'),
  },
  {
    name: 'kill',
    usage: 'kill [options] <container-id> [signal]',
    summary: 'send a signal (default SIGTERM) to the container process',
    flags: [{ name: 'all', short: 'a', type: 'bool', help: 'send the signal to every process in the container' }],
    load: () => import('./kill'),
  },
  {
    name: 'delete',
    usage: 'delete [options] <container-id>...',
    summary: 'delete a stopped container and its resources',
    flags: [{ name: 'force', short: 'f', type: 'bool', help: 'kill the container first if it is still running' }],
    load: () => import('./delete'),
  },
  {
    name: 'list',
    usage: 'list [options]',
    summary: 'list containers',
    flags: [
      { name: 'format', short: 'f', type: 'string', value: 'table|json', help: 'output format (default table)' },
      { name: 'quiet', short: 'q', type: 'bool', help: 'print only container ids' },
    ],
    load: () => import('./list'),
  },
  {
    name: 'ps',
    usage: 'ps [options] <container-id> [-- ps options]',
    summary: 'list the processes running in a container',
    flags: [{ name: 'format', short: 'f', type: 'string', value: 'table|json', help: 'output format (default table)' }],
    stopAfterPositionals: 1,
    load: () => import('./ps'),
  },
  {
    name: 'exec',
    usage: 'exec [options] <container-id> <command> [args...]',
    summary: 'run a process in a container',
    flags: [
      consoleSocket,
      { name: 'cwd', type: 'string', value: 'DIR', help: 'working directory' },
      { name: 'env', short: 'e', type: 'list', value: 'K=V', help: 'set an environment variable' },
      { name: 'tty', short: 't', type: 'bool', help: 'allocate a pseudo-TTY' },
      { name: 'user', short: 'u', type: 'string', value: 'UID[:GID]', help: 'user (numeric) to run as' },
      { name: 'additional-gids', short: 'g', type: 'list', value: 'GID', help: 'additional group id' },
      { name: 'process', short: 'p', type: 'string', value: 'FILE', help: 'a JSON process document (config.json "process")' },
      { name: 'detach', short: 'd', type: 'bool', help: 'detach from the process' },
      pidFile,
      { name: 'process-label', type: 'string', value: 'LABEL', help: 'SELinux label for the process' },
      { name: 'apparmor', type: 'string', value: 'PROFILE', help: 'AppArmor profile for the process' },
      { name: 'no-new-privs', type: 'bool', help: 'set no_new_privs' },
      { name: 'cap', short: 'c', type: 'list', value: 'CAP', help: 'add a capability' },
      preserveFds,
      { name: 'ignore-paused', type: 'bool', help: 'accepted for runc compatibility; ignored' },
    ],
    stopAfterPositionals: 1,
    load: () => import('./exec'),
  },
  {
    name: 'pause',
    usage: 'pause <container-id>',
    summary: 'freeze every process in a container',
    flags: [],
    load: () => import('./pause'),
  },
  {
    name: 'resume',
    usage: 'resume <container-id>',
    summary: 'thaw a paused container',
    flags: [],
    load: () => import('./pause'),
  },
  {
    name: 'update',
    usage: 'update [options] <container-id>',
    summary: 'change the resource limits of a container',
    flags: [
      { name: 'resources', short: 'r', type: 'string', value: 'FILE', help: 'linux.resources JSON from FILE ("-" = stdin)' },
      { name: 'blkio-weight', type: 'int', value: 'N', help: 'block IO weight, 10..1000' },
      { name: 'cpu-period', type: 'string', value: 'US', help: 'CFS period in microseconds' },
      { name: 'cpu-quota', type: 'string', value: 'US', help: 'CFS quota in microseconds (-1 = unlimited)' },
      { name: 'cpu-share', type: 'string', value: 'N', help: 'CPU shares (relative weight)' },
      { name: 'cpu-rt-period', type: 'string', value: 'US', help: 'realtime period in microseconds' },
      { name: 'cpu-rt-runtime', type: 'string', value: 'US', help: 'realtime runtime in microseconds' },
      { name: 'cpuset-cpus', type: 'string', value: 'LIST', help: 'CPUs allowed (e.g. 0-3,5)' },
      { name: 'cpuset-mems', type: 'string', value: 'LIST', help: 'memory nodes allowed' },
      { name: 'memory', type: 'string', value: 'BYTES', help: 'memory limit (e.g. 512m, -1 = unlimited)' },
      { name: 'memory-reservation', type: 'string', value: 'BYTES', help: 'memory soft limit' },
      { name: 'memory-swap', type: 'string', value: 'BYTES', help: 'memory+swap limit (-1 = unlimited)' },
      { name: 'kernel-memory', type: 'string', value: 'BYTES', help: 'deprecated kernel memory limit' },
      { name: 'kernel-memory-tcp', type: 'string', value: 'BYTES', help: 'deprecated kernel TCP buffer limit' },
      { name: 'pids-limit', type: 'int', value: 'N', help: 'maximum number of tasks (-1 = unlimited)' },
      { name: 'l3-cache-schema', type: 'string', value: 'SCHEMA', help: 'Intel RDT L3 schema (unsupported)' },
      { name: 'mem-bw-schema', type: 'string', value: 'SCHEMA', help: 'Intel RDT memory bandwidth schema (unsupported)' },
    ],
    load: () => import('./update'),
  },
  {
    name: 'events',
    usage: 'events [options] <container-id>',
    summary: 'print container events (stats, oom) as JSON lines',
    flags: [
      { name: 'interval', type: 'string', value: 'DURATION', help: 'stats interval (default 5s)' },
      { name: 'stats', type: 'bool', help: 'print stats once and exit' },
    ],
    load: () => import('./events'),
  },
  {
    name: 'features',
    usage: 'features',
    summary: 'print the runtime-spec features document of this runtime',
    flags: [],
    load: () => import('./features'),
  },
  {
    name: 'spec',
    usage: 'spec [options]',
    summary: 'write a default config.json',
    flags: [bundle, { name: 'rootless', type: 'bool', help: 'a config for rootless containers' }],
    load: () => import('./spec'),
  },
];

export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
