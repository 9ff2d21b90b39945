'use strict';
/**
 * End to end: the real `jitbot shell` with a `type = "azure"` backend against FakeAzure over TLS.
 * Alice asks for Contributor on a subscription, Bob approves, jitbot PUTs a PIM AdminAssign schedule
 * request, and an AdminRemove request when the access expires.
 *
 * Run: cd tests/backends && node --test azure.e2e.test.js   (needs build/bot/jitbot, or JITBOT_BINARY)
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const { FakeAzure, durationSeconds, GUID } = require('../fakes/cloud/fake_azure');
const { makeTestCertificate } = require('../fakes/cloud/fake_server');
const { USERS, writeConfig, runShell, approvalStory, backendLines, toml, dmsTo, SELF_EXTEND, extendLines, outputOf, clockAfter,
  later } = require('./shell_harness');

const SUBSCRIPTION = '6f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const SCOPE = `/subscriptions/${SUBSCRIPTION}`;
// The role's scope patterns, one per shape requested: * and ? stay within one path segment.
const ROLE_SCOPES = [SUBSCRIPTION, '/subscriptions/*', '/subscriptions/*/resourceGroups/*'];
const CONTRIBUTOR = 'b24988ac-6180-42a0-ab88-20f7382dd24c';
const ALICE_OBJECT_ID = '11111111-2222-3333-4444-555555555555';
const BOB_OBJECT_ID = '99999999-8888-4777-8666-555555555555';
const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e2e-secret-azure-token.c2ln';
const REASON = 'INC-4421 database failover';
const CERT = makeTestCertificate();

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async function withFake(fn, options = {}) {
  const fake = new FakeAzure({ tls: { key: CERT.key, cert: CERT.cert }, token: TOKEN, ...options });
  await fake.start();
  // The active assignments after every successful PUT, to look at them between grant and revoke.
  fake.snapshots = [];
  fake.onCall((call) => call.method === 'PUT' && call.status === 201 && fake.snapshots.push(fake.activeAssignments()));
  try {
    await fn(fake);
  } finally {
    await fake.stop();
  }
}

/** The [[backends]] entry with its role and principal tables. */
function backend(fake, { principals = { [USERS.alice.email]: ALICE_OBJECT_ID }, timeout = '20s' } = {}) {
  return [
    '[[backends]]',
    'name = "cloud"',
    'type = "azure"',
    `api_url = ${toml(`${fake.url}/`)}`,
    `ca_file = ${toml(CERT.certFile)}`,
    `timeout = ${toml(timeout)}`,
    '',
    '[backends.roles.Contributor]',
    `role_definition_id = ${toml(CONTRIBUTOR)}`,
    '',
    '[backends.principals]',
    ...Object.entries(principals).map(([who, id]) => `${toml(who)} = ${toml(id)}`),
  ].join('\n');
}

/** Writes the config and runs the approval story for `scope` through `jitbot shell`. */
async function session(fake, { scope = SCOPE, duration = '2h', env = { AZURE_ACCESS_TOKEN: TOKEN }, moreLines = [], lines, ...backendOptions } = {}) {
  const { file } = writeConfig({ backend: backend(fake, backendOptions), role: { provider: 'azure', name: 'Contributor', scopes: ROLE_SCOPES } });
  const story = lines || [...approvalStory({ provider: 'azure', role: 'Contributor', scope, duration, reason: REASON }), ...moreLines];
  const cleared = Object.fromEntries(Object.keys(process.env).filter((k) => /^AZURE_/.test(k)).map((k) => [k, '']));
  const result = await runShell(file, story, { env: { ...cleared, ...env } });
  return { ...result, requestId: /Request (req_[0-9A-Z]+) submitted/.exec(result.stdout)?.[1], activeUntil: /Active until (\S+)/.exec(result.stdout)?.[1] };
}

