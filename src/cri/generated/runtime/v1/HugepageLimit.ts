// Original file: proto/cri/api.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Limit for one huge page size.
 */
export interface HugepageLimit {
  'page_size'?: (string);
  'limit'?: (number | string | Long);
}

/**
 * Limit for one huge page size.
 */
export interface HugepageLimit__Output {
  'page_size': (string);
  'limit': (string);
}
