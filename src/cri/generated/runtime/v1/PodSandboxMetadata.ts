// Original file: proto/cri/api.proto


/**
 * Identity of a pod as the kubelet knows it.
 */
export interface PodSandboxMetadata {
  'name'?: (string);
  'uid'?: (string);
  'namespace'?: (string);
  'attempt'?: (number);
}

/**
 * Identity of a pod as the kubelet knows it.
 */
export interface PodSandboxMetadata__Output {
  'name': (string);
  'uid': (string);
  'namespace': (string);
  'attempt': (number);
}
