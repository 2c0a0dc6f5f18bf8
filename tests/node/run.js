'use strict';
// What the Node.js client scripts share (clients.js, acl.js): a record of
// one client variant's checks, and the error a reply must be.
const assert = require('node:assert/strict');

// One record per client variant: how many checks ran, which failed.
class Run {
  constructor(name) {
    this.name = name;
    this.checks = 0;
    this.failures = [];
  }
  async check(label, fn) {
    this.checks++;
    try {
      await fn();
    } catch (err) {
      this.failures.push({ check: label, error: String(err && err.stack || err) });
    }
  }
}

// The reply's error message, or a failure if the command succeeded.
async function errorOf(promise) {
  let got;
  try {
    got = await promise;
  } catch (err) {
    return err.message;
  }
  throw new assert.AssertionError({ message: 'expected an error reply, got ' + JSON.stringify(got) });
}

module.exports = { Run, errorOf };
