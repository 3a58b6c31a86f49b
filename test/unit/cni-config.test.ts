import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import {
  defaultNetworkConfig,
  listConfigFiles,
  loadNetwork,
  loopbackNetworkConfig,
  parseNetworkConfig,
} from '../../src/pod/cni/config';
import { CniConfigError } from '../../src/pod/cni/errors';
import { compareVersions, selectVersion } from '../../src/pod/cni/version';

function tmp(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cniconf-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const list = (name: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge', bridge: `${name}0` }], ...extra });

test('a .conflist keeps every field of its plugins', () => {
  const net = parseNetworkConfig(
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'dbnet',
      disableCheck: true,
      plugins: [
        { type: 'bridge', bridge: 'cni0', keyA: ['x', 'y'], ipam: { type: 'host-local', subnet: '10.1.0.0/16' } },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    }),
    'f',
  );
  assert.equal(net.name, 'dbnet');
  assert.equal(net.disableCheck, true);
  assert.equal(net.plugins.length, 2);
  assert.deepEqual(net.plugins[0].keyA, ['x', 'y']);
  assert.deepEqual(net.plugins[1].capabilities, { portMappings: true });
});

test('a single-plugin .conf becomes a list of one', () => {
  const net = parseNetworkConfig(JSON.stringify({ cniVersion: '0.4.0', name: 'one', type: 'bridge', bridge: 'b0' }), 'f.conf');
  assert.equal(net.name, 'one');
  assert.equal(net.cniVersion, '0.4.0');
  assert.equal(net.plugins.length, 1);
  assert.equal(net.plugins[0].type, 'bridge');
  assert.equal(net.plugins[0].bridge, 'b0');
});

test('invalid configs name the file and the JSON path of the fault', () => {
  const cases: [string, string][] = [
    ['{', ''],
    ['[]', ''],
    [JSON.stringify({ cniVersion: '1.0.0', name: '-bad', plugins: [{ type: 'x' }] }), 'name'],
    [JSON.stringify({ name: 'n', plugins: [{ type: 'x' }] }), 'cniVersion'],
    [JSON.stringify({ cniVersion: 'one', name: 'n', plugins: [{ type: 'x' }] }), 'cniVersion'],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [] }), 'plugins'],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'a' }, { bridge: 'x' }] }), 'plugins[1].type'],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: '../../bin/sh' }] }), 'plugins[0].type'],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', plugins: [{ type: 'a', capabilities: { portMappings: 'yes' } }] }), 'plugins[0].capabilities.portMappings'],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n', disableCheck: 'true', plugins: [{ type: 'a' }] }), 'disableCheck'],
    [JSON.stringify({ cniVersion: '0.2.0', name: 'n', plugins: [{ type: 'a' }] }), 'cniVersion'],
    [JSON.stringify({ cniVersion: '1.0.0', name: 'n' }), ''],
  ];
  for (const [text, at] of cases) {
    assert.throws(
      () => parseNetworkConfig(text, '/etc/cni/net.d/10-x.conflist'),
      (err: unknown) => {
        assert.ok(err instanceof CniConfigError, `not a CniConfigError for ${text}`);
        assert.equal(err.path, at, text);
        assert.equal(err.file, '/etc/cni/net.d/10-x.conflist');
        assert.match(err.message, /10-x\.conflist/);
        assert.equal(err.code, 'FAILED_PRECONDITION');
        return true;
      },
    );
  }
});

test('cniVersions widen what the config offers; the highest common version is chosen', () => {
  const net = parseNetworkConfig(JSON.stringify({ cniVersion: '0.2.0', cniVersions: ['0.4.0', '1.0.0'], name: 'n', plugins: [{ type: 'a' }] }), 'f');
  assert.deepEqual(net.cniVersions, ['0.4.0', '1.0.0']);
  assert.equal(selectVersion(['0.2.0', '0.4.0', '1.0.0', '1.1.0']), '1.1.0');
  assert.equal(selectVersion(['0.4.0', '1.0.0', '1.1.0'], [['0.4.0', '1.0.0'], ['1.0.0']]), '1.0.0');
  assert.equal(selectVersion(['1.1.0'], [['1.0.0']]), null);
  assert.ok(compareVersions('0.10.0', '0.4.0') > 0);
  assert.equal(compareVersions('1.0.0', '1.0.0'), 0);
});

