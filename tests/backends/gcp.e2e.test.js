'use strict';
/**
 * End to end: the real `jitbot shell` with a `type = "gcp"` backend against FakeGcp over TLS.
 * Alice asks for roles/cloudsql.admin on a project, Bob approves, jitbot adds a conditional binding
 * by read-modify-write (etag, version 3), and removes it when the access expires.
 *
 * Run: cd tests/backends && node --test gcp.e2e.test.js   (needs build/bot/jitbot, or JITBOT_BINARY)
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { execFile } = require('node:child_process');
const { FakeGcp } = require('../fakes/cloud/fake_gcp');
const { makeTestCertificate } = require('../fakes/cloud/fake_server');
const { BINARY, USERS, writeConfig, runShell, approvalStory, backendLines, toml, dmsTo, SELF_EXTEND, extendLines, outputOf,
  clockAfter, later } = require('./shell_harness');

const execFileAsync = util.promisify(execFile);
const PROJECT = 'proj-jitbot-e2e';
const ROLE = 'roles/cloudsql.admin';
const TOKEN = 'ya29.e2e-secret-token-0f3c';
const MEMBER = `user:${USERS.alice.email}`;
const CERT = makeTestCertificate();

// Someone else's bindings, conditional and not, which jitbot must carry through every write.
const initialBindings = () => [
  { role: 'roles/owner', members: ['user:owner@example.com'] },
  { role: 'roles/cloudsql.viewer', members: ['group:devs@example.com'] },
  {
    role: 'roles/storage.objectViewer', members: ['user:carol@example.com'],
    condition: { title: 'audit window', expression: 'request.time < timestamp("2031-01-01T00:00:00Z")' },
  },
];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

async function withFake(fn, options = {}) {
  const fake = new FakeGcp({ tls: { key: CERT.key, cert: CERT.cert }, token: TOKEN, projects: { [PROJECT]: { bindings: initialBindings() } }, ...options });
  await fake.start();
  // The policy after every successful write, so a test can look at it between grant and revoke.
  fake.snapshots = [];
  fake.onCall((call) => call.op === 'setIamPolicy' && call.status === 200 && fake.snapshots.push(fake.policy(PROJECT)));
  try {
    await fn(fake);
  } finally {
    await fake.stop();
  }
}

/** The [[backends]] entry: TLS to the fake with its certificate, unless told otherwise. */
function backend(fake, { caFile = CERT.certFile, timeout = '20s', extra = [] } = {}) {
  return [
    '[[backends]]',
    'name = "cloud"',
    'type = "gcp"',
    `api_url = ${toml(`${fake.url}/`)}`,
    ...(caFile ? [`ca_file = ${toml(caFile)}`] : []),
    `timeout = ${toml(timeout)}`,
    ...extra,
  ].join('\n');
}

/** Writes the config and runs the usual approval story (or `lines`) through `jitbot shell`. */
async function session(fake, { role = ROLE, scopes = ['*'], scope = PROJECT, env = { GOOGLE_OAUTH_ACCESS_TOKEN: TOKEN }, lines, ...backendOptions } = {}) {
  const { file, dir } = writeConfig({ backend: backend(fake, backendOptions), role: { provider: 'gcp', name: role, scopes } });
  const story = lines || approvalStory({ provider: 'gcp', role, scope });
  const result = await runShell(file, story, { env: withoutGoogleEnv(env) });
  return { ...result, dir, file, requestId: requestIdOf(result.stdout), activeUntil: activeUntilOf(result.stdout) };
}

/** The environment given, with no Google credentials inherited from the machine. */
function withoutGoogleEnv(env) {
  const cleared = Object.fromEntries(Object.keys(process.env).filter((k) => /^GOOGLE_|^CLOUDSDK_/.test(k)).map((k) => [k, '']));
  return { ...cleared, ...env };
}

const requestIdOf = (stdout) => /Request (req_[0-9A-Z]+) submitted/.exec(stdout)?.[1];
const activeUntilOf = (stdout) => /Active until (\S+)/.exec(stdout)?.[1];

function assertGranted(result) {
  const grant = backendLines(result.stdout, 'grant');
  assert.equal(grant.length, 1, result.stdout + result.stderr);
  assert.match(grant[0], /: ok/, grant[0]);
}

function assertRevoked(result) {
  const revoke = backendLines(result.stdout, 'revoke');
  assert.ok(revoke.length >= 1, result.stdout);
  assert.match(revoke.at(-1), /: ok/, revoke.at(-1));
}

