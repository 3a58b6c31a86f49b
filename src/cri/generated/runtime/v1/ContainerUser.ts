// Original file: proto/cri/api.proto

import type { LinuxContainerUser as _runtime_v1_LinuxContainerUser, LinuxContainerUser__Output as _runtime_v1_LinuxContainerUser__Output } from '../../runtime/v1/LinuxContainerUser';

/**
 * The identity a container process actually runs with.
 */
export interface ContainerUser {
  'linux'?: (_runtime_v1_LinuxContainerUser | null);
}

/**
 * The identity a container process actually runs with.
 */
export interface ContainerUser__Output {
  'linux': (_runtime_v1_LinuxContainerUser__Output | null);
}