function assertOk(result, action) {
  const lines = backendLines(result.stdout, action);
  assert.ok(lines.length >= 1, `no ${action} line:\n${result.stdout}${result.stderr}`);
  assert.match(lines.at(-1), /: ok/, lines.at(-1));
}

function assertNoSecret(result, secret = TOKEN) {
  assert.ok(!result.stdout.includes(secret), 'the token appears in the shell output');
  assert.ok(!result.stderr.includes(secret), 'the token appears on stderr');
}

const byType = (fake, requestType) => fake.puts().filter((c) => c.body?.properties?.requestType === requestType);
const roleDefinitionFor = (scope) => `${scope}/providers/Microsoft.Authorization/roleDefinitions/${CONTRIBUTOR}`;

// ---------------------------------------------------------------------------------------------
// The story
// ---------------------------------------------------------------------------------------------

test('grant PUTs an AdminAssign request (GUID name, principal, role definition, justification, duration); expiry PUTs AdminRemove', async () => {
  await withFake(async (fake) => {
    const result = await session(fake);
    assert.equal(result.code, 0, result.stderr);
    assertOk(result, 'grant');
    assertOk(result, 'revoke');
    assertNoSecret(result);

    const [grant] = byType(fake, 'AdminAssign');
    assert.ok(grant, JSON.stringify(fake.calls));
    assert.match(grant.name, GUID);
    assert.equal(grant.scope, SCOPE);
    assert.equal(grant.apiVersion, '2020-10-01');
    assert.equal(grant.status, 201);
    const p = grant.body.properties;
    assert.equal(p.principalId, ALICE_OBJECT_ID, 'from [backends.principals]');
    assert.equal(p.roleDefinitionId, roleDefinitionFor(SCOPE), 'from [backends.roles.Contributor]');
    assert.equal(p.justification, REASON);
    assert.equal(p.scheduleInfo.expiration.type, 'AfterDuration');
    assert.equal(durationSeconds(p.scheduleInfo.expiration.duration), 2 * 3600, p.scheduleInfo.expiration.duration);
    if (p.scheduleInfo.startDateTime) {
      const end = Date.parse(p.scheduleInfo.startDateTime) + durationSeconds(p.scheduleInfo.expiration.duration) * 1000;
      assert.ok(Math.abs(end - Date.parse(result.activeUntil)) <= 1000, `start + duration ${new Date(end).toISOString()} vs card ${result.activeUntil}`);
    }
    assert.deepEqual(fake.snapshots[0].map((a) => [a.scope, a.principalId]), [[SCOPE, ALICE_OBJECT_ID]]);

    const [revoke] = byType(fake, 'AdminRemove');
    assert.ok(revoke, 'an AdminRemove request was sent');
    assert.match(revoke.name, GUID);
    assert.notEqual(revoke.name, grant.name, 'the revoke is a request of its own');
    assert.equal(revoke.scope, SCOPE);
    assert.equal(revoke.status, 201);
    assert.equal(revoke.body.properties.principalId, ALICE_OBJECT_ID);
    assert.equal(revoke.body.properties.roleDefinitionId, p.roleDefinitionId);
    assert.deepEqual(fake.activeAssignments(), []);
    assert.deepEqual(fake.puts().map((c) => c.status), [201, 201]);
    assert.ok(fake.calls.every((c) => c.auth === 'valid'));
  });
});

test('scopes: a bare subscription ID means /subscriptions/<id>; a resource group scope is used as it is', async () => {
  await withFake(async (fake) => {
    const bare = await session(fake, { scope: SUBSCRIPTION });
    assertOk(bare, 'grant');
    assertOk(bare, 'revoke');
    assert.ok(fake.puts().every((c) => c.scope === SCOPE && c.status === 201), JSON.stringify(fake.puts()));
    assert.equal(byType(fake, 'AdminAssign')[0].body.properties.roleDefinitionId, roleDefinitionFor(SCOPE));
  });
  await withFake(async (fake) => {
    const group = `${SCOPE}/resourceGroups/rg-payments`;
    const result = await session(fake, { scope: group });
    assertOk(result, 'grant');
    assertOk(result, 'revoke');
    assert.ok(fake.puts().every((c) => c.scope === group && c.status === 201), JSON.stringify(fake.puts()));
  });
});

