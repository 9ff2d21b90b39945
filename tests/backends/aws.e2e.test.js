'use strict';
/**
 * End to end: the real `jitbot shell --manual-clock` with a `type = "aws"` backend (docs/credential-backends.md,
 * section "aws") against FakeAws over TLS: request → approve → grant (IAM Identity Center account assignment,
 * optional console link) → expiry → revoke, and the failures the contract names.
 *
 * Run: cd tests/backends && node --test aws.e2e.test.js   (JITBOT_BINARY=… or build/bot/jitbot)
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const https = require('node:https');
const { execFile } = require('node:child_process');
const { FakeAws } = require('../fakes/cloud/fake_aws');
const { scratchDir } = require('../fakes/scratch');
const { makeTestCertificate } = require('../fakes/cloud/fake_server');
const { BINARY, USERS, writeConfig, runShell, approvalStory, backendLines, toml, databaseBytes, dmsTo, LEAK_WINDOW, leakOffset,
  SELF_EXTEND, extendLines, outputOf, clockAfter, later } = require('./shell_harness');

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const ACCOUNT = '123456789012';
const ROLE = 'prod-infra-admin';
const CONSOLE_ROLE_TEMPLATE = 'arn:aws:iam::{scope}:role/JitbotConsole';
const CONSOLE_ROLE = CONSOLE_ROLE_TEMPLATE.replace('{scope}', ACCOUNT);

let certificate = null; // one for the whole file: openssl takes a moment
const testCertificate = () => (certificate ??= makeTestCertificate());

async function withFake(options, fn) {
  const { key, cert } = testCertificate();
  const fake = new FakeAws({ tls: { key, cert }, ...options });
  await fake.start();
  try {
    await fn(fake);
  } finally {
    await fake.stop();
  }
}

function requireBinary() {
  if (!fs.existsSync(BINARY)) assert.fail(`jitbot binary not found at ${BINARY}: build it (scripts/build.sh) or set JITBOT_BINARY`);
}

/**
 * The [[backends]] entry named "cloud" pointed at the fake, with the role's sub-table.
 * options: console (console = true + console_role_arn), profile, caFile (null leaves ca_file out), principals ({key: id}).
 */
function awsBackend(fake, { console = false, profile, caFile = testCertificate().certFile, principals, extraRoleLines = [] } = {}) {
  const lines = [
    '[[backends]]',
    'name = "cloud"',
    'type = "aws"',
    `region = ${toml(fake.region)}`,
    `instance_arn = ${toml(fake.instanceArn)}`,
    `identity_store_id = ${toml(fake.identityStoreId)}`,
    `endpoint_url = ${toml(fake.url)}`,
    `signin_url = ${toml(fake.signinUrl)}`,
    'poll_interval = "1s"',
    'timeout = "30s"',
  ];
  if (caFile) lines.push(`ca_file = ${toml(caFile)}`);
  if (profile) lines.push(`profile = ${toml(profile)}`);
  lines.push('', `[backends.roles.${ROLE}]`, `permission_set_arn = ${toml(permissionSet(fake))}`);
  if (console) lines.push('console = true', `console_role_arn = ${toml(CONSOLE_ROLE_TEMPLATE)}`);
  lines.push(...extraRoleLines);
  if (principals) {
    lines.push('', '[backends.principals]', ...Object.entries(principals).map(([k, v]) => `${toml(k)} = ${toml(v)}`));
  }
  return lines.join('\n');
}

const permissionSet = (fake) => [...fake.permissionSets][0];

/**
 * Environment for the binary: every AWS_* variable of this process removed (so nothing on the machine
 * interferes), config and shared credentials files pointed at /dev/null, then `extra`.
 */
function awsEnv(extra = {}) {
  const cleared = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('AWS_')).map((k) => [k, undefined]));
  return { ...cleared, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', ...extra };
}

const keyEnv = (credentials) => awsEnv({
  AWS_ACCESS_KEY_ID: credentials.accessKeyId,
  AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
  AWS_SESSION_TOKEN: credentials.sessionToken,
});

/**
 * Writes the config (into `dir` when given, keeping its database) and runs the shell with `lines`.
 * Resolves {code, stdout, stderr, dir, file, id} where id is the first request ID the shell printed.
 * roleExtra: more TOML lines for the [[roles]] entry.
 */
async function session(fake, lines, { env = keyEnv(fake.credentials[0]), backend = {}, dir, roleExtra = [] } = {}) {
  requireBinary();
  const config = writeConfig({ backend: awsBackend(fake, backend), role: { provider: 'aws', name: ROLE, scopes: [ACCOUNT], extra: roleExtra }, dir });
  const run = await runShell(config.file, lines, { env });
  const id = /Request (req_[0-9A-Z]{26}) submitted/.exec(run.stdout)?.[1];
  return { ...run, ...config, id };
}

