// Original file: proto/cri/api.proto


/**
 * Name, help text and label keys of a metric.
 */
export interface MetricDescriptor {
  'name'?: (string);
  'help'?: (string);
  'label_keys'?: (string)[];
}

/**
 * Name, help text and label keys of a metric.
 */
export interface MetricDescriptor__Output {
  'name': (string);
  'help': (string);
  'label_keys': (string)[];
}
