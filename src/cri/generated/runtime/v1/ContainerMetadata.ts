// Original file: proto/cri/api.proto


/**
 * Identity of a container within its pod (name and restart attempt).
 */
export interface ContainerMetadata {
  'name'?: (string);
  'attempt'?: (number);
}

/**
 * Identity of a container within its pod (name and restart attempt).
 */
export interface ContainerMetadata__Output {
  'name': (string);
  'attempt': (number);
}
