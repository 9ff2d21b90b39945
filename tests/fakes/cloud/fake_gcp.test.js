'use strict';
/**
 * Self-tests of FakeGcp: its own checks with plain HTTP(S) requests. gcloud_proof.test.js then
 * shows the real gcloud reading and editing a policy through it.
 *
 * Run: cd tests/fakes/cloud && node --test fake_gcp.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const http = require('node:http');
const https = require('node:https');
const { FakeGcp, CONCURRENT_MESSAGE, BASIC_ROLES } = require('./fake_gcp');
const { makeTestCertificate } = require('./fake_server');
const { TOKEN, PROJECT, initialBindings, expiring, withFake, urlSafe } = require('./gcp_fixtures');


// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** POSTs JSON (http or https; `ca` trusts the test certificate). Resolves {status, headers, body}. */
function post(url, body, { token = TOKEN, ca, raw } = {}) {
  const target = new URL(url);
  const payload = raw ?? JSON.stringify(body);
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
  if (token) headers.authorization = `Bearer ${token}`;
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(target, { method: 'POST', headers, ca }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const getPolicy = (fake, version = 3, project = PROJECT, opts) =>
  post(`${fake.url}/v1/projects/${project}:getIamPolicy`, { options: { requestedPolicyVersion: version } }, opts);
const setPolicy = (fake, policy, project = PROJECT, opts) => post(`${fake.url}/v1/projects/${project}:setIamPolicy`, { policy }, opts);

/** Reads, lets `edit` change the bindings, writes back with the etag and version 3. */
async function readModifyWrite(fake, edit) {
  const read = (await getPolicy(fake)).body;
  const bindings = edit(read.bindings || []);
  return setPolicy(fake, { version: 3, etag: read.etag, bindings });
}

function assertGoogleError(reply, code, status) {
  assert.equal(reply.status, code, JSON.stringify(reply.body));
  assert.deepEqual(Object.keys(reply.body), ['error']);
  assert.equal(reply.body.error.code, code);
  assert.equal(reply.body.error.status, status);
  assert.equal(typeof reply.body.error.message, 'string');
}

// ---------------------------------------------------------------------------------------------
// The fake's own checks
// ---------------------------------------------------------------------------------------------

test('getIamPolicy: Bearer token required (401 UNAUTHENTICATED), unknown project is 403, bad requests are 400', async () => {
  await withFake({}, async (fake) => {
    const none = await getPolicy(fake, 3, PROJECT, { token: null });
    assertGoogleError(none, 401, 'UNAUTHENTICATED');
    assert.match(none.body.error.message, /missing required authentication credential/);
    const wrong = await getPolicy(fake, 3, PROJECT, { token: 'ya29.wrong' });
    assertGoogleError(wrong, 401, 'UNAUTHENTICATED');
    assert.match(wrong.headers['www-authenticate'], /^Bearer realm="https:\/\/accounts\.google\.com\/"/);

    assertGoogleError(await getPolicy(fake, 3, 'someone-elses-project'), 403, 'PERMISSION_DENIED');
    assertGoogleError(await getPolicy(fake, 2), 400, 'INVALID_ARGUMENT');
    const typo = await post(`${fake.url}/v1/projects/${PROJECT}:getIamPolicy`, { options: { requestedPolicyVersio: 3 } });
    assertGoogleError(typo, 400, 'INVALID_ARGUMENT');
    assert.match(typo.body.error.message, /Unknown name "requestedPolicyVersio"/);
    assertGoogleError(await post(`${fake.url}/v1/projects/${PROJECT}:getIamPolicy`, null, { raw: '{"options":' }), 400, 'INVALID_ARGUMENT');

    const ok = await getPolicy(fake);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body.bindings, initialBindings());
    assert.equal(ok.body.version, 1, 'a policy without conditions is shown as version 1, even when 3 is asked for');
    assert.match(ok.body.etag, /^[A-Za-z0-9+/]+=*$/);
    assert.deepEqual(fake.calls.map((c) => c.status), [401, 401, 403, 400, 400, 400, 200]);
    assert.deepEqual(fake.calls.map((c) => c.auth).slice(0, 3), ['none', 'invalid', 'valid']);
  });
});

test('the colon may arrive percent-encoded, and gcloud\'s ?alt=json is accepted; other paths are 404', async () => {
  await withFake({}, async (fake) => {
    const encoded = await post(`${fake.url}/v1/projects/${PROJECT}%3AgetIamPolicy?alt=json`, {});
    assert.equal(encoded.status, 200);
    assertGoogleError(await post(`${fake.url}/v1/projects/${PROJECT}:testIamPermissions`, {}), 404, 'NOT_FOUND');
  });
});

test('etag: every set moves it; a stale etag is 409 ABORTED; a set without one is accepted but recorded', async () => {
  await withFake({}, async (fake) => {
    const first = (await getPolicy(fake)).body;
    const bindings = [...first.bindings, { role: 'roles/cloudsql.admin', members: ['user:alice@example.com'], condition: expiring('jitbot req_1') }];
    const set = await setPolicy(fake, { version: 3, etag: first.etag, bindings });
    assert.equal(set.status, 200);
    assert.notEqual(set.body.etag, first.etag);
    assert.equal(set.body.version, 3);
    assert.deepEqual(set.body.bindings, bindings);
    assert.equal(fake.policy(PROJECT).etag, set.body.etag);

    const stale = await setPolicy(fake, { version: 3, etag: first.etag, bindings: first.bindings });
    assertGoogleError(stale, 409, 'ABORTED');
    assert.equal(stale.body.error.message, CONCURRENT_MESSAGE);
    assert.deepEqual(fake.policy(PROJECT).bindings, bindings, 'a refused set changes nothing');

    // The etag is bytes: the URL-safe spelling of the current etag is the same etag; non-base64 is a 400.
    const current = fake.policy(PROJECT).etag;
    assertGoogleError(await setPolicy(fake, { version: 3, etag: 'not base64!', bindings }), 400, 'INVALID_ARGUMENT');
    const safe = await setPolicy(fake, { version: 3, etag: urlSafe(current), bindings });
    assert.equal(safe.status, 200, JSON.stringify(safe.body));

    const blind = await setPolicy(fake, { version: 3, bindings });
    assert.equal(blind.status, 200);
    assert.notEqual(blind.body.etag, safe.body.etag);
    assert.equal(fake.setsWithoutEtag.length, 1);
    assert.deepEqual(fake.callsTo('setIamPolicy').map((c) => c.etagSent !== undefined), [true, true, true, true, false]);
  });
});

test('conditions need version 3, a title and an expression with RFC 3339 timestamps, and never sit on basic roles', async () => {
  await withFake({}, async (fake) => {
    // Adds a cloudsql.admin binding for Alice, overridden by `binding`, at policy `version`.
    const attempt = async (binding, version = 3) => {
      const read = (await getPolicy(fake)).body;
      const added = { role: 'roles/cloudsql.admin', members: ['user:alice@example.com'], ...binding };
      return setPolicy(fake, { version, etag: read.etag, bindings: [...read.bindings, added] });
    };
    const refused = async (binding, pattern, version = 3) => {
      const reply = await attempt(binding, version);
      assertGoogleError(reply, 400, 'INVALID_ARGUMENT');
      assert.match(reply.body.error.message, pattern);
    };

    await refused({ condition: expiring('t') }, /version 3/, 1);
    await refused({ condition: { expression: 'request.time < timestamp("2030-01-01T00:00:00Z")' } }, /title/);
    await refused({ condition: { title: 't', expression: '' } }, /expression/);
    await refused({ condition: { title: 'x'.repeat(101), expression: 'true' } }, /100 characters/);
    await refused({ condition: expiring('t', '2030-01-01 00:00:00') }, /RFC 3339/);
    await refused({ condition: { ...expiring('t'), owner: 'me' } }, /Unknown name "owner"/);
    for (const role of BASIC_ROLES) await refused({ role, condition: expiring('t') }, new RegExp(`basic role ${role}`));
    for (const member of ['alice@example.com', 'user:alice', 'robot:r2d2@example.com']) {
      await refused({ members: [member] }, /Invalid member/);
    }
    await refused({ role: 'cloudsql.admin' }, /does not exist/);
    assert.equal(fake.callsTo('setIamPolicy').filter((c) => c.status === 200).length, 0);

    const ok = await attempt({ members: ['user:alice@example.com', 'user:alice@example.com'], condition: expiring('jitbot req_2', '2030-01-01T00:00:00.250+02:00') });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.bindings.at(-1).members, ['user:alice@example.com'], 'duplicate members are merged');
  });
});

