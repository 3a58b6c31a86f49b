/**
 * Image import and export: OCI image layouts (directory or tar) and docker-archive (`docker save`).
 * See docs/images.md.
 */
export { exportOciLayout, importOciLayout, REF_NAME_ANNOTATION, CONTAINERD_NAME_ANNOTATION, type OciExportOptions } from './oci';
export { exportDockerArchive, importDockerArchive, parseDockerManifest, type DockerManifestEntry } from './docker';
export { detectArchiveFormat, type DetectedArchive } from './detect';
export { importArchive } from './load';
export { ArchiveFormatError, safeMemberName, resolveLinkTarget, type ArchiveSource } from './members';
export type { ArchiveDest } from './writer';
export type { ArchiveStores } from './session';
export type { ArchiveFormat, ArchiveOperationOptions, ArchiveProgress, ImportOptions, ImportResult, ExportResult } from './common';
