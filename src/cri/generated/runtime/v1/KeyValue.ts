// Original file: proto/cri/api.proto


/**
 * An environment variable.
 */
export interface KeyValue {
  'key'?: (string);
  'value'?: (string);
}

/**
 * An environment variable.
 */
export interface KeyValue__Output {
  'key': (string);
  'value': (string);
}