test('reading a conditional policy below version 3 shows _withcond_ roles (as Google does); writing those back fails', async () => {
  const conditional = { role: 'roles/cloudsql.admin', members: ['user:alice@example.com'], condition: expiring('jitbot req_3') };
  await withFake({ projects: { [PROJECT]: { bindings: [...initialBindings(), conditional] } } }, async (fake) => {
    const v1 = (await getPolicy(fake, 1)).body;
    assert.equal(v1.version, 1);
    const hidden = v1.bindings.at(-1);
    assert.match(hidden.role, /^roles\/cloudsql\.admin_withcond_[0-9a-f]{20}$/);
    assert.equal(hidden.condition, undefined);
    assert.deepEqual((await getPolicy(fake, 0)).body, v1, 'version 0 (unset) reads like version 1');

    // A version 1 client writing back what it read: refused whichever version it claims.
    assertGoogleError(await setPolicy(fake, { version: 1, etag: v1.etag, bindings: v1.bindings }), 400, 'INVALID_ARGUMENT');
    assertGoogleError(await setPolicy(fake, { version: 1, etag: v1.etag, bindings: v1.bindings.slice(0, 2) }), 400, 'INVALID_ARGUMENT');

    const v3 = (await getPolicy(fake, 3)).body;
    assert.equal(v3.version, 3);
    assert.deepEqual(v3.bindings.at(-1), conditional);
    assert.equal(v3.etag, v1.etag, 'the version asked for changes the view, not the policy');
  });
});

