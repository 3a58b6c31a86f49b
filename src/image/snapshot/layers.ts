/**
 * Unpacking an image's layers: in parallel with the overlay driver (a layer does not need its parent
 * on disk), in order with the copy driver (each layer starts from a copy of its parent's tree).
 */
import { chainIds } from './chain';
import type { LayerInfo, Snapshotter, UnpackRequest, UnpackResult } from './snapshotter';

export interface LayerSource {
  diffId: string;
  /** Called only for layers not unpacked yet (see UnpackRequest.source). */
  source: UnpackRequest['source'];
}

export interface UnpackLayersOptions {
  /** Layers unpacked at once with the overlay driver (default 3). */
  concurrency?: number;
  apply?: UnpackRequest['apply'];
  /** Called as each layer is committed (or found present). */
  onLayer?: (index: number, result: UnpackResult) => void;
}

/** Unpacks `layers` (bottom first) and returns their committed infos; the last is the image's top. */
export async function unpackLayers(s: Snapshotter, layers: readonly LayerSource[], opts: UnpackLayersOptions = {}): Promise<LayerInfo[]> {
  const ids = chainIds(layers.map((l) => l.diffId));
  const out: LayerInfo[] = new Array<LayerInfo>(layers.length);
  const one = async (i: number): Promise<void> => {
    const r = await s.unpack({
      diffId: layers[i].diffId,
      parent: i === 0 ? undefined : ids[i - 1],
      source: layers[i].source,
      apply: opts.apply,
    });
    out[i] = r.info;
    opts.onLayer?.(i, r);
  };
  if (s.driver === 'copy') {
    for (let i = 0; i < layers.length; i++) await one(i);
    return out;
  }
  let next = 0;
  let failed: unknown = null;
  const worker = async (): Promise<void> => {
    while (next < layers.length && failed === null) {
      const i = next++;
      try {
        await one(i);
      } catch (err) {
        if (failed === null) failed = err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 3, layers.length)) }, worker));
  if (failed !== null) throw failed;
  if (out.length > 0) await s.settle(out[out.length - 1].chainId);
  return out;
}
