// Original file: proto/cri/api.proto

/**
 * Prometheus-style metric kind.
 */
export const MetricType = {
  COUNTER: 'COUNTER',
  GAUGE: 'GAUGE',
} as const;

/**
 * Prometheus-style metric kind.
 */
export type MetricType =
  | 'COUNTER'
  | 0
  | 'GAUGE'
  | 1

/**
 * Prometheus-style metric kind.
 */
export type MetricType__Output = typeof MetricType[keyof typeof MetricType]
