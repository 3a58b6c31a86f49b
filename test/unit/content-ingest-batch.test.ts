import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { ContentStore } from '../../src/image/content';

test('ingest combines small chunks into ~1 MiB writes; close and commit write what is pending', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-ingest-batch-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  const store = new ContentStore(root);
  const blob = randomBytes(3 * 1024 * 1024 + 123);
  const desc = { digest: `sha256:${createHash('sha256').update(blob).digest('hex')}`, size: blob.length };
  const data = path.join(store.ingestDir(desc.digest), 'data');

  const a = await store.openIngest(desc);
  assert.ok(a);
  await a.resume();
  for (let i = 0; i < 100; i++) await a.write(blob.subarray(i * 1000, (i + 1) * 1000));
  assert.equal(a.offset, 100_000, 'offset counts accepted bytes');
  assert.equal(fs.statSync(data).size, 0, 'small chunks are held for one larger write');
  await a.close();
  assert.equal(fs.statSync(data).size, 100_000, 'close writes the pending bytes (for a later resume)');

  const b = await store.openIngest(desc);
  assert.ok(b);
  assert.equal(await b.resume(), 100_000);
  let off = 100_000;
  let sawFlush = false;
  while (off < blob.length) {
    const n = Math.min(16_384, blob.length - off);
    await b.write(blob.subarray(off, off + n));
    off += n;
    const disk = fs.statSync(data).size;
    assert.ok(disk <= off && off - disk < (1 << 20) + 16_384, `at most ~1 MiB pending (${off - disk})`);
    if (disk > 100_000) sawFlush = true;
  }
  assert.ok(sawFlush, 'batches are written as they fill');
  await b.commit();
  await b.close();
  assert.ok((await store.readBlob(desc.digest)).equals(blob));
});
