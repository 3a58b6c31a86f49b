/**
 * Chain IDs (OCI image spec, "Layer ChainID"): chainID(L1) = diffID(L1);
 * chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
 */
import { createHash } from 'node:crypto';
import { BerthError } from '../../runtime/errors';

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function assertDigest(d: string, what: string): void {
  if (!DIGEST.test(d)) throw new BerthError('INVALID_ARGUMENT', `${what}: not a sha256 digest: ${JSON.stringify(d)}`);
}

/** The chain ID of a layer whose parent chain is `parent` (undefined for the bottom layer). */
export function chainIdOf(parent: string | undefined, diffId: string): string {
  assertDigest(diffId, 'diff ID');
  if (parent === undefined) return diffId;
  assertDigest(parent, 'parent chain ID');
  return `sha256:${createHash('sha256').update(`${parent} ${diffId}`).digest('hex')}`;
}

/** Chain IDs of every prefix of `diffIds` (index i = chain ID of layers 0..i). */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  let parent: string | undefined;
  for (const d of diffIds) {
    parent = chainIdOf(parent, d);
    out.push(parent);
  }
  return out;
}
