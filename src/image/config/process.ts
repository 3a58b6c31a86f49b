/** Entrypoint/Cmd, Env and WorkingDir merging (docker's and CRI's rules). */
import * as path from 'node:path';
import { ConfigError } from '../../runtime/errors';
import { DEFAULT_PATH, type ImageExecConfig, type ProcessOverrides } from './types';

/**
 * args = entrypoint + cmd where:
 * - entrypoint = the override when given (even empty), else the image's Entrypoint;
 * - cmd = the override when given and non-empty; else the image's Cmd, unless a non-empty entrypoint
 *   override was given (then none).
 * CRI maps `command` to entrypoint and `args` to cmd when non-empty (an empty list = not given).
 */
export function resolveArgs(image: ImageExecConfig, o: ProcessOverrides): string[] {
  const entrypoint = o.entrypoint ?? image.Entrypoint ?? [];
  let cmd: string[];
  if (o.cmd !== undefined && o.cmd.length > 0) cmd = o.cmd;
  else if (o.entrypoint !== undefined && o.entrypoint.length > 0) cmd = [];
  else cmd = image.Cmd ?? [];
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw new ConfigError('process.args', 'no command: the image has no Entrypoint or Cmd and none was given');
  }
  return args;
}

function envKey(e: string): string {
  const eq = e.indexOf('=');
  return eq < 0 ? e : e.slice(0, eq);
}

/** Image Env with overrides merged by key: image order kept, new keys appended in override order. */
export function mergeEnv(image: readonly string[] | null | undefined, overrides?: string[] | Record<string, string>, defaultPath = true): string[] {
  const order: string[] = [];
  const values = new Map<string, string>();
  const put = (e: string, where: string): void => {
    const k = envKey(e);
    if (k === '') throw new ConfigError(where, `environment entry ${JSON.stringify(e)} has no name`);
    if (!values.has(k)) order.push(k);
    values.set(k, e);
  };
  for (const e of image ?? []) put(e, 'Env');
  if (Array.isArray(overrides)) {
    overrides.forEach((e, i) => {
      if (!e.includes('=')) throw new ConfigError(`process.env[${i}]`, `expected KEY=value, got ${JSON.stringify(e)}`);
      put(e, `process.env[${i}]`);
    });
  } else if (overrides) {
    for (const [k, v] of Object.entries(overrides)) put(`${k}=${v}`, `process.env.${k}`);
  }
  if (defaultPath && !values.has('PATH')) {
    order.push('PATH');
    values.set('PATH', `PATH=${DEFAULT_PATH}`);
  }
  return order.map((k) => values.get(k) as string);
}

/** The working directory: override, else the image's, else "/"; relative ones are taken from "/". */
export function resolveCwd(image: ImageExecConfig, o: ProcessOverrides): string {
  const raw = o.workingDir !== undefined && o.workingDir !== '' ? o.workingDir : image.WorkingDir || '/';
  return path.posix.resolve('/', raw);
}

/** Volume paths, cleaned and sorted. */
export function parseVolumes(volumes: Record<string, unknown> | null | undefined): string[] {
  const set = new Set<string>();
  for (const v of Object.keys(volumes ?? {})) {
    if (v.trim() === '') throw new ConfigError('Volumes', 'empty volume path');
    set.add(path.posix.resolve('/', v));
  }
  return [...set].sort();
}
