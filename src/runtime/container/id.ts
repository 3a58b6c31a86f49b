/**
 * Container ids: the same rule runc applies, so anything that drives runc can drive berth-oci.
 * An id is one or more of [A-Za-z0-9_+.-], is not "." or "..", and never contains a path separator.
 */
import { BerthError } from '../errors';

const ID_RE = /^[\w+.-]+$/;
const MAX_ID_LENGTH = 1024;

export function isValidContainerId(id: string): boolean {
  return id.length > 0 && id.length <= MAX_ID_LENGTH && ID_RE.test(id) && id !== '.' && id !== '..';
}

/** Throws INVALID_ARGUMENT unless `id` is a valid container id. */
export function validateContainerId(id: string): void {
  if (!isValidContainerId(id)) {
    throw new BerthError('INVALID_ARGUMENT', `invalid container id ${JSON.stringify(id)}: must match [\\w+.-]+ and not be "." or ".."`);
  }
}
