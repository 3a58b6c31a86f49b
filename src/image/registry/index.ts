export * from './auth';
export * from './hosts';
export * from './client';
export { HttpStatusError, NetworkError } from './http';
export { Semaphore } from './semaphore';
export * from './push';
