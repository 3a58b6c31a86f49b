// Original file: proto/cri/api.proto

/**
 * Lifecycle state of a pod sandbox.
 */
export const PodSandboxState = {
  SANDBOX_READY: 'SANDBOX_READY',
  SANDBOX_NOTREADY: 'SANDBOX_NOTREADY',
} as const;

/**
 * Lifecycle state of a pod sandbox.
 */
export type PodSandboxState =
  | 'SANDBOX_READY'
  | 0
  | 'SANDBOX_NOTREADY'
  | 1

/**
 * Lifecycle state of a pod sandbox.
 */
export type PodSandboxState__Output = typeof PodSandboxState[keyof typeof PodSandboxState]
