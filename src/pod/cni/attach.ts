/**
 * Executing a network configuration (SPEC.md section 3): ADD through the chain passing each result
 * to the next plugin, DEL in reverse order with the cached ADD result, CHECK with it, plus VERSION
 * probing and STATUS.
 */
import * as fs from 'node:fs';
import { BerthError } from '../../runtime/errors';
import { CniPluginError } from './errors';
import { execPlugin, findPlugin, type CniCommand } from './invoke';
import { buildRequest } from './request';
import { asResult } from './result';
import type { Attachment, JsonObject, NetworkConfigList, PluginConf } from './types';
import { atLeast } from './version';

export interface ExecOptions {
  /** CNI_PATH directories, searched in order. */
  binDirs: readonly string[];
  /** Per plugin call (default 60 s). */
  timeoutMs?: number;
}

/** The binary for a plugin configuration, or a FAILED_PRECONDITION error naming where it was looked for. */
export function requirePlugin(type: string, opts: ExecOptions): string {
  const p = findPlugin(type, opts.binDirs);
  if (p === null) throw new BerthError('FAILED_PRECONDITION', `CNI plugin ${JSON.stringify(type)} not found in ${opts.binDirs.join(':') || '(no CNI_PATH)'}`);
  return p;
}

/** Plugin types a configuration needs: each plugin's, and the IPAM plugin it delegates to. */
export function requiredPluginTypes(net: NetworkConfigList): string[] {
  const types: string[] = [];
  for (const p of net.plugins) {
    types.push(p.type);
    const ipam = p.ipam;
    if (typeof ipam === 'object' && ipam !== null && !Array.isArray(ipam) && typeof ipam.type === 'string' && ipam.type !== '') types.push(ipam.type);
  }
  return [...new Set(types)];
}

async function call(
  command: CniCommand,
  net: NetworkConfigList,
  plugin: PluginConf,
  version: string,
  att: Attachment,
  prevResult: JsonObject | null,
  opts: ExecOptions,
): Promise<JsonObject | null> {
  const pluginPath = requirePlugin(plugin.type, opts);
  const request = buildRequest(net, plugin, version, { attachment: true, capabilityArgs: att.capabilityArgs, prevResult });
  return execPlugin({ command, pluginPath, request, attachment: att, binDirs: opts.binDirs, timeoutMs: opts.timeoutMs });
}

/** ADD: each plugin in order, the previous plugin's result as prevResult; the final result as printed. */
export async function addNetwork(net: NetworkConfigList, version: string, att: Attachment, opts: ExecOptions): Promise<JsonObject> {
  let prev: JsonObject | null = null;
  for (const plugin of net.plugins) {
    const out = await call('ADD', net, plugin, version, att, prev, opts);
    asResult(out, plugin.type); // throws unless it is a result
    prev = out;
  }
  if (prev === null) throw new BerthError('INTERNAL', `network ${net.name} has no plugins`);
  return prev;
}

/**
 * DEL: each plugin in reverse order, with the final ADD result as prevResult (spec 0.4.0 and later;
 * none when there is no cached result). Stops at the first error, as the spec says.
 */
export async function delNetwork(net: NetworkConfigList, version: string, att: Attachment, prevResult: JsonObject | null, opts: ExecOptions): Promise<void> {
  const prev = atLeast(version, '0.4.0') ? prevResult : null;
  for (const plugin of [...net.plugins].reverse()) {
    await call('DEL', net, plugin, version, att, prev, opts);
  }
}

/** CHECK (spec 0.4.0 and later, unless the network sets disableCheck): each plugin in order. */
export async function checkNetwork(net: NetworkConfigList, version: string, att: Attachment, prevResult: JsonObject, opts: ExecOptions): Promise<void> {
  if (net.disableCheck === true || !atLeast(version, '0.4.0')) return;
  for (const plugin of net.plugins) {
    await call('CHECK', net, plugin, version, att, prevResult, opts);
  }
}

/** Cache of VERSION answers per binary (path, size and mtime). */
const versionCache = new Map<string, string[]>();

/** The spec versions a plugin binary supports (its VERSION answer). */
export async function pluginVersions(pluginPath: string, opts: ExecOptions, probeVersion = '1.0.0'): Promise<string[]> {
  const st = fs.statSync(pluginPath);
  const key = `${pluginPath}\0${st.size}\0${st.mtimeMs}`;
  const hit = versionCache.get(key);
  if (hit) return hit;
  const out = await execPlugin({ command: 'VERSION', pluginPath, request: { cniVersion: probeVersion }, binDirs: opts.binDirs, timeoutMs: opts.timeoutMs });
  const list = out?.supportedVersions;
  const versions = Array.isArray(list) ? list.filter((v): v is string => typeof v === 'string') : [];
  if (versions.length === 0 && typeof out?.cniVersion === 'string') versions.push(out.cniVersion);
  versionCache.set(key, versions);
  return versions;
}

/**
 * STATUS (spec 1.1.0): each plugin that says it speaks 1.1.0 is asked whether it can take ADDs. Throws
 * the first plugin's error. Plugins (and networks) below 1.1.0 have no STATUS and count as ready.
 */
export async function statusNetwork(net: NetworkConfigList, version: string, opts: ExecOptions): Promise<void> {
  if (!atLeast(version, '1.1.0')) return;
  for (const plugin of net.plugins) {
    const pluginPath = requirePlugin(plugin.type, opts);
    const versions = await pluginVersions(pluginPath, opts);
    if (!versions.includes('1.1.0')) continue;
    const request = buildRequest(net, plugin, version, { attachment: false });
    try {
      await execPlugin({ command: 'STATUS', pluginPath, request, binDirs: opts.binDirs, timeoutMs: opts.timeoutMs });
    } catch (err) {
      if (err instanceof CniPluginError) throw err;
      throw new CniPluginError(plugin.type, 'STATUS', 0, (err as Error).message, '', '');
    }
  }
}
