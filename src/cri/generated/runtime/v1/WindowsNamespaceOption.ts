// Original file: proto/cri/api.proto

import type { NamespaceMode as _runtime_v1_NamespaceMode, NamespaceMode__Output as _runtime_v1_NamespaceMode__Output } from '../../runtime/v1/NamespaceMode';

/**
 * Windows namespace settings.
 */
export interface WindowsNamespaceOption {
  'network'?: (_runtime_v1_NamespaceMode);
}

/**
 * Windows namespace settings.
 */
export interface WindowsNamespaceOption__Output {
  'network': (_runtime_v1_NamespaceMode__Output);
}
