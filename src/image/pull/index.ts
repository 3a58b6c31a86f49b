export * from './pull';
export { LayerDecoder, chainIds, sniffCompression } from './decode';
