/**
 * Pod CIDR on the built-in default network (no CNI config file): a PodManager over the real CNI
 * plugins gives pods addresses of the configured range, UpdateRuntimeConfig's pod CIDR (through
 * PodManager.updatePodCidr) moves pods run afterwards into the new range, and a restarted manager on
 * the same root keeps it. A test-unique bridge, ranges and IPAM dir; everything is removed at the end.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultNetworkConfig, podCidrBridge } from '../../src/pod/cni/config';
import { CniManager } from '../../src/pod/cni/manager';
import { findPlugin } from '../../src/pod/cni/invoke';
import { releasePodRuntimeRoot, removePodNamespaces } from '../../src/pod/namespaces';
import { PodManager, type RunPodRequest } from '../../src/daemon/pods';
import { createLogger } from '../../src/daemon/log';

const BIN_DIRS = ['/usr/lib/cni', '/opt/cni/bin'];
const skip =
  (process.getuid?.() !== 0 && 'needs root') ||
  (!['bridge', 'host-local', 'portmap', 'loopback'].every((p) => findPlugin(p, BIN_DIRS) !== null) && 'needs the CNI plugins') ||
  undefined;

function linkExists(name: string): boolean {
  return execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).split('\n').some((l) => l.split(':')[1]?.trim().split('@')[0] === name);
}

function request(name: string): RunPodRequest {
  return {
    metadata: { name, uid: `uid-${name}`, namespace: 'cidr-test', attempt: 0 },
    hostname: name,
    logDirectory: '',
    dns: null,
    portMappings: [],
    labels: {},
    annotations: {},
    cgroupParent: '',
    namespaceOptions: null,
    sysctls: {},
    runtimeHandler: '',
  };
}

test('pod CIDR becomes the default network range for new pods and survives a restart', { skip, timeout: 120_000 }, async (t) => {
  const n = 100 + (process.pid % 150);
  const bridge = `bc${process.pid}`.slice(0, 15);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-podcidr-'));
  const root = path.join(work, 'root');
  const runRoot = path.join(work, 'run');
  const confDir = path.join(work, 'net.d');
  fs.mkdirSync(confDir);
  const base = defaultNetworkConfig({ name: `podcidr${process.pid}`, bridge, subnet: `10.89.${n}.0/24`, dataDir: path.join(work, 'ipam') });
  const log = createLogger('error', () => undefined);
  const make = (): { pm: PodManager; cni: CniManager } => {
    const cni = new CniManager({ confDir, binDirs: BIN_DIRS, cacheDir: path.join(root, 'cni', 'results'), defaultNetwork: base });
    return { cni, pm: new PodManager({ root, runRoot, cni, handlers: ['berth'], defaultHandler: 'berth', log }) };
  };
  let current = make();
  const ids: string[] = [];
  t.after(async () => {
    for (const id of ids) {
      await current.pm.remove(id).catch(() => undefined);
      await current.cni.tearDownPod({ podId: id }).catch(() => undefined);
      await removePodNamespaces(id, path.join(runRoot, 'pods')).catch(() => undefined);
    }
    if (fs.existsSync(path.join(runRoot, 'pods'))) await releasePodRuntimeRoot(path.join(runRoot, 'pods')).catch(() => undefined);
    for (const b of [bridge, podCidrBridge(bridge, [`10.93.${n}.0/24`])]) if (linkExists(b)) execFileSync('ip', ['link', 'del', b]);
    fs.rmSync(work, { recursive: true, force: true });
  });
  await current.pm.recover();

  const run = async (name: string): Promise<string> => {
    const id = await current.pm.run(request(name));
    ids.push(id);
    const ip = current.pm.status(id).record.ips[0] ?? '';
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    return ip;
  };

  assert.ok((await run('before')).startsWith(`10.89.${n}.`), 'the configured range');
  await current.pm.updatePodCidr(`10.93.${n}.0/24`, 'runtime_config.network_config.pod_cidr');
  assert.ok((await run('after')).startsWith(`10.93.${n}.`), 'the pod CIDR');
  // the new range has its own bridge (with its gateway); the old pod's bridge keeps its own
  const addrs = (dev: string): string => execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', dev], { encoding: 'utf8' });
  assert.match(addrs(podCidrBridge(bridge, [`10.93.${n}.0/24`])), new RegExp(`inet 10\\.93\\.${n}\\.1/24`));
  assert.match(addrs(bridge), new RegExp(`inet 10\\.89\\.${n}\\.1/24`));
  assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'runtime-config.json'), 'utf8')).podCidr, `10.93.${n}.0/24`);

  // restart: a new manager on the same root applies the persisted pod CIDR
  current = make();
  await current.pm.recover();
  assert.equal(current.pm.podCidr, `10.93.${n}.0/24`);
  assert.ok((await run('restarted')).startsWith(`10.93.${n}.`), 'the pod CIDR after a restart');
  assert.equal(current.pm.list().length, 3);
});
