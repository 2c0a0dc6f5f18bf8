'use strict';
// Real Node.js Redis clients against statestored's RESP port:
//   ioredis 5 (RESP2), ioredis 6 (RESP3 by default: HELLO 3 on connect;
//   also with replyMapping "resp3", and with protocol 2), node-redis 4
//   (RESP2) and node-redis 5 (RESP2, and RESP3 with RESP: 3).
// Usage: node clients.js PORT [basic|tx]
//   basic  strings, expiry, binary values, pipelines, SCAN, the checkpoint
//          commands, error replies, and the RESP3 reply shapes
//   tx     MULTI/EXEC and WATCH through each client's transaction API
// Prints one JSON summary on stdout; exits 1 on any mismatch, 2 on a bad
// command line. Every client is closed before the summary is printed.
const assert = require('node:assert/strict');

const port = Number(process.argv[2]);
const mode = process.argv[3] || 'basic';
if (!Number.isInteger(port) || port <= 0 || !['basic', 'tx'].includes(mode)) {
  console.error('usage: node clients.js PORT [basic|tx]');
  process.exit(2);
}
const HOST = '127.0.0.1';
const { Run, errorOf } = require('./run');

const ioredis5 = require('ioredis5');
const ioredis6 = require('ioredis6');
const redis4 = require('redis4');
const redis5 = require('redis5');

const BIN_KEY = Buffer.from('bin\x00\r\n key \xff', 'latin1');
const BIN_VAL = Buffer.from('\x00\r\n$3\r\n*1\r\n \xff\xfe value', 'latin1');

// Checks that go through the client's raw command call: call(...args)
// returns the reply as the client decodes it by default.
async function rawChecks(run, call, p, resp3) {
  await run.check('PING', async () => assert.equal(await call('PING'), 'PONG'));
  await run.check('ECHO', async () => assert.equal(await call('ECHO', 'hello world'), 'hello world'));
  await run.check('SET/GET/DEL raw', async () => {
    assert.equal(await call('SET', p + 'raw', 'v1'), 'OK');
    assert.equal(await call('GET', p + 'raw'), 'v1');
    assert.equal(await call('DEL', p + 'raw'), 1);
    assert.equal(await call('GET', p + 'raw'), null);
  });
  await run.check('GET missing is nil', async () => assert.equal(await call('GET', p + 'missing'), null));
  await run.check('INCRBY/DECRBY', async () => {
    assert.equal(await call('INCRBY', p + 'ctr', '5'), 5);
    assert.equal(await call('DECRBY', p + 'ctr', '2'), 3);
    assert.equal(await call('GET', p + 'ctr'), '3');
  });
  await run.check('checkpoint CAS, conflict, GETREV, HISTORY', async () => {
    const cp = p + 'cp';
    assert.equal(await call('GETREV_CHECKPOINT', cp), null);
    const r1 = await call('CAS_CHECKPOINT', cp, '0', 'v1');
    assert.equal(typeof r1, 'number');
    assert.ok(r1 > 0);
    assert.equal(await errorOf(call('CAS_CHECKPOINT', cp, '0', 'v2')), 'CONFLICT ' + r1);
    assert.deepEqual(await call('GETREV_CHECKPOINT', cp), [r1, 'v1']);
    const r2 = await call('CAS_CHECKPOINT', cp, String(r1), 'v2');
    assert.ok(r2 > r1, `rev ${r2} after ${r1}`);
    const hist = await call('HISTORY_CHECKPOINT', cp);
    assert.equal(hist.length, 2);
    assert.deepEqual(hist.map((h) => [h[0], h[2]]), [[r2, 'v2'], [r1, 'v1']]);
    assert.ok(hist.every((h) => typeof h[1] === 'number' && h[1] > 0));
    assert.equal(await call('GET_CHECKPOINT', cp), 'v2');
  });
  await run.check('unknown command error', async () => {
    assert.equal(await errorOf(call('NOSUCHCMD', 'a', 'b')),
      "ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' ");
  });
  await run.check('arity error', async () => {
    assert.equal(await errorOf(call('GET')), "ERR wrong number of arguments for 'get' command");
  });
  await run.check('usable after errors', async () => assert.equal(await call('PING'), 'PONG'));
  await run.check('CONFIG GET reply shape', async () => {
    const got = await call('CONFIG', 'GET', 'appendonly');
    if (resp3 === 'map') {
      // A RESP3 map (%) the client turned into an object.
      assert.ok(!Array.isArray(got), 'a map, not an array: ' + JSON.stringify(got));
      const entries = got instanceof Map ? Object.fromEntries(got) : got;
      assert.deepEqual({ ...entries }, { appendonly: 'yes' });
    } else {
      assert.deepEqual(got, ['appendonly', 'yes']);
    }
  });
}

