/**
 * The demo image's root filesystem (src/demo/demo-rootfs.ts): busybox with its applet links, the
 * passwd/group files and the page; a non-empty target is refused. No root needed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeDemoRootfs } from '../../src/demo/demo-rootfs';

const skip = !fs.existsSync('/bin/busybox') && 'needs busybox-static';

test('makeDemoRootfs: busybox, applet links, users, the page', { skip }, (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-rootfs-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const dir = path.join(work, 'rootfs');
  makeDemoRootfs(dir, 'hello page');
  assert.equal(fs.readFileSync(path.join(dir, 'www/index.html'), 'utf8'), 'hello page\n');
  assert.equal(fs.statSync(path.join(dir, 'bin/busybox')).mode & 0o777, 0o755);
  for (const applet of ['sh', 'httpd', 'echo', 'hostname', 'ls']) {
    assert.equal(fs.readlinkSync(path.join(dir, 'bin', applet)), 'busybox', applet);
  }
  assert.match(fs.readFileSync(path.join(dir, 'etc/passwd'), 'utf8'), /^root:x:0:0:/m);
  assert.match(fs.readFileSync(path.join(dir, 'etc/group'), 'utf8'), /^root:x:0:/m);
  // a non-empty directory is refused, and left as it was
  assert.throws(() => makeDemoRootfs(dir, 'again'), /not empty/);
  assert.equal(fs.readFileSync(path.join(dir, 'www/index.html'), 'utf8'), 'hello page\n');
});

test('scripts/demo.sh: valid bash, --help, and unknown options refused', () => {
  const script = path.resolve(__dirname, '..', '..', '..', 'scripts', 'demo.sh');
  assert.equal(spawnSync('bash', ['-n', script]).status, 0);
  const help = spawnSync('bash', [script, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--oci/);
  assert.match(help.stdout, /--no-setup/);
  const bad = spawnSync('bash', [script, '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown option --bogus/);
});
