// Original file: proto/cri/api.proto

/**
 * How cgroups are managed: by systemd or directly through cgroupfs.
 */
export const CgroupDriver = {
  SYSTEMD: 'SYSTEMD',
  CGROUPFS: 'CGROUPFS',
} as const;

/**
 * How cgroups are managed: by systemd or directly through cgroupfs.
 */
export type CgroupDriver =
  | 'SYSTEMD'
  | 0
  | 'CGROUPFS'
  | 1

/**
 * How cgroups are managed: by systemd or directly through cgroupfs.
 */
export type CgroupDriver__Output = typeof CgroupDriver[keyof typeof CgroupDriver]
