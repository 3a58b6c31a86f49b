// Original file: proto/cri/api.proto


/**
 * resolv.conf content for a pod.
 */
export interface DNSConfig {
  'servers'?: (string)[];
  'searches'?: (string)[];
  'options'?: (string)[];
}

/**
 * resolv.conf content for a pod.
 */
export interface DNSConfig__Output {
  'servers': (string)[];
  'searches': (string)[];
  'options': (string)[];
}
