/**
 * OCI image-spec and Docker distribution manifest types, and media type constants.
 */

export const MediaType = {
  OciDescriptor: 'application/vnd.oci.descriptor.v1+json',
  OciLayout: 'application/vnd.oci.layout.header.v1+json',
  OciIndex: 'application/vnd.oci.image.index.v1+json',
  OciManifest: 'application/vnd.oci.image.manifest.v1+json',
  OciConfig: 'application/vnd.oci.image.config.v1+json',
  OciLayer: 'application/vnd.oci.image.layer.v1.tar',
  OciLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  OciLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  OciLayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  OciLayerNonDistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  OciLayerNonDistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  OciEmpty: 'application/vnd.oci.empty.v1+json',
  DockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  DockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  DockerManifestSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  DockerManifestSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  DockerConfig: 'application/vnd.docker.container.image.v1+json',
  DockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  DockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  DockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
  DockerForeignLayer: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
  features?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

/** An OCI image manifest or a Docker schema2 manifest (same shape). */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An OCI image index or a Docker manifest list (same shape). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** The parts of an image config (OCI image-spec config.md) that Berth reads. */
export interface ImageConfig {
  created?: string;
  author?: string;
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  config?: {
    User?: string;
    ExposedPorts?: Record<string, object>;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    Volumes?: Record<string, object>;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
    ArgsEscaped?: boolean;
    [key: string]: unknown;
  };
  rootfs: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; author?: string; comment?: string; empty_layer?: boolean }>;
  [key: string]: unknown;
}

export type LayerCompression = 'gzip' | 'zstd' | 'none';

export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.OciIndex, MediaType.DockerManifestList];
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.OciManifest, MediaType.DockerManifest];
export const SCHEMA1_MEDIA_TYPES: readonly string[] = [MediaType.DockerManifestSchema1, MediaType.DockerManifestSchema1Signed];

/** The Accept header for manifest requests, most preferred first. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
];

export function isIndexMediaType(mt: string): boolean {
  return INDEX_MEDIA_TYPES.includes(mt);
}
export function isManifestMediaType(mt: string): boolean {
  return MANIFEST_MEDIA_TYPES.includes(mt);
}

/** Compression named by a layer media type; undefined when the media type is not a known layer type. */
export function layerCompression(mediaType: string): LayerCompression | undefined {
  switch (mediaType) {
    case MediaType.OciLayerGzip:
    case MediaType.OciLayerNonDistributableGzip:
    case MediaType.DockerLayerGzip:
    case MediaType.DockerForeignLayer:
      return 'gzip';
    case MediaType.OciLayerZstd:
    case MediaType.OciLayerNonDistributableZstd:
    case MediaType.DockerLayerZstd:
      return 'zstd';
    case MediaType.OciLayer:
    case MediaType.OciLayerNonDistributable:
    case MediaType.DockerLayer:
      return 'none';
    default:
      return undefined;
  }
}
