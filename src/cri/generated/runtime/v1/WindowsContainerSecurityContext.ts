// Original file: proto/cri/api.proto


/**
 * Windows security settings of a container.
 */
export interface WindowsContainerSecurityContext {
  'run_as_username'?: (string);
  'credential_spec'?: (string);
  'host_process'?: (boolean);
}

/**
 * Windows security settings of a container.
 */
export interface WindowsContainerSecurityContext__Output {
  'run_as_username': (string);
  'credential_spec': (string);
  'host_process': (boolean);
}
