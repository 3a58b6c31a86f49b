/** The OCI image config (image-spec config.md) fields berth uses; Docker's image config is the same shape. */
export interface ImageExecConfig {
  User?: string;
  ExposedPorts?: Record<string, unknown> | null;
  Env?: string[] | null;
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Volumes?: Record<string, unknown> | null;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  ArgsEscaped?: boolean;
}

export interface ImageConfig {
  created?: string;
  author?: string;
  architecture?: string;
  os?: string;
  variant?: string;
  config?: ImageExecConfig | null;
  rootfs?: { type: string; diff_ids: string[] };
  history?: Array<Record<string, unknown>>;
}

/** What a caller (CRI, `berth run`) overrides. Undefined = not given. */
export interface ProcessOverrides {
  /** Replaces the image's Entrypoint. Non-empty: the image's Cmd is dropped too (docker, CRI `command`). */
  entrypoint?: string[];
  /** Replaces the image's Cmd (CRI `args`, docker's trailing arguments). */
  cmd?: string[];
  /** Merged over the image's Env by key ("KEY=value" list or a record). */
  env?: string[] | Record<string, string>;
  workingDir?: string;
  /** "user", "uid", "user:group", "uid:gid", ... (replaces the image's User). */
  user?: string;
  /** Add PATH when neither the image nor the overrides set one (default true). */
  defaultPath?: boolean;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  /** The passwd name, when the user is in the image's /etc/passwd. */
  username?: string;
  home?: string;
}

export interface ExposedPort {
  port: number;
  protocol: 'tcp' | 'udp' | 'sctp';
}

export interface ProcessFromImage {
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
}

/** An image config turned into what a runtime spec needs. */
export interface ImageRuntimeConfig {
  process: ProcessFromImage;
  stopSignal: number;
  stopSignalName: string;
  exposedPorts: ExposedPort[];
  volumes: string[];
  labels: Record<string, string>;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
