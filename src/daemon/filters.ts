/** CRI list filters as plain functions: id prefix, state, label selector (exact match of every pair). */

/** Every key/value of `selector` is present in `labels` with the same value (an empty selector matches all). */
export function matchesLabels(labels: Readonly<Record<string, string>>, selector: Readonly<Record<string, string>> | undefined | null): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector)) {
    if (!Object.prototype.hasOwnProperty.call(labels, k) || labels[k] !== v) return false;
  }
  return true;
}

/** CRI's id filter: a full id or a unique-enough prefix ('' matches all). */
export function matchesIdPrefix(id: string, filter: string | undefined | null): boolean {
  return !filter || id.startsWith(filter);
}

export interface PodFilter<S extends string> {
  id?: string;
  state?: S;
  labelSelector?: Record<string, string>;
}

export function filterPods<S extends string, P extends { id: string; labels: Record<string, string> }>(
  pods: readonly P[],
  filter: PodFilter<S> | undefined,
  stateOf: (p: P) => S,
): P[] {
  if (!filter) return [...pods];
  return pods.filter(
    (p) => matchesIdPrefix(p.id, filter.id) && (filter.state === undefined || stateOf(p) === filter.state) && matchesLabels(p.labels, filter.labelSelector),
  );
}
