/** src/monitor/wait.ts: waiting for an exit file or a condition without a fixed polling period. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { processEnded, waitExitFile, waitFor, waitGone } from '../../src/monitor/wait';

function tmpDir(t: { after(fn: () => void): void }): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-wait-'));
  t.after(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

test('waitExitFile: wakes on the file appearing (rename into place), well before the poll cap', async (t) => {
  const dir = tmpDir(t);
  const exit = path.join(dir, 'exit');
  setTimeout(() => {
    fs.writeFileSync(`${exit}.tmp`, '{}');
    fs.renameSync(`${exit}.tmp`, exit);
  }, 30);
  const t0 = performance.now();
  // a poll cap of 10 s: only the watch can make this return soon
  assert.equal(await waitExitFile(exit, () => false, 5000, { maxPollMs: 10_000, firstPollMs: 10_000 }), true);
  assert.ok(performance.now() - t0 < 1000, `took ${performance.now() - t0} ms`);
});

test('waitExitFile: already there, gone() instead, timeout, missing directory', async (t) => {
  const dir = tmpDir(t);
  const exit = path.join(dir, 'exit');
  fs.writeFileSync(exit, '');
  assert.equal(await waitExitFile(exit, () => false, 10), true);
  let calls = 0;
  assert.equal(await waitExitFile(path.join(dir, 'other'), () => ++calls >= 3, 5000), true);
  assert.ok(calls >= 3);
  const t0 = Date.now();
  assert.equal(await waitExitFile(path.join(dir, 'never'), () => false, 100), false);
  assert.ok(Date.now() - t0 >= 90);
  assert.equal(await waitExitFile(path.join(dir, 'no', 'such', 'exit'), () => false, 50), false);
});

test('waitFor / waitGone: back-off polling reacts within a few ms', async () => {
  const end = performance.now() + 15;
  const t0 = performance.now();
  assert.equal(await waitGone(() => performance.now() >= end, 2000), true);
  assert.ok(performance.now() - t0 < 500, `took ${performance.now() - t0} ms`); // 20 ms polls at most; generous for a loaded machine
  assert.equal(await waitFor(() => false, 30), false);
});

test('processEnded: live, zombie and missing processes', async () => {
  assert.equal(processEnded(process.pid), false);
  assert.equal(processEnded(0), true);
  const child = spawn('sleep', ['0.05']);
  assert.equal(processEnded(child.pid!), false);
  // not reaped yet while Node has not seen the exit: a zombie counts as ended
  assert.equal(await waitGone(() => processEnded(child.pid!), 3000), true);
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  assert.equal(processEnded(child.pid!), true);
});
