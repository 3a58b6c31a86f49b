export * from './service';
export * from './rootfs';
export * from './inspect';
export * from './login';
