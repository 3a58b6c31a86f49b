/** Loading a container: its record, paths, cgroup and current (derived) status. */
import { BerthError } from '../errors';
import { containerCgroup, type CgroupManager } from './cgroup';
import { deriveStatus } from './derive';
import { validateContainerId } from './id';
import type { RuntimeOptions } from './options';
import { containerPaths, type ContainerPaths } from './paths';
import { readRecord, type ContainerRecord } from './state';
import type { ContainerStatus } from './status';

export interface LoadedContainer {
  record: ContainerRecord;
  paths: ContainerPaths;
  cgroup: CgroupManager | null;
  status: ContainerStatus;
}

export async function loadContainer(opts: RuntimeOptions, id: string): Promise<LoadedContainer> {
  validateContainerId(id);
  const paths = containerPaths(opts.root, id);
  const record = readRecord(paths.state, id);
  if (record.id !== id) throw new BerthError('INTERNAL', `state of ${id} names another container (${record.id})`);
  const cgroup = containerCgroup(id, record.cgroupsPath, record.cgroupDriver);
  const status = await deriveStatus(record, paths.execFifo, cgroup);
  return { record, paths, cgroup, status };
}
