/** Image config -> the process and metadata a runtime spec needs. */
import { ConfigError } from '../../runtime/errors';
import { parseExposedPorts } from './ports';
import { mergeEnv, parseVolumes, resolveArgs, resolveCwd } from './process';
import { parseSignal, signalName } from './signal';
import type { ImageConfig, ImageRuntimeConfig, ProcessOverrides } from './types';
import { readUserDb, resolveUser, type UserDb } from './user';

/**
 * Pure: turns an image config plus overrides into process args, env, cwd, user, stop signal,
 * exposed ports, volumes and labels. `users` are the image's /etc/passwd and /etc/group (see
 * readUserDb / imageRuntimeConfigFromRootfs); pass { passwd: null, group: null } when there is no
 * rootfs at hand (then only numeric users resolve).
 */
export function imageRuntimeConfig(image: ImageConfig, overrides: ProcessOverrides, users: UserDb): ImageRuntimeConfig {
  if (image === null || typeof image !== 'object') throw new ConfigError('config', 'image config is not an object');
  const c = image.config ?? {};
  const userSpec = overrides.user !== undefined && overrides.user !== '' ? overrides.user : c.User ?? '';
  const stop = c.StopSignal ? parseSignal(c.StopSignal, 'config.StopSignal') : 15;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.Labels ?? {})) {
    if (typeof v !== 'string') throw new ConfigError(`config.Labels.${k}`, 'label value is not a string');
    labels[k] = v;
  }
  return {
    process: {
      args: resolveArgs(c, overrides),
      env: mergeEnv(c.Env, overrides.env, overrides.defaultPath ?? true),
      cwd: resolveCwd(c, overrides),
      user: resolveUser(userSpec, users, overrides.user ? 'user' : 'config.User'),
    },
    stopSignal: stop,
    stopSignalName: signalName(stop),
    exposedPorts: parseExposedPorts(c.ExposedPorts, 'config.ExposedPorts'),
    volumes: parseVolumes(c.Volumes),
    labels,
  };
}

/** imageRuntimeConfig with the user resolved through the passwd/group files of `rootfs`. */
export async function imageRuntimeConfigFromRootfs(
  image: ImageConfig,
  overrides: ProcessOverrides,
  rootfs: string,
): Promise<ImageRuntimeConfig> {
  return imageRuntimeConfig(image, overrides, await readUserDb(rootfs));
}
