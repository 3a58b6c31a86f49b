/** gRPC clients for berthd's CRI socket, built from the same proto (tests and tools). */
import * as grpc from '@grpc/grpc-js';
import type { ImageServiceClient } from './generated/runtime/v1/ImageService';
import type { RuntimeServiceClient } from './generated/runtime/v1/RuntimeService';
import { loadCri } from './proto';

export interface CriClients {
  runtime: RuntimeServiceClient;
  image: ImageServiceClient;
  close(): void;
}

export function criClients(socketPath: string): CriClients {
  const pkg = loadCri().runtime.v1;
  const target = `unix:${socketPath}`;
  const creds = grpc.credentials.createInsecure();
  const runtime = new pkg.RuntimeService(target, creds);
  const image = new pkg.ImageService(target, creds);
  return {
    runtime,
    image,
    close: () => {
      runtime.close();
      image.close();
    },
  };
}

/** Promise form of a unary call: `unary(cb => client.Version({}, cb))`. */
export function unary<T>(start: (cb: (err: grpc.ServiceError | null, res?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((err, res) => (err ? reject(err) : res === undefined ? reject(new Error('empty response')) : resolve(res)));
  });
}
