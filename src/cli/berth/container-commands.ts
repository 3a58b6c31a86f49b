/**
 * The command table entries of the container lifecycle commands (handlers in container.ts):
 * `berth container <sub>` with docker's top-level shortcuts (run, create, start, stop, restart, kill,
 * rm, ps, logs, inspect, wait, rename, port).
 */
import type { FlagSpec } from './args';
import type { CommandSpec } from './spec';
import { DEFAULT_DETACH_KEYS } from './terminal';
import {
  CREATE_FLAGS,
  RUN_FLAGS,
  RUN_NOTES,
  cmdContainerPrune,
  cmdCreate,
  cmdInspectAny,
  cmdKill,
  cmdLogs,
  cmdPort,
  cmdPs,
  cmdRename,
  cmdRestart,
  cmdRm,
  cmdRun,
  cmdStart,
  cmdStop,
  cmdWait,
} from './container';

const TIME_FLAG: FlagSpec = { name: 'time', short: 't', type: 'int', metavar: 'int', help: 'Seconds to wait before killing the container (default: its --stop-timeout, else 10)' };

const PS_FLAGS: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'bool', help: 'Show all containers (default shows just running)' },
  { name: 'filter', short: 'f', type: 'list', metavar: 'filter', help: 'Filter output: name=, id=, status=, label=KEY[=VALUE], ancestor=IMAGE, exited=CODE; repeatable' },
  { name: 'format', type: 'string', metavar: 'string', help: "Format output: 'table', 'json', 'table TEMPLATE' or a template such as '{{.ID}} {{.Names}}'" },
  { name: 'last', short: 'n', type: 'int', metavar: 'int', help: 'Show n last created containers (includes all states)' },
  { name: 'latest', short: 'l', type: 'bool', help: 'Show the latest created container (includes all states)' },
  { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
  { name: 'quiet', short: 'q', type: 'bool', help: 'Only display container IDs' },
  { name: 'size', short: 's', type: 'bool', help: 'Accepted for docker compatibility', hidden: true },
];

const LOGS_FLAGS: FlagSpec[] = [
  { name: 'follow', short: 'f', type: 'bool', help: 'Follow log output' },
  { name: 'tail', short: 'n', type: 'string', metavar: 'string', help: 'Number of lines to show from the end of the logs', default: 'all' },
  { name: 'since', type: 'string', metavar: 'string', help: 'Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)' },
  { name: 'until', type: 'string', metavar: 'string', help: 'Show logs before a timestamp or relative time' },
  { name: 'timestamps', short: 't', type: 'bool', help: 'Show timestamps' },
  { name: 'details', type: 'bool', help: 'Accepted for docker compatibility', hidden: true },
];

const INSPECT_FLAGS: FlagSpec[] = [
  { name: 'format', short: 'f', type: 'string', metavar: 'string', help: "Format output: 'json' or a template such as '{{.State.Status}}' or '{{json .Config}}'" },
  { name: 'type', type: 'string', metavar: 'string', help: 'Only inspect objects of this type: container or image' },
  { name: 'size', short: 's', type: 'bool', help: 'Accepted for docker compatibility', hidden: true },
];

