// Original file: proto/cri/api.proto

import type { Long } from '@grpc/proto-loader';

/**
 * The user a container process runs as, as resolved by the runtime.
 */
export interface LinuxContainerUser {
  'uid'?: (number | string | Long);
  'gid'?: (number | string | Long);
  'supplemental_groups'?: (number | string | Long)[];
}

/**
 * The user a container process runs as, as resolved by the runtime.
 */
export interface LinuxContainerUser__Output {
  'uid': (string);
  'gid': (string);
  'supplemental_groups': (string)[];
}
