// Original file: proto/cri/api.proto


/**
 * Registry credentials for a pull.
 */
export interface AuthConfig {
  'username'?: (string);
  'password'?: (string);
  'auth'?: (string);
  'server_address'?: (string);
  'identity_token'?: (string);
  'registry_token'?: (string);
}

/**
 * Registry credentials for a pull.
 */
export interface AuthConfig__Output {
  'username': (string);
  'password': (string);
  'auth': (string);
  'server_address': (string);
  'identity_token': (string);
  'registry_token': (string);
}