test('revoking by read-modify-write: dropping the last member drops the binding', async () => {
  const ours = { role: 'roles/cloudsql.admin', members: ['user:alice@example.com'], condition: expiring('jitbot req_4') };
  await withFake({ projects: { [PROJECT]: { bindings: [...initialBindings(), ours] } } }, async (fake) => {
    const reply = await readModifyWrite(fake, (bindings) => bindings.map((b) => (b.condition?.title === 'jitbot req_4' ? { ...b, members: [] } : b)));
    assert.equal(reply.status, 200);
    assert.equal(reply.body.version, 1, 'no conditions left');
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings());
  });
});

test('fault injection: concurrent change (with the other writer\'s edit), failNext, dropped answer', async () => {
  await withFake({}, async (fake) => {
    const read = (await getPolicy(fake)).body;
    fake.concurrentChangeOnNextSet((bindings) => bindings.push({ role: 'roles/browser', members: ['user:carol@example.com'] }));
    const conflicted = await setPolicy(fake, { version: 3, etag: read.etag, bindings: read.bindings });
    assertGoogleError(conflicted, 409, 'ABORTED');
    assert.equal(fake.callsTo('setIamPolicy')[0].etagCurrent !== read.etag, true);
    const reread = (await getPolicy(fake)).body;
    assert.notEqual(reread.etag, read.etag);
    assert.deepEqual(reread.bindings.at(-1), { role: 'roles/browser', members: ['user:carol@example.com'] });

    fake.concurrentChangeOnNextSet(); // only the etag moves
    assertGoogleError(await setPolicy(fake, { version: 3, etag: reread.etag, bindings: reread.bindings }), 409, 'ABORTED');
    assert.deepEqual(fake.policy(PROJECT).bindings, reread.bindings);

    fake.failNext(503, 'UNAVAILABLE', 'The service is currently unavailable.');
    assertGoogleError(await getPolicy(fake), 503, 'UNAVAILABLE');
    assert.equal((await getPolicy(fake)).status, 200, 'a fault is used once');

    const before = (await getPolicy(fake)).body;
    fake.dropResponseAfterNextSet();
    const added = [...before.bindings, { role: 'roles/cloudsql.admin', members: ['user:alice@example.com'], condition: expiring('jitbot req_5') }];
    await assert.rejects(setPolicy(fake, { version: 3, etag: before.etag, bindings: added }), /socket hang up|ECONNRESET/);
    assert.deepEqual(fake.policy(PROJECT).bindings, added, 'the dropped set was applied');
    assert.equal(fake.callsTo('setIamPolicy').at(-1).status, 'dropped');
  });
});

test('onCall and setToken let a test rotate the token mid-session', async () => {
  await withFake({}, async (fake) => {
    fake.onCall((call) => call.op === 'getIamPolicy' && call.status === 200 && fake.setToken('ya29.rotated'));
    assert.equal((await getPolicy(fake)).status, 200);
    assert.equal((await getPolicy(fake)).status, 401);
    assert.equal((await getPolicy(fake, 3, PROJECT, { token: 'ya29.rotated' })).status, 200);
  });
});

test('TLS: the fake serves https with the test certificate', async () => {
  const cert = makeTestCertificate();
  await withFake({ tls: { key: cert.key, cert: cert.cert } }, async (fake) => {
    assert.match(fake.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(getPolicy(fake), /self-signed|self signed/);
    assert.equal((await getPolicy(fake, 3, PROJECT, { ca: cert.cert })).status, 200);
  });
});