function assertNoSecret(result, secret = TOKEN) {
  assert.ok(!result.stdout.includes(secret), 'the token appears in the shell output');
  assert.ok(!result.stderr.includes(secret), 'the token appears on stderr');
}

/** The binding jitbot adds for the request: role, Alice, title "jitbot <id>", expiry condition. */
function ourBinding(policy, requestId) {
  return (policy.bindings || []).filter((b) => b.condition?.title === `jitbot ${requestId}`);
}

/** Every call followed the contract: reads ask for version 3, writes send the etag read and version 3. */
function assertReadModifyWrite(fake) {
  for (const get of fake.callsTo('getIamPolicy')) {
    assert.equal(get.body?.options?.requestedPolicyVersion, 3, `getIamPolicy body ${JSON.stringify(get.body)}`);
  }
  assert.deepEqual(fake.setsWithoutEtag, [], 'every setIamPolicy carries the etag');
  for (const set of fake.callsTo('setIamPolicy')) {
    assert.equal(set.versionSent, 3, 'every setIamPolicy sends policy version 3');
    assert.ok(set.status === 409 || set.etagSent === set.etagCurrent || set.status === 'dropped', `set ${set.status} with etag ${set.etagSent}`);
  }
}

/** A denial fails its operation at once: one call per backend operation (the failed grant, then
 *  the revokes jitbot runs to clean it up, retried with backoff), each refused with `status`. */
function assertDenialsNotRetried(result, fake, status) {
  const operations = backendLines(result.stdout, 'grant').length + backendLines(result.stdout, 'revoke').length;
  assert.equal(fake.calls.length, operations, `${fake.calls.length} calls for ${operations} backend operations`);
  assert.ok(fake.calls.every((c) => c.status === status), JSON.stringify(fake.calls.map((c) => c.status)));
  for (const line of backendLines(result.stdout, 'revoke')) assert.match(line, /FAILED/);
}

const toSeconds = (time) => Math.floor(Date.parse(time) / 1000);

// ---------------------------------------------------------------------------------------------
// The story
// ---------------------------------------------------------------------------------------------

test('grant adds the conditional binding with the request\'s expiry; expiry revokes it; others\' bindings survive', async () => {
  await withFake(async (fake) => {
    const result = await session(fake);
    assert.equal(result.code, 0, result.stderr);
    assertGranted(result);
    assertRevoked(result);
    assertNoSecret(result);
    assert.ok(result.requestId && result.activeUntil, result.stdout);

    const afterGrant = fake.snapshots[0];
    const ours = ourBinding(afterGrant, result.requestId);
    assert.equal(ours.length, 1, JSON.stringify(afterGrant));
    assert.equal(ours[0].role, ROLE);
    assert.deepEqual(ours[0].members, [MEMBER]);
    const expiry = /^request\.time < timestamp\("([^"]+)"\)$/.exec(ours[0].condition.expression);
    assert.ok(expiry, `expression ${ours[0].condition.expression}`);
    assert.equal(toSeconds(expiry[1]), toSeconds(result.activeUntil), `condition expiry ${expiry[1]} vs card ${result.activeUntil}`);
    assert.equal(typeof ours[0].condition.description, 'string');
    assert.deepEqual(afterGrant.bindings.filter((b) => !ours.includes(b)), initialBindings(), 'the rest of the policy is untouched');
    assert.equal(afterGrant.version, 3);

    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings(), 'the revoke removed exactly our binding');
    assert.deepEqual(fake.callsTo('setIamPolicy').map((c) => c.status), [200, 200]);
    assert.ok(fake.calls.every((c) => c.auth === 'valid' && c.project === PROJECT));
    assertReadModifyWrite(fake);
  });
});

test('a concurrent change (409 ABORTED) during the grant is retried from a fresh read, keeping the other writer\'s change', async () => {
  await withFake(async (fake) => {
    const theirs = { role: 'roles/browser', members: ['user:dave@example.com'] };
    fake.concurrentChangeOnNextSet((bindings) => bindings.push(theirs));
    const result = await session(fake);
    assert.equal(result.code, 0, result.stderr);
    assertGranted(result);
    assertRevoked(result);

    const sets = fake.callsTo('setIamPolicy');
    assert.deepEqual(sets.map((c) => c.status), [409, 200, 200]);
    const ops = fake.calls.map((c) => `${c.op}:${c.status}`);
    const conflict = ops.indexOf('setIamPolicy:409');
    assert.equal(ops[conflict + 1], 'getIamPolicy:200', `after a 409 jitbot reads again: ${ops}`);

    const afterGrant = fake.snapshots[0];
    assert.equal(ourBinding(afterGrant, result.requestId).length, 1);
    assert.deepEqual(afterGrant.bindings.at(-2), theirs, 'the retry was built on the new policy');
    assert.deepEqual(fake.policy(PROJECT).bindings, [...initialBindings(), theirs]);
    assertReadModifyWrite(fake);
  });
});

