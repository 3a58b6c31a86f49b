// Original file: proto/cri/api.proto


/**
 * Node network settings.
 */
export interface NetworkConfig {
  'pod_cidr'?: (string);
}

/**
 * Node network settings.
 */
export interface NetworkConfig__Output {
  'pod_cidr': (string);
}
