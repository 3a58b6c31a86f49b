/**
 * Loads the CRI runtime.v1 definition (proto/cri/api.proto) with @grpc/proto-loader, once per process.
 *
 * The loader options below are the contract the generated types in ./generated describe (see
 * scripts/gen-cri.sh): snake_case field names as on the wire, 64-bit integers as decimal strings,
 * enums as their names, defaults filled in for absent fields.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { BerthError } from '../runtime/errors';
import type { ProtoGrpcType } from './generated/api';

export const CRI_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Fully qualified gRPC service names. */
export const RUNTIME_SERVICE = 'runtime.v1.RuntimeService';
export const IMAGE_SERVICE = 'runtime.v1.ImageService';

let packageRoot: string | undefined;

/** The directory holding Berth's package.json (works from src/ under ts tools and from dist/src/). */
export function findPackageRoot(): string {
  if (packageRoot !== undefined) return packageRoot;
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'proto', 'cri', 'api.proto'))) {
      packageRoot = dir;
      return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new BerthError('INTERNAL', `cannot find proto/cri/api.proto above ${__dirname}`);
    dir = up;
  }
}

export function criProtoPath(): string {
  return path.join(findPackageRoot(), 'proto', 'cri', 'api.proto');
}

let loaded: ProtoGrpcType | undefined;

/** The loaded runtime.v1 package (service definitions and client constructors); parsed on first use. */
export function loadCri(): ProtoGrpcType {
  if (loaded === undefined) {
    const def = protoLoader.loadSync(criProtoPath(), CRI_LOADER_OPTIONS);
    loaded = grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType;
  }
  return loaded;
}

let version: string | undefined;

/** Berth's version, from package.json. */
export function berthVersion(): string {
  if (version === undefined) {
    const pkg: unknown = JSON.parse(fs.readFileSync(path.join(findPackageRoot(), 'package.json'), 'utf8'));
    const v = typeof pkg === 'object' && pkg !== null ? (pkg as { version?: unknown }).version : undefined;
    version = typeof v === 'string' ? v : '0.0.0';
  }
  return version;
}