// ---------------------------------------------------------------- ioredis

function ioredisClient(lib, opts) {
  return new lib.default({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0,
    retryStrategy: () => null, ...opts });
}

async function ioredisBasic(run, lib, opts, wantProto, resp3) {
  const r = ioredisClient(lib, opts);
  await r.connect();
  try {
    const p = `node:${run.name}:`;
    await run.check('negotiated protocol', async () => {
      // ioredis 5 has no condition.protocol: it only speaks RESP2.
      assert.equal(r.condition.protocol ?? 2, wantProto);
    });
    await rawChecks(run, (...a) => r.call(...a), p, resp3);
    await run.check('SET EX NX, TTL', async () => {
      assert.equal(await r.set(p + 'nx', 'first', 'EX', 100, 'NX'), 'OK');
      assert.equal(await r.set(p + 'nx', 'second', 'EX', 100, 'NX'), null);
      assert.equal(await r.get(p + 'nx'), 'first');
      const ttl = await r.ttl(p + 'nx');
      assert.ok(ttl > 0 && ttl <= 100, 'ttl ' + ttl);
      assert.equal(await r.ttl(p + 'nottl-missing'), -2);
    });
    await run.check('MSET/MGET/EXISTS', async () => {
      assert.equal(await r.mset({ [p + 'm1']: 'a', [p + 'm2']: 'b' }), 'OK');
      assert.deepEqual(await r.mget(p + 'm1', p + 'm2', p + 'm3'), ['a', 'b', null]);
      assert.equal(await r.exists(p + 'm1', p + 'm2', p + 'm3'), 2);
    });
    await run.check('EXPIRE/TTL/PERSIST', async () => {
      assert.equal(await r.ttl(p + 'm1'), -1);
      assert.equal(await r.expire(p + 'm1', 50), 1);
      const ttl = await r.ttl(p + 'm1');
      assert.ok(ttl > 0 && ttl <= 50, 'ttl ' + ttl);
      assert.equal(await r.persist(p + 'm1'), 1);
      assert.equal(await r.ttl(p + 'm1'), -1);
    });
    await run.check('INCR/GETDEL', async () => {
      assert.equal(await r.incr(p + 'i'), 1);
      assert.equal(await r.incr(p + 'i'), 2);
      assert.equal(await r.getdel(p + 'i'), '2');
      assert.equal(await r.get(p + 'i'), null);
    });
    await run.check('binary-safe key and value', async () => {
      const k = Buffer.concat([Buffer.from(p), BIN_KEY]);
      assert.equal(await r.set(k, BIN_VAL), 'OK');
      assert.ok(BIN_VAL.equals(await r.getBuffer(k)));
      assert.equal(await r.del(k), 1);
    });
    await run.check('pipeline', async () => {
      const got = await r.pipeline().set(p + 'pl', '1').incr(p + 'pl').get(p + 'pl')
        .get(p + 'pl-missing').exec();
      assert.deepEqual(got, [[null, 'OK'], [null, 2], [null, '2'], [null, null]]);
    });
    await run.check('SCAN MATCH (scanStream)', async () => {
      const want = [];
      for (let i = 0; i < 30; i++) want.push(`${p}scan:${i}`);
      await r.mset(Object.fromEntries(want.map((k) => [k, 'x'])));
      await r.set(`${p}scanx:1`, 'not matched');
      const seen = new Set();
      await new Promise((resolve, reject) => {
        const s = r.scanStream({ match: `${p}scan:*`, count: 7 });
        s.on('data', (keys) => keys.forEach((k) => seen.add(k)));
        s.on('end', resolve);
        s.on('error', reject);
      });
      assert.deepEqual([...seen].sort(), want.sort());
    });
  } finally {
    await r.quit();
  }
}

