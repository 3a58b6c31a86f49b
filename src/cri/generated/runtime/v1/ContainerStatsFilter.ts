// Original file: proto/cri/api.proto


/**
 * Criteria for ListContainerStats.
 */
export interface ContainerStatsFilter {
  'id'?: (string);
  'pod_sandbox_id'?: (string);
  'label_selector'?: ({[key: string]: string});
}

/**
 * Criteria for ListContainerStats.
 */
export interface ContainerStatsFilter__Output {
  'id': (string);
  'pod_sandbox_id': (string);
  'label_selector': ({[key: string]: string});
}
