/** The CRI gRPC front end over a real unix socket in a temp dir (no root needed). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { status, type ServiceError } from '@grpc/grpc-js';
import { BerthError, ConfigError } from '../../src/runtime/errors';
import { startCriServer, probeSocket, type CriServer } from '../../src/cri/server';
import { basicRuntimeService } from '../../src/cri/basic';
import { criClients, unary } from '../../src/cri/client';
import type { RuntimeServiceImpl } from '../../src/cri/service';
import type * as cri from '../../src/cri/generated';

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cri-'));
}

const pkgVersion = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../package.json'), 'utf8')) as { version: string }).version;

const probes = {
  runtime: () => ({ ready: true }),
  network: () => ({ ready: false, reason: 'NetworkPluginNotReady', message: 'no CNI config' }),
};

async function withServer(
  runtime: Partial<RuntimeServiceImpl>,
  fn: (sock: string, srv: CriServer) => Promise<void>,
  internal: unknown[] = [],
): Promise<void> {
  const dir = tmpdir();
  const sock = path.join(dir, 'berthd.sock');
  const srv = await startCriServer({ socketPath: sock, runtime, image: {}, onInternalError: (_m, e) => internal.push(e) });
  try {
    await fn(sock, srv);
  } finally {
    await srv.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function grpcCode(err: unknown): number | undefined {
  return (err as ServiceError).code;
}

test('Version and Status over the socket; socket mode 0600; close removes the socket', async () => {
  let sockPath = '';
  await withServer(basicRuntimeService(probes), async (sock) => {
    sockPath = sock;
    const st = fs.lstatSync(sock);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
    // No temporary socket left next to it.
    assert.deepEqual(fs.readdirSync(path.dirname(sock)), ['berthd.sock']);

    const c = criClients(sock);
    try {
      const v = await unary<cri.VersionResponse__Output>((cb) => c.runtime.Version({ version: 'v1' }, cb));
      assert.deepEqual(v, { version: '0.1.0', runtime_name: 'berth', runtime_version: pkgVersion, runtime_api_version: 'v1' });

      const s = await unary<cri.StatusResponse__Output>((cb) => c.runtime.Status({ verbose: false }, cb));
      const conds = s.status?.conditions ?? [];
      assert.deepEqual(
        conds.map((x) => [x.type, x.status, x.reason]),
        [
          ['RuntimeReady', true, ''],
          ['NetworkReady', false, 'NetworkPluginNotReady'],
        ],
      );
      assert.equal(conds[1]?.message, 'no CNI config');
      assert.deepEqual(s.runtime_handlers.map((h) => h.name), ['']);
    } finally {
      c.close();
    }
  });
  assert.equal(fs.existsSync(sockPath), false, 'socket removed on close');
});

test('RPCs an implementation leaves out answer UNIMPLEMENTED (unary, image service, stream)', async () => {
  await withServer(basicRuntimeService(probes), async (sock) => {
    const c = criClients(sock);
    try {
      await assert.rejects(
        unary((cb) => c.runtime.RunPodSandbox({ config: { metadata: { name: 'p', uid: 'u', namespace: 'n' } } }, cb)),
        (err) => grpcCode(err) === status.UNIMPLEMENTED && /RunPodSandbox/.test((err as ServiceError).details),
      );
      await assert.rejects(unary((cb) => c.image.ListImages({}, cb)), (err) => grpcCode(err) === status.UNIMPLEMENTED);
      const stream = c.runtime.GetContainerEvents({});
      const code = await new Promise<number | undefined>((resolve) => {
        stream.on('data', () => resolve(-1));
        stream.on('error', (err) => resolve(grpcCode(err)));
        stream.on('end', () => resolve(-2));
      });
      assert.equal(code, status.UNIMPLEMENTED);
    } finally {
      c.close();
    }
  });
});

test('thrown errors reach the client with mapped codes; requests arrive decoded', async () => {
  const internal: unknown[] = [];
  const seen: cri.ContainerStatusRequest__Output[] = [];
  const impl: Partial<RuntimeServiceImpl> = {
    ContainerStatus: (req) => {
      seen.push(req);
      if (req.container_id === 'missing') return Promise.reject(new BerthError('NOT_FOUND', 'container "missing" not found'));
      if (req.container_id === 'bad') return Promise.reject(new ConfigError('config.image.image', 'must not be empty'));
      if (req.container_id === 'unsupported') return Promise.reject(new BerthError('UNSUPPORTED', 'no checkpoints here'));
      if (req.container_id === 'sync-throw') throw new Error('thrown synchronously');
      return Promise.reject(new Error('disk on fire'));
    },
    ExecSync: (req) => Promise.resolve({ stdout: Buffer.from(`timeout=${req.timeout}`), stderr: Buffer.alloc(0), exit_code: 3 }),
  };
  await withServer(
    impl,
    async (sock) => {
      const c = criClients(sock);
      try {
        const call = (id: string): Promise<unknown> => unary((cb) => c.runtime.ContainerStatus({ container_id: id, verbose: true }, cb));
        await assert.rejects(call('missing'), (e) => grpcCode(e) === status.NOT_FOUND && (e as ServiceError).details === 'container "missing" not found');
        await assert.rejects(call('bad'), (e) => grpcCode(e) === status.INVALID_ARGUMENT && /config\.image\.image/.test((e as ServiceError).details));
        await assert.rejects(call('unsupported'), (e) => grpcCode(e) === status.UNIMPLEMENTED);
        await assert.rejects(call('sync-throw'), (e) => grpcCode(e) === status.INTERNAL && /thrown synchronously/.test((e as ServiceError).details));
        await assert.rejects(call('other'), (e) => grpcCode(e) === status.INTERNAL && (e as ServiceError).details === 'disk on fire');
        assert.equal(seen[0]?.verbose, true);
        assert.equal(seen[0]?.container_id, 'missing');

        // int64 arrives as a decimal string (longs: String); bytes and int32 round-trip.
        const r = await unary<cri.ExecSyncResponse__Output>((cb) => c.runtime.ExecSync({ container_id: 'x', cmd: ['true'], timeout: 9007199254740993n.toString() }, cb));
        assert.equal(r.stdout.toString(), 'timeout=9007199254740993');
        assert.equal(r.exit_code, 3);
      } finally {
        c.close();
      }
    },
    internal,
  );
  // Only the two INTERNAL failures are reported as internal.
  assert.equal(internal.length, 2);
});

test('server-streaming GetContainerEvents delivers events then ends', async () => {
  const impl: Partial<RuntimeServiceImpl> = {
    GetContainerEvents: async (_req, sink) => {
      for (const id of ['a', 'b']) {
        if (!sink.write({ container_id: id, container_event_type: 'CONTAINER_STARTED_EVENT', created_at: '1700000000000000000' })) await sink.drained();
      }
    },
  };
  await withServer(impl, async (sock) => {
    const c = criClients(sock);
    try {
      const got: cri.ContainerEventResponse__Output[] = [];
      await new Promise<void>((resolve, reject) => {
        const s = c.runtime.GetContainerEvents({});
        s.on('data', (ev: cri.ContainerEventResponse__Output) => got.push(ev));
        s.on('error', reject);
        s.on('end', () => resolve());
      });
      assert.deepEqual(
        got.map((e) => [e.container_id, e.container_event_type, e.created_at]),
        [
          ['a', 'CONTAINER_STARTED_EVENT', '1700000000000000000'],
          ['b', 'CONTAINER_STARTED_EVENT', '1700000000000000000'],
        ],
      );
    } finally {
      c.close();
    }
  });
});

test('a stale socket file is replaced; a live one or a non-socket is refused', async () => {
  const dir = tmpdir();
  try {
    // Stale: a socket inode nobody listens on (hard link kept after its server closed).
    const live = path.join(dir, 'live.sock');
    const stale = path.join(dir, 'berthd.sock');
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(live, r));
    fs.linkSync(live, stale);
    assert.equal(await probeSocket(stale), 'live');
    await new Promise<void>((r) => holder.close(() => r()));
    assert.equal(await probeSocket(stale), 'stale');
    const srv = await startCriServer({ socketPath: stale, runtime: basicRuntimeService(probes), image: {} });
    try {
      assert.equal(await probeSocket(stale), 'live');
      // A second server on the same path must not steal it.
      await assert.rejects(startCriServer({ socketPath: stale, runtime: {}, image: {} }), (e) => e instanceof BerthError && e.code === 'ALREADY_EXISTS');
      const c = criClients(stale);
      try {
        const v = await unary<cri.VersionResponse__Output>((cb) => c.runtime.Version({}, cb));
        assert.equal(v.runtime_name, 'berth');
      } finally {
        c.close();
      }
    } finally {
      await srv.close();
    }

    const file = path.join(dir, 'plain');
    fs.writeFileSync(file, 'keep me');
    await assert.rejects(startCriServer({ socketPath: file, runtime: {}, image: {} }), (e) => e instanceof BerthError && e.code === 'FAILED_PRECONDITION');
    assert.equal(fs.readFileSync(file, 'utf8'), 'keep me');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
