/**
 * Where the engine keeps things. Persistent: <root>/engine/ (records, the pod and container stores of
 * the engine's own PodManager/ContainerManager, CNI results, logs, volumes, events). Runtime:
 * <runRoot>/engine/ (pod namespaces, monitor files, lifecycle state). berthd uses <root>/pods,
 * <root>/containers, <root>/cni and <runRoot>/{pods,c,oci}: nothing here can collide with those.
 * Images, content and snapshots (<root>/content, <root>/snapshots...) are shared with berthd.
 */
import * as path from 'node:path';

export interface EnginePaths {
  /** The store root (shared images). */
  root: string;
  runRoot: string;
  /** <root>/engine: the managers' persistent root. */
  engineRoot: string;
  /** <runRoot>/engine: the managers' runtime root. */
  engineRunRoot: string;
  records: string;
  /** The cross-process mutation lock. */
  lock: string;
  cniCache: string;
  /** A CNI config dir that holds nothing: the built-in default network (berth0) is used. */
  cniConfDir: string;
  logs: string;
  volumes: string;
  events: string;
}

export function enginePaths(root: string, runRoot: string): EnginePaths {
  const engineRoot = path.join(root, 'engine');
  const engineRunRoot = path.join(runRoot, 'engine');
  return {
    root,
    runRoot,
    engineRoot,
    engineRunRoot,
    records: path.join(engineRoot, 'records'),
    lock: path.join(engineRoot, 'lock'),
    cniCache: path.join(engineRoot, 'cni', 'results'),
    cniConfDir: path.join(engineRoot, 'cni', 'net.d'),
    logs: path.join(engineRoot, 'logs'),
    volumes: path.join(engineRoot, 'volumes'),
    events: path.join(engineRoot, 'events.log'),
  };
}

/** berthd's stores under the same root (read-only for the engine: `berth ps` lists them). */
export function berthdPaths(root: string, runRoot: string): { containers: string; pods: string; runContainers: string } {
  return { containers: path.join(root, 'containers'), pods: path.join(root, 'pods'), runContainers: path.join(runRoot, 'c') };
}