test('config files: by extension, regular files only, lexicographic order; the first one is used', (t) => {
  const dir = tmp(t);
  fs.writeFileSync(path.join(dir, '20-b.conflist'), list('bnet'));
  fs.writeFileSync(path.join(dir, '10-a.conf'), JSON.stringify({ cniVersion: '1.0.0', name: 'anet', type: 'bridge' }));
  fs.writeFileSync(path.join(dir, '30-c.json'), list('cnet'));
  fs.writeFileSync(path.join(dir, '05-readme.txt'), 'not a config');
  fs.writeFileSync(path.join(dir, '.01-hidden.conflist'), list('hidden'));
  fs.mkdirSync(path.join(dir, '00-dir.conflist'));
  assert.deepEqual(listConfigFiles(dir).map((f) => path.basename(f)), ['10-a.conf', '20-b.conflist', '30-c.json']);
  const loaded = loadNetwork(dir, defaultNetworkConfig());
  assert.ok(loaded);
  assert.equal(loaded.source, path.join(dir, '10-a.conf'));
  assert.equal(loaded.config.name, 'anet');
  fs.rmSync(path.join(dir, '10-a.conf'));
  assert.equal(loadNetwork(dir, null)?.config.name, 'bnet');
});

test('an invalid first config file is an error, not skipped', (t) => {
  const dir = tmp(t);
  fs.writeFileSync(path.join(dir, '10-broken.conflist'), '{"name": ');
  fs.writeFileSync(path.join(dir, '20-good.conflist'), list('good'));
  assert.throws(() => loadNetwork(dir, defaultNetworkConfig()), (err: unknown) => err instanceof CniConfigError && /10-broken/.test(err.message));
});

test('no config file: the built-in default network, or none', (t) => {
  const dir = tmp(t);
  const missing = path.join(dir, 'nope');
  const loaded = loadNetwork(missing, defaultNetworkConfig());
  assert.ok(loaded);
  assert.equal(loaded.source, '');
  assert.equal(loaded.config.name, 'berth');
  assert.equal(loadNetwork(dir, null), null);
});

test('the default network: bridge berth0 on 10.89.0.0/16 with host-local, then portmap with SNAT', () => {
  const net = defaultNetworkConfig();
  // it must pass its own validation
  parseNetworkConfig(JSON.stringify(net), '');
  assert.equal(net.cniVersion, '1.0.0');
  const [bridge, portmap] = net.plugins;
  assert.equal(net.plugins.length, 2);
  assert.equal(bridge.type, 'bridge');
  assert.equal(bridge.bridge, 'berth0');
  assert.equal(bridge.isGateway, true);
  assert.equal(bridge.ipMasq, false);
  assert.equal(bridge.hairpinMode, true);
  assert.deepEqual(bridge.ipam, {
    type: 'host-local',
    ranges: [[{ subnet: '10.89.0.0/16' }]],
    routes: [{ dst: '0.0.0.0/0' }],
    dataDir: '/var/lib/berth/cni/networks',
  });
  assert.equal(portmap.type, 'portmap');
  assert.deepEqual(portmap.capabilities, { portMappings: true });
  assert.equal(portmap.snat, true);
  const custom = defaultNetworkConfig({ name: 't1', bridge: 'bt1', subnet: '10.89.7.0/24', dataDir: '/tmp/x', ipMasq: true });
  assert.equal(custom.name, 't1');
  assert.equal(custom.plugins[0].bridge, 'bt1');
  assert.equal(custom.plugins[0].ipMasq, true);
  assert.deepEqual(custom.plugins[0].ipam, { type: 'host-local', ranges: [[{ subnet: '10.89.7.0/24' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: '/tmp/x' });
  const lo = loopbackNetworkConfig();
  assert.deepEqual(lo.plugins, [{ type: 'loopback' }]);
});
