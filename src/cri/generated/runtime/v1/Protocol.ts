// Original file: proto/cri/api.proto

/**
 * Transport protocol of a port mapping.
 */
export const Protocol = {
  TCP: 'TCP',
  UDP: 'UDP',
  SCTP: 'SCTP',
} as const;

/**
 * Transport protocol of a port mapping.
 */
export type Protocol =
  | 'TCP'
  | 0
  | 'UDP'
  | 1
  | 'SCTP'
  | 2

/**
 * Transport protocol of a port mapping.
 */
export type Protocol__Output = typeof Protocol[keyof typeof Protocol]
