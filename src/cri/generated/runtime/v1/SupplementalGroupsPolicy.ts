// Original file: proto/cri/api.proto

/**
 * How supplementary groups of the first process are computed.
 */
export const SupplementalGroupsPolicy = {
  Merge: 'Merge',
  Strict: 'Strict',
} as const;

/**
 * How supplementary groups of the first process are computed.
 */
export type SupplementalGroupsPolicy =
  | 'Merge'
  | 0
  | 'Strict'
  | 1

/**
 * How supplementary groups of the first process are computed.
 */
export type SupplementalGroupsPolicy__Output = typeof SupplementalGroupsPolicy[keyof typeof SupplementalGroupsPolicy]
