/**
 * Deriving a plugin's request configuration from its plugin configuration (SPEC.md section 3,
 * "Deriving request configuration" and "Deriving runtimeConfig").
 */
import type { CapabilityArgs, Json, JsonObject, NetworkConfigList, PluginConf } from './types';

export interface RequestOptions {
  /** Attachment operations (ADD, DEL, CHECK) get runtimeConfig; STATUS, VERSION and GC do not. */
  attachment: boolean;
  capabilityArgs?: CapabilityArgs;
  /** The previous result; absent for the first plugin of an ADD (and for DEL before spec 0.4.0). */
  prevResult?: JsonObject | null;
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * The runtimeConfig for one plugin: each capability the plugin declares (`"capabilities": {"x": true}`)
 * and the runtime offers. A static runtimeConfig in the plugin configuration is kept underneath.
 */
export function runtimeConfigFor(plugin: PluginConf, args: CapabilityArgs | undefined): JsonObject {
  const rc: JsonObject = isObject(plugin.runtimeConfig) ? { ...plugin.runtimeConfig } : {};
  const caps = plugin.capabilities;
  if (!isObject(caps) || args === undefined) return rc;
  for (const [name, on] of Object.entries(caps)) {
    if (on !== true) continue;
    const v = args[name];
    if (v !== undefined) rc[name] = JSON.parse(JSON.stringify(v)) as Json;
  }
  return rc;
}

/**
 * The JSON a plugin reads on stdin: the plugin configuration unchanged, except `cniVersion` (the
 * selected version) and `name` (the network's) inserted, `capabilities` and `cni.dev/` keys removed,
 * and `runtimeConfig` and `prevResult` set as the operation asks.
 */
export function buildRequest(net: NetworkConfigList, plugin: PluginConf, version: string, opts: RequestOptions): JsonObject {
  const req: JsonObject = { cniVersion: version, name: net.name };
  for (const [k, v] of Object.entries(plugin)) {
    if (k === 'cniVersion' || k === 'name' || k === 'capabilities' || k === 'runtimeConfig' || k === 'prevResult') continue;
    if (k.startsWith('cni.dev/')) continue;
    req[k] = v;
  }
  if (opts.attachment) {
    const rc = runtimeConfigFor(plugin, opts.capabilityArgs);
    if (Object.keys(rc).length > 0) req.runtimeConfig = rc;
    if (opts.prevResult) req.prevResult = opts.prevResult;
  }
  return req;
}
