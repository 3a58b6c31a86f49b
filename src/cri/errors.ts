/**
 * The edge between Berth's typed errors and gRPC status codes. Services throw BerthError (or anything
 * else, which becomes INTERNAL); the server turns it into a status with toServiceError.
 */
import { status as GrpcStatus, type ServiceError, Metadata } from '@grpc/grpc-js';
import { BerthError, type ErrorCode } from '../runtime/errors';

const CODE_MAP: Record<ErrorCode, GrpcStatus> = {
  INVALID_CONFIG: GrpcStatus.INVALID_ARGUMENT,
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  ALREADY_EXISTS: GrpcStatus.ALREADY_EXISTS,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  UNSUPPORTED: GrpcStatus.UNIMPLEMENTED,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  TIMEOUT: GrpcStatus.DEADLINE_EXCEEDED,
  INTERNAL: GrpcStatus.INTERNAL,
};

export interface GrpcFailure {
  code: GrpcStatus;
  details: string;
}

/** The gRPC status for a thrown value: BerthError codes map 1:1, anything else is INTERNAL. */
export function grpcStatusFor(err: unknown): GrpcFailure {
  if (err instanceof BerthError) {
    return { code: CODE_MAP[err.code] ?? GrpcStatus.INTERNAL, details: err.message };
  }
  if (err instanceof Error) return { code: GrpcStatus.INTERNAL, details: err.message || err.name };
  return { code: GrpcStatus.INTERNAL, details: String(err) };
}

/** A ServiceError object as grpc-js callbacks and stream 'error' events accept it. */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const { code, details } = grpcStatusFor(err);
  return { name: 'ServiceError', message: details, code, details, metadata: new Metadata() };
}

/** The status for an RPC the daemon does not implement (yet, or at all). */
export function unimplemented(method: string): GrpcFailure {
  return { code: GrpcStatus.UNIMPLEMENTED, details: `${method} is not implemented by berthd` };
}
