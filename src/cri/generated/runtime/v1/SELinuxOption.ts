// Original file: proto/cri/api.proto


/**
 * SELinux label parts.
 */
export interface SELinuxOption {
  'user'?: (string);
  'role'?: (string);
  'type'?: (string);
  'level'?: (string);
}

/**
 * SELinux label parts.
 */
export interface SELinuxOption__Output {
  'user': (string);
  'role': (string);
  'type': (string);
  'level': (string);
}
