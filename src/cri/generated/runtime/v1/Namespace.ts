// Original file: proto/cri/api.proto

import type { NamespaceOption as _runtime_v1_NamespaceOption, NamespaceOption__Output as _runtime_v1_NamespaceOption__Output } from '../../runtime/v1/NamespaceOption';

/**
 * Namespace settings as reported in status.
 */
export interface Namespace {
  'options'?: (_runtime_v1_NamespaceOption | null);
}

/**
 * Namespace settings as reported in status.
 */
export interface Namespace__Output {
  'options': (_runtime_v1_NamespaceOption__Output | null);
}