test('a grant whose answer is lost is retried without adding Alice twice (idempotent by title)', async () => {
  await withFake(async (fake) => {
    fake.dropResponseAfterNextSet();
    const result = await session(fake);
    assert.equal(result.code, 0, result.stderr);
    assertGranted(result);
    assertRevoked(result);
    assert.equal(fake.callsTo('setIamPolicy')[0].status, 'dropped');
    for (const policy of fake.snapshots) {
      for (const binding of ourBinding(policy, result.requestId)) assert.deepEqual(binding.members, [MEMBER]);
      assert.ok(ourBinding(policy, result.requestId).length <= 1, JSON.stringify(policy));
    }
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings());
    assertReadModifyWrite(fake);
  });
});

test('revoking a binding someone already removed succeeds (absent means already gone)', async () => {
  await withFake(async (fake) => {
    fake.onCall((call) => {
      if (call.op === 'setIamPolicy' && call.status === 200 && fake.snapshots.length === 1) fake.setPolicy(PROJECT, { bindings: initialBindings() });
    });
    const result = await session(fake);
    assert.equal(result.code, 0, result.stderr);
    assertGranted(result);
    assertRevoked(result);
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings());
    assertReadModifyWrite(fake);
  });
});

// ---------------------------------------------------------------------------------------------
// Extending active access
// ---------------------------------------------------------------------------------------------

/** One config (one database) for several `jitbot shell` runs, each starting at the real time: the
 *  role has self_extend = true, so `/jit extend` applies at once. */
function extendingSessions(fake) {
  const { file } = writeConfig({ backend: backend(fake), role: { provider: 'gcp', name: ROLE, scopes: ['*'], extra: SELF_EXTEND } });
  return (lines) => runShell(file, lines, { env: withoutGoogleEnv({ GOOGLE_OAUTH_ACCESS_TOKEN: TOKEN }) });
}

/** The end IAM enforces for our binding: the time in its condition, or undefined without one. */
function conditionEnd(fake, requestId) {
  const [ours, ...more] = ourBinding(fake.policy(PROJECT), requestId);
  assert.equal(more.length, 0, 'one binding per request');
  return ours && /^request\.time < timestamp\("([^"]+)"\)$/.exec(ours.condition.expression)?.[1];
}

const grantLines = () => approvalStory({ provider: 'gcp', role: ROLE, scope: PROJECT }).slice(0, 4);

test('/jit extend (self_extend): the condition moves to the new end; the binding outlives the old end and goes at the new one', async () => {
  await withFake(async (fake) => {
    const shell = extendingSessions(fake);
    const granted = await shell(grantLines());
    assertGranted(granted);
    const id = requestIdOf(granted.stdout);
    const oldEnd = activeUntilOf(granted.stdout);
    assert.equal(conditionEnd(fake, id), oldEnd, 'precondition: the grant\'s condition ends when the card says');
    const newEnd = later(oldEnd, 3600);

    const extended = await shell([...extendLines(id, '1h'), '/wait 2h10m', '/jit list --mine']);
    assert.equal(extended.code, 0, extended.stderr);
    const [extend] = backendLines(extended.stdout, 'extend');
    assert.match(extend, /: ok/, extended.stdout);
    assert.match(dmsTo(extended.stdout, USERS.alice.id).join(' '), new RegExp(`${id} .*was extended: it now ends at ${newEnd}\\.`));
    // IAM itself now ends the binding an hour later: the condition was rewritten in place.
    assert.equal(conditionEnd(fake, id), newEnd, `condition: ${JSON.stringify(ourBinding(fake.policy(PROJECT), id))}`);
    assert.deepEqual(ourBinding(fake.policy(PROJECT), id)[0].members, [MEMBER]);
    assert.deepEqual(fake.policy(PROJECT).bindings.filter((b) => !b.condition?.title?.startsWith('jitbot ')), initialBindings(),
      'the extension touched nothing else');
    // Past the old end, nothing was revoked: the binding is there, and the list says until the new end.
    assert.ok(clockAfter(extended.stdout, '/wait 2h10m') > Date.parse(oldEnd), 'precondition: the wait passed the old end');
    assert.deepEqual(backendLines(extended.stdout, 'revoke'), []);
    assert.equal(conditionEnd(fake, id), newEnd);
    assert.match(outputOf(extended.stdout, '/jit list --mine'), new RegExp(`${id}\\s+ACTIVE .*Active until ${newEnd}`));

    // A later session: still there just before the new end, removed after it.
    const ended = await shell(['/wait 2h50m', '/wait 20m']);
    assert.equal(ended.code, 0, ended.stderr);
    assert.ok(clockAfter(ended.stdout, '/wait 2h50m') < Date.parse(newEnd), 'precondition: the first wait stops short of the new end');
    assert.doesNotMatch(outputOf(ended.stdout, '/wait 2h50m'), /· backend cloud revoke/);
    assert.match(outputOf(ended.stdout, '/wait 20m'), new RegExp(`· backend cloud revoke ${id}: ok`));
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings(), 'the revoke removed exactly our binding');
    assert.match(dmsTo(ended.stdout, USERS.alice.id).join(' '), /has expired and was removed/);
    assertReadModifyWrite(fake);
  });
});

