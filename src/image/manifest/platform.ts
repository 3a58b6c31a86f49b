/**
 * Platforms (os/architecture/variant): normalisation, this host's platform, and choosing a manifest
 * from an index or manifest list.
 *
 * Rules (GOARCH names as in the OCI image-spec):
 * - aliases: x86_64, x86-64 -> amd64; aarch64 -> arm64; i386, i686 -> 386; armhf -> arm/v7; armel -> arm/v6.
 * - arm64: variant "" and "v8" are the same. arm: no variant means v7. amd64: "" and "v1" are the same.
 * - A host accepts, in order of preference: its exact platform, then older variants of its architecture
 *   (arm/v7 accepts v6, v5; amd64/v3 accepts v2, v1), then for arm64 the 32-bit arm/v7..v5 images
 *   (arm64 CPUs run them), for amd64 nothing else (386 images are not selected automatically).
 */
import * as os from 'node:os';
import { BerthError } from '../../runtime/errors';
import type { Descriptor, ImageIndex, Platform } from './types';

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

const ARCH_ALIASES: Record<string, { architecture: string; variant?: string }> = {
  x86_64: { architecture: 'amd64' },
  'x86-64': { architecture: 'amd64' },
  aarch64: { architecture: 'arm64' },
  i386: { architecture: '386' },
  i686: { architecture: '386' },
  armhf: { architecture: 'arm', variant: 'v7' },
  armel: { architecture: 'arm', variant: 'v6' },
};

/** Normalise a platform: lowercase, architecture aliases, default variants folded. */
export function normalizePlatform(p: PlatformSpec): PlatformSpec {
  const osName = p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase();
  const alias = ARCH_ALIASES[arch];
  if (alias) {
    arch = alias.architecture;
    if (alias.variant !== undefined && (variant === undefined || variant === '')) variant = alias.variant;
  }
  if (arch === 'arm64' && (variant === 'v8' || variant === '8')) variant = undefined;
  if (arch === 'arm') {
    if (variant === undefined || variant === '') variant = 'v7';
    else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
  }
  if (arch === 'amd64' && variant === 'v1') variant = undefined;
  if (variant === '') variant = undefined;
  const out: PlatformSpec = { os: osName, architecture: arch };
  if (variant !== undefined) out.variant = variant;
  return out;
}

/** Parse "linux/arm64", "linux/arm/v7", "linux/amd64". */
export function parsePlatform(s: string): PlatformSpec {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw new BerthError('INVALID_ARGUMENT', `invalid platform ${JSON.stringify(s)}: want os/arch[/variant]`);
  }
  const p: PlatformSpec = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2] !== undefined) p.variant = parts[2];
  return normalizePlatform(p);
}

export function formatPlatform(p: PlatformSpec): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/** Map Node's process.arch to the GOARCH name used by images. */
export function goArch(nodeArch: string = process.arch): string {
  switch (nodeArch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'arm64':
      return 'arm64';
    case 'arm':
      return 'arm';
    case 'ppc64':
      return os.endianness() === 'LE' ? 'ppc64le' : 'ppc64';
    case 'mipsel':
      return 'mipsle';
    case 'mips':
      return 'mips';
    case 's390x':
      return 's390x';
    case 'riscv64':
      return 'riscv64';
    case 'loong64':
      return 'loong64';
    default:
      return nodeArch;
  }
}

/** This host's platform: linux, GOARCH from process.arch, and for 32-bit arm the variant Node was built for. */
export function hostPlatform(): PlatformSpec {
  const architecture = goArch();
  const p: PlatformSpec = { os: 'linux', architecture };
  if (architecture === 'arm') {
    const vars = (process.config as { variables?: Record<string, unknown> }).variables ?? {};
    const v = vars['arm_version'];
    p.variant = typeof v === 'string' || typeof v === 'number' ? `v${v}` : 'v7';
  }
  return normalizePlatform(p);
}

/** The platforms a host accepts, most preferred first. */
export function compatiblePlatforms(host: PlatformSpec): PlatformSpec[] {
  const h = normalizePlatform(host);
  const out: PlatformSpec[] = [h];
  const add = (architecture: string, variant?: string): void => {
    const p: PlatformSpec = { os: h.os, architecture };
    if (variant !== undefined) p.variant = variant;
    out.push(p);
  };
  if (h.architecture === 'arm') {
    const n = Number((h.variant ?? 'v7').slice(1));
    for (let v = n - 1; v >= 5; v--) add('arm', `v${v}`);
  } else if (h.architecture === 'arm64') {
    for (const v of ['v7', 'v6', 'v5']) add('arm', v);
  } else if (h.architecture === 'amd64' && h.variant) {
    const n = Number(h.variant.slice(1));
    for (let v = n - 1; v >= 2; v--) add('amd64', `v${v}`);
    add('amd64');
  }
  return out;
}

export function platformEquals(a: PlatformSpec, b: PlatformSpec): boolean {
  const x = normalizePlatform(a);
  const y = normalizePlatform(b);
  return x.os === y.os && x.architecture === y.architecture && (x.variant ?? '') === (y.variant ?? '');
}

/**
 * Choose the manifest for `want` from an index. Descriptors without a platform are ignored (they are
 * attestations or artifacts). Throws NOT_FOUND listing what the index offers.
 */
export function selectManifest(index: ImageIndex, want: PlatformSpec = hostPlatform()): Descriptor {
  const prefs = compatiblePlatforms(want);
  for (const p of prefs) {
    for (const d of index.manifests) {
      if (!d.platform) continue;
      if (platformEquals(toSpec(d.platform), p)) return d;
    }
  }
  const offered = index.manifests
    .filter((d) => d.platform)
    .map((d) => formatPlatform(normalizePlatform(toSpec(d.platform as Platform))));
  throw new BerthError(
    'NOT_FOUND',
    `no manifest for platform ${formatPlatform(normalizePlatform(want))} in the image index (offers: ${offered.length ? offered.join(', ') : 'none'})`,
  );
}

export function toSpec(p: Platform): PlatformSpec {
  const s: PlatformSpec = { os: p.os, architecture: p.architecture };
  if (p.variant !== undefined) s.variant = p.variant;
  return s;
}
