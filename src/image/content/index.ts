export * from './store';
export * from './images';
export * from './gc';
export * from './lock';
export { writeFileAtomic, fsyncDir } from './fsutil';
