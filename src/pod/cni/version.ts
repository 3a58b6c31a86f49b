/** CNI spec versions: comparison and the version a runtime and a network agree on. */

/** The spec versions berth speaks (older ones predate the result format berth reads). */
export const SUPPORTED_VERSIONS: readonly string[] = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

const SEMVER = /^(\d+)\.(\d+)\.(\d+)$/;

export function isVersion(v: string): boolean {
  return SEMVER.test(v);
}

/** <0, 0, >0 like a sort comparator; versions must match isVersion. */
export function compareVersions(a: string, b: string): number {
  const pa = SEMVER.exec(a);
  const pb = SEMVER.exec(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return d;
  }
  return 0;
}

export function atLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

/**
 * The highest version in `offered` (the config's cniVersion and cniVersions) that berth supports and
 * that every plugin supports (`pluginVersions`: each plugin's VERSION list, when known); null if none.
 */
export function selectVersion(offered: readonly string[], pluginVersions: readonly (readonly string[])[] = []): string | null {
  const ok = offered.filter((v) => SUPPORTED_VERSIONS.includes(v) && pluginVersions.every((list) => list.includes(v)));
  if (ok.length === 0) return null;
  return [...ok].sort(compareVersions)[ok.length - 1];
}
