export { chainIdOf, chainIds } from './chain';
export { type Mount, mountPoints } from './mount';
export {
  Snapshotter,
  du,
  type ActiveInfo,
  type LayerInfo,
  type SnapshotDriver,
  type SnapshotInfo,
  type SnapshotterOptions,
  type UnpackRequest,
  type UnpackResult,
  type Usage,
} from './snapshotter';
export { unpackLayers, type LayerSource, type UnpackLayersOptions } from './layers';
export { pullUnpacker, type LayerStreamInfo, type PullUnpacker } from './pull-hook';
