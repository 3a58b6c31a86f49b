/**
 * Typed errors with stable codes. Front ends map codes to exit statuses (CLIs) or gRPC status codes
 * (cri/); libraries throw these and nothing else for expected failures.
 */
export type ErrorCode =
  | 'INVALID_CONFIG' // a config.json or request that fails validation
  | 'INVALID_ARGUMENT' // a bad flag or argument
  | 'NOT_FOUND' // unknown container, image, namespace path, ...
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION' // wrong lifecycle state for the operation
  | 'UNSUPPORTED' // asked for something this host or build cannot do
  | 'PERMISSION_DENIED'
  | 'TIMEOUT'
  | 'INTERNAL'; // anything else: a bug or an unexpected OS error

export class BerthError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'BerthError';
  }
}

/** A fault in a configuration document, naming the JSON path of the fault (e.g. `process.args[0]`). */
export class ConfigError extends BerthError {
  readonly path: string;
  constructor(path: string, message: string) {
    super('INVALID_CONFIG', `${path}: ${message}`);
    this.path = path;
    this.name = 'ConfigError';
  }
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
