'use strict';
/**
 * Self-tests of FakeAzure: the ARM contract of PIM role assignment schedule requests, checked with
 * plain HTTP(S) requests. There is no az CLI here (and no network), so these tests pin the wire
 * contract instead: authentication, api-version, names, request types, schedules, the assignment
 * state machine, immutability of requests, and the fault controls the e2e tests rely on.
 *
 * Run: cd tests/fakes/cloud && node --test fake_azure.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const http = require('node:http');
const https = require('node:https');
const { FakeAzure, durationSeconds, GUID, SUPPORTED_API_VERSIONS } = require('./fake_azure');
const { makeTestCertificate } = require('./fake_server');

const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.fake-azure';
const SUBSCRIPTION = '2b1f7c4e-6d2a-4c8e-9a51-0f3e8d7c6b5a';
const SCOPE = `/subscriptions/${SUBSCRIPTION}`;
const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
const ALICE = '11111111-2222-3333-4444-555555555555';
const API = '2020-10-01';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async function withFake(options, fn) {
  const fake = new FakeAzure({ token: TOKEN, ...options });
  await fake.start();
  try {
    await fn(fake);
  } finally {
    await fake.stop();
  }
}

/** Sends one request (http or https). Resolves {status, headers, body}. */
function send(method, url, body, { token = TOKEN, ca, raw } = {}) {
  const target = new URL(url);
  const payload = raw ?? (body === undefined ? '' : JSON.stringify(body));
  const headers = { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
  if (token) headers.authorization = `Bearer ${token}`;
  const client = target.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(target, { method, headers, ca }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const requestUrl = (fake, { scope = SCOPE, name = crypto.randomUUID(), apiVersion = API } = {}) =>
  `${fake.url}${scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/${name}` +
  (apiVersion === null ? '' : `?api-version=${apiVersion}`);

const roleDefinitionId = (scope = SCOPE, role = CONTRIBUTOR) => `${scope}/providers/Microsoft.Authorization/roleDefinitions/${role}`;

/** The properties jitbot sends for a grant, with `overrides` applied. */
const assignProperties = (overrides = {}) => ({
  principalId: ALICE,
  roleDefinitionId: roleDefinitionId(),
  requestType: 'AdminAssign',
  justification: 'INC-4421',
  scheduleInfo: { startDateTime: '2030-01-01T10:00:00Z', expiration: { type: 'AfterDuration', duration: 'PT7200S' } },
  ...overrides,
});

const put = (fake, properties, where = {}, opts) => send('PUT', requestUrl(fake, where), { properties }, opts);

function assertArmError(reply, status, code) {
  assert.equal(reply.status, status, JSON.stringify(reply.body));
  assert.deepEqual(Object.keys(reply.body), ['error']);
  assert.equal(reply.body.error.code, code);
  assert.equal(typeof reply.body.error.message, 'string');
}

// ---------------------------------------------------------------------------------------------
// Authentication and api-version
// ---------------------------------------------------------------------------------------------

test('Bearer token checked first: no header → AuthenticationFailed, wrong → InvalidAuthenticationToken (401)', async () => {
  await withFake({}, async (fake) => {
    const none = await put(fake, assignProperties(), {}, { token: null });
    assertArmError(none, 401, 'AuthenticationFailed');
    const wrong = await put(fake, assignProperties(), {}, { token: 'eyJ.wrong' });
    assertArmError(wrong, 401, 'InvalidAuthenticationToken');
    assert.match(wrong.headers['www-authenticate'], /^Bearer .*error="invalid_token"/);
    // Auth comes before everything else, even a missing api-version.
    assertArmError(await put(fake, assignProperties(), { apiVersion: null }, { token: 'eyJ.wrong' }), 401, 'InvalidAuthenticationToken');
    assert.deepEqual(fake.calls.map((c) => c.auth), ['none', 'invalid', 'invalid']);
    assert.deepEqual(fake.activeAssignments(), []);
  });
});

test('api-version: missing → MissingApiVersionParameter, unsupported → InvalidApiVersionParameter naming the supported ones', async () => {
  await withFake({}, async (fake) => {
    assertArmError(await put(fake, assignProperties(), { apiVersion: null }), 400, 'MissingApiVersionParameter');
    const old = await put(fake, assignProperties(), { apiVersion: '2015-07-01' });
    assertArmError(old, 400, 'InvalidApiVersionParameter');
    assert.match(old.body.error.message, /'2015-07-01' is invalid/);
    assert.match(old.body.error.message, /2020-10-01/);
    for (const apiVersion of SUPPORTED_API_VERSIONS) {
      assert.equal((await put(fake, assignProperties({ principalId: crypto.randomUUID() }), { apiVersion })).status, 201, apiVersion);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The happy path and the resource ARM returns
// ---------------------------------------------------------------------------------------------

test('AdminAssign: 201 with the ARM resource; GET of the same URL returns it; the assignment is active until start + duration', async () => {
  await withFake({}, async (fake) => {
    const name = crypto.randomUUID();
    const properties = assignProperties();
    const reply = await put(fake, properties, { name });
    assert.equal(reply.status, 201, JSON.stringify(reply.body));
    const resource = reply.body;
    assert.equal(resource.id, `${SCOPE}/providers/Microsoft.Authorization/RoleAssignmentScheduleRequests/${name}`);
    assert.equal(resource.name, name);
    assert.equal(resource.type, 'Microsoft.Authorization/RoleAssignmentScheduleRequests');
    const p = resource.properties;
    assert.equal(p.status, 'Provisioned');
    assert.equal(p.requestType, 'AdminAssign');
    assert.equal(p.principalId, ALICE);
    assert.equal(p.principalType, 'User');
    assert.equal(p.roleDefinitionId, properties.roleDefinitionId);
    assert.equal(p.scope, SCOPE);
    assert.equal(p.justification, 'INC-4421');
    assert.deepEqual(p.scheduleInfo, properties.scheduleInfo);
    assert.ok(!Number.isNaN(Date.parse(p.createdOn)));
    assert.match(p.requestorId, GUID);
    assert.ok(p.targetRoleAssignmentScheduleId.startsWith(`${SCOPE}/providers/Microsoft.Authorization/roleAssignmentSchedules/`));

    const got = await send('GET', requestUrl(fake, { name }));
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, resource);
    assertArmError(await send('GET', requestUrl(fake)), 404, 'RoleAssignmentScheduleRequestNotFound');

    assert.deepEqual(fake.activeAssignments(), [{
      scope: SCOPE, principalId: ALICE, roleDefinitionId: properties.roleDefinitionId,
      endDateTime: '2030-01-01T12:00:00.000Z', requestName: name,
    }]);
    const [call] = fake.puts();
    assert.deepEqual(call.body, { properties });
    assert.equal(call.apiVersion, API);
    assert.equal(call.name, name);
  });
});

test('ISO 8601 durations: PT7200S, PT2H, PT1H30M, P1D are accepted; "2h", "PT", "7200" are not', async () => {
  assert.equal(durationSeconds('PT7200S'), 7200);
  assert.equal(durationSeconds('PT2H'), 7200);
  assert.equal(durationSeconds('PT1H30M'), 5400);
  assert.equal(durationSeconds('P1DT1S'), 86401);
  await withFake({}, async (fake) => {
    for (const duration of ['PT7200S', 'PT2H', 'PT1H30M', 'P1D']) {
      const reply = await put(fake, assignProperties({ principalId: crypto.randomUUID(), scheduleInfo: { expiration: { type: 'AfterDuration', duration } } }));
      assert.equal(reply.status, 201, duration);
    }
    for (const duration of ['2h', 'PT', '7200', 'P', 'PT2h', undefined]) {
      const reply = await put(fake, assignProperties({ scheduleInfo: { expiration: { type: 'AfterDuration', duration } } }));
      assertArmError(reply, 400, 'InvalidScheduleInfo');
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Validation: every refusal is a 400 that changes nothing
// ---------------------------------------------------------------------------------------------

test('refused requests: name, requestType, principalId, roleDefinitionId, scheduleInfo, body, subscription', async () => {
  await withFake({}, async (fake) => {
    const otherSubscription = `/subscriptions/${crypto.randomUUID()}`;
    const cases = [
      [put(fake, assignProperties(), { name: 'req_01M7YYZKQF0CR0CF37KNP417DA' }), 'InvalidRoleAssignmentScheduleRequestName'],
      [put(fake, assignProperties({ requestType: 'Assign' })), 'InvalidRequestContent'],
      [put(fake, assignProperties({ requestType: undefined })), 'InvalidRequestContent'],
      [put(fake, assignProperties({ principalId: 'alice@example.com' })), 'InvalidPrincipalId'],
      [put(fake, assignProperties({ roleDefinitionId: CONTRIBUTOR })), 'InvalidRoleDefinitionId'],
      [put(fake, assignProperties({ roleDefinitionId: roleDefinitionId(otherSubscription) })), 'InvalidRoleDefinitionId'],
      [put(fake, assignProperties({ roleDefinitionId: roleDefinitionId(SCOPE, 'Contributor') })), 'InvalidRoleDefinitionId'],
      [put(fake, assignProperties({ roleDefinitionId: roleDefinitionId(SCOPE, crypto.randomUUID()) })), 'RoleDefinitionDoesNotExist'],
      [put(fake, assignProperties({ scheduleInfo: undefined })), 'InvalidScheduleInfo'],
      [put(fake, assignProperties({ scheduleInfo: { startDateTime: 'tomorrow', expiration: { type: 'NoExpiration' } } })), 'InvalidScheduleInfo'],
      [put(fake, assignProperties({ scheduleInfo: { expiration: { type: 'Forever' } } })), 'InvalidRequestContent'],
      [put(fake, assignProperties({ scheduleInfo: { startDateTime: '2030-01-02T00:00:00Z', expiration: { type: 'AfterDateTime', endDateTime: '2030-01-01T00:00:00Z' } } })), 'InvalidScheduleInfo'],
      [put(fake, assignProperties({ justification: 42 })), 'InvalidRequestContent'],
      [send('PUT', requestUrl(fake), null, { raw: '{"properties":' }), 'InvalidRequestContent'],
      [send('PUT', requestUrl(fake), { name: 'x' }), 'InvalidRequestContent'],
      [put(fake, assignProperties(), { scope: '/subscriptions/my-sub' }), 'InvalidSubscriptionId'],
    ];
    for (const [reply, code] of cases) assertArmError(await reply, 400, code);
    assert.deepEqual(fake.activeAssignments(), []);
    assert.ok(fake.puts().every((c) => c.status === 400));
  });
});

test('other shapes: AfterDateTime and NoExpiration assign; unknown principals (when the fake has a directory); routes and methods', async () => {
  await withFake({ principals: [ALICE] }, async (fake) => {
    const afterDateTime = { startDateTime: '2030-01-01T10:00:00Z', expiration: { type: 'AfterDateTime', endDateTime: '2030-01-01T10:30:00Z' } };
    assert.equal((await put(fake, assignProperties({ scheduleInfo: afterDateTime }))).status, 201);
    assert.equal(fake.activeAssignments()[0].endDateTime, '2030-01-01T10:30:00.000Z');
    assertArmError(await put(fake, assignProperties({ principalId: crypto.randomUUID() })), 400, 'PrincipalNotFound');

    assertArmError(await send('DELETE', requestUrl(fake)), 405, 'MethodNotAllowed');
    assertArmError(await send('GET', `${fake.url}${SCOPE}/providers/Microsoft.Authorization/roleAssignments?api-version=${API}`), 404, 'NotFound');
  });
  await withFake({}, async (fake) => {
    const reply = await put(fake, assignProperties({ scheduleInfo: { expiration: { type: 'NoExpiration' } } }));
    assert.equal(reply.status, 201);
    assert.equal(fake.activeAssignments()[0].endDateTime, null);
  });
});

test('scopes: resource groups and resources below a subscription; role definitions from the scope, an ancestor or the tenant; paths are case-insensitive', async () => {
  await withFake({}, async (fake) => {
    const group = `${SCOPE}/resourceGroups/rg-app`;
    const vm = `${group}/providers/Microsoft.Compute/virtualMachines/vm-1`;
    const principal = () => crypto.randomUUID();
    assert.equal((await put(fake, assignProperties({ principalId: principal(), roleDefinitionId: roleDefinitionId(group) }), { scope: group })).status, 201);
    assert.equal((await put(fake, assignProperties({ principalId: principal(), roleDefinitionId: roleDefinitionId(SCOPE) }), { scope: group })).status, 201);
    assert.equal((await put(fake, assignProperties({ principalId: principal(), roleDefinitionId: roleDefinitionId('') }), { scope: vm })).status, 201);
    assertArmError(await put(fake, assignProperties({ roleDefinitionId: roleDefinitionId(`${SCOPE}/resourceGroups/rg-other`) }), { scope: group }), 400, 'InvalidRoleDefinitionId');
    const lower = `${fake.url}${SCOPE}/providers/microsoft.authorization/roleassignmentschedulerequests/${crypto.randomUUID()}?api-version=${API}`;
    assert.equal((await send('PUT', lower, { properties: assignProperties({ principalId: principal() }) })).status, 201);
    assert.deepEqual(fake.activeAssignments().map((a) => a.scope), [group, group, vm, SCOPE]);
  });
});

// ---------------------------------------------------------------------------------------------
// Assignment state machine and immutability
// ---------------------------------------------------------------------------------------------

test('RoleAssignmentExists on a second assign; a request name cannot be PUT twice (RoleAssignmentRequestExists), even identically', async () => {
  await withFake({}, async (fake) => {
    const name = crypto.randomUUID();
    const first = await put(fake, assignProperties(), { name });
    assert.equal(first.status, 201);

    const again = await put(fake, assignProperties(), { name });
    assertArmError(again, 400, 'RoleAssignmentRequestExists');
    assert.equal(again.body.error.message, `A role assignment request with Id: ${name} already exists.`);

    const exists = await put(fake, assignProperties());
    assertArmError(exists, 400, 'RoleAssignmentExists');
    assert.equal(exists.body.error.message, 'The Role assignment already exists.');

    // Another principal, or another role, is another assignment.
    assert.equal((await put(fake, assignProperties({ principalId: crypto.randomUUID() }))).status, 201);
    assert.equal((await put(fake, assignProperties({ roleDefinitionId: roleDefinitionId(SCOPE, 'acdd72a7-3385-48ef-bd42-f606fba81ae7') }))).status, 201);
    assert.equal(fake.activeAssignments().length, 3);
    assert.deepEqual((await send('GET', requestUrl(fake, { name }))).body, first.body, 'the refused re-PUT left the request as it was');
  });
});

test('AdminRemove: Revoked and gone; again (new name) → RoleAssignmentDoesNotExist; AdminExtend moves the end; removal needs no schedule', async () => {
  await withFake({}, async (fake) => {
    assert.equal((await put(fake, assignProperties())).status, 201);
    const extend = await put(fake, assignProperties({ requestType: 'AdminExtend', scheduleInfo: { startDateTime: '2030-01-01T10:00:00Z', expiration: { type: 'AfterDuration', duration: 'PT4H' } } }));
    assert.equal(extend.status, 201);
    assert.equal(fake.activeAssignments()[0].endDateTime, '2030-01-01T14:00:00.000Z');

    const removeProps = { principalId: ALICE, roleDefinitionId: roleDefinitionId(), requestType: 'AdminRemove', justification: 'expired' };
    const removed = await put(fake, removeProps);
    assert.equal(removed.status, 201, JSON.stringify(removed.body));
    assert.equal(removed.body.properties.status, 'Revoked');
    assert.equal(removed.body.properties.scheduleInfo, null);
    assert.deepEqual(fake.activeAssignments(), []);

    const gone = await put(fake, removeProps);
    assertArmError(gone, 400, 'RoleAssignmentDoesNotExist');
    assert.equal(gone.body.error.message, 'The Role assignment does not exist.');
    assertArmError(await put(fake, assignProperties({ requestType: 'AdminExtend' })), 400, 'RoleAssignmentDoesNotExist');
  });
});

test('assignments made outside the fake\'s API (addAssignment) count: assigning over one is RoleAssignmentExists', async () => {
  await withFake({}, async (fake) => {
    fake.addAssignment({ scope: SCOPE, principalId: ALICE, roleDefinitionId: roleDefinitionId() });
    assertArmError(await put(fake, assignProperties()), 400, 'RoleAssignmentExists');
    fake.removeAssignments();
    assert.equal((await put(fake, assignProperties())).status, 201);
  });
});

// ---------------------------------------------------------------------------------------------
// Fault controls
// ---------------------------------------------------------------------------------------------

test('throttleNext: 429 TooManyRequests with Retry-After, once; failNext uses ARM\'s error shape', async () => {
  await withFake({}, async (fake) => {
    fake.throttleNext(3);
    const throttled = await put(fake, assignProperties());
    assertArmError(throttled, 429, 'TooManyRequests');
    assert.equal(throttled.headers['retry-after'], '3');
    assert.deepEqual(fake.activeAssignments(), [], 'a throttled request did nothing');
    assert.equal((await put(fake, assignProperties())).status, 201);

    fake.failNext(503, 'ServiceUnavailable', 'The service is unavailable.');
    assertArmError(await send('GET', requestUrl(fake)), 503, 'ServiceUnavailable');
    assert.deepEqual(fake.calls.map((c) => c.status), [429, 201, 503]);
  });
});

test('dropResponseAfterNextPut: the request is carried out but the answer lost; a re-send gets RoleAssignmentRequestExists, GET finds it', async () => {
  await withFake({}, async (fake) => {
    const name = crypto.randomUUID();
    fake.dropResponseAfterNextPut();
    await assert.rejects(put(fake, assignProperties(), { name }), /socket hang up|ECONNRESET/);
    assert.equal(fake.activeAssignments().length, 1);
    assert.equal(fake.puts()[0].status, 'dropped');
    assertArmError(await put(fake, assignProperties(), { name }), 400, 'RoleAssignmentRequestExists');
    const got = await send('GET', requestUrl(fake, { name }));
    assert.equal(got.status, 200);
    assert.equal(got.body.properties.status, 'Provisioned');
  });
});

test('endNextRequestAs: the next request is answered 201 with Denied, Failed or Canceled and assigns or removes nothing; GET keeps the status; its name stays taken', async () => {
  await withFake({}, async (fake) => {
    for (const status of ['Denied', 'Failed', 'Canceled']) {
      const name = crypto.randomUUID();
      fake.endNextRequestAs(status);
      const ended = await put(fake, assignProperties(), { name });
      assert.equal(ended.status, 201, `an AdminAssign that ends ${status} is still created: ${JSON.stringify(ended.body)}`);
      assert.equal(ended.body.properties.status, status, 'the answer carries the final status');
      assert.deepEqual(fake.activeAssignments(), [], `an AdminAssign that ended ${status} assigned nothing`);
      assert.equal((await send('GET', requestUrl(fake, { name }))).body.properties.status, status, 'GET shows how it ended');
      assertArmError(await put(fake, assignProperties(), { name }), 400, 'RoleAssignmentRequestExists');
    }
    // Once the outcome is used, requests are carried out again; a removal can end undone too.
    assert.equal((await put(fake, assignProperties())).body.properties.status, 'Provisioned');
    fake.endNextRequestAs('Failed');
    const removeProps = { principalId: ALICE, roleDefinitionId: roleDefinitionId(), requestType: 'AdminRemove', justification: 'expired' };
    assert.equal((await put(fake, removeProps)).body.properties.status, 'Failed');
    assert.equal(fake.activeAssignments().length, 1, 'an AdminRemove that ended Failed removed nothing');
    // An invalid request is refused as before, and does not use up the outcome.
    fake.endNextRequestAs('Denied');
    assertArmError(await put(fake, assignProperties({ requestType: 'AdminGrant' })), 400, 'InvalidRequestContent');
    assert.equal((await put(fake, assignProperties({ principalId: crypto.randomUUID() }))).body.properties.status, 'Denied');
    assert.throws(() => fake.endNextRequestAs('Provisioned'), /not a status of a request that did nothing/);
  });
});

test('holdNextRequest and Cancel: PendingApproval assigns nothing; POST …/cancel (200, no body) ends it Canceled; a request not pending is RequestCannotBeCancelled', async () => {
  await withFake({}, async (fake) => {
    const name = crypto.randomUUID();
    fake.holdNextRequest();
    const pending = await put(fake, assignProperties(), { name });
    assert.equal(pending.status, 201);
    assert.equal(pending.body.properties.status, 'PendingApproval');
    assert.deepEqual(fake.activeAssignments(), [], 'a pending request assigned nothing');

    const cancelUrl = requestUrl(fake, { name }).replace('?', '/cancel?');
    const cancelled = await send('POST', cancelUrl);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body, null, 'Cancel answers with no body');
    assert.equal((await send('GET', requestUrl(fake, { name }))).body.properties.status, 'Canceled');
    assert.deepEqual(fake.activeAssignments(), []);

    const again = await send('POST', cancelUrl);
    assertArmError(again, 400, 'RequestCannotBeCancelled');
    assert.equal(again.body.error.message, 'Request is not in cancellable state.');
    const done = crypto.randomUUID();
    assert.equal((await put(fake, assignProperties(), { name: done })).body.properties.status, 'Provisioned');
    assertArmError(await send('POST', requestUrl(fake, { name: done }).replace('?', '/cancel?')), 400, 'RequestCannotBeCancelled');
    assertArmError(await send('POST', requestUrl(fake).replace('?', '/cancel?')), 404, 'RoleAssignmentScheduleRequestNotFound');
    assertArmError(await send('GET', cancelUrl), 405, 'MethodNotAllowed');

    // The test control does what the operation does.
    const held = crypto.randomUUID();
    fake.holdNextRequest();
    await put(fake, assignProperties({ principalId: crypto.randomUUID() }), { name: held });
    fake.cancelRequest(held);
    assert.equal(fake.request(held).properties.status, 'Canceled');
  });
});

test('onCall and setToken let a test rotate the token mid-session; TLS with the test certificate', async () => {
  const cert = makeTestCertificate();
  await withFake({ tls: { key: cert.key, cert: cert.cert } }, async (fake) => {
    assert.match(fake.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    await assert.rejects(put(fake, assignProperties()), /self-signed|self signed/);
    fake.onCall((call) => call.status === 201 && fake.setToken('eyJ.rotated'));
    assert.equal((await put(fake, assignProperties(), {}, { ca: cert.cert })).status, 201);
    assertArmError(await send('GET', requestUrl(fake), undefined, { ca: cert.cert }), 401, 'InvalidAuthenticationToken');
    assertArmError(await send('GET', requestUrl(fake), undefined, { ca: cert.cert, token: 'eyJ.rotated' }), 404, 'RoleAssignmentScheduleRequestNotFound');
  });
});