async function ioredisTx(run, lib, opts) {
  const r = ioredisClient(lib, opts);
  const other = ioredisClient(lib, opts);
  await r.connect();
  await other.connect();
  try {
    const p = `node:${run.name}:tx:`;
    await run.check('MULTI/EXEC', async () => {
      const got = await r.multi().set(p + 'a', '1').incr(p + 'a').get(p + 'a').exec();
      assert.deepEqual(got, [[null, 'OK'], [null, 2], [null, '2']]);
    });
    await run.check('WATCH: a change by another client aborts EXEC', async () => {
      await r.set(p + 'w', 'before');
      assert.equal(await r.watch(p + 'w'), 'OK');
      await other.set(p + 'w', 'changed');
      assert.equal(await r.multi().set(p + 'w', 'mine').exec(), null);
      assert.equal(await r.get(p + 'w'), 'changed');
    });
    await run.check('WATCH: no change, EXEC runs', async () => {
      assert.equal(await r.watch(p + 'w'), 'OK');
      assert.deepEqual(await r.multi().set(p + 'w', 'mine').exec(), [[null, 'OK']]);
      assert.equal(await r.get(p + 'w'), 'mine');
    });
    await run.check('MULTI, queued SET, DISCARD', async () => {
      assert.equal(await r.call('MULTI'), 'OK');
      assert.equal(await r.call('SET', p + 'd', 'never'), 'QUEUED');
      assert.equal(await r.call('DISCARD'), 'OK');
      assert.equal(await r.get(p + 'd'), null);
    });
  } finally {
    await r.quit();
    await other.quit();
  }
}

// ------------------------------------------------------------- node-redis

async function nodeRedisClient(lib, opts) {
  const c = lib.createClient({ socket: { host: HOST, port, reconnectStrategy: false }, ...opts });
  c.on('error', () => {}); // surfaced through the failing command instead
  await c.connect();
  return c;
}

async function nodeRedisClose(major, c) {
  if (major >= 5) await c.close();
  else await c.quit();
}

async function nodeRedisBasic(run, lib, major, opts, resp3) {
  const c = await nodeRedisClient(lib, opts);
  try {
    const p = `node:${run.name}:`;
    await rawChecks(run, (...a) => c.sendCommand(a), p, resp3);
    if (opts.name) {
      await run.check('HELLO SETNAME on connect', async () => {
        assert.equal(await c.clientGetName(), opts.name);
      });
    }
    await run.check('SET EX NX, TTL', async () => {
      assert.equal(await c.set(p + 'nx', 'first', { EX: 100, NX: true }), 'OK');
      assert.equal(await c.set(p + 'nx', 'second', { EX: 100, NX: true }), null);
      assert.equal(await c.get(p + 'nx'), 'first');
      const ttl = await c.ttl(p + 'nx');
      assert.ok(ttl > 0 && ttl <= 100, 'ttl ' + ttl);
    });
    await run.check('MSET/MGET/EXISTS', async () => {
      assert.equal(await c.mSet({ [p + 'm1']: 'a', [p + 'm2']: 'b' }), 'OK');
      assert.deepEqual(await c.mGet([p + 'm1', p + 'm2', p + 'm3']), ['a', 'b', null]);
      assert.equal(await c.exists([p + 'm1', p + 'm2', p + 'm3']), 2);
    });
    await run.check('EXPIRE/TTL', async () => {
      // node-redis 4 turns EXPIRE's integer into a boolean, 5 leaves it.
      assert.equal(Number(await c.expire(p + 'm1', 50)), 1);
      const ttl = await c.ttl(p + 'm1');
      assert.ok(ttl > 0 && ttl <= 50, 'ttl ' + ttl);
    });
    await run.check('INCR/GETDEL', async () => {
      assert.equal(await c.incr(p + 'i'), 1);
      assert.equal(await c.incr(p + 'i'), 2);
      assert.equal(await c.getDel(p + 'i'), '2');
      assert.equal(await c.get(p + 'i'), null);
    });
    await run.check('binary-safe key and value', async () => {
      const k = Buffer.concat([Buffer.from(p), BIN_KEY]);
      assert.equal(await c.set(k, BIN_VAL), 'OK');
      let got;
      if (major >= 5) {
        got = await c.withTypeMapping({ [lib.RESP_TYPES.BLOB_STRING]: Buffer }).get(k);
      } else {
        got = await c.get(lib.commandOptions({ returnBuffers: true }), k);
      }
      assert.ok(Buffer.isBuffer(got) && BIN_VAL.equals(got), 'got ' + JSON.stringify(got));
      assert.equal(await c.del(k), 1);
    });
    await run.check('pipeline (execAsPipeline)', async () => {
      const got = await c.multi().set(p + 'pl', '1').incr(p + 'pl').get(p + 'pl')
        .get(p + 'pl-missing').execAsPipeline();
      assert.deepEqual(got, ['OK', 2, '2', null]);
    });
    await run.check('SCAN MATCH (scanIterator)', async () => {
      const want = [];
      for (let i = 0; i < 30; i++) want.push(`${p}scan:${i}`);
      await c.mSet(Object.fromEntries(want.map((k) => [k, 'x'])));
      await c.set(`${p}scanx:1`, 'not matched');
      const seen = new Set();
      // node-redis 4 yields keys, 5 yields each SCAN reply's batch.
      for await (const item of c.scanIterator({ MATCH: `${p}scan:*`, COUNT: 7 })) {
        (Array.isArray(item) ? item : [item]).forEach((k) => seen.add(k));
      }
      assert.deepEqual([...seen].sort(), want.sort());
    });
  } finally {
    await nodeRedisClose(major, c);
  }
}

