// Original file: proto/cri/api.proto

import type { RuntimeCondition as _runtime_v1_RuntimeCondition, RuntimeCondition__Output as _runtime_v1_RuntimeCondition__Output } from '../../runtime/v1/RuntimeCondition';

/**
 * All readiness conditions of the runtime.
 */
export interface RuntimeStatus {
  'conditions'?: (_runtime_v1_RuntimeCondition)[];
}

/**
 * All readiness conditions of the runtime.
 */
export interface RuntimeStatus__Output {
  'conditions': (_runtime_v1_RuntimeCondition__Output)[];
}