/** Request and approval only (no waiting): the grant runs when Bob clicks. */
const requestAndApprove = (duration = '2h') => approvalStory({ provider: 'aws', role: ROLE, scope: ACCOUNT, duration }).slice(0, 4);

/** The single "· backend cloud ACTION req_…: …" line for the request. */
function resultLine(run, action) {
  const lines = backendLines(run.stdout, action).filter((l) => l.includes(run.id));
  assert.equal(lines.length, 1, `expected one ${action} line for ${run.id}:\n${run.stdout}\n${run.stderr}`);
  return lines[0];
}

function assertOk(run, action) {
  assert.ok(resultLine(run, action).startsWith(`· backend cloud ${action} ${run.id}: ok`), `${action} failed:\n${run.stdout}\n${run.stderr}`);
}

function assertSessionRan(run) {
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.id, `no request was submitted:\n${run.stdout}\n${run.stderr}`);
}

/**
 * Secrets must never reach the terminal, the log or the database, not even in part: the whole of
 * each, or any LEAK_WINDOW characters of it. A failure names only the secret's first 6 characters.
 */
function assertNoSecrets(run, secrets) {
  const outputs = [['stdout', run.stdout], ['stderr', run.stderr], ['the database', databaseBytes(run.dir)]];
  for (const secret of secrets.filter(Boolean)) {
    const shown = `${secret.slice(0, 6)}…`;
    for (const [where, text] of outputs) {
      const at = leakOffset(text, secret);
      assert.equal(at, -1, `secrets never show: ${where} holds ${Math.min(LEAK_WINDOW, secret.length)}+ characters of a secret (${shown}) at offset ${at}`);
    }
  }
}

/** What the grant should create for Alice on ACCOUNT. */
function aliceAssignment(fake, principalId = fake.userId(USERS.alice.email)) {
  return { TargetId: ACCOUNT, TargetType: 'AWS_ACCOUNT', PermissionSetArn: permissionSet(fake), PrincipalType: 'USER', PrincipalId: principalId };
}

/** GET over TLS trusting the test certificate; resolves {status, location}. */
function get(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { ca: testCertificate().cert }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, location: res.headers.location }));
    }).on('error', reject);
  });
}

/** The DM to Alice that announced the grant; its Console: URL, if any. */
function grantDm(stdout) {
  const match = /── DM to U0ALICE \(Alice Liddell\) ──\n  Your access is active[^\n]*\n(?:  Console: (\S+)\n)?/.exec(stdout);
  assert.ok(match, `no grant DM to Alice:\n${stdout}`);
  return { text: match[0], consoleUrl: match[1] };
}

const count = (text, what) => text.split(what).length - 1;

// ---------------------------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------------------------

