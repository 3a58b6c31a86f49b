/**
 * berth login / push / logout against a docker-registry with htpasswd basic auth: wrong credentials
 * are refused, good ones are kept in a docker-style config.json ($DOCKER_CONFIG), push uses them, a
 * pull into another root gets the same image ID, logout removes them and the pull is refused again.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { haveDockerRegistry, startRegistry, type RegistryServer } from '../helpers/registry';
import { makeBusyboxRootfs } from '../helpers/bundle';

const BERTH = path.resolve(__dirname, '..', '..', '..', 'bin', 'berth');
const skip = !haveDockerRegistry() ? 'docker-registry is not installed' : undefined;

let registry: RegistryServer | undefined;
let work: string;

function berth(root: string, args: string[], input = ''): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BERTH, '--root', root, '--config', path.join(work, 'none.toml'), ...args], {
    input,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, DOCKER_CONFIG: path.join(work, 'docker') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(async () => {
  if (skip) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cli-auth-'));
  fs.writeFileSync(path.join(work, 'none.toml'), '');
  registry = await startRegistry({ auth: { kind: 'htpasswd', users: { alice: 's3cret' } } });
});

after(async () => {
  await registry?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

test('login, push, pull elsewhere, logout', { skip }, () => {
  const host = registry!.host;
  const a = path.join(work, 'a');
  const b = path.join(work, 'b');
  const rootfs = path.join(work, 'rootfs');
  makeBusyboxRootfs(rootfs);
  const tar = path.join(work, 'rootfs.tar');
  assert.equal(spawnSync('tar', ['-C', rootfs, '-cf', tar, '.']).status, 0);
  const imp = berth(a, ['import', tar, `${host}/team/box:1`]);
  assert.equal(imp.status, 0, imp.stderr);
  const id = imp.stdout.trim();

  const denied = berth(a, ['push', `${host}/team/box:1`]);
  assert.equal(denied.status, 125);
  assert.match(denied.stderr, /^berth: .*(authentication|denied|401)/);

  const bad = berth(a, ['login', '-u', 'alice', '--password-stdin', host], 'wrong\n');
  assert.equal(bad.status, 125);
  assert.ok(!fs.existsSync(path.join(work, 'docker', 'config.json')), 'nothing saved for refused credentials');

  const good = berth(a, ['login', '-u', 'alice', '--password-stdin', host], 's3cret\n');
  assert.equal(good.status, 0, good.stderr);
  assert.equal(good.stdout, 'Login Succeeded\n');
  const cfg = JSON.parse(fs.readFileSync(path.join(work, 'docker', 'config.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
  assert.equal(Buffer.from(cfg.auths[host]!.auth, 'base64').toString(), 'alice:s3cret');
  assert.equal(fs.statSync(path.join(work, 'docker', 'config.json')).mode & 0o777, 0o600);

  const push = berth(a, ['push', `${host}/team/box:1`]);
  assert.equal(push.status, 0, push.stderr);
  assert.match(push.stdout, new RegExp(`^The push refers to repository \\[${host}/team/box\\]\\n`));
  assert.match(push.stdout, /: Pushed\n/);
  assert.match(push.stdout, /1: digest: sha256:[0-9a-f]{64} size: \d+\n$/);

  const pull = berth(b, ['pull', '-q', `${host}/team/box:1`]);
  assert.equal(pull.status, 0, pull.stderr);
  assert.equal(berth(b, ['images', '-q', '--no-trunc']).stdout.trim(), id);

  const out = berth(a, ['logout', host]);
  assert.equal(out.stdout, `Removing login credentials for ${host}\n`);
  assert.equal(berth(a, ['logout', host]).stdout, `Not logged in to ${host}\n`);
  const refused = berth(path.join(work, 'c'), ['pull', `${host}/team/box:1`]);
  assert.equal(refused.status, 125);
});
