'use strict';
/**
 * Self-tests of FakeHttpBackend, the reference receiver for jitbot's http backend: signature and
 * timestamp checks, idempotent grants, revokes of unknown grants, fault injection.
 *
 * Run: cd tests/fakes/cloud && node --test fake_http_backend.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const { FakeHttpBackend, sign } = require('./fake_http_backend');

const now = () => Math.floor(Date.now() / 1000);

/// The exec backend's JSON for one request (what jitbot posts).
function documentFor(action, overrides = {}) {
  const doc = {
    version: 1, action, request_id: 'req_01JABCDEFGHJKMNPQRSTVWXYZ0', provider: 'platform', role: 'db-admin',
    scope: 'orders', duration_seconds: 7200, expires_at: '2030-01-01T02:00:00Z', reason: 'INC-1', break_glass: false,
    requester: { slack_user_id: 'U0ALICE', email: 'alice@example.com', name: 'Alice Liddell' }, approvers: ['U0BOB'],
    ...overrides,
  };
  if (action === 'revoke' && doc.grant_id === undefined) doc.grant_id = '';
  return doc;
}

/// POSTs a signed document. options: {secret, timestamp, signature, body (raw string), contentType}.
function post(fake, action, doc, options = {}) {
  const body = Buffer.from(options.body ?? JSON.stringify(doc));
  const timestamp = String(options.timestamp ?? now());
  const headers = {
    'content-type': options.contentType || 'application/json',
    'content-length': body.length,
    'x-jitbot-timestamp': timestamp,
    'x-jitbot-signature': options.signature ?? sign(options.secret || fake.secret, timestamp, body),
  };
  return new Promise((resolve, reject) => {
    const req = https.request(`${fake.baseUrl}/${action}`, { method: 'POST', headers, ca: fake.caPem }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function withReceiver(fn, options = {}) {
  const fake = await new FakeHttpBackend(options).start();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

test('sign() is v0= hex HMAC-SHA256 over "v0:" + timestamp + ":" + body', () => {
  // Computed independently: printf 'v0:1700000000:{"a":1}' | openssl dgst -sha256 -hmac s3cret
  const expected = 'v0=bd185b05da99402f371e04f620aeca81515f08c0ef7fcf979fccaa4d2f87d47c';
  assert.equal(sign('s3cret', '1700000000', Buffer.from('{"a":1}')), expected);
  assert.equal(sign('s3cret', '1700000000', '{"a":1}'), expected);
});

test('a signed grant succeeds, carries console_url, and a repeat returns the same grant', async () => {
  await withReceiver(async (fake) => {
    const first = await post(fake, 'grant', documentFor('grant'));
    assert.equal(first.status, 200);
    assert.equal(first.body.console_url, 'https://console.example.com/session');
    assert.match(first.body.message, /Granted db-admin on orders to alice@example\.com/);
    const again = await post(fake, 'grant', documentFor('grant'));
    assert.equal(again.body.grant_id, first.body.grant_id);
    assert.equal(fake.grants().length, 1);
    assert.equal(fake.grants()[0].grant_calls, 2);
    assert.equal(fake.grants()[0].active, true);
    assert.equal(fake.calls[0].document.requester.email, 'alice@example.com');
  }, { consoleUrl: 'https://console.example.com/session' });
});

test('revoke ends the grant; revoking again or revoking an unknown request is 200 (already gone)', async () => {
  await withReceiver(async (fake) => {
    const { body } = await post(fake, 'grant', documentFor('grant'));
    const revoked = await post(fake, 'revoke', documentFor('revoke', { grant_id: body.grant_id }));
    assert.equal(revoked.status, 200);
    assert.equal(fake.grants()[0].active, false);
    assert.equal((await post(fake, 'revoke', documentFor('revoke', { grant_id: body.grant_id }))).status, 200);
    const unknown = await post(fake, 'revoke', documentFor('revoke', { request_id: 'req_01JZZZZZZZZZZZZZZZZZZZZZZZ' }));
    assert.equal(unknown.status, 200);
    assert.match(unknown.body.message, /already gone/);
  });
});

test('authenticity: wrong secret, tampered body, stale or future timestamp, missing headers → 401 {error}', async () => {
  await withReceiver(async (fake) => {
    const doc = documentFor('grant');
    const wrong = await post(fake, 'grant', doc, { secret: 'not-the-secret' });
    assert.deepEqual([wrong.status, wrong.body], [401, { error: 'invalid signature' }]);
    // Signed over one body, sent with another: the HMAC covers the raw bytes.
    const ts = String(now());
    const signature = sign(fake.secret, ts, JSON.stringify(doc));
    const tampered = await post(fake, 'grant', doc, { timestamp: ts, signature, body: JSON.stringify({ ...doc, role: 'root' }) });
    assert.equal(tampered.status, 401);
    assert.equal((await post(fake, 'grant', doc, { timestamp: now() - 301 })).body.error, 'X-Jitbot-Timestamp is more than 5 minutes off');
    assert.equal((await post(fake, 'grant', doc, { timestamp: now() + 301 })).status, 401);
    assert.equal((await post(fake, 'grant', doc, { timestamp: now() - 290 })).status, 200, 'within 5 minutes is fine');
    assert.equal((await post(fake, 'grant', doc, { signature: 'v0=' })).body.error, 'invalid signature');
    assert.equal((await post(fake, 'grant', doc, { signature: '' })).body.error, 'missing X-Jitbot-Timestamp or X-Jitbot-Signature');
    assert.deepEqual(fake.calls.map((c) => c.verified), [false, false, false, false, true, false, false]);
  });
});

test('document checks: action must match the path, JSON content type, version 1', async () => {
  await withReceiver(async (fake) => {
    assert.equal((await post(fake, 'revoke', documentFor('grant'))).status, 400);
    assert.equal((await post(fake, 'grant', documentFor('grant'), { contentType: 'text/plain' })).status, 415);
    assert.equal((await post(fake, 'grant', documentFor('grant', { version: 2 }))).status, 400);
    assert.equal((await post(fake, 'grant', null, { body: '{' })).status, 400);
    assert.equal(fake.grants().length, 0);
  });
});

test('failNext: injected 503 with Retry-After and a chosen error, then normal service', async () => {
  await withReceiver(async (fake) => {
    fake.failNext(503, { retryAfter: 1, error: 'control plane restarting' });
    const failed = await post(fake, 'grant', documentFor('grant'));
    assert.deepEqual([failed.status, failed.headers['retry-after'], failed.body], [503, '1', { error: 'control plane restarting' }]);
    assert.equal((await post(fake, 'grant', documentFor('grant'))).status, 200);
    assert.deepEqual(fake.calls.map((c) => [c.action, c.status]), [['grant', 503], ['grant', 200]]);
  });
});

test('failNext afterProcessing: the grant happens, the reply is lost; the retry gets the same grant', async () => {
  await withReceiver(async (fake) => {
    fake.failNext(502, { afterProcessing: true });
    assert.equal((await post(fake, 'grant', documentFor('grant'))).status, 502);
    assert.equal(fake.grants().length, 1, 'the lost reply still granted');
    const retried = await post(fake, 'grant', documentFor('grant'));
    assert.equal(retried.body.grant_id, fake.grants()[0].grant_id);
    assert.equal(fake.grants().length, 1);
  });
});

test('failNext times and action: a receiver that stays down for grants only, with each call timed on arrival', async () => {
  await withReceiver(async (fake) => {
    fake.failNext(503, { times: Infinity, action: 'grant', afterProcessing: true, error: 'upstream timed out' });
    const before = Date.now();
    for (let i = 0; i < 3; i++) {
      const failed = await post(fake, 'grant', documentFor('grant'));
      assert.deepEqual([failed.status, failed.body], [503, { error: 'upstream timed out' }], `grant call ${i + 1} still fails`);
    }
    assert.equal(fake.grants().length, 1, 'afterProcessing: each lost reply still granted, idempotently');
    assert.equal(fake.grants()[0].grant_calls, 3);
    const revoked = await post(fake, 'revoke', documentFor('revoke'));
    assert.equal(revoked.status, 200, 'a grant-only fault leaves revokes alone');
    assert.equal(fake.grants()[0].active, false);
    assert.equal((await post(fake, 'grant', documentFor('grant'))).status, 503, 'times: Infinity never runs out');
    assert.ok(fake.calls.every((c) => c.at >= before && c.at <= Date.now()), 'every call records when it arrived');
    assert.ok(fake.calls.every((c, i) => i === 0 || c.at >= fake.calls[i - 1].at), 'arrival times follow the call order');
  });
});

test('failNext times: a count of failures, then normal service', async () => {
  await withReceiver(async (fake) => {
    fake.failNext(502, { times: 2 });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(fake, 'grant', documentFor('grant'))).status);
    assert.deepEqual(statuses, [502, 502, 200]);
  });
});