test('a 429 with Retry-After (and a 503 after it) is retried with the same request name, after the delay asked for', async () => {
  await withFake(async (fake) => {
    fake.throttleNext(1);
    fake.failNext(503, 'ServiceUnavailable', 'The service is temporarily unavailable.');
    const result = await session(fake);
    assert.equal(result.code, 0, result.stderr);
    assertOk(result, 'grant');
    assertOk(result, 'revoke');
    const grants = fake.puts().slice(0, 3);
    assert.deepEqual(grants.map((c) => c.status), [429, 503, 201]);
    assert.equal(new Set(grants.map((c) => c.name)).size, 1, 'every attempt PUTs the same GUID');
    assert.ok(grants[1].at - grants[0].at >= 950, `retried ${grants[1].at - grants[0].at} ms after Retry-After: 1`);
    assert.deepEqual(fake.activeAssignments(), []);
  });
});

test('a grant whose answer was lost is re-sent with the same GUID; RoleAssignmentRequestExists means it is done', async () => {
  await withFake(async (fake) => {
    fake.dropResponseAfterNextPut();
    const result = await session(fake);
    assertOk(result, 'grant');
    assertOk(result, 'revoke');
    const assigns = byType(fake, 'AdminAssign');
    assert.equal(assigns[0].status, 'dropped');
    assert.equal(new Set(assigns.map((c) => c.name)).size, 1, 'the retry reuses the GUID derived from the request ID');
    assert.deepEqual(fake.activeAssignments(), []);
  });
});

test('a revoke whose answer was lost is not stuck: its re-sent GUID (RoleAssignmentRequestExists) means it is done', async () => {
  await withFake(async (fake) => {
    fake.onCall((call) => call.method === 'PUT' && call.status === 201 && call.body.properties.requestType === 'AdminAssign' && fake.dropResponseAfterNextPut());
    // Time enough for jitbot's revoke retries (30 s, doubling) should the first re-send fail.
    const result = await session(fake, { moreLines: ['/wait 10m'] });
    assertOk(result, 'grant');
    assertOk(result, 'revoke');
    const removes = byType(fake, 'AdminRemove');
    assert.equal(removes[0].status, 'dropped');
    assert.equal(new Set(removes.map((c) => c.name)).size, 1);
    assert.deepEqual(fake.activeAssignments(), []);
  });
});

test('a role already assigned outside jitbot counts as granted, and is left in place at expiry', async () => {
  await withFake(async (fake) => {
    const standing = { scope: SCOPE, principalId: ALICE_OBJECT_ID, roleDefinitionId: roleDefinitionFor(SCOPE) };
    fake.addAssignment(standing);
    const result = await session(fake);
    assertOk(result, 'grant');
    assertOk(result, 'revoke');
    assert.match(backendLines(result.stdout, 'grant')[0], /outside jitbot/);
    assert.deepEqual(fake.puts().map((c) => c.code), ['RoleAssignmentExists'], 'no AdminRemove was sent');
    assert.equal(fake.activeAssignments().length, 1, 'the standing assignment survives');
  });
});

test('RoleAssignmentDoesNotExist at expiry (removed in the portal meanwhile) counts as revoked', async () => {
  await withFake(async (fake) => {
    // Once granted, someone removes it in the portal before it expires.
    fake.onCall((call) => call.method === 'PUT' && byType(fake, 'AdminAssign').length === 1 &&
      byType(fake, 'AdminRemove').length === 0 && fake.removeAssignments());
    const result = await session(fake);
    assertOk(result, 'grant');
    assertOk(result, 'revoke');
    assert.deepEqual(fake.puts().map((c) => c.code).slice(-1), ['RoleAssignmentDoesNotExist']);
  });
});

