import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildRequest, runtimeConfigFor } from '../../src/pod/cni/request';
import type { CapabilityArgs, NetworkConfigList } from '../../src/pod/cni/types';

const caps: CapabilityArgs = {
  portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '127.0.0.1' }],
  bandwidth: { ingressRate: 1000, ingressBurst: 100, egressRate: 2000, egressBurst: 200 },
  dns: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
};

const net: NetworkConfigList = {
  cniVersion: '1.0.0',
  name: 'n1',
  plugins: [
    { type: 'bridge', bridge: 'b0', ipam: { type: 'host-local' }, 'cni.dev/secret': 'x' },
    { type: 'portmap', capabilities: { portMappings: true, bandwidth: false } },
    { type: 'bandwidth', capabilities: { bandwidth: true } },
    { type: 'dnsy', capabilities: { dns: true, portMappings: true, mac: true } },
    { type: 'static', runtimeConfig: { keep: 1 }, capabilities: { bandwidth: true } },
  ],
};

test('runtimeConfig holds only the capabilities a plugin declares and the runtime offers', () => {
  assert.deepEqual(runtimeConfigFor(net.plugins[0], caps), {});
  assert.deepEqual(runtimeConfigFor(net.plugins[1], caps), { portMappings: caps.portMappings });
  assert.deepEqual(runtimeConfigFor(net.plugins[2], caps), { bandwidth: caps.bandwidth });
  // mac is declared but not offered: absent
  assert.deepEqual(runtimeConfigFor(net.plugins[3], caps), { dns: caps.dns, portMappings: caps.portMappings });
  // a static runtimeConfig stays underneath
  assert.deepEqual(runtimeConfigFor(net.plugins[4], caps), { keep: 1, bandwidth: caps.bandwidth });
  assert.deepEqual(runtimeConfigFor(net.plugins[1], undefined), {});
});

test('the request: cniVersion and name inserted, capabilities and cni.dev/ keys removed, the rest unchanged', () => {
  const req = buildRequest(net, net.plugins[0], '0.4.0', { attachment: true, capabilityArgs: caps });
  assert.deepEqual(req, { cniVersion: '0.4.0', name: 'n1', type: 'bridge', bridge: 'b0', ipam: { type: 'host-local' } });
  const pm = buildRequest(net, net.plugins[1], '1.0.0', { attachment: true, capabilityArgs: caps, prevResult: { cniVersion: '1.0.0', ips: [] } });
  assert.deepEqual(pm, {
    cniVersion: '1.0.0',
    name: 'n1',
    type: 'portmap',
    runtimeConfig: { portMappings: caps.portMappings },
    prevResult: { cniVersion: '1.0.0', ips: [] },
  });
  assert.equal('capabilities' in pm, false);
});

test('no runtimeConfig or prevResult outside attachment operations', () => {
  const req = buildRequest(net, net.plugins[1], '1.1.0', { attachment: false, capabilityArgs: caps, prevResult: { cniVersion: '1.1.0' } });
  assert.deepEqual(req, { cniVersion: '1.1.0', name: 'n1', type: 'portmap' });
});

test('a plugin-level cniVersion and name are overridden by the network', () => {
  const req = buildRequest(net, { type: 'x', cniVersion: '0.1.0', name: 'other' }, '1.0.0', { attachment: true });
  assert.equal(req.cniVersion, '1.0.0');
  assert.equal(req.name, 'n1');
});

test('capability values are copied, not shared', () => {
  const rc = runtimeConfigFor(net.plugins[1], caps);
  (rc.portMappings as { hostPort: number }[])[0].hostPort = 1;
  assert.equal(caps.portMappings?.[0].hostPort, 8080);
});
