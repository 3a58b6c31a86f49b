// Original file: proto/cri/api.proto


/**
 * Optional features of the runtime as a whole.
 */
export interface RuntimeFeatures {
  'supplemental_groups_policy'?: (boolean);
}

/**
 * Optional features of the runtime as a whole.
 */
export interface RuntimeFeatures__Output {
  'supplemental_groups_policy': (boolean);
}
