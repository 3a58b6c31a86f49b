// Original file: proto/cri/api.proto


/**
 * One readiness condition of the runtime.
 */
export interface RuntimeCondition {
  'type'?: (string);
  'status'?: (boolean);
  'reason'?: (string);
  'message'?: (string);
}

/**
 * One readiness condition of the runtime.
 */
export interface RuntimeCondition__Output {
  'type': (string);
  'status': (boolean);
  'reason': (string);
  'message': (string);
}
