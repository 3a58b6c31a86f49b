// Original file: proto/cri/api.proto


/**
 * A range of user or group ids mapped into a user namespace.
 */
export interface IDMapping {
  'host_id'?: (number);
  'container_id'?: (number);
  'length'?: (number);
}

/**
 * A range of user or group ids mapped into a user namespace.
 */
export interface IDMapping__Output {
  'host_id': (number);
  'container_id': (number);
  'length': (number);
}
