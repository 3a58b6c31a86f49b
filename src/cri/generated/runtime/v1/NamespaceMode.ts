// Original file: proto/cri/api.proto

/**
 * Scope of a namespace: one per pod, one per container, the node's, or another container's.
 */
export const NamespaceMode = {
  POD: 'POD',
  CONTAINER: 'CONTAINER',
  NODE: 'NODE',
  TARGET: 'TARGET',
} as const;

/**
 * Scope of a namespace: one per pod, one per container, the node's, or another container's.
 */
export type NamespaceMode =
  | 'POD'
  | 0
  | 'CONTAINER'
  | 1
  | 'NODE'
  | 2
  | 'TARGET'
  | 3

/**
 * Scope of a namespace: one per pod, one per container, the node's, or another container's.
 */
export type NamespaceMode__Output = typeof NamespaceMode[keyof typeof NamespaceMode]
