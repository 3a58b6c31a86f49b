// Original file: proto/cri/api.proto


/**
 * A device named through the Container Device Interface.
 */
export interface CDIDevice {
  'name'?: (string);
}

/**
 * A device named through the Container Device Interface.
 */
export interface CDIDevice__Output {
  'name': (string);
}
