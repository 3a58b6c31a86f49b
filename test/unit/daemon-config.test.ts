import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkHost, defaultConfig, loadConfig, parseConfig } from '../../src/daemon/config';
import { ConfigError } from '../../src/runtime/errors';

function faultPath(text: string): string {
  try {
    parseConfig(text);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.path;
  }
  assert.fail('no error');
}

test('an empty document gives the built-in defaults', () => {
  assert.deepEqual(parseConfig(''), defaultConfig());
  const d = defaultConfig();
  assert.equal(d.socket, '/run/berth/berthd.sock');
  assert.equal(d.root, '/var/lib/berth');
  assert.equal(d.runRoot, '/run/berth');
  assert.equal(d.registryHostsDir, '/etc/berth/certs.d');
  assert.equal(d.streamAddress, '127.0.0.1:0');
  assert.equal(d.cgroupDriver, 'cgroupfs');
  assert.equal(d.defaultRuntime, 'berth');
});

test('every key is read', () => {
  const c = parseConfig(`
socket = "/tmp/x/b.sock"
socket_group = "docker"
root = "/srv/berth"
run_root = "/run/b2"
registry_hosts_dir = "/etc/b/certs.d"
default_runtime = "runc"
stream_address = "[::1]:10010"
log_level = "debug"
sandbox_image = "example.org/pause:1"
cgroup_driver = "cgroupfs"
restrict_oom_score_adj = true
[cni]
conf_dir = "/etc/cni/x"
bin_dirs = ["/opt/cni/bin"]
[runtimes.runc]
type = "oci"
binary = "/usr/sbin/runc"
root = "/run/runc-berth"
[runtimes.fast]
type = "berth"
`);
  assert.equal(c.socket, '/tmp/x/b.sock');
  assert.equal(c.socketGroup, 'docker');
  assert.equal(c.root, '/srv/berth');
  assert.equal(c.runRoot, '/run/b2');
  assert.equal(c.registryHostsDir, '/etc/b/certs.d');
  assert.equal(c.defaultRuntime, 'runc');
  assert.equal(c.streamAddress, '[::1]:10010');
  assert.equal(c.logLevel, 'debug');
  assert.equal(c.sandboxImage, 'example.org/pause:1');
  assert.equal(c.restrictOomScoreAdj, true);
  assert.deepEqual(c.cni, { confDir: '/etc/cni/x', binDirs: ['/opt/cni/bin'] });
  assert.deepEqual(c.runtimes.runc, { name: 'runc', type: 'oci', binary: '/usr/sbin/runc', root: '/run/runc-berth' });
  assert.deepEqual(c.runtimes.fast, { name: 'fast', type: 'berth' });
  assert.deepEqual(c.runtimes.berth, { name: 'berth', type: 'berth' });
});

test('errors name the TOML key', () => {
  assert.equal(faultPath('socket = "relative.sock"'), 'socket');
  assert.equal(faultPath('socket = 3'), 'socket');
  assert.equal(faultPath('root = true'), 'root');
  assert.equal(faultPath('log_level = "loud"'), 'log_level');
  assert.equal(faultPath('cgroup_driver = "v3"'), 'cgroup_driver');
  assert.equal(faultPath('stream_address = "localhost"'), 'stream_address');
  assert.equal(faultPath('stream_address = "127.0.0.1:99999"'), 'stream_address');
  assert.equal(faultPath('restrict_oom_score_adj = "yes"'), 'restrict_oom_score_adj');
  assert.equal(faultPath('default_runtime = "kata"'), 'default_runtime');
  assert.equal(faultPath('bogus = 1'), 'bogus');
  assert.equal(faultPath('[cni]\nconf_dir = "net.d"'), 'cni.conf_dir');
  assert.equal(faultPath('[cni]\nbin_dirs = ["/a", "b"]'), 'cni.bin_dirs[1]');
  assert.equal(faultPath('[cni]\nbin_dir = ["/a"]'), 'cni.bin_dir');
  assert.equal(faultPath('[runtimes.runc]\ntype = "oci"'), 'runtimes.runc.binary');
  assert.equal(faultPath('[runtimes.runc]\ntype = "vm"'), 'runtimes.runc.type');
  assert.equal(faultPath('[runtimes.runc]\nbinary = "runc"\nroot = "rel"'), 'runtimes.runc.root');
  assert.equal(faultPath('[runtimes.Bad_Name]\ntype = "berth"'), 'runtimes.Bad_Name');
  assert.equal(faultPath('[runtimes]\nrunc = 1'), 'runtimes.runc');
  assert.match(faultPath('socket = '), /berthd\.toml/);
});

test('an oci handler defaults its type', () => {
  assert.deepEqual(parseConfig('[runtimes.runc]\nbinary = "runc"').runtimes.runc, { name: 'runc', type: 'oci', binary: 'runc' });
});

test('systemd cgroup driver is refused when systemd is not running', () => {
  const c = parseConfig('cgroup_driver = "systemd"');
  assert.throws(() => checkHost(c, () => false), (e: unknown) => e instanceof ConfigError && e.path === 'cgroup_driver');
  checkHost(c, () => true);
  checkHost(parseConfig(''), () => false);
});

test('loadConfig: a missing default file means defaults, a missing named file is an error, flags override', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berthd-cfg-'));
  try {
    assert.throws(() => loadConfig(path.join(dir, 'none.toml')), ConfigError);
    const f = path.join(dir, 'b.toml');
    fs.writeFileSync(f, 'root = "/srv/a"\nlog_level = "warn"\n');
    const c = loadConfig(f, { socket: '/tmp/s.sock', runRoot: '/tmp/rr', logLevel: 'debug' });
    assert.equal(c.root, '/srv/a');
    assert.equal(c.socket, '/tmp/s.sock');
    assert.equal(c.runRoot, '/tmp/rr');
    assert.equal(c.logLevel, 'debug');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the example etc/berthd.toml parses', () => {
  const file = path.resolve(__dirname, '..', '..', '..', 'etc', 'berthd.toml');
  const c = parseConfig(fs.readFileSync(file, 'utf8'), file);
  assert.equal(c.runtimes.runc?.type, 'oci');
});
