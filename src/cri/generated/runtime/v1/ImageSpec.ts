// Original file: proto/cri/api.proto


/**
 * Reference to an image, with annotations and the user-given name.
 */
export interface ImageSpec {
  'image'?: (string);
  'annotations'?: ({[key: string]: string});
  'user_specified_image'?: (string);
  'runtime_handler'?: (string);
}

/**
 * Reference to an image, with annotations and the user-given name.
 */
export interface ImageSpec__Output {
  'image': (string);
  'annotations': ({[key: string]: string});
  'user_specified_image': (string);
  'runtime_handler': (string);
}
