/**
 * Running one CNI plugin (SPEC.md section 2): parameters in the environment, the request configuration
 * on stdin, a result or an error object on stdout.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { BerthError } from '../../runtime/errors';
import { run } from '../run';
import { CniPluginError } from './errors';
import type { Attachment, JsonObject } from './types';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'VERSION' | 'GC';

/** The plugin binary for `type` in the first of `binDirs` that has an executable file of that name. */
export function findPlugin(type: string, binDirs: readonly string[]): string | null {
  if (type === '' || type.includes('/') || type === '.' || type === '..') return null;
  for (const dir of binDirs) {
    const file = path.join(dir, type);
    try {
      if (!fs.statSync(file).isFile()) continue;
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** CNI_ARGS: "K=V;K2=V2" (keys and values must not contain ';' or '='). */
export function formatCniArgs(args: readonly [string, string][]): string {
  return args
    .map(([k, v]) => {
      if (k === '' || /[;=]/.test(k) || /[;=]/.test(v)) {
        throw new BerthError('INVALID_ARGUMENT', `CNI_ARGS entry ${JSON.stringify(`${k}=${v}`)} may not contain ";" or "="`);
      }
      return `${k}=${v}`;
    })
    .join(';');
}

export interface PluginCall {
  command: CniCommand;
  /** Absolute path of the plugin binary. */
  pluginPath: string;
  /** The request configuration (stdin). */
  request: JsonObject;
  /** Needed for ADD, DEL and CHECK. */
  attachment?: Attachment;
  /** CNI_PATH. */
  binDirs: readonly string[];
  /** Default 60 s. */
  timeoutMs?: number;
}

/** The environment for a plugin: berthd's own, without any inherited CNI_* variable, plus the call's. */
export function pluginEnv(call: Pick<PluginCall, 'command' | 'attachment' | 'binDirs'>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CNI_')) env[k] = v;
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  env.CNI_COMMAND = call.command;
  env.CNI_PATH = call.binDirs.join(':');
  const a = call.attachment;
  if (a && (call.command === 'ADD' || call.command === 'DEL' || call.command === 'CHECK')) {
    env.CNI_CONTAINERID = a.containerId;
    env.CNI_NETNS = a.netns;
    env.CNI_IFNAME = a.ifName;
    if (a.args.length > 0) env.CNI_ARGS = formatCniArgs(a.args);
  }
  return env;
}

function parseJsonObject(text: string): JsonObject | null {
  const t = text.trim();
  if (t === '') return null;
  try {
    const v: unknown = JSON.parse(t);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as JsonObject) : null;
  } catch {
    return null;
  }
}

/** The error a failed plugin reported: its error object ({code, msg, details}) on stdout or stderr. */
export function pluginError(plugin: string, command: string, code: number, stdout: string, stderr: string, timedOut = false): CniPluginError {
  const name = path.basename(plugin);
  if (timedOut) return new CniPluginError(name, command, 0, 'timed out', '', stderr.trim());
  for (const text of [stdout, stderr]) {
    const obj = parseJsonObject(text);
    if (obj && (typeof obj.code === 'number' || typeof obj.msg === 'string')) {
      return new CniPluginError(
        name,
        command,
        typeof obj.code === 'number' ? obj.code : 0,
        typeof obj.msg === 'string' ? obj.msg : '',
        typeof obj.details === 'string' ? obj.details : '',
        stderr.trim(),
      );
    }
  }
  const text = (stderr.trim() || stdout.trim()).slice(0, 2000);
  return new CniPluginError(name, command, 0, text || `exit status ${code}`, '', stderr.trim());
}

/**
 * Run the plugin; resolves with its parsed stdout (null when it printed nothing, as DEL may), throws
 * CniPluginError when it failed or printed something that is not a JSON object.
 */
export async function execPlugin(call: PluginCall): Promise<JsonObject | null> {
  const env = pluginEnv(call);
  let r;
  try {
    r = await run(call.pluginPath, [], { env, input: JSON.stringify(call.request), timeoutMs: call.timeoutMs ?? 60_000 });
  } catch (err) {
    throw new CniPluginError(path.basename(call.pluginPath), call.command, 0, (err as Error).message, '', '');
  }
  if (r.code !== 0 || r.timedOut) throw pluginError(call.pluginPath, call.command, r.code, r.stdout, r.stderr, r.timedOut);
  if (r.stdout.trim() === '') return null;
  const obj = parseJsonObject(r.stdout);
  if (obj === null) {
    throw new CniPluginError(path.basename(call.pluginPath), call.command, 6, 'output is not a JSON object', r.stdout.slice(0, 500), r.stderr.trim());
  }
  return obj;
}
