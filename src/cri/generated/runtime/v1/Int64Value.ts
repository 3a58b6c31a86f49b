// Original file: proto/cri/api.proto

import type { Long } from '@grpc/proto-loader';

/**
 * An int64 that can be absent.
 */
export interface Int64Value {
  'value'?: (number | string | Long);
}

/**
 * An int64 that can be absent.
 */
export interface Int64Value__Output {
  'value': (string);
}
