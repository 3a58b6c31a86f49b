// Original file: proto/cri/api.proto


// Original file: proto/cri/api.proto

/**
 * Kind of profile.
 */
export const _runtime_v1_SecurityProfile_ProfileType = {
  RuntimeDefault: 'RuntimeDefault',
  Unconfined: 'Unconfined',
  Localhost: 'Localhost',
} as const;

/**
 * Kind of profile.
 */
export type _runtime_v1_SecurityProfile_ProfileType =
  | 'RuntimeDefault'
  | 0
  | 'Unconfined'
  | 1
  | 'Localhost'
  | 2

/**
 * Kind of profile.
 */
export type _runtime_v1_SecurityProfile_ProfileType__Output = typeof _runtime_v1_SecurityProfile_ProfileType[keyof typeof _runtime_v1_SecurityProfile_ProfileType]

/**
 * A seccomp or AppArmor profile choice.
 */
export interface SecurityProfile {
  'profile_type'?: (_runtime_v1_SecurityProfile_ProfileType);
  'localhost_ref'?: (string);
}

/**
 * A seccomp or AppArmor profile choice.
 */
export interface SecurityProfile__Output {
  'profile_type': (_runtime_v1_SecurityProfile_ProfileType__Output);
  'localhost_ref': (string);
}
