// Original file: proto/cri/api.proto


/**
 * Where a file system is mounted.
 */
export interface FilesystemIdentifier {
  'mountpoint'?: (string);
}

/**
 * Where a file system is mounted.
 */
export interface FilesystemIdentifier__Output {
  'mountpoint': (string);
}