test('check-config accepts an aws backend written as the contract documents it', async () => {
  requireBinary();
  await withFake({}, async (fake) => {
    const { file } = writeConfig({ backend: awsBackend(fake, { console: true }), role: { provider: 'aws', name: ROLE, scopes: [ACCOUNT] } });
    const result = await new Promise((resolve) => {
      execFile(BINARY, ['check-config', '--config', file], { env: { ...process.env, ...keyEnv(fake.credentials[0]) } },
        (error, stdout, stderr) => resolve({ code: error ? error.code : 0, out: stdout + stderr }));
    });
    assert.equal(result.code, 0, result.out);
    assert.match(result.out, /cloud \(aws/);
    assert.equal(fake.requests.length, 0); // checking a config calls nobody
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The happy path
// ---------------------------------------------------------------------------------------------------------------

test('grant creates the account assignment; expiry deletes it (signed with the real time, not the shell clock)', async () => {
  await withFake({}, async (fake) => {
    const run = await session(fake, approvalStory({ provider: 'aws', role: ROLE, scope: ACCOUNT, duration: '2h' }));
    assertSessionRan(run);
    assertOk(run, 'grant');
    assertOk(run, 'revoke');
    assert.ok(run.stdout.indexOf(resultLine(run, 'grant')) < run.stdout.indexOf('> /wait 2h'));
    assert.ok(run.stdout.indexOf('> /wait 2h') < run.stdout.indexOf(resultLine(run, 'revoke')));
    assert.match(run.stdout, /has expired and was removed/);

    // Grant: the principal from the email, one assignment, polled until SUCCEEDED (not further).
    const lookups = fake.callsTo('ListUsers');
    assert.equal(lookups.length, 1, 'the revoke reads the principal back from grant_id instead of looking it up');
    assert.equal(lookups[0].body.IdentityStoreId, fake.identityStoreId);
    assert.deepEqual(lookups[0].body.Filters, [{ AttributePath: 'UserName', AttributeValue: USERS.alice.email }]);
    const expected = aliceAssignment(fake);
    assert.deepEqual(fake.callsTo('CreateAccountAssignment').map((c) => c.body), [{ InstanceArn: fake.instanceArn, ...expected }]);
    assert.equal(fake.callsTo('DescribeAccountAssignmentCreationStatus').length, fake.pollsUntilDone + 1);

    // Revoke: the same assignment deleted (a revoke signed with the shell's clock, 2 h ahead, would be refused
    // as "Signature expired" — real AWS allows 15 minutes of skew).
    assert.deepEqual(fake.callsTo('DeleteAccountAssignment').map((c) => c.body), [{ InstanceArn: fake.instanceArn, ...expected }]);
    assert.equal(fake.callsTo('DescribeAccountAssignmentDeletionStatus').length, fake.pollsUntilDone + 1);
    assert.deepEqual(fake.history, [{ event: 'created', assignment: expected }, { event: 'deleted', assignment: expected }]);
    assert.deepEqual(fake.assignments(), []);
    assert.deepEqual(fake.rejected, []);

    // No console unless the role asks for one.
    assert.equal(fake.callsTo('AssumeRole').length, 0);
    assert.equal(grantDm(run.stdout).consoleUrl, undefined);
    assertNoSecrets(run, [fake.credentials[0].secretAccessKey]);
  });
});

test('console = true: the DM carries a federation login URL for a sign-in token the fake issued, and nothing else shows it', async () => {
  // jitbot's own identity is in the console role's account, so it could cut the session off.
  await withFake({ accountId: ACCOUNT }, async (fake) => {
    const run = await session(fake, approvalStory({ provider: 'aws', role: ROLE, scope: ACCOUNT, duration: '2h' }), { backend: { console: true } });
    assertSessionRan(run);
    assertOk(run, 'grant');

    assert.deepEqual(fake.assumedRoles.map((a) => [a.RoleArn, a.RoleSessionName]), [[CONSOLE_ROLE, `jitbot-${run.id}`]]);
    // The console session lasts what the request has left (2 h less the moments since the grant
    // began), never longer.
    const seconds = Number(fake.assumedRoles[0].DurationSeconds);
    assert.ok(seconds <= 7200 && seconds >= 7140, `DurationSeconds ${seconds}`);
    const { consoleUrl } = grantDm(run.stdout);
    assert.ok(consoleUrl, `no Console: line in the grant DM:\n${run.stdout}`);
    const token = fake.validSigninUrl(consoleUrl);
    assert.ok(token, `not a valid federation login URL for a token the fake issued: ${consoleUrl}`);
    assert.deepEqual([token.roleArn, token.sessionName], [CONSOLE_ROLE, `jitbot-${run.id}`]);
    const login = await get(consoleUrl);
    assert.equal(login.status, 302);
    assert.match(login.location, /^https:\/\//);

    // Only the requester's DM shows the link; the temporary keys behind it never show.
    assert.equal(count(run.stdout, consoleUrl), 1);
    assert.equal(count(run.stdout, 'Console:'), 1);
    const issued = fake.issuedCredentials();
    assert.equal(issued.length, 1);
    assertNoSecrets(run, [fake.credentials[0].secretAccessKey, issued[0].secretAccessKey, issued[0].sessionToken]);
    assertOk(run, 'revoke');
  });
});

test('a request shorter than STS\'s 15-minute minimum gets no console link, and the DM says why', async () => {
  await withFake({}, async (fake) => {
    const run = await session(fake, requestAndApprove('10m'), { backend: { console: true } });
    assertSessionRan(run);
    assertOk(run, 'grant');  // the access itself is granted
    // A 15-minute session would outlive a 10-minute grant: no session is made at all.
    assert.deepEqual(fake.assumedRoles, []);
    const dm = grantDm(run.stdout);
    assert.equal(dm.consoleUrl, undefined);
    assert.match(run.stdout.replace(/\n\s+/g, ' '), /No console link this time: .*less than the 15 minutes of AWS's shortest console session/);
  });
});

/** Alice's DM that announced the grant, its lines joined into one. */
const grantDmText = (stdout) => dmsTo(stdout, USERS.alice.id).find((dm) => dm.startsWith('Your access is active')) || '';

test('AssumeRole refused for the console role: the access is granted all the same, with no link, and the DM says why', async () => {
  // jitbot's own identity is in the console role's account, so only the refusal stands in the way.
  await withFake({ accountId: ACCOUNT }, async (fake) => {
    const denial = `User: arn:aws:iam::${ACCOUNT}:user/jitbot is not authorized to perform: sts:AssumeRole on resource: ${CONSOLE_ROLE}`;
    fake.failNext('AssumeRole', 'AccessDenied', 403, { message: denial });
    const run = await session(fake, requestAndApprove('2h'), { backend: { console: true } });
    assertSessionRan(run);
    assertOk(run, 'grant');
    assert.deepEqual(fake.assignments(), [aliceAssignment(fake)], 'a refused console link must not undo or fail the access itself');
    assert.ok(fake.callsTo('AssumeRole').length >= 1, 'precondition: jitbot asked STS for the console session');
    assert.deepEqual(fake.assumedRoles, [], 'no console session exists');
    assert.equal(fake.issuedSigninTokens.size, 0, 'no sign-in token was bought');

    assert.equal(grantDm(run.stdout).consoleUrl, undefined, 'the grant DM carries no Console: link when STS refused the session');
    assert.equal(count(run.stdout, 'Console:'), 0, 'no Console: line anywhere when there is no console session');
    const dm = grantDmText(run.stdout).replace(/\n/g, ' ');
    assert.match(dm, /No console link this time: AWS STS AssumeRole failed: AccessDenied/, `the grant DM says why there is no console link:\n${dm}`);
    assert.ok(dm.includes(denial), `the grant DM gives AWS's reason for the refusal:\n${dm}`);
  });
});

test('a console role whose MaxSessionDuration is below the request (3600 s for 2h): jitbot asks again for an hour and the link works', async () => {
  await withFake({ accountId: ACCOUNT, maxSessionDuration: 3600 }, async (fake) => {
    const run = await session(fake, requestAndApprove('2h'), { backend: { console: true } });
    assertSessionRan(run);
    assertOk(run, 'grant');
    assert.deepEqual(fake.assignments(), [aliceAssignment(fake)], 'the access is granted');

    // First the time the request has left (refused: above the role's maximum), then one hour.
    const asked = fake.callsTo('AssumeRole').map((c) => Number(c.body.DurationSeconds));
    assert.equal(asked.length, 2, `one refused AssumeRole, then one retry: asked for ${asked.join(', ')} seconds`);
    assert.ok(asked[0] > 3600 && asked[0] <= 7200, `the first AssumeRole asks for what the 2h request has left, not ${asked[0]}`);
    assert.equal(asked[1], 3600, 'after the MaxSessionDuration refusal jitbot asks again for 3600 seconds');
    assert.deepEqual(fake.assumedRoles.map((a) => [a.RoleArn, a.RoleSessionName, a.DurationSeconds]), [[CONSOLE_ROLE, `jitbot-${run.id}`, 3600]],
      'one console session, of an hour, in the console role');

    const { consoleUrl } = grantDm(run.stdout);
    assert.ok(consoleUrl, `the retried session still gives the grant DM a Console: link:\n${run.stdout}`);
    assert.match(run.stdout.replace(/\n\s+/g, ' '), /The console session lasts 1h \(the console role's MaxSessionDuration\), less than the access/,
      'the DM says the console session ends before the access does');
    const opened = fake.consoleSession(consoleUrl);
    assert.ok(opened, `the Console: link is a valid federation login URL for a sign-in token the fake issued: ${consoleUrl}`);
    assert.deepEqual([opened.roleArn, opened.sessionName, opened.denied], [CONSOLE_ROLE, `jitbot-${run.id}`, false],
      'the link opens a working session of the console role for this request');
    const login = await get(consoleUrl);
    assert.equal(login.status, 302, 'following the link logs in to the console');
    const issued = fake.issuedCredentials();
    assertNoSecrets(run, [fake.credentials[0].secretAccessKey, ...issued.flatMap((c) => [c.secretAccessKey, c.sessionToken])]);
  });
});

test('[backends.principals] gives the identity store user ID: no lookup, that ID is assigned', async () => {
  const users = [{ UserId: '9067e1a2b3-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', UserName: 'aliddell' }]; // not her email
  await withFake({ users }, async (fake) => {
    const run = await session(fake, requestAndApprove(), { backend: { principals: { [USERS.alice.email]: users[0].UserId } } });
    assertSessionRan(run);
    assertOk(run, 'grant');
    assert.equal(fake.callsTo('ListUsers').length, 0);
    assert.deepEqual(fake.assignments(), [aliceAssignment(fake, users[0].UserId)]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------------------------

/** A shared credentials file: [default] with keys AWS does not know, [jitbot] with `credentials`. */
function credentialsFile(credentials) {
  const dir = scratchDir('jitbot-aws-credentials-');
  const file = path.join(dir, 'credentials');
  const stranger = FakeAws.newCredentials();
  fs.writeFileSync(file, [
    '[default]', `aws_access_key_id = ${stranger.accessKeyId}`, `aws_secret_access_key = ${stranger.secretAccessKey}`, '',
    '[jitbot]', `aws_access_key_id = ${credentials.accessKeyId}`, `aws_secret_access_key = ${credentials.secretAccessKey}`,
    `aws_session_token = ${credentials.sessionToken}`, '',
  ].join('\n'));
  return file;
}

const sessionCredentials = () => ({ ...FakeAws.newCredentials(), sessionToken: `IQoJb3JpZ2luX2VjE${Buffer.alloc(300, 7).toString('base64')}+/=` });

test('profile = "jitbot" in AWS_SHARED_CREDENTIALS_FILE: session credentials sign every call with X-Amz-Security-Token', async () => {
  const temporary = sessionCredentials();
  await withFake({ credentials: [temporary] }, async (fake) => {
    const env = awsEnv({ AWS_SHARED_CREDENTIALS_FILE: credentialsFile(temporary) });
    const run = await session(fake, approvalStory({ provider: 'aws', role: ROLE, scope: ACCOUNT }), { env, backend: { profile: 'jitbot' } });
    assertSessionRan(run);
    assertOk(run, 'grant');
    assertOk(run, 'revoke');
    assert.deepEqual(fake.rejected, []);
    assert.ok(fake.calls.length >= 4);
    assert.ok(fake.calls.every((c) => c.accessKeyId === temporary.accessKeyId)); // the fake also checked the token
    assertNoSecrets(run, [temporary.secretAccessKey, temporary.sessionToken]);
  });
});

test('a wrong secret fails the grant at once with a message about the signature, and shows no secret', async () => {
  await withFake({}, async (fake) => {
    const wrong = { ...fake.credentials[0], secretAccessKey: FakeAws.newCredentials().secretAccessKey };
    const run = await session(fake, requestAndApprove(), { env: keyEnv(wrong) });
    assertSessionRan(run);
    const line = resultLine(run, 'grant');
    assert.match(line, /: FAILED — .*signature/i);
    assert.equal(fake.rejected[0].code, 'InvalidSignatureException');
    assert.deepEqual(fake.assignments(), []);
    assertNoSecrets(run, [wrong.secretAccessKey, fake.credentials[0].secretAccessKey]);
  });
});

test('AWS\'s signature error echoes the canonical request (X-Amz-Security-Token included): the session token still never shows', async () => {
  const temporary = sessionCredentials();
  await withFake({ credentials: [temporary] }, async (fake) => {
    const wrongSecret = { ...temporary, secretAccessKey: FakeAws.newCredentials().secretAccessKey };
    const env = awsEnv({ AWS_SHARED_CREDENTIALS_FILE: credentialsFile(wrongSecret) });
    const run = await session(fake, requestAndApprove(), { env, backend: { profile: 'jitbot' } });
    assertSessionRan(run);
    assert.match(resultLine(run, 'grant'), /: FAILED — .*signature/i, 'a wrong secret fails the grant with a message about the signature');
    // jitbot signs X-Amz-Security-Token (as botocore does), so AWS's error text echoes the token in
    // the canonical request it computed: the case this test is about must really happen.
    const tokenSigned = fake.requests.some((r) => /SignedHeaders=[^,]*x-amz-security-token/.test(r.headers.authorization || ''));
    assert.ok(tokenSigned, 'precondition: jitbot signs X-Amz-Security-Token, so the signature error echoes the session token');
    assert.ok(fake.rejected.some((r) => r.message.includes(temporary.sessionToken)), 'precondition: the fake echoes the token as AWS does');
    // The token sits a few hundred characters into AWS's message: an error text that is only cut
    // short (not cut at its first paragraph and blotted) shows its first few dozen characters, which
    // assertNoSecrets catches as well as the whole token.
    assertNoSecrets(run, [wrongSecret.secretAccessKey, temporary.sessionToken]);
  });
});

test('TLS verifies the peer: without ca_file the self-signed fake is refused and nothing is granted', async () => {
  await withFake({}, async (fake) => {
    const run = await session(fake, requestAndApprove(), { backend: { caFile: null } });
    assertSessionRan(run);
    assert.match(resultLine(run, 'grant'), /: FAILED — /);
    assert.equal(fake.requests.length, 0);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// AWS errors: retried, tolerated, or reported — in both JSON error shapes AWS services use
// ---------------------------------------------------------------------------------------------------------------

for (const errorStyle of ['plain', 'coral']) {
  test(`a ConflictException on the first DeleteAccountAssignment is retried and the revoke succeeds (${errorStyle} errors)`, async () => {
    await withFake({ errorStyle }, async (fake) => {
      fake.failNext('DeleteAccountAssignment', 'ConflictException', 409, { message: 'There is an ongoing operation on this account assignment. Wait for it to complete and try again.' });
      const run = await session(fake, approvalStory({ provider: 'aws', role: ROLE, scope: ACCOUNT }));
      assertSessionRan(run);
      assertOk(run, 'grant');
      assertOk(run, 'revoke');
      assert.equal(fake.callsTo('DeleteAccountAssignment').length, 2);
      assert.deepEqual(fake.assignments(), []);
    });
  });

  test(`AccessDeniedException on create fails the grant at once, naming AccessDeniedException (${errorStyle} errors)`, async () => {
    await withFake({ errorStyle }, async (fake) => {
      fake.failNext('CreateAccountAssignment', 'AccessDeniedException', 403, {
        message: `User: arn:aws:iam::${fake.accountId}:user/jitbot is not authorized to perform: sso:CreateAccountAssignment`,
      });
      const run = await session(fake, requestAndApprove());
      assertSessionRan(run);
      const line = resultLine(run, 'grant');
      assert.match(line, /: FAILED — .*AccessDeniedException/);
      assert.doesNotMatch(line, /swbexternalservice#/, 'the code should be named as AWS names it, without the namespace');
      assert.equal(fake.callsTo('CreateAccountAssignment').length, 1, 'a denial is not retried');
      assert.deepEqual(fake.assignments(), []);
      assert.match(run.stdout, /grant failed: .*AccessDeniedException/); // Alice is told why
    });
  });
}

test('ThrottlingException on create is retried until the grant succeeds', async () => {
  await withFake({}, async (fake) => {
    fake.failNext('CreateAccountAssignment', 'ThrottlingException', 400, { message: 'Rate exceeded', times: 2 });
    const run = await session(fake, requestAndApprove());
    assertSessionRan(run);
    assertOk(run, 'grant');
    assert.equal(fake.callsTo('CreateAccountAssignment').length, 3);
    assert.deepEqual(fake.assignments(), [aliceAssignment(fake)]);
  });
});

test('a creation that ends FAILED fails the grant with AWS\'s FailureReason', async () => {
  await withFake({}, async (fake) => {
    const reason = 'Received a 409 status error: IAM role limit exceeded in the target account.';
    fake.failNextOperation('CreateAccountAssignment', reason);
    const run = await session(fake, requestAndApprove());
    assertSessionRan(run);
    const line = resultLine(run, 'grant');
    assert.match(line, /: FAILED — /);
    assert.ok(line.includes(reason), line);
    assert.deepEqual(fake.assignments(), []);
  });
});

test('a requester the identity store does not know fails the grant with a message naming them', async () => {
  await withFake({ users: [{ UserId: '9067e1a2b3-aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee', UserName: 'someone@example.com' }] }, async (fake) => {
    const run = await session(fake, requestAndApprove());
    assertSessionRan(run);
    const line = resultLine(run, 'grant');
    assert.match(line, /: FAILED — /);
    assert.ok(line.includes(USERS.alice.email), line);
    assert.equal(fake.callsTo('CreateAccountAssignment').length, 0);
  });
});

test('a revoke when the assignment is already gone succeeds (a second shell run, no lookup)', async () => {
  await withFake({}, async (fake) => {
    const first = await session(fake, requestAndApprove('2h'));
    assertSessionRan(first);
    assertOk(first, 'grant');
    assert.deepEqual(fake.assignments(), [aliceAssignment(fake)]);
    fake.removeAssignment(aliceAssignment(fake)); // someone removed it in the console meanwhile

    const second = await session(fake, ['/wait 2h', '/jit list --mine'], { dir: first.dir });
    assert.equal(second.code, 0, second.stderr);
    const revoke = backendLines(second.stdout, 'revoke').filter((l) => l.includes(first.id));
    assert.equal(revoke.length, 1, second.stdout);
    assert.ok(revoke[0].startsWith(`· backend cloud revoke ${first.id}: ok`), revoke[0]);
    assert.match(second.stdout, /has expired and was removed/);
    assert.ok(fake.callsTo('DeleteAccountAssignment').length >= 1);
    assert.equal(fake.callsTo('ListUsers').length, 1, 'the revoke used the stored grant_id');
    assert.deepEqual(fake.assignments(), []);
  });
});

test('/jit extend (self_extend): no call to AWS, the assignment simply stays past the old end, and jitbot deletes it at the new one', async () => {
  await withFake({}, async (fake) => {
    const first = await session(fake, requestAndApprove('2h'), { roleExtra: SELF_EXTEND });
    assertSessionRan(first);
    assertOk(first, 'grant');
    const id = first.id;
    const oldEnd = /Active until (\S+)/.exec(first.stdout)[1];
    const newEnd = later(oldEnd, 3600);
    const callsBefore = fake.requests.length;

    const extended = { ...await session(fake, [...extendLines(id, '1h'), '/wait 2h10m', '/jit list --mine'],
      { dir: first.dir, roleExtra: SELF_EXTEND }), id };
    assert.equal(extended.code, 0, extended.stderr);
    assertOk(extended, 'extend');
    // Identity Center assignments have no end of their own: the extension is jitbot's expiry alone.
    assert.match(resultLine(extended, 'extend'), new RegExp(`assignment stays until jitbot revokes it at ${newEnd}`));
    assert.equal(fake.requests.length, callsBefore, 'the extension and the wait called AWS for nothing');
    assert.match(dmsTo(extended.stdout, USERS.alice.id).join(' '), new RegExp(`${id} .*was extended: it now ends at ${newEnd}\\.`));
    assert.ok(clockAfter(extended.stdout, '/wait 2h10m') > Date.parse(oldEnd), 'precondition: the wait passed the old end');
    assert.deepEqual(backendLines(extended.stdout, 'revoke'), []);
    assert.deepEqual(fake.assignments(), [aliceAssignment(fake)], 'still assigned after the old end');
    assert.match(outputOf(extended.stdout, '/jit list --mine'), new RegExp(`${id}\\s+ACTIVE .*Active until ${newEnd}`));

    // A later session: still assigned just before the new end, deleted after it.
    const ended = { ...await session(fake, ['/wait 2h50m', '/wait 20m'], { dir: first.dir, roleExtra: SELF_EXTEND }), id };
    assert.equal(ended.code, 0, ended.stderr);
    assert.ok(clockAfter(ended.stdout, '/wait 2h50m') < Date.parse(newEnd), 'precondition: the first wait stops short of the new end');
    assert.doesNotMatch(outputOf(ended.stdout, '/wait 2h50m'), /· backend cloud revoke/);
    assert.match(outputOf(ended.stdout, '/wait 20m'), new RegExp(`· backend cloud revoke ${id}: ok`));
    assert.deepEqual(fake.history.map((h) => h.event), ['created', 'deleted']);
    assert.deepEqual(fake.assignments(), []);
    assert.match(ended.stdout, /has expired and was removed/);
  });
});

// AWS has been seen to report a missing assignment as a FAILED deletion ("Received a 404 status
// error: …") rather than ResourceNotFoundException; jitbot then checks ListAccountAssignments.
test('already gone, the other way AWS reports it: the deletion is accepted, then FAILED with a 404 reason', async () => {
  await withFake({ missingDelete: 'failed-status' }, async (fake) => {
    const first = await session(fake, requestAndApprove('2h'));
    assertOk(first, 'grant');
    fake.removeAssignment(aliceAssignment(fake));
    const second = await session(fake, ['/wait 2h'], { dir: first.dir });
    const revoke = backendLines(second.stdout, 'revoke').filter((l) => l.includes(first.id));
    assert.ok(revoke[0]?.startsWith(`· backend cloud revoke ${first.id}: ok`), second.stdout);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Early revoke cuts off console sessions
// ---------------------------------------------------------------------------------------------------------------

const REVOKED_SESSIONS = 'JitbotRevokedSessions';

test('an early revoke cuts off the console session from the link (inline deny on aws:TokenIssueTime); a later request\'s session still works', async () => {
  await withFake({ accountId: ACCOUNT }, async (fake) => {
    const first = await session(fake, requestAndApprove('2h'), { backend: { console: true } });
    assertOk(first, 'grant');
    const firstLink = grantDm(first.stdout).consoleUrl;
    assert.equal(fake.consoleSession(firstLink)?.denied, false, 'the fresh console session works');

    const revoked = await session(fake, [`/as ${USERS.alice.id}`, `/jit revoke ${first.id}`], { dir: first.dir, backend: { console: true } });
    assert.equal(revoked.code, 0, revoked.stderr);
    const line = backendLines(revoked.stdout, 'revoke').find((l) => l.includes(first.id));
    assert.ok(line?.startsWith(`· backend cloud revoke ${first.id}: ok`), revoked.stdout);
    assert.match(line, /Console sessions opened from jitbot's link for this request are cut off/);
    assert.equal(fake.consoleSession(firstLink)?.denied, true, 'the console session opened before the revoke must be denied from now on');
    assert.deepEqual(fake.assignments(), []);

    const policy = fake.rolePolicy(ACCOUNT, 'JitbotConsole', REVOKED_SESSIONS);
    assert.equal(policy.Statement.length, 1);
    const [deny] = policy.Statement;
    assert.equal(deny.Effect, 'Deny');
    assert.deepEqual(deny.Condition.StringLike, { 'aws:userid': `*:jitbot-${first.id}` }, 'the deny names only this request\'s session');
    assert.ok(Date.parse(deny.Condition.DateLessThan['aws:TokenIssueTime']) <= Date.now() + 2000, 'the deny covers sessions issued until the revoke, not later ones');
    // Signed with jitbot's own keys for IAM (global, us-east-1).
    assert.deepEqual(fake.callsTo('PutRolePolicy').map((c) => [c.body.RoleName, c.accessKeyId]), [['JitbotConsole', fake.credentials[0].accessKeyId]]);

    // Asking again after the revoke gives a console session that works: the deny is not for the role as a whole.
    const again = await session(fake, requestAndApprove('2h'), { dir: first.dir, backend: { console: true } });
    assertOk(again, 'grant');
    const secondLink = grantDm(again.stdout).consoleUrl;
    assert.ok(secondLink && secondLink !== firstLink);
    assert.equal(fake.consoleSession(secondLink)?.denied, false, 'a session issued after the revoke, for another request, must work');
    assert.equal(fake.consoleSession(firstLink)?.denied, true);
    const issued = fake.issuedCredentials();
    assertNoSecrets(revoked, [fake.credentials[0].secretAccessKey, ...issued.flatMap((c) => [c.secretAccessKey, c.sessionToken])]);
  });
});

test('a console role in another account than jitbot\'s, with no console_iam_role_arn: access granted, no link, and the DM says why', async () => {
  await withFake({}, async (fake) => {
    assert.notEqual(fake.accountId, ACCOUNT);
    const run = await session(fake, requestAndApprove('2h'), { backend: { console: true } });
    assertOk(run, 'grant');
    assert.deepEqual(fake.assumedRoles, [], 'no console session may exist that jitbot could not cut off');
    assert.equal(grantDm(run.stdout).consoleUrl, undefined);
    assert.match(run.stdout.replace(/\n\s+/g, ' '),
      /No console link this time: the console role arn:aws:iam::123456789012:role\/JitbotConsole is in account 123456789012 and jitbot's AWS identity in account 111111111111, so jitbot could not cut its sessions off on an early revoke; set console_iam_role_arn/);
  });
});

test('console_iam_role_arn: the cut-off runs as a role assumed in the scope\'s account; an IAM refusal fails the revoke, which is retried', async () => {
  await withFake({}, async (fake) => {
    const iamRole = `arn:aws:iam::${ACCOUNT}:role/JitbotIam`;
    const backend = { console: true, extraRoleLines: ['console_iam_role_arn = "arn:aws:iam::{scope}:role/JitbotIam"'] };
    const first = await session(fake, requestAndApprove('2h'), { backend });
    assertOk(first, 'grant');
    const link = grantDm(first.stdout).consoleUrl;

    fake.failNext('PutRolePolicy', 'AccessDenied', 403, { message: 'User is not authorized to perform: iam:PutRolePolicy' });
    const revoked = await session(fake, [`/as ${USERS.alice.id}`, `/jit revoke ${first.id}`, '/wait 2m', `/jit status ${first.id}`],
      { dir: first.dir, backend });
    assert.equal(revoked.code, 0, revoked.stderr);
    const lines = backendLines(revoked.stdout, 'revoke').filter((l) => l.includes(first.id));
    assert.ok(lines.length >= 2, `the failed revoke must be retried:\n${revoked.stdout}`);
    assert.match(lines[0], /FAILED — AWS IAM PutRolePolicy failed: AccessDenied.*iam:PutRolePolicy/);
    assert.ok(lines.at(-1).startsWith(`· backend cloud revoke ${first.id}: ok`), revoked.stdout);
    assert.equal(fake.consoleSession(link)?.denied, true);

    const cutoffSessions = fake.assumedRoles.filter((a) => a.RoleArn === iamRole);
    assert.ok(cutoffSessions.length >= 2, 'each attempt assumes the IAM role');
    const iamKeys = new Set(cutoffSessions.map((a) => a.accessKeyId));
    assert.ok(fake.callsTo('PutRolePolicy').every((c) => iamKeys.has(c.accessKeyId)), 'IAM calls must be signed as console_iam_role_arn');
    assert.ok(cutoffSessions.every((a) => a.RoleSessionName === `jitbot-${first.id}-cutoff`));
  });
});
