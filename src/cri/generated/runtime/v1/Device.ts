// Original file: proto/cri/api.proto


/**
 * A host device made available in a container.
 */
export interface Device {
  'container_path'?: (string);
  'host_path'?: (string);
  'permissions'?: (string);
}

/**
 * A host device made available in a container.
 */
export interface Device__Output {
  'container_path': (string);
  'host_path': (string);
  'permissions': (string);
}