test('/jit extend after someone removed the binding in IAM: the extension fails, the DM says so, and access still ends at the old time', async () => {
  await withFake(async (fake) => {
    const shell = extendingSessions(fake);
    const granted = await shell(grantLines());
    assertGranted(granted);
    const id = requestIdOf(granted.stdout);
    const oldEnd = activeUntilOf(granted.stdout);
    fake.setPolicy(PROJECT, { bindings: initialBindings() }); // someone tidied the policy in the console

    const extended = await shell(extendLines(id, '1h'));
    assert.equal(extended.code, 0, extended.stderr);
    const [extend] = backendLines(extended.stdout, 'extend');
    assert.match(extend, /FAILED — .*nothing to extend/, extended.stdout);
    const dm = dmsTo(extended.stdout, USERS.alice.id).join(' ');
    assert.match(dm, new RegExp(`${id} .*could not be extended: .*It still ends at ${oldEnd};`), dm);
    assert.doesNotMatch(dm, /was extended/);
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings(), 'the extension did not bring the binding back');
    assert.equal(fake.callsTo('setIamPolicy').filter((c) => c.status === 200).length, 1, 'only the grant wrote the policy');

    // jitbot's own expiry did not move: the access ends (and its revoke runs) at the old time.
    const ended = await shell(['/wait 1h50m', '/wait 20m']);
    assert.equal(ended.code, 0, ended.stderr);
    assert.doesNotMatch(outputOf(ended.stdout, '/wait 1h50m'), /· backend cloud revoke/);
    assert.match(outputOf(ended.stdout, '/wait 20m'), new RegExp(`· backend cloud revoke ${id}: ok`));
    assert.ok(clockAfter(ended.stdout, '/wait 20m') < Date.parse(later(oldEnd, 3600)), 'revoked before the end the extension asked for');
    assert.match(dmsTo(ended.stdout, USERS.alice.id).join(' '), /has expired/);
  });
});

// ---------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------

test('token_command: its stdout is the token; after the token rotates, the 401 makes jitbot run it again', async () => {
  await withFake(async (fake) => {
    const dir = fs.mkdtempSync(path.join(CERT.dir, 'token-command-'));
    const tokenFile = path.join(dir, 'token');
    const runs = path.join(dir, 'runs');
    const script = path.join(dir, 'print-token.sh');
    fs.writeFileSync(tokenFile, TOKEN);
    // Prints the current token and counts its runs.
    fs.writeFileSync(script, `#!/bin/sh\necho run >> ${JSON.stringify(runs)}\ncat ${JSON.stringify(tokenFile)}\necho\n`, { mode: 0o755 });
    const rotated = 'ya29.e2e-rotated-token-77aa';
    fake.onCall((call) => {
      if (call.op === 'setIamPolicy' && call.status === 200 && fake.token === TOKEN) {
        fake.setToken(rotated);
        fs.writeFileSync(tokenFile, rotated);
      }
    });

    const result = await session(fake, { env: {}, extra: [`token_command = ${toml([script])}`] });
    assert.equal(result.code, 0, result.stderr);
    assertGranted(result);
    assertRevoked(result);
    assertNoSecret(result);
    assertNoSecret(result, rotated);
    assert.ok(fs.readFileSync(runs, 'utf8').trim().split('\n').length >= 2, 'token_command ran again for the new token');
    assert.ok(fake.calls.filter((c) => c.status === 401).length <= 1, 'one 401 at most: then a fresh token');
    assert.equal(fake.calls.at(-1).auth, 'valid');
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings());
  });
});

