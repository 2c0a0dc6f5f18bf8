'use strict';
// Real Node.js Redis clients authenticating to statestored with an ACL user
// (tests/integration/test_acl.py starts the daemon and its ACL file):
// ioredis 5 (RESP2: AUTH user pass on connect) and ioredis 6 (RESP3: HELLO 3
// AUTH user pass on connect).
// Usage: node acl.js PORT USER PASSWORD INSIDE OUTSIDE
//   With USER/PASSWORD each client must: write and read the name INSIDE its
//   namespaces; be refused the name OUTSIDE with NOPERM; with a wrong
//   password, fail to connect with WRONGPASS; without credentials, be
//   answered NOAUTH.
// Prints one JSON summary on stdout; exits 1 on any mismatch, 2 on a bad
// command line. Every client is closed before the summary is printed.
const assert = require('node:assert/strict');

const [portArg, user, password, inside, outside] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || !user || !password || !inside || !outside) {
  console.error('usage: node acl.js PORT USER PASSWORD INSIDE OUTSIDE');
  process.exit(2);
}
const HOST = '127.0.0.1';
const { Run, errorOf } = require('./run');

const ioredis5 = require('ioredis5');
const ioredis6 = require('ioredis6');

function client(lib, opts) {
  const r = new lib.default({ host: HOST, port, lazyConnect: true, maxRetriesPerRequest: 0,
    retryStrategy: () => null, enableOfflineQueue: false, ...opts });
  // ioredis reports a failed AUTH as an 'error' event, then closes.
  r.errors = [];
  r.on('error', (err) => r.errors.push(err.message));
  return r;
}

async function runClient(name, lib, opts) {
  const run = new Run(name);
  const tag = `${name}-${process.pid}`;
  await run.check('AUTH on connect; inside names work; outside names NOPERM', async () => {
    const r = client(lib, { username: user, password, ...opts });
    try {
      await r.connect();
      assert.equal(await r.set(inside, tag), 'OK');
      assert.equal(await r.get(inside), tag);
      assert.equal(await errorOf(r.get(outside)), 'NOPERM No permissions to access a key');
      assert.equal(await errorOf(r.set(outside, tag)), 'NOPERM No permissions to access a key');
      assert.equal(await r.get(inside), tag); // the connection is still usable
    } finally {
      r.disconnect();
    }
  });
  await run.check('a wrong password fails the connect with WRONGPASS', async () => {
    const r = client(lib, { username: user, password: password + '-wrong', ...opts });
    try {
      await errorOf(r.connect());
      const want = 'WRONGPASS invalid username-password pair or user is disabled.';
      assert.ok(r.errors.some((m) => m.includes(want)), JSON.stringify(r.errors));
    } finally {
      r.disconnect();
    }
  });
  await run.check('no credentials: NOAUTH', async () => {
    // No ready check (INFO, which NOAUTH would make ioredis close on).
    const r = client(lib, { enableReadyCheck: false, ...opts });
    try {
      if (name === 'ioredis6-resp3') {
        // ioredis 6 opens with HELLO 3, which a server with users refuses
        // without AUTH (as Redis does): the connection fails, saying so.
        await errorOf(r.connect());
        assert.ok(r.errors.some((m) => m.startsWith('NOAUTH HELLO must be called')),
          JSON.stringify(r.errors));
        return;
      }
      // ioredis 5 and RESP2 send nothing first: the first command is
      // refused.
      await r.connect();
      assert.equal(await errorOf(r.get(inside)), 'NOAUTH Authentication required.');
    } finally {
      r.disconnect();
    }
  });
  const pkg = lib === ioredis5 ? 'ioredis5' : 'ioredis6';
  return { client: name, version: require(`${pkg}/package.json`).version, checks: run.checks,
    failures: run.failures };
}

(async () => {
  const clients = [
    await runClient('ioredis5', ioredis5, {}),
    await runClient('ioredis6-resp3', ioredis6, {}),
    await runClient('ioredis6-resp2', ioredis6, { protocol: 2 }),
  ];
  const failed = clients.reduce((n, c) => n + c.failures.length, 0);
  console.log(JSON.stringify({ clients, failed }));
  process.exit(failed ? 1 : 0);
})().catch((err) => {
  console.error(err && err.stack || err);
  process.exit(1);
});
