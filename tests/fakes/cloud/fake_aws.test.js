'use strict';
/**
 * FakeAws: self-tests of its own checks (signed here with sigv4_aws.js), then proof that it is
 * faithful: the real AWS CLI (botocore) runs unchanged against it, pointed at it with --endpoint-url.
 *
 * Run: cd tests/fakes/cloud && node --test fake_aws.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const https = require('node:https');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { FakeAws } = require('./fake_aws');
const { makeTestCertificate } = require('./fake_server');
const { signRequest, uriEncode, canonicalUri, canonicalQuery } = require('./sigv4_aws');

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const ACCOUNT = '123456789012';
const CONSOLE_ROLE = `arn:aws:iam::${ACCOUNT}:role/JitbotConsole`;
const SIGNING_NAMES = { SWBExternalService: 'sso', AWSIdentityStore: 'identitystore' };

let certificate = null; // made once, on first use: openssl takes a moment
const testCertificate = () => (certificate ??= makeTestCertificate());

async function withFake(options, fn) {
  const fake = new FakeAws(options);
  await fake.start();
  try {
    await fn(fake);
  } finally {
    await fake.stop();
  }
}

/** Sends one HTTP(S) request; resolves {status, headers, text}. `ca` trusts a test certificate. */
function send(url, { method = 'GET', headers = {}, body = '', ca } = {}) {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const transport = target.protocol === 'https:' ? https : http;
    const req = transport.request(target, { method, headers: { ...headers, 'content-length': Buffer.byteLength(body) }, ca }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Calls a JSON 1.1 operation ("SWBExternalService.CreateAccountAssignment"), signed with the fake's first
 * credentials unless told otherwise. `tamper(headers)` edits the signed headers before sending.
 */
async function callJson(fake, target, input, { credentials = fake.credentials[0], service, region = fake.region, date, tamper, ca } = {}) {
  const body = JSON.stringify(input);
  const headers = signRequest({
    method: 'POST', url: `${fake.url}/`, body, region, credentials, date,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': target },
    service: service ?? SIGNING_NAMES[target.split('.')[0]],
  });
  tamper?.(headers);
  const res = await send(`${fake.url}/`, { method: 'POST', headers, body, ca });
  return { status: res.status, headers: res.headers, body: res.text ? JSON.parse(res.text) : null };
}

const sso = (fake, operation, input, options) => callJson(fake, `SWBExternalService.${operation}`, input, options);

/** Calls an STS action with a signed form POST; resolves {status, text}. */
async function callSts(fake, params, { credentials = fake.credentials[0], service = 'sts' } = {}) {
  const body = new URLSearchParams({ Version: '2011-06-15', ...params }).toString();
  const headers = signRequest({
    method: 'POST', url: `${fake.url}/`, body, region: fake.region, credentials, service,
    headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
  });
  return send(`${fake.url}/`, { method: 'POST', headers, body });
}

const XML_ENTITIES = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
const xmlValue = (xml, tag) => new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1]
  ?.replace(/&(lt|gt|amp|quot|apos);/g, (_, name) => XML_ENTITIES[name]);

/** The assignment input for Alice on ACCOUNT with the fake's permission set. */
function assignmentInput(fake, overrides = {}) {
  return {
    InstanceArn: fake.instanceArn, TargetId: ACCOUNT, TargetType: 'AWS_ACCOUNT',
    PermissionSetArn: [...fake.permissionSets][0], PrincipalType: 'USER', PrincipalId: fake.users[0].UserId,
    ...overrides,
  };
}

/** Reads a creation/deletion status until it leaves IN_PROGRESS; returns the list of statuses seen. */
async function pollStatus(fake, kind, requestId) {
  const [operation, idMember, member] = kind === 'create'
    ? ['DescribeAccountAssignmentCreationStatus', 'AccountAssignmentCreationRequestId', 'AccountAssignmentCreationStatus']
    : ['DescribeAccountAssignmentDeletionStatus', 'AccountAssignmentDeletionRequestId', 'AccountAssignmentDeletionStatus'];
  const seen = [];
  for (let i = 0; i < 20; i++) {
    const r = await sso(fake, operation, { InstanceArn: fake.instanceArn, [idMember]: requestId });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    seen.push(r.body[member].Status);
    if (r.body[member].Status !== 'IN_PROGRESS') return { seen, last: r.body[member] };
  }
  throw new Error(`${kind} ${requestId} never finished`);
}

// ---------------------------------------------------------------------------------------------------------------
// SigV4 building blocks
// ---------------------------------------------------------------------------------------------------------------

test('canonical forms: strict RFC 3986 encoding, double-encoded path, sorted query', () => {
  assert.equal(uriEncode("a b*!'()~_-.%/"), "a%20b%2A%21%27%28%29~_-.%25%2F");
  assert.equal(canonicalUri(''), '/');
  assert.equal(canonicalUri('/a/./b/../c//d/'), '/a/c/d/');
  assert.equal(canonicalUri('/my%20file'), '/my%2520file'); // encoded once more, as every non-S3 service wants
  assert.equal(canonicalQuery('b=2&a=z&a=y&c'), 'a=y&a=z&b=2&c=');
  assert.equal(canonicalQuery('Param=a+b%2Fc&x=%7E'), 'Param=a%2Bb%2Fc&x=~');
});

test('the signer reproduces the AWS SigV4 test suite vector "get-vanilla"', () => {
  const headers = signRequest({
    method: 'GET', url: 'https://example.amazonaws.com/', service: 'service', region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    date: new Date(Date.UTC(2015, 7, 30, 12, 36, 0)),
  });
  assert.equal(headers.authorization, 'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ' +
    'SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
});

// ---------------------------------------------------------------------------------------------------------------
// Authentication (self-tests)
// ---------------------------------------------------------------------------------------------------------------

test('a correctly signed ListUsers is answered; the call is recorded with its parsed body', async () => {
  await withFake({}, async (fake) => {
    const input = { IdentityStoreId: fake.identityStoreId, Filters: [{ AttributePath: 'UserName', AttributeValue: 'alice@example.com' }] };
    const r = await callJson(fake, 'AWSIdentityStore.ListUsers', input);
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/x-amz-json-1.1');
    assert.ok(r.headers['x-amzn-requestid']);
    assert.deepEqual(r.body, { Users: [{ ...fake.users[0], IdentityStoreId: fake.identityStoreId }] });
    assert.deepEqual(fake.calls, [{ service: 'identitystore', operation: 'ListUsers', body: input, accessKeyId: fake.credentials[0].accessKeyId }]);
  });
});

test('a wrong secret is refused: 403 InvalidSignatureException with the canonical string AWS computed', async () => {
  await withFake({}, async (fake) => {
    const wrong = { ...fake.credentials[0], secretAccessKey: 'not-the-secret' };
    const r = await sso(fake, 'ListAccountAssignments', { InstanceArn: fake.instanceArn, AccountId: ACCOUNT, PermissionSetArn: [...fake.permissionSets][0] }, { credentials: wrong });
    assert.equal(r.status, 403);
    assert.equal(r.headers['x-amzn-errortype'], 'InvalidSignatureException');
    assert.equal(r.body.__type, 'InvalidSignatureException');
    assert.match(r.body.message, /^The request signature we calculated does not match the signature you provided\. /);
    assert.match(r.body.message, /The Canonical String for this request should have been\n'POST\n\/\n\ncontent-type:application\/x-amz-json-1\.1\nhost:127\.0\.0\.1:\d+\n/);
    assert.equal(fake.calls.length, 0);
    assert.equal(fake.rejected[0].code, 'InvalidSignatureException');
  });
});

test('a body changed after signing is refused', async () => {
  await withFake({}, async (fake) => {
    const body = JSON.stringify({ IdentityStoreId: fake.identityStoreId });
    const headers = signRequest({
      method: 'POST', url: `${fake.url}/`, body, region: fake.region, credentials: fake.credentials[0], service: 'identitystore',
      headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSIdentityStore.ListUsers' },
    });
    const r = await send(`${fake.url}/`, { method: 'POST', headers, body: body.replace('}', ',"MaxResults":1}') });
    assert.equal(r.status, 403);
    assert.equal(JSON.parse(r.text).__type, 'InvalidSignatureException');
  });
});

test('unknown access key → 400 UnrecognizedClientException; session keys need their exact token', async () => {
  const temporary = { ...FakeAws.newCredentials(), sessionToken: 'FwoGZXIvYXdzEXAMPLE+/=token' };
  await withFake({ credentials: [temporary] }, async (fake) => {
    const listUsers = (credentials) => callJson(fake, 'AWSIdentityStore.ListUsers', { IdentityStoreId: fake.identityStoreId }, { credentials });
    const unknown = await listUsers(FakeAws.newCredentials());
    assert.equal(unknown.status, 400);
    assert.deepEqual(unknown.body, { __type: 'UnrecognizedClientException', message: 'The security token included in the request is invalid.' });
    assert.equal((await listUsers({ ...temporary, sessionToken: undefined })).body.__type, 'UnrecognizedClientException');
    assert.equal((await listUsers({ ...temporary, sessionToken: 'other' })).body.__type, 'UnrecognizedClientException');
    assert.equal((await listUsers(temporary)).status, 200);
  });
});

test('X-Amz-Date more than 15 minutes off → Signature expired / not yet current', async () => {
  await withFake({}, async (fake) => {
    const at = (minutes) => new Date(Date.now() + minutes * 60000);
    const listUsers = (date) => callJson(fake, 'AWSIdentityStore.ListUsers', { IdentityStoreId: fake.identityStoreId }, { date });
    const old = await listUsers(at(-16));
    assert.equal(old.status, 403);
    assert.equal(old.body.__type, 'InvalidSignatureException');
    assert.match(old.body.message, /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/);
    const future = await listUsers(at(16));
    assert.match(future.body.message, /^Signature not yet current: /);
    assert.equal((await listUsers(at(-14))).status, 200); // within the window
  });
});

test('host and x-amz-date must be signed; scope must name this region and the called service', async () => {
  await withFake({}, async (fake) => {
    const input = { IdentityStoreId: fake.identityStoreId };
    const unsignHost = (h) => {
      h.authorization = h.authorization.replace('SignedHeaders=content-type;host;', 'SignedHeaders=content-type;');
    };
    const noHost = await callJson(fake, 'AWSIdentityStore.ListUsers', input, { tamper: unsignHost });
    assert.equal(noHost.status, 400);
    assert.deepEqual(noHost.body, { __type: 'IncompleteSignatureException', message: "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization." });

    const noDate = await callJson(fake, 'AWSIdentityStore.ListUsers', input, { tamper: (h) => { h.authorization = h.authorization.replace(';x-amz-date', ''); } });
    assert.equal(noDate.body.__type, 'IncompleteSignatureException');

    const wrongService = await callJson(fake, 'AWSIdentityStore.ListUsers', input, { service: 'sso' });
    assert.equal(wrongService.status, 403);
    assert.equal(wrongService.body.message, "Credential should be scoped to correct service: 'identitystore'. ");

    const wrongRegion = await callJson(fake, 'AWSIdentityStore.ListUsers', input, { region: 'eu-west-1' });
    assert.equal(wrongRegion.body.message, "Credential should be scoped to a valid region, not 'eu-west-1'. ");

    const unsigned = await send(`${fake.url}/`, { method: 'POST', headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'AWSIdentityStore.ListUsers' }, body: '{}' });
    assert.equal(JSON.parse(unsigned.text).__type, 'MissingAuthenticationTokenException');
  });
});

test('STS answers authentication failures in its XML form', async () => {
  await withFake({}, async (fake) => {
    const wrong = await callSts(fake, { Action: 'GetCallerIdentity' }, { credentials: { ...fake.credentials[0], secretAccessKey: 'x' } });
    assert.equal(wrong.status, 403);
    assert.match(wrong.text, /^<ErrorResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">/);
    assert.equal(xmlValue(wrong.text, 'Type'), 'Sender');
    assert.equal(xmlValue(wrong.text, 'Code'), 'SignatureDoesNotMatch');
    assert.ok(xmlValue(wrong.text, 'RequestId'));

    const unknown = await callSts(fake, { Action: 'GetCallerIdentity' }, { credentials: FakeAws.newCredentials() });
    assert.equal(unknown.status, 403);
    assert.equal(xmlValue(unknown.text, 'Code'), 'InvalidClientTokenId');

    const scopedToSso = await callSts(fake, { Action: 'GetCallerIdentity' }, { service: 'sso' });
    assert.equal(xmlValue(scopedToSso.text, 'Code'), 'SignatureDoesNotMatch');
    assert.equal(xmlValue(scopedToSso.text, 'Message'), "Credential should be scoped to correct service: 'sts'. ");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// sso-admin semantics (self-tests)
// ---------------------------------------------------------------------------------------------------------------

test('an assignment exists only once its creation SUCCEEDED, after pollsUntilDone IN_PROGRESS reads', async () => {
  await withFake({ pollsUntilDone: 3 }, async (fake) => {
    const created = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
    assert.equal(created.status, 200);
    const status = created.body.AccountAssignmentCreationStatus;
    assert.equal(status.Status, 'IN_PROGRESS');
    assert.match(status.RequestId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal(typeof status.CreatedDate, 'number');
    assert.deepEqual(fake.assignments(), []);

    const { seen, last } = await pollStatus(fake, 'create', status.RequestId);
    assert.deepEqual(seen, ['IN_PROGRESS', 'IN_PROGRESS', 'IN_PROGRESS', 'SUCCEEDED']);
    assert.equal(last.PrincipalId, fake.users[0].UserId);
    const { InstanceArn, ...assignment } = assignmentInput(fake);
    assert.deepEqual(fake.assignments(), [assignment]);
    assert.deepEqual(fake.history, [{ event: 'created', assignment }]);
  });
});

test('a second operation on the same assignment while one is IN_PROGRESS → 409 ConflictException', async () => {
  await withFake({}, async (fake) => {
    const first = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
    const again = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
    assert.equal(again.status, 409);
    assert.equal(again.headers['x-amzn-errortype'], 'ConflictException');
    assert.equal(again.body.__type, 'ConflictException');
    // Another principal is a different assignment: no conflict.
    const bob = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake, { PrincipalId: fake.users[1].UserId }));
    assert.equal(bob.status, 200);
    await pollStatus(fake, 'create', first.body.AccountAssignmentCreationStatus.RequestId);
    const deleting = await sso(fake, 'DeleteAccountAssignment', assignmentInput(fake));
    assert.equal(deleting.status, 200);
    assert.equal((await sso(fake, 'DeleteAccountAssignment', assignmentInput(fake))).status, 409);
  });
});

test('creating an existing assignment succeeds without a duplicate; deleting a missing one → 404', async () => {
  await withFake({ pollsUntilDone: 0 }, async (fake) => {
    for (let i = 0; i < 2; i++) {
      const r = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
      assert.equal((await pollStatus(fake, 'create', r.body.AccountAssignmentCreationStatus.RequestId)).last.Status, 'SUCCEEDED');
    }
    assert.equal(fake.assignments().length, 1);
    const del = await sso(fake, 'DeleteAccountAssignment', assignmentInput(fake));
    assert.deepEqual((await pollStatus(fake, 'delete', del.body.AccountAssignmentDeletionStatus.RequestId)).seen, ['SUCCEEDED']);
    assert.deepEqual(fake.assignments(), []);
    assert.deepEqual(fake.history.map((h) => h.event), ['created', 'deleted']);

    const missing = await sso(fake, 'DeleteAccountAssignment', assignmentInput(fake));
    assert.equal(missing.status, 404);
    assert.equal(missing.body.__type, 'ResourceNotFoundException');
  });
});

test("missingDelete 'failed-status': deleting a missing assignment fails asynchronously, as AWS is seen to", async () => {
  await withFake({ missingDelete: 'failed-status', pollsUntilDone: 0 }, async (fake) => {
    const del = await sso(fake, 'DeleteAccountAssignment', assignmentInput(fake));
    assert.equal(del.status, 200);
    const { last } = await pollStatus(fake, 'delete', del.body.AccountAssignmentDeletionStatus.RequestId);
    assert.equal(last.Status, 'FAILED');
    assert.equal(last.FailureReason, 'Received a 404 status error: Assignment not found.');
  });
});

test('inputs are validated with AWS wording: ValidationException 400, unknown resources 404', async () => {
  await withFake({}, async (fake) => {
    const bad = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake, { TargetId: '12345', TargetType: 'ACCOUNT', PrincipalType: undefined }));
    assert.equal(bad.status, 400);
    assert.equal(bad.body.__type, 'ValidationException');
    assert.equal(bad.body.message, '3 validation errors detected: ' +
      "Value '12345' at 'targetId' failed to satisfy constraint: Member must satisfy regular expression pattern: \\d{12}; " +
      "Value 'ACCOUNT' at 'targetType' failed to satisfy constraint: Member must satisfy enum value set: [AWS_ACCOUNT]; " +
      "Value null at 'principalType' failed to satisfy constraint: Member must not be null");

    const cases = [
      { InstanceArn: 'arn:aws:sso:::instance/ssoins-9999999999999999' },
      { PermissionSetArn: 'arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-9999999999999999' },
      { PrincipalId: '9067e1a2b3-00000000-0000-0000-0000-000000000000' },
    ];
    for (const overrides of cases) {
      const r = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake, overrides));
      assert.equal(r.status, 404, JSON.stringify(overrides));
      assert.equal(r.body.__type, 'ResourceNotFoundException');
    }
    const describe = await sso(fake, 'DescribeAccountAssignmentCreationStatus', { InstanceArn: fake.instanceArn, AccountAssignmentCreationRequestId: '00000000-0000-0000-0000-000000000000' });
    assert.equal(describe.status, 404);
    assert.equal(fake.assignments().length, 0);
  });
});

test('fault injection: failNext answers the next call(s) with an error, failNextOperation ends one FAILED', async () => {
  await withFake({ pollsUntilDone: 0 }, async (fake) => {
    fake.failNext('CreateAccountAssignment', 'AccessDeniedException', 403, { message: 'User is not authorized to perform: sso:CreateAccountAssignment' });
    fake.failNext('CreateAccountAssignment', 'ThrottlingException', 400, { headers: { 'retry-after': '1' } });
    const denied = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
    assert.equal(denied.status, 403);
    assert.deepEqual(denied.body, { __type: 'AccessDeniedException', message: 'User is not authorized to perform: sso:CreateAccountAssignment' });
    const throttled = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
    assert.equal(throttled.status, 400);
    assert.equal(throttled.headers['retry-after'], '1');
    assert.equal(throttled.body.__type, 'ThrottlingException');

    fake.failNextOperation('CreateAccountAssignment', 'An unexpected internal service exception was encountered');
    const accepted = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
    assert.equal(accepted.status, 200);
    const { last } = await pollStatus(fake, 'create', accepted.body.AccountAssignmentCreationStatus.RequestId);
    assert.deepEqual([last.Status, last.FailureReason], ['FAILED', 'An unexpected internal service exception was encountered']);
    assert.deepEqual(fake.assignments(), []);
    assert.equal(fake.callsTo('CreateAccountAssignment').length, 3);
  });
});

test("errorStyle 'coral': namespaced __type, Message, x-amzn-ErrorType with its suffix, 400 for client errors", async () => {
  await withFake({ errorStyle: 'coral' }, async (fake) => {
    await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
    const conflict = await sso(fake, 'CreateAccountAssignment', assignmentInput(fake));
    assert.equal(conflict.status, 400);
    assert.equal(conflict.body.__type, 'com.amazonaws.swbexternalservice#ConflictException');
    assert.equal(typeof conflict.body.Message, 'string');
    assert.equal(conflict.headers['x-amzn-errortype'], 'ConflictException:http://internal.amazon.com/coral/com.amazonaws.swbexternalservice/');
    const forged = await sso(fake, 'ListAccountAssignments', {}, { credentials: { ...fake.credentials[0], secretAccessKey: 'x' } });
    assert.equal(forged.status, 403);
    assert.equal(forged.body.__type, 'com.amazon.coral.service#InvalidSignatureException');
  });
});

test('ListAccountAssignments pages with MaxResults / NextToken', async () => {
  await withFake({}, async (fake) => {
    for (const user of fake.users) fake.addAssignment({ TargetId: ACCOUNT, PermissionSetArn: [...fake.permissionSets][0], PrincipalId: user.UserId });
    const base = { InstanceArn: fake.instanceArn, AccountId: ACCOUNT, PermissionSetArn: [...fake.permissionSets][0], MaxResults: 1 };
    const first = await sso(fake, 'ListAccountAssignments', base);
    assert.equal(first.body.AccountAssignments.length, 1);
    assert.ok(first.body.NextToken);
    const second = await sso(fake, 'ListAccountAssignments', { ...base, NextToken: first.body.NextToken });
    assert.equal(second.body.AccountAssignments.length, 1);
    assert.equal(second.body.NextToken, undefined);
    assert.notEqual(first.body.AccountAssignments[0].PrincipalId, second.body.AccountAssignments[0].PrincipalId);
    assert.deepEqual(Object.keys(first.body.AccountAssignments[0]).sort(), ['AccountId', 'PermissionSetArn', 'PrincipalId', 'PrincipalType']);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// STS and the federation endpoint (self-tests)
// ---------------------------------------------------------------------------------------------------------------

/** AssumeRole with the fake's own keys; returns the issued credentials. */
async function assumeRole(fake, params = {}) {
  const r = await callSts(fake, { Action: 'AssumeRole', RoleArn: CONSOLE_ROLE, RoleSessionName: 'jitbot-req_01TEST', DurationSeconds: '3600', ...params });
  assert.equal(r.status, 200, r.text);
  return {
    accessKeyId: xmlValue(r.text, 'AccessKeyId'),
    secretAccessKey: xmlValue(r.text, 'SecretAccessKey'),
    sessionToken: xmlValue(r.text, 'SessionToken'),
    expiration: xmlValue(r.text, 'Expiration'),
    xml: r.text,
  };
}

const federationUrl = (fake, params) => `${fake.signinUrl}?${new URLSearchParams(params)}`;

async function signinToken(fake, creds) {
  const session = JSON.stringify({ sessionId: creds.accessKeyId, sessionKey: creds.secretAccessKey, sessionToken: creds.sessionToken });
  return send(federationUrl(fake, { Action: 'getSigninToken', SessionType: 'json', Session: session }));
}

test('AssumeRole issues working temporary credentials in the documented XML shape', async () => {
  await withFake({}, async (fake) => {
    const before = Date.now();
    const creds = await assumeRole(fake);
    assert.match(creds.xml, /^<AssumeRoleResponse xmlns="https:\/\/sts\.amazonaws\.com\/doc\/2011-06-15\/">\n  <AssumeRoleResult>/);
    assert.match(creds.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
    assert.match(creds.expiration, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.ok(Math.abs(Date.parse(creds.expiration) - (before + 3600e3)) < 5000);
    assert.equal(xmlValue(creds.xml, 'Arn'), `arn:aws:sts::${ACCOUNT}:assumed-role/JitbotConsole/jitbot-req_01TEST`);
    assert.deepEqual(fake.assumedRoles.map((a) => [a.RoleArn, a.RoleSessionName, a.DurationSeconds]), [[CONSOLE_ROLE, 'jitbot-req_01TEST', 3600]]);

    const who = await callSts(fake, { Action: 'GetCallerIdentity' }, { credentials: creds });
    assert.equal(who.status, 200);
    assert.equal(xmlValue(who.text, 'Account'), ACCOUNT);
    const forgotToken = await callSts(fake, { Action: 'GetCallerIdentity' }, { credentials: { ...creds, sessionToken: undefined } });
    assert.equal(xmlValue(forgotToken.text, 'Code'), 'InvalidClientTokenId');
  });
});

test('AssumeRole validation: DurationSeconds 900–43200 (and the role maximum), RoleSessionName [\\w+=,.@-]{2,64}', async () => {
  await withFake({ maxSessionDuration: 3600 }, async (fake) => {
    const attempt = (params) => callSts(fake, { Action: 'AssumeRole', RoleArn: CONSOLE_ROLE, RoleSessionName: 'jitbot-ok', ...params });
    const expectations = [
      [{ DurationSeconds: '899' }, "Value '899' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"],
      [{ DurationSeconds: '43201' }, "Value '43201' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"],
      [{ RoleSessionName: 'a' }, "Value 'a' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2"],
      [{ RoleSessionName: 'x'.repeat(65) }, 'Member must have length less than or equal to 64'],
      [{ RoleSessionName: 'jit bot' }, 'Member must satisfy regular expression pattern: [\\w+=,.@-]*'],
      [{ DurationSeconds: '7200' }, 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'],
      [{ RoleArn: 'arn:aws:iam::12345:role/X' }, 'arn:aws:iam::12345:role/X is invalid'],
    ];
    for (const [params, message] of expectations) {
      const r = await attempt(params);
      assert.equal(r.status, 400, JSON.stringify(params));
      assert.equal(xmlValue(r.text, 'Code'), 'ValidationError');
      assert.ok(xmlValue(r.text, 'Message').includes(message), `${JSON.stringify(params)}: ${xmlValue(r.text, 'Message')}`);
    }
    assert.equal((await attempt({ DurationSeconds: '3600' })).status, 200);
    assert.equal(fake.assumedRoles.length, 1);
  });
});

test('federation: getSigninToken only for credentials the fake issued; login redirects only for its tokens', async () => {
  await withFake({}, async (fake) => {
    const creds = await assumeRole(fake);
    const refused = await signinToken(fake, { ...fake.credentials[0], sessionToken: 'x' });
    assert.equal(refused.status, 400);
    assert.equal((await signinToken(fake, { ...creds, sessionToken: `${creds.sessionToken}x` })).status, 400);

    const issued = await signinToken(fake, creds);
    assert.equal(issued.status, 200);
    const { SigninToken } = JSON.parse(issued.text);
    assert.ok(SigninToken.length > 100);

    const destination = 'https://console.aws.amazon.com/';
    const login = federationUrl(fake, { Action: 'login', Issuer: 'jitbot', Destination: destination, SigninToken });
    const record = fake.validSigninUrl(login);
    assert.deepEqual([record.roleArn, record.sessionName], [CONSOLE_ROLE, 'jitbot-req_01TEST']);
    const redirected = await send(login);
    assert.equal(redirected.status, 302);
    assert.equal(redirected.headers.location, destination);

    const forged = federationUrl(fake, { Action: 'login', Issuer: 'jitbot', Destination: destination, SigninToken: `${SigninToken}x` });
    assert.equal(fake.validSigninUrl(forged), null);
    assert.equal((await send(forged)).status, 400);
    assert.equal(fake.validSigninUrl(login.replace('Action=login', 'Action=logout')), null);
  });
});

test('over TLS: the fake serves https with the test certificate', async () => {
  const { key, cert } = testCertificate();
  await withFake({ tls: { key, cert } }, async (fake) => {
    assert.match(fake.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await callJson(fake, 'AWSIdentityStore.ListUsers', { IdentityStoreId: fake.identityStoreId }, { ca: cert });
    assert.equal(r.status, 200);
    assert.equal(r.body.Users.length, fake.users.length);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Proof with the real AWS CLI (botocore) — spawned asynchronously: the fake answers from this process
// ---------------------------------------------------------------------------------------------------------------

const NO_CLI = 'the AWS CLI (`aws`) is not installed or not on PATH: run scripts/install-test-deps.sh';

/** An environment in which only what the test says reaches the CLI: no profile, config or stray AWS_*. */
function cliEnv(fake, credentials, extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('AWS_')));
  Object.assign(env, {
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_DEFAULT_REGION: fake.region,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_RETRY_MODE: 'standard',
    AWS_MAX_ATTEMPTS: '1', // errors show at once unless a test asks for retries
    NO_PROXY: '127.0.0.1,localhost',
  });
  if (credentials.sessionToken) env.AWS_SESSION_TOKEN = credentials.sessionToken;
  return { ...env, ...extra };
}

/** Runs `aws ARGS --endpoint-url URL --output json`; resolves {code, stdout, stderr, json}. */
function aws(fake, args, env) {
  return new Promise((resolve, reject) => {
    execFile('aws', [...args, '--endpoint-url', fake.url, '--output', 'json'], { env, timeout: 60000 }, (error, stdout, stderr) => {
      if (error?.code === 'ENOENT') return reject(new Error(NO_CLI));
      const code = error ? error.code : 0;
      resolve({ code, stdout, stderr, json: code === 0 && stdout.trim() ? JSON.parse(stdout) : null });
    });
  });
}

/** The CLI's error line: "An error occurred (Code) when calling the Op operation[ (reached max retries: N)]: message". */
const cliError = (code, operation, message = '') =>
  new RegExp(`An error occurred \\(${code}\\) when calling the ${operation} operation(?: \\(reached max retries: \\d+\\))?: ${message}`);

const ok = (r) => {
  assert.equal(r.code, 0, `aws failed (${r.code}): ${r.stderr}`);
  return r.json;
};

test('AWS CLI: sso-admin create → describe until SUCCEEDED → list → delete → list, over TLS (AWS_CA_BUNDLE)', async () => {
  const { key, cert, certFile } = testCertificate();
  await withFake({ tls: { key, cert } }, async (fake) => {
    const env = cliEnv(fake, fake.credentials[0], { AWS_CA_BUNDLE: certFile });
    const psArn = [...fake.permissionSets][0];
    const who = ['--instance-arn', fake.instanceArn, '--target-id', ACCOUNT, '--target-type', 'AWS_ACCOUNT',
      '--permission-set-arn', psArn, '--principal-type', 'USER', '--principal-id', fake.users[0].UserId];
    const list = async () => ok(await aws(fake, ['sso-admin', 'list-account-assignments', '--instance-arn', fake.instanceArn,
      '--account-id', ACCOUNT, '--permission-set-arn', psArn], env)).AccountAssignments;

    const created = ok(await aws(fake, ['sso-admin', 'create-account-assignment', ...who], env)).AccountAssignmentCreationStatus;
    assert.equal(created.Status, 'IN_PROGRESS');
    const statuses = [];
    for (let i = 0; i <= fake.pollsUntilDone; i++) {
      statuses.push(ok(await aws(fake, ['sso-admin', 'describe-account-assignment-creation-status', '--instance-arn', fake.instanceArn,
        '--account-assignment-creation-request-id', created.RequestId], env)).AccountAssignmentCreationStatus.Status);
    }
    assert.deepEqual(statuses, [...Array(fake.pollsUntilDone).fill('IN_PROGRESS'), 'SUCCEEDED']);
    assert.deepEqual(await list(), [{ AccountId: ACCOUNT, PermissionSetArn: psArn, PrincipalType: 'USER', PrincipalId: fake.users[0].UserId }]);

    const deleted = ok(await aws(fake, ['sso-admin', 'delete-account-assignment', ...who], env)).AccountAssignmentDeletionStatus;
    assert.equal(deleted.Status, 'IN_PROGRESS');
    let status;
    do {
      status = ok(await aws(fake, ['sso-admin', 'describe-account-assignment-deletion-status', '--instance-arn', fake.instanceArn,
        '--account-assignment-deletion-request-id', deleted.RequestId], env)).AccountAssignmentDeletionStatus.Status;
    } while (status === 'IN_PROGRESS');
    assert.equal(status, 'SUCCEEDED');
    assert.deepEqual(await list(), []);
    // What botocore sent, as the fake parsed it.
    assert.deepEqual(fake.callsTo('CreateAccountAssignment')[0].body, {
      InstanceArn: fake.instanceArn, TargetId: ACCOUNT, TargetType: 'AWS_ACCOUNT', PermissionSetArn: psArn, PrincipalType: 'USER', PrincipalId: fake.users[0].UserId,
    });
    assert.deepEqual(fake.rejected, []);
  });
});

test('AWS CLI: modelled errors parse as AWS errors in both error styles (ConflictException, ResourceNotFoundException, ValidationException)', async () => {
  for (const errorStyle of ['plain', 'coral']) {
    await withFake({ errorStyle }, async (fake) => {
      const env = cliEnv(fake, fake.credentials[0]);
      const who = (overrides = {}) => Object.entries({ ...assignmentInput(fake), ...overrides })
        .flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c, i) => (i ? '-' : '') + c.toLowerCase())}`, v]);
      ok(await aws(fake, ['sso-admin', 'create-account-assignment', ...who()], env));
      const conflict = await aws(fake, ['sso-admin', 'create-account-assignment', ...who()], env);
      assert.notEqual(conflict.code, 0);
      assert.match(conflict.stderr, cliError('ConflictException', 'CreateAccountAssignment', 'There is an ongoing operation'), errorStyle);

      const missing = await aws(fake, ['sso-admin', 'delete-account-assignment', ...who({ PrincipalId: fake.users[1].UserId })], env);
      assert.match(missing.stderr, cliError('ResourceNotFoundException', 'DeleteAccountAssignment'), errorStyle);

      const invalid = await aws(fake, ['sso-admin', 'create-account-assignment', ...who({ TargetId: 'abcdefghijkl' })], env);
      assert.match(invalid.stderr, cliError('ValidationException', 'CreateAccountAssignment', "1 validation error detected: Value 'abcdefghijkl' at 'targetId'"), errorStyle);
    });
  }
});

test('AWS CLI: ThrottlingException is retried by botocore (standard mode) and the call then succeeds', async () => {
  await withFake({}, async (fake) => {
    fake.failNext('ListUsers', 'ThrottlingException', 400, { message: 'Rate exceeded' });
    const env = cliEnv(fake, fake.credentials[0], { AWS_MAX_ATTEMPTS: '3' });
    const r = ok(await aws(fake, ['identitystore', 'list-users', '--identity-store-id', fake.identityStoreId], env));
    assert.equal(r.Users.length, fake.users.length);
    assert.equal(fake.callsTo('ListUsers').length, 2);
  });
});

test('AWS CLI: identitystore list-users --filters UserName and get-user-id', async () => {
  await withFake({}, async (fake) => {
    const env = cliEnv(fake, fake.credentials[0]);
    const listed = ok(await aws(fake, ['identitystore', 'list-users', '--identity-store-id', fake.identityStoreId,
      '--filters', 'AttributePath=UserName,AttributeValue=alice@example.com'], env));
    assert.deepEqual(listed.Users.map((u) => u.UserId), [fake.userId('alice@example.com')]);
    assert.deepEqual(fake.callsTo('ListUsers')[0].body.Filters, [{ AttributePath: 'UserName', AttributeValue: 'alice@example.com' }]);

    const none = ok(await aws(fake, ['identitystore', 'list-users', '--identity-store-id', fake.identityStoreId,
      '--filters', 'AttributePath=UserName,AttributeValue=mallory@example.com'], env));
    assert.deepEqual(none.Users, []);

    const id = ok(await aws(fake, ['identitystore', 'get-user-id', '--identity-store-id', fake.identityStoreId,
      '--alternate-identifier', JSON.stringify({ UniqueAttribute: { AttributePath: 'userName', AttributeValue: 'bob@example.com' } })], env));
    assert.equal(id.UserId, fake.userId('bob@example.com'));
  });
});

test('AWS CLI: sts assume-role, then get-caller-identity with the issued session credentials, then a console sign-in token', async () => {
  await withFake({}, async (fake) => {
    const env = cliEnv(fake, fake.credentials[0]);
    const me = ok(await aws(fake, ['sts', 'get-caller-identity'], env));
    assert.deepEqual([me.Account, me.Arn], [fake.accountId, `arn:aws:iam::${fake.accountId}:user/jitbot`]);

    const assumed = ok(await aws(fake, ['sts', 'assume-role', '--role-arn', CONSOLE_ROLE, '--role-session-name', 'jitbot-req_01CLI',
      '--duration-seconds', '7200'], env));
    assert.equal(assumed.AssumedRoleUser.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/JitbotConsole/jitbot-req_01CLI`);
    assert.deepEqual(fake.assumedRoles.map((a) => a.DurationSeconds), [7200]);
    const creds = { accessKeyId: assumed.Credentials.AccessKeyId, secretAccessKey: assumed.Credentials.SecretAccessKey, sessionToken: assumed.Credentials.SessionToken };

    const asRole = ok(await aws(fake, ['sts', 'get-caller-identity'], cliEnv(fake, creds)));
    assert.equal(asRole.Arn, assumed.AssumedRoleUser.Arn);

    const issued = await signinToken(fake, creds);
    assert.equal(issued.status, 200);
    const login = federationUrl(fake, { Action: 'login', Issuer: 'test', Destination: 'https://console.aws.amazon.com/', SigninToken: JSON.parse(issued.text).SigninToken });
    assert.ok(fake.validSigninUrl(login));

    const tooLong = await aws(fake, ['sts', 'assume-role', '--role-arn', CONSOLE_ROLE, '--role-session-name', 'jitbot-x', '--duration-seconds', '43201'], env);
    assert.match(tooLong.stderr, cliError('ValidationError', 'AssumeRole', "1 validation error detected: Value '43201' at 'durationSeconds'"));
  });
});

test('AWS CLI: a wrong secret is reported as InvalidSignatureException / SignatureDoesNotMatch; an unknown key as UnrecognizedClient / InvalidClientTokenId', async () => {
  await withFake({}, async (fake) => {
    const wrong = cliEnv(fake, { ...fake.credentials[0], secretAccessKey: 'wrong-secret-wrong-secret-wrong-secret-00' });
    const ids = await aws(fake, ['identitystore', 'list-users', '--identity-store-id', fake.identityStoreId], wrong);
    assert.notEqual(ids.code, 0);
    assert.match(ids.stderr, cliError('InvalidSignatureException', 'ListUsers', 'The request signature we calculated does not match the signature you provided'));
    const sts = await aws(fake, ['sts', 'get-caller-identity'], wrong);
    assert.match(sts.stderr, cliError('SignatureDoesNotMatch', 'GetCallerIdentity', 'The request signature we calculated does not match'));

    const stranger = cliEnv(fake, FakeAws.newCredentials());
    const ssoUnknown = await aws(fake, ['sso-admin', 'list-account-assignments', '--instance-arn', fake.instanceArn, '--account-id', ACCOUNT,
      '--permission-set-arn', [...fake.permissionSets][0]], stranger);
    assert.match(ssoUnknown.stderr, cliError('UnrecognizedClientException', 'ListAccountAssignments', 'The security token included in the request is invalid'));
    assert.match((await aws(fake, ['sts', 'get-caller-identity'], stranger)).stderr, cliError('InvalidClientTokenId', 'GetCallerIdentity'));
    assert.equal(fake.calls.length, 0);
    assert.equal(fake.rejected.length, 4);
  });
});

test('AWS CLI: session credentials from a shared credentials file profile sign with X-Amz-Security-Token', async () => {
  const temporary = { ...FakeAws.newCredentials(), sessionToken: `FwoGZXIvYXdzE${'x+/='.repeat(40)}` };
  await withFake({ credentials: [temporary] }, async (fake) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-aws-cli-'));
    const file = path.join(dir, 'credentials');
    fs.writeFileSync(file, `[jitbot]\naws_access_key_id = ${temporary.accessKeyId}\naws_secret_access_key = ${temporary.secretAccessKey}\naws_session_token = ${temporary.sessionToken}\n`);
    const env = cliEnv(fake, {}, { AWS_SHARED_CREDENTIALS_FILE: file, AWS_PROFILE: 'jitbot' });
    delete env.AWS_ACCESS_KEY_ID;
    delete env.AWS_SECRET_ACCESS_KEY;
    const listed = ok(await aws(fake, ['identitystore', 'list-users', '--identity-store-id', fake.identityStoreId], env));
    assert.equal(listed.Users.length, fake.users.length);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

test('AWS CLI: iam put-role-policy / get-role-policy in the caller\'s account; NoSuchEntity, MalformedPolicyDocument; a deny cuts off only the sessions it names', async () => {
  await withFake({}, async (fake) => {
    const env = cliEnv(fake, fake.credentials[0]);
    const assume = async (name) => {
      const reply = ok(await aws(fake, ['sts', 'assume-role', '--role-arn', CONSOLE_ROLE, '--role-session-name', name], env));
      return reply.Credentials.AccessKeyId;
    };
    const revoked = await assume('jitbot-req_01A');
    const other = await assume('jitbot-req_01AB');
    // As a role in ACCOUNT (where JitbotConsole lives), not as the fake's own account.
    const admin = ok(await aws(fake, ['sts', 'assume-role', '--role-arn', `arn:aws:iam::${ACCOUNT}:role/JitbotIam`, '--role-session-name', 'cutoff'], env)).Credentials;
    const asAdmin = cliEnv(fake, { accessKeyId: admin.AccessKeyId, secretAccessKey: admin.SecretAccessKey, sessionToken: admin.SessionToken });

    const missing = await aws(fake, ['iam', 'get-role-policy', '--role-name', 'JitbotConsole', '--policy-name', 'JitbotRevokedSessions'], asAdmin);
    assert.match(missing.stderr, cliError('NoSuchEntity', 'GetRolePolicy', 'The role policy with name JitbotRevokedSessions cannot be found'));
    const malformed = await aws(fake, ['iam', 'put-role-policy', '--role-name', 'JitbotConsole', '--policy-name', 'P', '--policy-document',
      JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: 'not-alnum', Effect: 'Deny', Action: '*', Resource: '*' }] })], asAdmin);
    assert.match(malformed.stderr, cliError('MalformedPolicyDocument', 'PutRolePolicy', 'Statement IDs \\(SID\\) must be alpha-numeric'));

    const deny = { Version: '2012-10-17', Statement: [{ Sid: 'JitbotReq01AUntil1', Effect: 'Deny', Action: '*', Resource: '*',
      Condition: { StringLike: { 'aws:userid': '*:jitbot-req_01A' }, DateLessThan: { 'aws:TokenIssueTime': new Date(Date.now() + 3600e3).toISOString() } } }] };
    ok(await aws(fake, ['iam', 'put-role-policy', '--role-name', 'JitbotConsole', '--policy-name', 'JitbotRevokedSessions',
      '--policy-document', JSON.stringify(deny)], asAdmin));
    // botocore decodes IAM's URL-encoded PolicyDocument back into JSON.
    const read = ok(await aws(fake, ['iam', 'get-role-policy', '--role-name', 'JitbotConsole', '--policy-name', 'JitbotRevokedSessions'], asAdmin));
    assert.deepEqual([read.RoleName, read.PolicyName, read.PolicyDocument], ['JitbotConsole', 'JitbotRevokedSessions', deny]);
    assert.deepEqual(fake.rolePolicy(ACCOUNT, 'JitbotConsole', 'JitbotRevokedSessions'), deny);
    assert.equal(fake.rolePolicy(fake.accountId, 'JitbotConsole', 'JitbotRevokedSessions'), null, 'policies live in the caller\'s account');

    assert.equal(fake.sessionDenied(revoked), true, 'the named session, issued before the deadline, is denied');
    assert.equal(fake.sessionDenied(other), false, 'StringLike does not match a longer session name');
    const later = await assume('jitbot-req_01A');
    assert.equal(fake.sessionDenied(later), true, 'issued before aws:TokenIssueTime');
    deny.Statement[0].Condition.DateLessThan['aws:TokenIssueTime'] = new Date().toISOString();
    ok(await aws(fake, ['iam', 'put-role-policy', '--role-name', 'JitbotConsole', '--policy-name', 'JitbotRevokedSessions',
      '--policy-document', JSON.stringify(deny)], asAdmin));
    const afterDeadline = await assume('jitbot-req_01A');
    assert.equal(fake.sessionDenied(revoked), true);
    assert.equal(fake.sessionDenied(afterDeadline), false, 'issued after aws:TokenIssueTime');
  });
});
