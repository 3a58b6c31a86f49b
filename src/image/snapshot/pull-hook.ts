/**
 * Glue for the pull (src/image/pull): its per-layer stream hook, unpacking every layer as it
 * arrives, all layers at once. Structurally typed so that this module does not depend on pull/.
 *
 *   const hook = pullUnpacker(snapshotter);
 *   const rec = await pullImage(ref, { ...opts, ...hook });
 *   await snapshotter.settle(topChainId);   // optional: prepare() does it too
 */
import type { Readable } from 'node:stream';
import type { Snapshotter, UnpackRequest, UnpackResult } from './snapshotter';

export interface LayerStreamInfo {
  index: number;
  diffId: string;
  chainId: string;
  parentChainId?: string;
}

export interface PullUnpacker {
  wantLayerStream: (layer: LayerStreamInfo) => Promise<boolean>;
  onLayerStream: (layer: LayerStreamInfo, tar: Readable) => Promise<void>;
}

export function pullUnpacker(
  s: Snapshotter,
  opts: { apply?: UnpackRequest['apply']; onLayer?: (layer: LayerStreamInfo, r: UnpackResult) => void } = {},
): PullUnpacker {
  return {
    wantLayerStream: async (layer) => (await s.stat(layer.chainId)) === null,
    onLayerStream: async (layer, tar) => {
      const r = await s.unpack({
        diffId: layer.diffId,
        parent: layer.parentChainId,
        chainId: layer.chainId,
        source: tar,
        apply: opts.apply,
        // The pull ends a layer's stream normally only after checking its diff_id.
        sourceVerifiesDiffId: true,
      });
      opts.onLayer?.(layer, r);
    },
  };
}