export const CONTAINER_COMMANDS: CommandSpec[] = [
  {
    name: 'container run',
    aliases: ['run'],
    summary: 'Create and run a new container from an image',
    usage: 'run [OPTIONS] IMAGE [COMMAND] [ARG...]',
    flags: RUN_FLAGS,
    args: { min: 1, kind: 'image' },
    stopAtFirstPositional: true,
    notes: RUN_NOTES,
    run: cmdRun,
  },
  {
    name: 'container create',
    aliases: ['create'],
    summary: 'Create a new container',
    usage: 'create [OPTIONS] IMAGE [COMMAND] [ARG...]',
    flags: [...CREATE_FLAGS, { name: 'quiet', short: 'q', type: 'bool', help: 'Suppress the pull output' }],
    args: { min: 1, kind: 'image' },
    stopAtFirstPositional: true,
    run: cmdCreate,
  },
  {
    name: 'container start',
    aliases: ['start'],
    summary: 'Start one or more stopped containers',
    usage: 'start [OPTIONS] CONTAINER [CONTAINER...]',
    flags: [
      { name: 'attach', short: 'a', type: 'bool', help: "Attach STDOUT/STDERR and forward signals; exit with the container's status" },
      { name: 'interactive', short: 'i', type: 'bool', help: "Attach container's STDIN" },
      { name: 'detach-keys', type: 'string', metavar: 'string', help: 'Override the key sequence for detaching a container', default: DEFAULT_DETACH_KEYS },
    ],
    args: { min: 1, kind: 'any' },
    notes: 'A container that exited starts again in its pod with the same id, name, ports, volumes, log and\nwritable layer.',
    run: cmdStart,
  },
  {
    name: 'container stop',
    aliases: ['stop'],
    summary: 'Stop one or more running containers',
    usage: 'stop [OPTIONS] CONTAINER [CONTAINER...]',
    flags: [TIME_FLAG],
    args: { min: 1, kind: 'any' },
    run: cmdStop,
  },
  {
    name: 'container restart',
    aliases: ['restart'],
    summary: 'Restart one or more containers',
    usage: 'restart [OPTIONS] CONTAINER [CONTAINER...]',
    flags: [TIME_FLAG],
    args: { min: 1, kind: 'any' },
    run: cmdRestart,
  },
  {
    name: 'container kill',
    aliases: ['kill'],
    summary: 'Kill one or more running containers',
    usage: 'kill [OPTIONS] CONTAINER [CONTAINER...]',
    flags: [{ name: 'signal', short: 's', type: 'string', metavar: 'string', help: 'Signal to send to the container', default: 'KILL' }],
    args: { min: 1, kind: 'any' },
    run: cmdKill,
  },
  {
    name: 'container rm',
    aliases: ['rm', 'container remove'],
    summary: 'Remove one or more containers',
    usage: 'rm [OPTIONS] CONTAINER [CONTAINER...]',
    flags: [
      { name: 'force', short: 'f', type: 'bool', help: 'Force the removal of a running container (uses SIGKILL)' },
      { name: 'volumes', short: 'v', type: 'bool', help: 'Remove anonymous volumes associated with the container' },
    ],
    args: { min: 1, kind: 'any' },
    run: cmdRm,
  },
  {
    name: 'container ls',
    aliases: ['ps', 'container ps', 'container list'],
    summary: 'List containers',
    usage: 'ps [OPTIONS]',
    flags: PS_FLAGS,
    args: { min: 0, max: 0, kind: 'none' },
    notes: "Containers made by berthd (the CRI daemon) under the same --root are listed too, their names\nmarked \" (cri)\" (CreatedBy in --format json); berth never changes them.",
    run: (ctx, flags) => cmdPs(ctx, flags),
  },
  {
    name: 'container logs',
    aliases: ['logs'],
    summary: 'Fetch the logs of a container',
    usage: 'logs [OPTIONS] CONTAINER',
    flags: LOGS_FLAGS,
    args: { min: 1, max: 1, kind: 'any' },
    run: cmdLogs,
  },
  {
    name: 'container inspect',
    aliases: ['inspect'],
    summary: 'Display detailed information on one or more containers or images',
    usage: 'inspect [OPTIONS] NAME|ID [NAME|ID...]',
    flags: INSPECT_FLAGS,
    args: { min: 1, kind: 'any' },
    run: cmdInspectAny,
  },
  {
    name: 'container wait',
    aliases: ['wait'],
    summary: 'Block until one or more containers stop, then print their exit codes',
    usage: 'wait CONTAINER [CONTAINER...]',
    flags: [],
    args: { min: 1, kind: 'any' },
    run: cmdWait,
  },
  {
    name: 'container rename',
    aliases: ['rename'],
    summary: 'Rename a container',
    usage: 'rename CONTAINER NEW_NAME',
    flags: [],
    args: { min: 2, max: 2, kind: 'any' },
    run: cmdRename,
  },
  {
    name: 'container prune',
    summary: 'Remove all stopped containers',
    usage: 'container prune [OPTIONS]',
    flags: [{ name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' }],
    args: { min: 0, max: 0, kind: 'none' },
    run: (ctx, flags) => cmdContainerPrune(ctx, flags),
  },
  {
    name: 'container port',
    aliases: ['port'],
    summary: 'List port mappings or a specific mapping for the container',
    usage: 'port CONTAINER [PRIVATE_PORT[/PROTO]]',
    flags: [],
    args: { min: 1, max: 2, kind: 'any' },
    run: cmdPort,
  },
];
