// Original file: proto/cri/api.proto


/**
 * Optional features one runtime handler supports.
 */
export interface RuntimeHandlerFeatures {
  'recursive_read_only_mounts'?: (boolean);
  'user_namespaces'?: (boolean);
}

/**
 * Optional features one runtime handler supports.
 */
export interface RuntimeHandlerFeatures__Output {
  'recursive_read_only_mounts': (boolean);
  'user_namespaces': (boolean);
}
