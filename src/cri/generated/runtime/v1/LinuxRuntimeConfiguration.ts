// Original file: proto/cri/api.proto

import type { CgroupDriver as _runtime_v1_CgroupDriver, CgroupDriver__Output as _runtime_v1_CgroupDriver__Output } from '../../runtime/v1/CgroupDriver';

/**
 * Linux settings the kubelet must agree with.
 */
export interface LinuxRuntimeConfiguration {
  'cgroup_driver'?: (_runtime_v1_CgroupDriver);
}

/**
 * Linux settings the kubelet must agree with.
 */
export interface LinuxRuntimeConfiguration__Output {
  'cgroup_driver': (_runtime_v1_CgroupDriver__Output);
}
