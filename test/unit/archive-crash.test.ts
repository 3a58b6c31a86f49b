/**
 * kill -9 in the middle of an import leaves a consistent store (no image record, no partial blob
 * served), and the next import of the same archive completes.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ContentStore, ImageStore } from '../../src/image/content';
import { exportOciLayout, importOciLayout } from '../../src/image/archive';
import { buildImage, writeOciLayout } from '../helpers/registry-images';

const CHILD = `
const fs = require('node:fs');
const { Readable } = require('node:stream');
const { ContentStore, ImageStore } = require(${JSON.stringify(path.join(__dirname, '../../src/image/content'))});
const { importOciLayout } = require(${JSON.stringify(path.join(__dirname, '../../src/image/archive'))});
const [root, tarPath] = process.argv.slice(1);
async function* slow() {
  const fd = fs.openSync(tarPath, 'r');
  const buf = Buffer.alloc(1 << 20);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    yield Buffer.from(buf.subarray(0, n));
    await new Promise((r) => setTimeout(r, 25));
  }
}
importOciLayout({ content: new ContentStore(root), images: new ImageStore(root) }, { stream: Readable.from(slow()) })
  .then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
`;

test('kill -9 during an import, then import again', async (t) => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-archive-crash-'));
  t.after(() => fs.rmSync(work, { recursive: true, force: true }));
  const img = await buildImage({ format: 'oci', layers: [{ entries: [{ name: 'big.bin', data: randomBytes(48 << 20) }], compression: 'none' }] });
  const layout = path.join(work, 'layout');
  writeOciLayout(layout, img.manifestDesc, img.blobs, 'example.com/big:1');
  // a tar of the layout (via berth's own export from a scratch store)
  const scratch = path.join(work, 'scratch');
  const ss = { content: new ContentStore(scratch), images: new ImageStore(scratch) };
  await importOciLayout(ss, layout);
  const tarPath = path.join(work, 'big.tar');
  await exportOciLayout(ss, ['example.com/big:1'], { tarPath });

  const root = path.join(work, 'store');
  const s = { content: new ContentStore(root), images: new ImageStore(root) };
  const layer = img.layers[0]!.desc.digest;
  const child = spawn(process.execPath, ['-e', CHILD, root, tarPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let exited = false;
  child.on('exit', () => (exited = true));
  t.after(() => {
    if (!exited) child.kill('SIGKILL');
  });
  const data = path.join(s.content.ingestDir(layer), 'data');
  const deadline = Date.now() + 30_000;
  while (!exited && Date.now() < deadline) {
    const size = fs.existsSync(data) ? fs.statSync(data).size : 0;
    if (size > 4 << 20) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(exited, false, 'the import was still running');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  assert.deepEqual(await s.images.list(), [], 'no image recorded');
  assert.equal(await s.content.has(layer), false, 'no partial layer served');
  const res = await importOciLayout(s, tarPath);
  assert.equal(res.images[0]!.target.digest, img.manifestDesc.digest);
  assert.equal(await s.content.has(layer), true);
  assert.deepEqual(fs.readdirSync(path.join(root, 'ingest')), [], 'the dead ingest was replaced and cleaned up');
});
