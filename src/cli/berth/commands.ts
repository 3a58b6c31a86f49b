/**
 * berth's command table: names, usage, flags and handlers. Parsing, `--help` and the bash completion
 * script are all driven by it. Image commands exist under `berth image <sub>` and as docker's
 * top-level shortcuts (images, pull, push, rmi, inspect, tag, load, import, save).
 */
import type { FlagSpec } from './args';
import type { CommandSpec, GroupSpec } from './spec';
import { cmdImagePrune, cmdImages, cmdImport, cmdInspect, cmdLoad, cmdLogin, cmdLogout, cmdPull, cmdPush, cmdRmi, cmdSave, cmdTag } from './image';
import { cmdCompletion, cmdVersion } from './meta';
import { EXTRA_COMMANDS, EXTRA_GROUPS } from './container-extra';
import { CONTAINER_COMMANDS } from './container-commands';

const quiet = (help: string): FlagSpec => ({ name: 'quiet', short: 'q', type: 'bool', help });
const format = (help: string): FlagSpec => ({ name: 'format', type: 'string', metavar: 'string', help });

export const GROUPS: GroupSpec[] = [{ name: 'container', summary: 'Manage containers' }, { name: 'image', summary: 'Manage images' }, ...EXTRA_GROUPS];

const IMAGES_FLAGS: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'bool', help: 'Show all images (berth keeps no intermediate images: same as without -a)' },
  { name: 'digests', type: 'bool', help: 'Show digests' },
  { name: 'filter', short: 'f', type: 'list', metavar: 'filter', help: 'Filter output: reference=PATTERN (e.g. "busy*:1.*"), dangling=true|false (untagged); repeatable' },
  { name: 'no-trunc', type: 'bool', help: "Don't truncate output" },
  quiet('Only show image IDs'),
  format("Format output: 'table', 'json', 'table TEMPLATE' or a template such as '{{.Repository}}:{{.Tag}}' or '{{json .}}'"),
];
const PULL_FLAGS: FlagSpec[] = [
  quiet('Suppress verbose output: print only the image name'),
  { name: 'platform', type: 'string', metavar: 'os/arch[/variant]', help: 'Pull this platform instead of the host\'s' },
  { name: 'all-tags', short: 'a', type: 'bool', help: 'Download all tagged images (not supported)', hidden: true },
];
const RMI_FLAGS: FlagSpec[] = [
  { name: 'force', short: 'f', type: 'bool', help: 'Force removal: an image ID with several names, or an image a container uses' },
  { name: 'no-prune', type: 'bool', help: 'Accepted for docker compatibility; berth removes unused layers', hidden: true },
];
const INSPECT_FLAGS: FlagSpec[] = [
  format("Format output: 'json' or a template such as '{{.Id}}' or '{{json .Config}}'"),
  { name: 'type', type: 'string', metavar: 'string', help: 'Object type: image (containers come later)' },
  { name: 'size', short: 's', type: 'bool', help: 'Accepted for docker compatibility', hidden: true },
];
const LOAD_FLAGS: FlagSpec[] = [
  { name: 'input', short: 'i', type: 'string', metavar: 'FILE', help: 'Read from a tar archive file (docker-archive or OCI layout, plain, gzip or zstd) instead of stdin' },
  quiet('Suppress progress output (berth load prints only the loaded names anyway)'),
];
const IMPORT_FLAGS: FlagSpec[] = [
  { name: 'change', short: 'c', type: 'list', metavar: 'list', help: 'Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR); repeatable' },
  { name: 'message', short: 'm', type: 'string', metavar: 'string', help: 'Commit message for the imported image' },
];
const SAVE_FLAGS: FlagSpec[] = [
  { name: 'output', short: 'o', type: 'string', metavar: 'FILE', help: 'Write to a file instead of stdout' },
  { name: 'format', type: 'string', metavar: 'docker|oci', help: 'Archive format: docker-archive or an OCI image layout tar', default: 'docker', choices: ['docker', 'oci'] },
];
const PRUNE_FLAGS: FlagSpec[] = [
  { name: 'all', short: 'a', type: 'bool', help: 'Remove all unused images, not just dangling ones' },
  { name: 'force', short: 'f', type: 'bool', help: 'Do not prompt for confirmation' },
];
const PUSH_FLAGS: FlagSpec[] = [quiet('Suppress verbose output')];

const IMAGE_NOTES = {
  pull: 'The image is stored under --root and its layers are unpacked into snapshots, ready to run.\nOn a terminal each layer shows a live progress bar; elsewhere one line per layer state change.',
  load: 'The format (docker-archive, as `docker save` writes it, or an OCI image layout) is detected\nfrom the content.',
  import: "FILE is a root filesystem tarball (plain, gzip or zstd; '-' for stdin). It becomes a single-layer\nimage; without REPOSITORY[:TAG] it is named import@<manifest digest>. Prints the image ID.",
  prune: 'Dangling content is what no image name holds any more (a tag moved to a newer image, or was\nremoved). Unused snapshots and blobs are then garbage-collected.',
};

