/** Pod CIDR: CIDR checks, the built-in network's host-local ranges, PodManager persistence (no root). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cidrFault, defaultNetworkConfig, podCidrBridge, withPodCidrs } from '../../src/pod/cni/config';
import { CniManager } from '../../src/pod/cni/manager';
import type { NetworkConfigList } from '../../src/pod/cni/types';
import { PodManager, type PodNetworking } from '../../src/daemon/pods';
import { BerthError } from '../../src/runtime/errors';
import { createLogger } from '../../src/daemon/log';

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'podcidr-unit-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const quiet = createLogger('error', () => undefined);

function ranges(n: NetworkConfigList): unknown {
  return (n.plugins[0]!.ipam as { ranges: unknown }).ranges;
}

test('cidrFault: network addresses with a prefix, v4 and v6', () => {
  assert.equal(cidrFault('10.244.1.0/24'), null);
  assert.equal(cidrFault('10.0.0.0/8'), null);
  assert.equal(cidrFault('fd00:10:244::/64'), null);
  assert.equal(cidrFault('::/0'), null);
  assert.match(cidrFault('10.244.1.5/24') ?? '', /host bits/);
  assert.match(cidrFault('fd00::1/64') ?? '', /host bits/);
  assert.match(cidrFault('10.244.1.0') ?? '', /ADDRESS\/PREFIX/);
  assert.match(cidrFault('10.244.1.0/33') ?? '', /prefix length/);
  assert.match(cidrFault('banana/8') ?? '', /not an IP address/);
});

test('withPodCidrs: host-local ranges and routes replaced, the rest kept, input untouched', () => {
  const base = defaultNetworkConfig({ bridge: 'bx0', subnet: '10.89.0.0/16', dataDir: '/d' });
  const v4 = withPodCidrs(base, ['10.244.3.0/24']);
  assert.ok(v4);
  assert.deepEqual(ranges(v4), [[{ subnet: '10.244.3.0/24' }]]);
  assert.deepEqual(ranges(base), [[{ subnet: '10.89.0.0/16' }]], 'the input is not changed');
  assert.match(String((v4.plugins[0]! as { bridge?: string }).bridge), /^bx0-[0-9a-f]{6}$/, 'a bridge of its own');
  assert.equal((withPodCidrs(base, ['10.89.0.0/16'])!.plugins[0]! as { bridge?: string }).bridge, 'bx0', 'same range, same bridge');
  assert.equal(podCidrBridge('averylongbridge', ['10.0.0.0/8']).length, 15);
  assert.equal(podCidrBridge('b', ['10.0.0.0/8']), podCidrBridge('b', ['10.0.0.0/8']), 'stable across restarts');
  assert.equal((v4.plugins[0]!.ipam as { dataDir?: string }).dataDir, '/d');
  const dual = withPodCidrs(base, ['10.244.3.0/24', 'fd00:1::/64']);
  assert.deepEqual(ranges(dual!), [[{ subnet: '10.244.3.0/24' }], [{ subnet: 'fd00:1::/64' }]]);
  assert.deepEqual((dual!.plugins[0]!.ipam as { routes: unknown }).routes, [{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
  assert.equal(withPodCidrs({ cniVersion: '1.0.0', name: 'x', plugins: [{ type: 'ptp', ipam: { type: 'dhcp' } }] }, ['10.0.0.0/8']), null);
});

test('CniManager.setPodCidrs: only the built-in network; [] restores; bad CIDR refused', (t) => {
  const dir = tmp(t);
  const confDir = path.join(dir, 'net.d');
  fs.mkdirSync(confDir);
  const mgr = new CniManager({ confDir, cacheDir: path.join(dir, 'cache'), defaultNetwork: defaultNetworkConfig({ subnet: '10.89.0.0/16' }) });
  assert.deepEqual(ranges(mgr.network().config), [[{ subnet: '10.89.0.0/16' }]]);
  assert.equal(mgr.setPodCidrs(['10.244.7.0/24']), true);
  assert.deepEqual(ranges(mgr.network().config), [[{ subnet: '10.244.7.0/24' }]]);
  assert.throws(() => mgr.setPodCidrs(['10.244.7.1/24']), (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT');
  assert.deepEqual(ranges(mgr.network().config), [[{ subnet: '10.244.7.0/24' }]], 'a refused CIDR changes nothing');
  // a config file in the directory wins, untouched
  fs.writeFileSync(path.join(confDir, '10-mine.conflist'), JSON.stringify(defaultNetworkConfig({ name: 'mine', subnet: '10.50.0.0/16' })));
  assert.deepEqual(ranges(mgr.network().config), [[{ subnet: '10.50.0.0/16' }]]);
  fs.rmSync(path.join(confDir, '10-mine.conflist'));
  assert.equal(mgr.setPodCidrs([]), true);
  assert.deepEqual(ranges(mgr.network().config), [[{ subnet: '10.89.0.0/16' }]]);
  assert.equal(new CniManager({ confDir, cacheDir: path.join(dir, 'cache'), defaultNetwork: null }).setPodCidrs(['10.244.7.0/24']), false);
});

test('PodManager.updatePodCidr: validated, applied, persisted and applied again after a restart', async (t) => {
  const dir = tmp(t);
  const applied: string[][] = [];
  const cni: PodNetworking = {
    setUpPod: () => Promise.reject(new Error('unused')),
    tearDownPod: () => Promise.resolve(),
    status: () => Promise.resolve({ ready: true, reason: '', message: '' }),
    cachedPodIds: () => [],
    setPodCidrs: (c) => {
      applied.push([...c]);
      return true;
    },
  };
  const make = (): PodManager => new PodManager({ root: path.join(dir, 'root'), runRoot: path.join(dir, 'run'), cni, handlers: ['berth'], defaultHandler: 'berth', log: quiet });
  const pm = make();
  await pm.recover();
  assert.deepEqual(applied, [], 'nothing persisted yet');
  await assert.rejects(pm.updatePodCidr('10.244.0.1/16', 'runtime_config.network_config.pod_cidr'), (e: unknown) => e instanceof BerthError && e.code === 'INVALID_ARGUMENT' && e.message.startsWith('runtime_config.network_config.pod_cidr: "10.244.0.1/16"'));
  await pm.updatePodCidr('');
  assert.deepEqual(applied, []);
  await pm.updatePodCidr('10.244.0.0/16, fd00:244::/64');
  assert.deepEqual(applied, [['10.244.0.0/16', 'fd00:244::/64']]);
  assert.equal(pm.podCidr, '10.244.0.0/16,fd00:244::/64');
  const again = make();
  await again.recover();
  assert.deepEqual(applied[1], ['10.244.0.0/16', 'fd00:244::/64'], 'applied at start from the persisted file');
  assert.equal(again.podCidr, '10.244.0.0/16,fd00:244::/64');
});
