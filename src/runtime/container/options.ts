/** Options shared by every lifecycle operation. */
import type { Logger } from './logger';

export type CgroupDriverName = 'cgroupfs' | 'systemd' | 'disabled';

export interface RuntimeOptions {
  /** State directory root (runc's --root), e.g. /run/berth-oci. */
  root: string;
  logger: Logger;
  /** How cgroups are managed: cgroupfs paths, systemd slices, or not at all. */
  cgroupDriver: CgroupDriverName;
}