export const COMMANDS: CommandSpec[] = [
  {
    name: 'image ls',
    aliases: ['images', 'image list'],
    summary: 'List images',
    usage: 'images [OPTIONS] [REPOSITORY[:TAG]]',
    flags: IMAGES_FLAGS,
    args: { min: 0, max: 1, kind: 'image' },
    run: cmdImages,
  },
  {
    name: 'image pull',
    aliases: ['pull'],
    summary: 'Download an image from a registry',
    usage: 'pull [OPTIONS] NAME[:TAG|@DIGEST]',
    flags: PULL_FLAGS,
    args: { min: 1, max: 1, kind: 'any' },
    notes: IMAGE_NOTES.pull,
    run: cmdPull,
  },
  {
    name: 'image push',
    aliases: ['push'],
    summary: 'Upload an image to a registry',
    usage: 'push [OPTIONS] NAME[:TAG]',
    flags: PUSH_FLAGS,
    args: { min: 1, max: 1, kind: 'image' },
    run: cmdPush,
  },
  {
    name: 'image rm',
    aliases: ['rmi', 'image remove'],
    summary: 'Remove one or more images',
    usage: 'rmi [OPTIONS] IMAGE [IMAGE...]',
    flags: RMI_FLAGS,
    args: { min: 1, kind: 'image' },
    run: cmdRmi,
  },
  {
    name: 'image inspect',
    summary: 'Display detailed information on one or more images',
    usage: 'inspect [OPTIONS] IMAGE [IMAGE...]',
    flags: INSPECT_FLAGS,
    args: { min: 1, kind: 'image' },
    run: cmdInspect,
  },
  {
    name: 'image tag',
    aliases: ['tag'],
    summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
    usage: 'tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
    flags: [],
    args: { min: 2, max: 2, kind: 'image' },
    run: cmdTag,
  },
  {
    name: 'image load',
    aliases: ['load'],
    summary: 'Load images from a tar archive or stdin',
    usage: 'load [OPTIONS]',
    flags: LOAD_FLAGS,
    args: { min: 0, max: 0, kind: 'none' },
    notes: IMAGE_NOTES.load,
    run: (ctx, flags) => cmdLoad(ctx, flags),
  },
  {
    name: 'image import',
    aliases: ['import'],
    summary: 'Import the contents from a tarball to create a filesystem image',
    usage: 'import [OPTIONS] FILE|- [REPOSITORY[:TAG]]',
    flags: IMPORT_FLAGS,
    args: { min: 1, max: 2, kind: 'file' },
    notes: IMAGE_NOTES.import,
    run: cmdImport,
  },
  {
    name: 'image save',
    aliases: ['save'],
    summary: 'Save one or more images to a tar archive (streamed to stdout by default)',
    usage: 'save [OPTIONS] IMAGE [IMAGE...]',
    flags: SAVE_FLAGS,
    args: { min: 1, kind: 'image' },
    run: cmdSave,
  },
  {
    name: 'image prune',
    summary: 'Remove unused images',
    usage: 'image prune [OPTIONS]',
    flags: PRUNE_FLAGS,
    args: { min: 0, max: 0, kind: 'none' },
    notes: IMAGE_NOTES.prune,
    run: (ctx, flags) => cmdImagePrune(ctx, flags),
  },
  {
    name: 'login',
    summary: 'Log in to a registry (credentials checked, then kept in config.json)',
    usage: 'login [OPTIONS] [SERVER]',
    flags: [
      { name: 'username', short: 'u', type: 'string', metavar: 'string', help: 'Username' },
      { name: 'password', short: 'p', type: 'string', metavar: 'string', help: 'Password (visible to other users: prefer --password-stdin)' },
      { name: 'password-stdin', type: 'bool', help: 'Take the password from stdin' },
    ],
    args: { min: 0, max: 1, kind: 'any' },
    notes: 'SERVER defaults to docker.io. Credentials go to the docker_config file of berth.toml, else\n$DOCKER_CONFIG/config.json or ~/.docker/config.json, the file pulls read them from.',
    run: cmdLogin,
  },
  {
    name: 'logout',
    summary: 'Log out from a registry',
    usage: 'logout [SERVER]',
    flags: [],
    args: { min: 0, max: 1, kind: 'any' },
    run: cmdLogout,
  },
  {
    name: 'version',
    summary: 'Show the berth version information',
    usage: 'version [OPTIONS]',
    flags: [format("Format output: 'json'")],
    args: { min: 0, max: 0, kind: 'none' },
    run: cmdVersion,
  },
  {
    name: 'completion',
    summary: 'Print the shell completion script (bash)',
    usage: 'completion bash',
    flags: [],
    args: { min: 1, max: 1, kind: 'any' },
    notes: 'Load it with: source <(berth completion bash)\nor install contrib/completion/berth.bash into /etc/bash_completion.d/.',
    run: cmdCompletion,
  },
  // container lifecycle (run, create, start, stop, rm, ps, logs, inspect...): src/cli/berth/container-commands.ts
  ...CONTAINER_COMMANDS,
  // volumes, events, exec, stats, top, cp, system: src/cli/berth/container-extra.ts
  ...EXTRA_COMMANDS,
];

/** All names a command answers to. */
export function namesOf(c: CommandSpec): string[] {
  return [c.name, ...(c.aliases ?? [])];
}

/**
 * Find the command that `words` start with (one word, or a group and a subcommand).
 * Returns the command and how many words named it.
 */
export function lookupCommand(words: readonly string[]): { cmd: CommandSpec; used: number } | undefined {
  const two = words.length >= 2 ? `${words[0]} ${words[1]}` : undefined;
  if (two !== undefined) {
    const c = COMMANDS.find((x) => namesOf(x).includes(two));
    if (c) return { cmd: c, used: 2 };
  }
  const one = words[0];
  if (one === undefined) return undefined;
  const c = COMMANDS.find((x) => namesOf(x).includes(one));
  return c ? { cmd: c, used: 1 } : undefined;
}

export function findGroup(name: string): GroupSpec | undefined {
  return GROUPS.find((g) => g.name === name);
}

export function groupCommands(group: string): CommandSpec[] {
  return COMMANDS.filter((c) => c.name.startsWith(`${group} `));
}
