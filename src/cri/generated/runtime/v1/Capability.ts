// Original file: proto/cri/api.proto


/**
 * Capabilities to add or drop.
 */
export interface Capability {
  'add_capabilities'?: (string)[];
  'drop_capabilities'?: (string)[];
  'add_ambient_capabilities'?: (string)[];
}

/**
 * Capabilities to add or drop.
 */
export interface Capability__Output {
  'add_capabilities': (string)[];
  'drop_capabilities': (string)[];
  'add_ambient_capabilities': (string)[];
}
