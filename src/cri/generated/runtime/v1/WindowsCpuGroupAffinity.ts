// Original file: proto/cri/api.proto

import type { Long } from '@grpc/proto-loader';

/**
 * Windows CPU group affinity.
 */
export interface WindowsCpuGroupAffinity {
  'cpu_mask'?: (number | string | Long);
  'cpu_group'?: (number);
}

/**
 * Windows CPU group affinity.
 */
export interface WindowsCpuGroupAffinity__Output {
  'cpu_mask': (string);
  'cpu_group': (number);
}
