'use strict';
/**
 * Self-tests of FakeDuploCloud: the routes duplo-jit's client calls, token checks, tenant access,
 * fresh credentials per call, and fault injection.
 *
 * Run: cd tests/fakes/cloud && node --test fake_duplocloud.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const https = require('node:https');
const { FakeDuploCloud, DEFAULT_TENANTS } = require('./fake_duplocloud');

/// GET path with a Bearer token, trusting the fake's certificate. Resolves {status, headers, body}.
function get(fake, urlPath, token) {
  return new Promise((resolve, reject) => {
    const headers = token ? { authorization: `Bearer ${token}` } : {};
    https.get(fake.url + urlPath, { headers, ca: fake.caPem }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
    }).on('error', reject);
  });
}

async function withDuplo(fn, options = {}) {
  const fake = await new FakeDuploCloud(options).start();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

const [dev, prod] = DEFAULT_TENANTS;

test('admin JIT: admin token gets console URL and fresh keys; a user token is 403; no token is 401', async () => {
  await withDuplo(async (fake) => {
    const first = await get(fake, '/v3/admin/aws/jitAccess/admin', fake.adminToken);
    assert.equal(first.status, 200);
    assert.deepEqual(Object.keys(first.body).sort(), ['AccessKeyId', 'ConsoleUrl', 'Region', 'SecretAccessKey', 'SessionToken', 'Validity']);
    assert.match(first.body.ConsoleUrl, /^https:\/\/signin\.aws\.amazon\.com\/federation\?Action=login&.*SigninToken=\w+$/);
    assert.match(first.body.AccessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.equal(first.body.SecretAccessKey.length, 40);
    assert.equal(first.body.Validity, 3600);
    const second = await get(fake, '/v3/admin/aws/jitAccess/admin', fake.adminToken);
    assert.notEqual(second.body.AccessKeyId, first.body.AccessKeyId);
    assert.notEqual(second.body.ConsoleUrl, first.body.ConsoleUrl);
    assert.deepEqual(fake.issued.map((i) => [i.kind, i.role]), [['admin', 'admin'], ['admin', 'admin']]);
    assert.ok(fake.secrets().includes(first.body.SessionToken));

    assert.equal((await get(fake, '/v3/admin/aws/jitAccess/admin', fake.userToken)).status, 403);
    const none = await get(fake, '/v3/admin/aws/jitAccess/admin', null);
    assert.equal(none.status, 401);
    assert.equal((await get(fake, '/v3/admin/aws/jitAccess/admin', 'wrong')).status, 401);
    assert.equal(fake.issued.length, 2, 'refused calls mint nothing');
  });
});

test('tenants: the list is per user; the console URL only for a tenant the user may access', async () => {
  await withDuplo(async (fake) => {
    const all = await get(fake, '/admin/GetTenantsForUser', fake.adminToken);
    assert.deepEqual(all.body, DEFAULT_TENANTS);
    const mine = await get(fake, '/admin/GetTenantsForUser', fake.userToken);
    assert.deepEqual(mine.body, [dev]);

    const ok = await get(fake, `/subscriptions/${dev.TenantId}/GetAwsConsoleTokenUrl`, fake.userToken);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.Region, 'us-west-2');
    assert.deepEqual(fake.issued.map((i) => [i.kind, i.tenantId]), [['tenant', dev.TenantId]]);
    assert.equal((await get(fake, `/subscriptions/${prod.TenantId}/GetAwsConsoleTokenUrl`, fake.userToken)).status, 403);
    assert.equal((await get(fake, '/subscriptions/no-such-tenant/GetAwsConsoleTokenUrl', fake.adminToken)).status, 404);
    // A tenant's name is not its ID: callers resolve names through GetTenantsForUser first.
    assert.equal((await get(fake, '/subscriptions/prod/GetAwsConsoleTokenUrl', fake.adminToken)).status, 404);
    assert.equal((await get(fake, '//v3/admin/aws/jitAccess/admin', fake.adminToken)).status, 404, 'paths are matched exactly');
  });
});

test('failNext: one injected failure with Retry-After, then normal answers; calls are recorded', async () => {
  await withDuplo(async (fake) => {
    fake.failNext(503, { retryAfter: 2, message: 'maintenance' });
    const failed = await get(fake, '/v3/admin/aws/jitAccess/admin', fake.adminToken);
    assert.equal(failed.status, 503);
    assert.equal(failed.headers['retry-after'], '2');
    assert.deepEqual(failed.body, { Message: 'maintenance' });
    assert.equal((await get(fake, '/v3/admin/aws/jitAccess/admin', fake.adminToken)).status, 200);
    assert.deepEqual(fake.calls.map((c) => [c.path, c.status, c.user]), [
      ['/v3/admin/aws/jitAccess/admin', 503, 'jitbot@example.com'],
      ['/v3/admin/aws/jitAccess/admin', 200, 'jitbot@example.com'],
    ]);
  });
});
