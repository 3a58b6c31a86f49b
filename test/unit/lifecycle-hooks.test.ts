import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runHook, runHooks } from '../../src/runtime/hooks/run';
import type { HookSpec } from '../../src/runtime/hooks/types';
import { BerthError } from '../../src/runtime/errors';

function setup(t: { after(fn: () => void): void }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hooks-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const log = path.join(dir, 'log');
  const script = (name: string, body: string): string => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return p;
  };
  const warnings: string[] = [];
  return { dir, log, script, logger: { warn: (m: string) => warnings.push(m) }, warnings };
}

test('hooks get the state on stdin, their own argv and env only', async (t) => {
  const s = setup(t);
  const out = path.join(s.dir, 'out');
  const hook: HookSpec = {
    path: s.script('h', `cat > ${out}.stdin; echo "$0|$1|$FOO|\${HOME:-nohome}" > ${out}`),
    args: ['myhook', 'arg1'],
    env: ['FOO=bar'],
  };
  await runHook('prestart', 0, hook, '{"id":"x"}');
  assert.equal(fs.readFileSync(`${out}.stdin`, 'utf8'), '{"id":"x"}');
  const [argv0, arg1, foo, home] = fs.readFileSync(out, 'utf8').trim().split('|');
  assert.match(argv0!, /h$/); // a shell script's $0 is its path
  assert.equal(arg1, 'arg1');
  assert.equal(foo, 'bar');
  assert.equal(home, 'nohome', 'the runtime environment is not inherited');
});

test('fatal kinds stop at the first failure and name the hook', async (t) => {
  const s = setup(t);
  const hooks: HookSpec[] = [
    { path: s.script('a', `echo a >> ${s.log}`) },
    { path: s.script('b', `echo b >> ${s.log}; echo boom >&2; exit 3`) },
    { path: s.script('c', `echo c >> ${s.log}`) },
  ];
  for (const kind of ['prestart', 'createRuntime', 'createContainer', 'startContainer'] as const) {
    fs.rmSync(s.log, { force: true });
    await assert.rejects(runHooks(kind, hooks, '{}', s.logger), (e: unknown) => {
      assert.ok(e instanceof BerthError);
      assert.match(e.message, new RegExp(`${kind} hook failed: ${kind}\\[1\\] .*/b: exit status 3: boom`));
      return true;
    });
    assert.equal(fs.readFileSync(s.log, 'utf8'), 'a\nb\n', `${kind}: later hooks do not run`);
  }
  assert.deepEqual(s.warnings, []);
});

test('poststart and poststop failures are warnings and the rest still run', async (t) => {
  const s = setup(t);
  const hooks: HookSpec[] = [
    { path: s.script('a', `echo a >> ${s.log}; exit 1`) },
    { path: path.join(s.dir, 'missing') },
    { path: s.script('c', `echo c >> ${s.log}`) },
  ];
  for (const kind of ['poststart', 'poststop'] as const) {
    fs.rmSync(s.log, { force: true });
    s.warnings.length = 0;
    await runHooks(kind, hooks, '{}', s.logger);
    assert.equal(fs.readFileSync(s.log, 'utf8'), 'a\nc\n');
    assert.equal(s.warnings.length, 2);
    assert.match(s.warnings[0]!, new RegExp(`${kind} hook failed \\(ignored\\)`));
  }
});

test('a hook past its timeout is killed and fails', async (t) => {
  const s = setup(t);
  const started = Date.now();
  await assert.rejects(runHooks('prestart', [{ path: s.script('slow', 'exec sleep 30'), timeout: 1 }], '{}', s.logger), (e: unknown) => {
    assert.ok(e instanceof BerthError);
    assert.equal(e.code, 'TIMEOUT');
    assert.match(e.message, /timed out after 1s/);
    return true;
  });
  assert.ok(Date.now() - started < 5000);
});

test('a hook that ignores its stdin does not fail', async (t) => {
  const s = setup(t);
  await runHooks('prestart', [{ path: s.script('q', 'exit 0') }], 'x'.repeat(1 << 20), s.logger);
});
