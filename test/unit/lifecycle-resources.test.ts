import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { effectiveResources } from '../../src/runtime/container/devices';
import { deriveStatus } from '../../src/runtime/container/derive';
import type { CgroupManager } from '../../src/runtime/container/cgroup';
import { readProcStat } from '../../src/runtime/container/procstat';
import { nowRfc3339Nano, type ContainerRecord } from '../../src/runtime/container/state';
import { defaultSpec } from '../../src/runtime/spec/default';

test('device rules: the spec\'s first, then allow rules for the devices the runtime creates', () => {
  const spec = defaultSpec({ rootless: false });
  spec.linux!.resources = { devices: [{ allow: false, access: 'rwm' }] };
  spec.linux!.devices = [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229 }];
  const r = effectiveResources(spec)!;
  assert.deepEqual(r.devices![0], { allow: false, access: 'rwm' });
  const allowed = r.devices!.slice(1).map((d) => `${d.type} ${d.major}:${d.minor} ${d.access}`);
  for (const want of ['c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 5:0 rwm', 'c 5:2 rwm', 'c 136:-1 rwm', 'c 10:229 rwm']) {
    assert.ok(allowed.includes(want), `${want} in ${allowed.join(', ')}`);
  }
  assert.ok(r.devices!.slice(1).every((d) => d.allow));
  assert.equal(spec.linux!.resources.devices!.length, 1, 'the spec is not modified');
  const none = defaultSpec({ rootless: false });
  none.linux!.resources = { pids: { limit: 5 } };
  assert.deepEqual(effectiveResources(none), { pids: { limit: 5 } }, 'no device rules: nothing added');
});

test('a frozen cgroup derives as paused; a missing freezer does not', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-unit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rec: ContainerRecord = {
    id: 'c',
    bundle: '/b',
    rootfs: '/b/rootfs',
    pid: process.pid,
    pidStartTime: readProcStat(process.pid)!.startTime,
    status: 'created',
    annotations: {},
    created: nowRfc3339Nano(),
    ownerUid: 0,
    cgroupsPath: '',
    cgroupDriver: 'cgroupfs',
    ownPidNamespace: true,
    creator: '',
  };
  const fake = (state: () => Promise<string>) => ({ freezerState: state }) as unknown as CgroupManager;
  const fifo = path.join(dir, 'exec.fifo');
  assert.equal(await deriveStatus(rec, fifo, fake(async () => 'frozen')), 'paused');
  assert.equal(await deriveStatus(rec, fifo, fake(async () => 'thawed')), 'running');
  assert.equal(
    await deriveStatus(rec, fifo, fake(async () => {
      throw new Error('no freezer');
    })),
    'running',
  );
});
