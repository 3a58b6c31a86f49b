// Original file: proto/cri/api.proto


/**
 * One IP address of a pod.
 */
export interface PodIP {
  'ip'?: (string);
}

/**
 * One IP address of a pod.
 */
export interface PodIP__Output {
  'ip': (string);
}