test('a wrong token fails the grant at once, naming Google\'s UNAUTHENTICATED; the token is never shown', async () => {
  await withFake(async (fake) => {
    const wrong = 'ya29.e2e-wrong-token-5d1e';
    const result = await session(fake, { env: { GOOGLE_OAUTH_ACCESS_TOKEN: wrong } });
    assert.equal(result.code, 0, result.stderr);
    const [grant] = backendLines(result.stdout, 'grant');
    assert.match(grant, /FAILED/);
    assert.match(grant, /UNAUTHENTICATED|401/);
    assertDenialsNotRetried(result, fake, 401);
    assertNoSecret(result, wrong);
    assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings());
  });
});

test('no token at all fails the grant with a message naming GOOGLE_OAUTH_ACCESS_TOKEN, before any call', async () => {
  await withFake(async (fake) => {
    const result = await session(fake, { env: {} });
    const [grant] = backendLines(result.stdout, 'grant');
    assert.match(grant, /FAILED.*GOOGLE_OAUTH_ACCESS_TOKEN/);
    assert.equal(fake.calls.length, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

test('basic roles are refused at config load: check-config and shell exit non-zero naming the role', async () => {
  await withFake(async (fake) => {
    for (const role of ['roles/editor', 'roles/owner', 'roles/viewer']) {
      const { file } = writeConfig({ backend: backend(fake), role: { provider: 'gcp', name: role, scopes: ['*'] } });
      const check = await run(BINARY, ['check-config', '--config', file]);
      assert.notEqual(check.code, 0, `check-config accepted ${role}: ${check.stdout}`);
      assert.ok((check.stdout + check.stderr).includes(role), `${role} not named: ${check.stdout}${check.stderr}`);

      // Not runShell: the shell exits before reading stdin, and writing to it could EPIPE.
      const shell = await run(BINARY, ['shell', '--manual-clock', '--config', file]);
      assert.notEqual(shell.code, 0, `shell started with ${role}`);
      assert.ok((shell.stdout + shell.stderr).includes(role));
    }
    assert.equal(fake.calls.length, 0);
  });
});

test('a project the token cannot see (403 PERMISSION_DENIED) fails the grant at once with Google\'s code', async () => {
  await withFake(async (fake) => {
    const result = await session(fake, { scope: 'proj-not-ours' });
    const [grant] = backendLines(result.stdout, 'grant');
    assert.match(grant, /FAILED.*PERMISSION_DENIED/);
    assertDenialsNotRetried(result, fake, 403);
  });
});

test('scope tricks are refused at request time, before any call to Google: a path that climbs out, a wildcard', async () => {
  const tricks = [
    // dev-* must not reach prod-db by way of "dev-x/../prod-db" in the URL path.
    ['dev-x/../prod-db', /"dev-x\/\.\.\/prod-db" is not a valid scope for gcp\/roles\/cloudsql\.admin: it contains "\/"/],
    // The role's pattern is not a scope: a request names one project.
    ["'dev-*'", /"dev-\*" is not a valid scope for gcp\/roles\/cloudsql\.admin: \* and \? are for role patterns; a request names one scope/],
  ];
  for (const [scope, refusal] of tricks) {
    await withFake(async (fake) => {
      const result = await session(fake, {
        scopes: ['dev-*'],
        lines: [`/as ${USERS.alice.id}`, `/jit request --provider gcp --role ${ROLE} --scope ${scope} --duration 2h --reason "INC-4421"`],
      });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, refusal);
      assert.equal(result.requestId, undefined, `${scope} was accepted:\n${result.stdout}`);
      assert.deepEqual(backendLines(result.stdout, 'grant'), []);
      assert.deepEqual(fake.calls, [], `${scope} reached Google`);
      assert.deepEqual(fake.policy(PROJECT).bindings, initialBindings());
    });
  }
});

test('TLS verifies the peer: without ca_file the fake\'s self-signed certificate is refused', async () => {
  await withFake(async (fake) => {
    const result = await session(fake, { caFile: null, timeout: '3s' });
    const [grant] = backendLines(result.stdout, 'grant');
    assert.match(grant, /FAILED/);
    assert.equal(fake.calls.length, 0, 'no request got through the handshake');
  });
});

/** Runs a program asynchronously; resolves {code, stdout, stderr}. */
async function run(program, args) {
  try {
    const { stdout, stderr } = await execFileAsync(program, args, { timeout: 30000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (error.code === 'ENOENT') throw new Error(`${program} not found: build jitbot first or set JITBOT_BINARY`);
    return { code: error.code, stdout: error.stdout, stderr: error.stderr };
  }
}