// ---------------------------------------------------------------------------------------------
// Extending active access
// ---------------------------------------------------------------------------------------------

test('/jit extend (self_extend) PUTs an AdminExtend to the new end; the assignment outlives the old end and is removed at the new one', async () => {
  await withFake(async (fake) => {
    // One config (one database) for several `jitbot shell` runs, each starting at the real time.
    const { file } = writeConfig({ backend: backend(fake), role: { provider: 'azure', name: 'Contributor', scopes: ROLE_SCOPES, extra: SELF_EXTEND } });
    const cleared = Object.fromEntries(Object.keys(process.env).filter((k) => /^AZURE_/.test(k)).map((k) => [k, '']));
    const shell = (lines) => runShell(file, lines, { env: { ...cleared, AZURE_ACCESS_TOKEN: TOKEN } });
    const endOfAssignment = () => fake.activeAssignments().map((a) => Date.parse(a.endDateTime));

    const granted = await shell(approvalStory({ provider: 'azure', role: 'Contributor', scope: SCOPE, reason: REASON }).slice(0, 4));
    assert.equal(granted.code, 0, granted.stderr);
    assertOk(granted, 'grant');
    const id = /Request (req_[0-9A-Z]+) submitted/.exec(granted.stdout)[1];
    const oldEnd = /Active until (\S+)/.exec(granted.stdout)[1];
    const newEnd = later(oldEnd, 3600);
    const [assign] = byType(fake, 'AdminAssign');

    const extended = await shell([...extendLines(id, '1h'), '/wait 2h10m', '/jit list --mine']);
    assert.equal(extended.code, 0, extended.stderr);
    assertOk(extended, 'extend');
    assert.match(dmsTo(extended.stdout, USERS.alice.id).join(' '), new RegExp(`${id} .*was extended: it now ends at ${newEnd}\\.`));

    // The extension is a schedule request of its own: AdminExtend, a new GUID, the new end as a date-time.
    const extends_ = byType(fake, 'AdminExtend');
    assert.equal(extends_.length, 1, JSON.stringify(fake.puts().map((c) => c.body?.properties?.requestType)));
    const [extend] = extends_;
    assert.equal(extend.status, 201);
    assert.match(extend.name, GUID);
    assert.notEqual(extend.name, assign.name, 'not the grant\'s request name');
    assert.equal(extend.scope, SCOPE);
    const p = extend.body.properties;
    assert.equal(p.principalId, ALICE_OBJECT_ID);
    assert.equal(p.roleDefinitionId, roleDefinitionFor(SCOPE));
    assert.deepEqual(p.scheduleInfo.expiration, { type: 'AfterDateTime', endDateTime: newEnd });
    // Azure's assignment now ends at the new end; it is still there after the old one.
    assert.deepEqual(endOfAssignment(), [Date.parse(newEnd)], JSON.stringify(fake.activeAssignments()));
    assert.ok(clockAfter(extended.stdout, '/wait 2h10m') > Date.parse(oldEnd), 'precondition: the wait passed the old end');
    assert.deepEqual(backendLines(extended.stdout, 'revoke'), []);
    assert.deepEqual(byType(fake, 'AdminRemove'), []);
    assert.match(outputOf(extended.stdout, '/jit list --mine'), new RegExp(`${id}\\s+ACTIVE .*Active until ${newEnd}`));

    // A later session: still assigned just before the new end, removed after it.
    const ended = await shell(['/wait 2h50m', '/wait 20m']);
    assert.equal(ended.code, 0, ended.stderr);
    assert.ok(clockAfter(ended.stdout, '/wait 2h50m') < Date.parse(newEnd), 'precondition: the first wait stops short of the new end');
    assert.doesNotMatch(outputOf(ended.stdout, '/wait 2h50m'), /· backend cloud revoke/);
    assert.match(outputOf(ended.stdout, '/wait 20m'), new RegExp(`· backend cloud revoke ${id}: ok`));
    assert.equal(byType(fake, 'AdminRemove').at(-1)?.status, 201);
    assert.deepEqual(fake.activeAssignments(), []);
    assertNoSecret(extended);
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

test('a requester without a [backends.principals] entry fails the grant, telling the admin to add one; nothing is sent', async () => {
  await withFake(async (fake) => {
    const result = await session(fake, { principals: { [USERS.bob.email]: BOB_OBJECT_ID } });
    assert.equal(result.code, 0, result.stderr);
    const [grant] = backendLines(result.stdout, 'grant');
    assert.match(grant, /FAILED/);
    assert.match(grant, /principals/);
    assert.ok(grant.includes(USERS.alice.email) || grant.includes(USERS.alice.id), grant);
    assert.equal(byType(fake, 'AdminAssign').length, 0);
    assert.deepEqual(fake.activeAssignments(), []);
  });
});

test('a wrong token fails the grant at once, naming InvalidAuthenticationToken; the token is never shown', async () => {
  await withFake(async (fake) => {
    const wrong = 'eyJ0eXAiOiJKV1QifQ.e2e-wrong-azure-token.c2ln';
    const result = await session(fake, { env: { AZURE_ACCESS_TOKEN: wrong } });
    const [grant] = backendLines(result.stdout, 'grant');
    assert.match(grant, /FAILED.*InvalidAuthenticationToken/);
    // One call per backend operation: the grant, then the revokes that clean a failed grant up.
    const operations = backendLines(result.stdout, 'grant').length + backendLines(result.stdout, 'revoke').length;
    assert.equal(fake.calls.length, operations, 'a denial is not retried within an operation');
    assert.ok(fake.calls.every((c) => c.status === 401));
    assertNoSecret(result, wrong);
    assert.deepEqual(fake.activeAssignments(), []);
  });
});

test('no token at all fails the grant with a message naming AZURE_ACCESS_TOKEN, before any call', async () => {
  await withFake(async (fake) => {
    const result = await session(fake, { env: {} });
    const [grant] = backendLines(result.stdout, 'grant');
    assert.match(grant, /FAILED.*AZURE_ACCESS_TOKEN/);
    assert.equal(fake.calls.length, 0);
  });
});

test('scope tricks (a .. segment, a query, an encoded ..) are refused at request time, before any call to Azure', async () => {
  const tricks = [
    [`${SCOPE}/resourceGroups/../x`, /it has a \. or \.\. segment/],
    [`${SCOPE}?api-version=2015-01-01`, /\* and \? are for role patterns/],
    [`${SCOPE}/resourceGroups/%2e%2e`, /it contains "%"/],
  ];
  for (const [scope, why] of tricks) {
    await withFake(async (fake) => {
      const result = await session(fake, {
        lines: [`/as ${USERS.alice.id}`, `/jit request --provider azure --role Contributor --scope ${scope} --duration 2h --reason ${toml(REASON)}`],
      });
      assert.equal(result.code, 0, result.stderr);
      assert.ok(result.stdout.includes(`"${scope}" is not a valid scope for azure/Contributor: `), `${scope} was not refused:\n${result.stdout}`);
      assert.match(result.stdout, why);
      assert.equal(result.requestId, undefined, `${scope} was accepted`);
      assert.deepEqual(backendLines(result.stdout, 'grant'), []);
      assert.deepEqual(fake.calls, [], `${scope} reached Azure`);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Requests that end without doing what they asked
// ---------------------------------------------------------------------------------------------

/** What jitbot says when PIM answered that the AdminAssign request ended with `status`. */
const notAssigned = (status, scope = SCOPE) => `Azure PIM did not assign Contributor on ${scope}: the request is ${status}`;

/** The grant failed with `message`, Alice was told so, and no Contributor assignment is left. */
function assertGrantFailedWith(result, fake, message) {
  const grants = backendLines(result.stdout, 'grant');
  assert.equal(grants.length, 1, `one grant attempt:\n${result.stdout}${result.stderr}`);
  assert.match(grants[0], /: FAILED/, `the grant failed: ${grants[0]}`);
  assert.ok(grants[0].includes(message), `the grant's error says "${message}": ${grants[0]}`);
  const dms = dmsTo(result.stdout, USERS.alice.id);
  assert.ok(dms.some((dm) => /grant failed/.test(dm) && dm.includes(message)),
    `Alice is told the grant failed, naming the request's state:\n${dms.join('\n---\n')}`);
  assert.ok(!dms.some((dm) => /Your access is active/.test(dm)), 'Alice is never told her access is active');
  assert.deepEqual(fake.activeAssignments(), [], 'nothing stays assigned');
  // The clean-up after the failed grant finds nothing to remove, and says so.
  const revokes = backendLines(result.stdout, 'revoke');
  assert.ok(revokes.length >= 1, `jitbot cleans up after the failed grant:\n${result.stdout}`);
  assert.match(revokes.at(-1), /: ok/, revokes.at(-1));
  assert.match(result.stdout, new RegExp(`${result.requestId}\\s+GRANT_FAILED`), 'the request is listed as GRANT_FAILED');
}

test('an AdminAssign that PIM answers as Failed, Denied or Canceled fails the grant with a message naming that state; nothing stays assigned', async () => {
  for (const status of ['Failed', 'Denied', 'Canceled']) {
    await withFake(async (fake) => {
      fake.endNextRequestAs(status);
      const result = await session(fake, { moreLines: [`/as ${USERS.alice.id}`, '/jit list --mine'] });
      assert.equal(result.code, 0, result.stderr);
      const [assign] = byType(fake, 'AdminAssign');
      assert.equal(assign?.status, 201, `PIM created the request (and it ended ${status})`);
      assert.equal(fake.request(assign.name).properties.status, status);
      assertGrantFailedWith(result, fake, notAssigned(status));
      assertNoSecret(result);
    });
  }
});

test('an AdminAssign that waits for approval in PIM (PendingApproval) is not access: the grant fails and says a decision is pending in Azure', async () => {
  await withFake(async (fake) => {
    fake.holdNextRequest();
    const result = await session(fake, { moreLines: [`/as ${USERS.alice.id}`, '/jit list --mine'] });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(byType(fake, 'AdminAssign')[0]?.status, 201, 'PIM took the request and holds it for approval');
    assertGrantFailedWith(result, fake, `${notAssigned('PendingApproval')}, waiting for a decision in Azure`);
  });
});

test('a grant whose answer was lost and whose pending request was then cancelled fails naming Canceled (read back after RoleAssignmentRequestExists); nothing is assigned', async () => {
  await withFake(async (fake) => {
    // The AdminAssign waits for a decision, its answer is lost, and someone cancels it meanwhile.
    fake.holdNextRequest();
    fake.dropResponseAfterNextPut();
    fake.onCall((call) => call.status === 'dropped' && fake.cancelRequest(call.name));
    const result = await session(fake, { moreLines: [`/as ${USERS.alice.id}`, '/jit list --mine'] });
    assert.equal(result.code, 0, result.stderr);
    const assigns = byType(fake, 'AdminAssign');
    assert.deepEqual(assigns.map((c) => c.status ?? c.code), ['dropped', 400], 'the re-send met RoleAssignmentRequestExists');
    assert.equal(assigns[1].code, 'RoleAssignmentRequestExists');
    assert.ok(fake.calls.some((c) => c.method === 'GET' && c.name === assigns[0].name && c.status === 200),
      'jitbot read back the request it had sent');
    assertGrantFailedWith(result, fake, notAssigned('Canceled'));
  });
});