async function nodeRedisTx(run, lib, major, opts) {
  const c = await nodeRedisClient(lib, opts);
  const other = await nodeRedisClient(lib, opts);
  try {
    const p = `node:${run.name}:tx:`;
    await run.check('MULTI/EXEC', async () => {
      const got = await c.multi().set(p + 'a', '1').incr(p + 'a').get(p + 'a').exec();
      assert.deepEqual(got, ['OK', 2, '2']);
    });
    // node-redis 4 runs WATCH on an isolated connection; 5 has none.
    const isolated = (fn) => (major >= 5 ? fn(c) : c.executeIsolated(fn));
    await run.check('WATCH: a change by another client aborts EXEC', async () => {
      await c.set(p + 'w', 'before');
      await isolated(async (iso) => {
        assert.equal(await iso.watch(p + 'w'), 'OK');
        await other.set(p + 'w', 'changed');
        await assert.rejects(iso.multi().set(p + 'w', 'mine').exec(), lib.WatchError);
      });
      assert.equal(await c.get(p + 'w'), 'changed');
    });
    await run.check('WATCH: no change, EXEC runs', async () => {
      await isolated(async (iso) => {
        assert.equal(await iso.watch(p + 'w'), 'OK');
        assert.deepEqual(await iso.multi().set(p + 'w', 'mine').exec(), ['OK']);
      });
      assert.equal(await c.get(p + 'w'), 'mine');
    });
  } finally {
    await nodeRedisClose(major, c);
    await nodeRedisClose(major, other);
  }
}

// ------------------------------------------------------------------ main

function version(pkg) {
  return require(pkg + '/package.json').version;
}

// [name, package, run it (basic), run it (tx), expected protocol]
const VARIANTS = [
  ['ioredis5', 'ioredis5',
    (run) => ioredisBasic(run, ioredis5, {}, 2, 'array'),
    (run) => ioredisTx(run, ioredis5, {})],
  // ioredis 6's default: protocol 3 (HELLO 3), replies in RESP2 shapes.
  ['ioredis6-resp3', 'ioredis6',
    (run) => ioredisBasic(run, ioredis6, {}, 3, 'array'),
    (run) => ioredisTx(run, ioredis6, {})],
  // RESP3 maps surface as objects: proves the server sent a map.
  ['ioredis6-resp3-maps', 'ioredis6',
    (run) => ioredisBasic(run, ioredis6, { protocol: 3, replyMapping: 'resp3' }, 3, 'map'),
    (run) => ioredisTx(run, ioredis6, { protocol: 3, replyMapping: 'resp3' })],
  ['ioredis6-resp2', 'ioredis6',
    (run) => ioredisBasic(run, ioredis6, { protocol: 2 }, 2, 'array'),
    (run) => ioredisTx(run, ioredis6, { protocol: 2 })],
  ['node-redis4', 'redis4',
    (run) => nodeRedisBasic(run, redis4, 4, {}, 'array'),
    (run) => nodeRedisTx(run, redis4, 4, {})],
  ['node-redis5-resp2', 'redis5',
    (run) => nodeRedisBasic(run, redis5, 5, {}, 'array'),
    (run) => nodeRedisTx(run, redis5, 5, {})],
  // RESP: 3 sends HELLO 3 SETNAME on connect.
  ['node-redis5-resp3', 'redis5',
    (run) => nodeRedisBasic(run, redis5, 5, { RESP: 3, name: 'ss-node-redis5' }, 'map'),
    (run) => nodeRedisTx(run, redis5, 5, { RESP: 3 })],
];

async function main() {
  const results = [];
  for (const [name, pkg, basic, tx] of VARIANTS) {
    const run = new Run(name);
    const t0 = Date.now();
    try {
      await (mode === 'tx' ? tx : basic)(run);
    } catch (err) {
      run.failures.push({ check: 'connect/close', error: String(err && err.stack || err) });
    }
    results.push({ client: name, package: pkg, version: version(pkg), checks: run.checks,
      ms: Date.now() - t0, failures: run.failures });
  }
  const failed = results.reduce((n, r) => n + r.failures.length, 0);
  console.log(JSON.stringify({ mode, node: process.version, clients: results, failed }, null, 1));
  process.exitCode = failed ? 1 : 0;
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
