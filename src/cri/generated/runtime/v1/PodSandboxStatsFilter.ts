// Original file: proto/cri/api.proto


/**
 * Criteria for ListPodSandboxStats.
 */
export interface PodSandboxStatsFilter {
  'id'?: (string);
  'label_selector'?: ({[key: string]: string});
}

/**
 * Criteria for ListPodSandboxStats.
 */
export interface PodSandboxStatsFilter__Output {
  'id': (string);
  'label_selector': ({[key: string]: string});
}
