'use strict';
/**
 * The duplocloud backend end to end: the real `jitbot shell` asks FakeDuploCloud for JIT console
 * sessions (admin or per tenant), posts only the console link, and never keeps the AWS keys that
 * come with it.
 *
 * Run: cd tests/backends && node --test duplocloud.e2e.test.js   (needs build/bot/jitbot or JITBOT_BINARY)
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { USERS, writeConfig, runShell, approvalStory, toml, requestIdIn, dmsTo, databaseBytes, assertShellOk, backendLine, LEAK_WINDOW, leakOffset,
  backendLines, SELF_EXTEND, extendLines, outputOf, clockAfter, later } = require('./shell_harness');
const { FakeDuploCloud, DEFAULT_TENANTS } = require('../fakes/cloud/fake_duplocloud');

const [DEV, PROD] = DEFAULT_TENANTS;
// A role that opts in to admin JIT access: its one scope is the word "admin".
const ADMIN_ROLE = { scopes: null, extra: ['admin = true'] };
const ADMIN_JIT = '/v3/admin/aws/jitAccess/';

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/// Starts FakeDuploCloud (TLS) and a jitbot config whose backend "cloud" is it, then runs
/// fn({fake, dir, shell}). options.env(fake) gives jitbot's extra environment (default: DUPLO_TOKEN
/// = the admin token; a variable set to undefined is removed); options.backendExtra is more TOML;
/// options.role overrides the [[roles]] entry (ADMIN_ROLE for admin JIT access); options.fake is
/// FakeDuploCloud's options (e.g. {validity: seconds}).
async function withDuplo(fn, { env = (fake) => ({ DUPLO_TOKEN: fake.adminToken }), backendExtra = '', role = {}, fake: fakeOptions = {} } = {}) {
  const fake = await new FakeDuploCloud(fakeOptions).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-duplo-e2e-'));
  try {
    const backend = ['[[backends]]', 'name = "cloud"', 'type = "duplocloud"', `url = ${toml(`${fake.url}/`)}`,
      `ca_file = ${toml(fake.caFile)}`, 'timeout = "20s"', backendExtra].join('\n');
    const { file } = writeConfig({ dir, backend, role: { provider: 'duplo', name: 'admin', ...role } });
    await fn({ fake, dir, shell: (lines) => runShell(file, lines, { env: env(fake) }) });
  } finally {
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const story = (scope, options = {}) => approvalStory({ provider: 'duplo', role: 'admin', scope, ...options });
const grantOnly = (scope) => story(scope).filter((l) => !l.startsWith('/wait') && !l.startsWith('/jit list'));

const assertOk = assertShellOk;

/// Fails if `text` holds a secret or any LEAK_WINDOW characters of it; the message names only its first 6 characters.
function assertNotIn(text, where, secret, promise) {
  const at = leakOffset(text, secret);
  assert.equal(at, -1, `${promise}: ${where} holds ${Math.min(LEAK_WINDOW, secret.length)}+ characters of a secret (${secret.slice(0, 6)}…) at offset ${at}`);
}

/// None of the AWS keys the fake handed out, nor the API token, is in the output or the database,
/// not even in part.
function assertNothingLeaked(fake, dir, results, token) {
  const secrets = [...fake.secrets(), ...(token ? [token] : [])];
  assert.ok(fake.secrets().length > 0, 'the fake issued no credentials to look for');
  const kept = databaseBytes(dir);
  const promise = 'DuploCloud\'s AWS keys and the API token are never shown or stored';
  for (const secret of secrets) {
    for (const r of results) {
      assertNotIn(r.stdout, 'stdout', secret, promise);
      assertNotIn(r.stderr, 'stderr', secret, promise);
    }
    assertNotIn(kept, 'the SQLite files', secret, promise);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

test('an admin = true role (--scope admin): the DM carries the console link; the AWS keys are never shown or stored', async () => {
  await withDuplo(async ({ fake, dir, shell }) => {
    const result = await shell(story('admin'));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/);
    assert.deepEqual(fake.calls.map((c) => [c.method, c.path, c.status]), [['GET', `${ADMIN_JIT}admin`, 200]]);
    assert.equal(fake.issued.length, 1);
    const dms = dmsTo(result.stdout, USERS.alice.id).join('\n');
    assert.ok(dms.includes(`Console: ${fake.issued[0].ConsoleUrl}`), `the DM lacks the console link:\n${dms}`);

    // Revoke: nothing to call (DuploCloud ends the session itself); the requester is told so.
    assert.match(backendLine(result, 'revoke', id), /: ok/);
    assert.equal(fake.calls.length, 1, 'the revoke called DuploCloud');
    assert.match(dms, /DuploCloud/, `no DM tells the requester DuploCloud ends the session:\n${dms}`);
    assertNothingLeaked(fake, dir, [result], fake.adminToken);
  }, { role: ADMIN_ROLE });
});

test('a console session outlives an earlier expiry: the card and DM say until when, never "access removed"', async () => {
  await withDuplo(async ({ fake, shell }) => {
    const result = await shell(story('admin', { duration: '30m' }));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'revoke', id), /: ok/);
    // The fake's sessions last fake.validity seconds from the grant: an hour, past the 30-minute request.
    const until = /DuploCloud opened a JIT console session, valid until (\S+) on DuploCloud's side/.exec(result.stdout)?.[1];
    assert.ok(until, `the grant DM does not say when the session ends:\n${result.stdout}`);
    const lead = Date.parse(until) - Date.now();
    assert.ok(lead > (fake.validity - 120) * 1000 && lead <= fake.validity * 1000, `session end ${until} is not about ${fake.validity}s from now`);
    const dms = dmsTo(result.stdout, USERS.alice.id).join('\n').replace(/\n\s+/g, ' ');
    assert.match(dms, new RegExp(`has expired\\. The console session you opened stays valid until ${until}: the backend cannot end it early`));
    assert.doesNotMatch(dms, /has expired and was removed/);
    assert.match(result.stdout, new RegExp(`Expired at \\S+; the console session stays valid until ${until} \\(the backend cannot end it early\\)`),
      `the card must say when the console session really ends:\n${result.stdout}`);
    assert.doesNotMatch(result.stdout, /access removed/);
  }, { role: ADMIN_ROLE });
});

test('a request longer than DuploCloud\'s session ends with the session: jitbot never claims access it has not got', async () => {
  await withDuplo(async ({ shell }) => {
    const result = await shell(grantOnly('admin'));
    assertOk(result);
    const dm = dmsTo(result.stdout, USERS.alice.id).join('\n').replace(/\n\s+/g, ' ');
    const active = /Your access is active: .*?, until (\S+) \(/.exec(dm)?.[1];
    const session = /valid until (\S+) on DuploCloud's side/.exec(dm)?.[1];
    assert.ok(active && session, dm);
    assert.equal(active, session, 'a 2h request on a 1h session is active only as long as the session');
  }, { role: ADMIN_ROLE });
});

test('a tenant named in the scope is resolved to its ID through GetTenantsForUser', async () => {
  await withDuplo(async ({ fake, dir, shell }) => {
    const result = await shell(grantOnly(PROD.AccountName));
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/);
    assert.deepEqual(fake.calls.map((c) => c.path), ['/admin/GetTenantsForUser', `/subscriptions/${PROD.TenantId}/GetAwsConsoleTokenUrl`]);
    assert.deepEqual(fake.issued.map((i) => i.tenantId), [PROD.TenantId]);
    assert.ok(dmsTo(result.stdout, USERS.alice.id).join('\n').includes(`Console: ${fake.issued[0].ConsoleUrl}`));
    assertNothingLeaked(fake, dir, [result], fake.adminToken);
  });
});

test('a tenant ID in the scope works too', async () => {
  await withDuplo(async ({ fake, shell }) => {
    const result = await shell(grantOnly(DEV.TenantId));
    assertOk(result);
    assert.match(backendLine(result, 'grant', requestIdIn(result.stdout)), /: ok/);
    assert.deepEqual(fake.issued.map((i) => i.tenantId), [DEV.TenantId]);
    assert.equal(fake.calls.at(-1).path, `/subscriptions/${DEV.TenantId}/GetAwsConsoleTokenUrl`);
  });
});

test('an unknown tenant fails the grant naming it, without asking for credentials', async () => {
  await withDuplo(async ({ fake, shell }) => {
    const result = await shell(grantOnly('staging'));
    assertOk(result);
    const line = backendLine(result, 'grant', requestIdIn(result.stdout));
    assert.match(line, /FAILED/);
    assert.match(line, /staging/);
    assert.deepEqual(fake.issued, []);
    assert.ok(fake.calls.every((c) => !c.path.includes('GetAwsConsoleTokenUrl')));
  });
});

test('a non-admin token gets 403 for admin JIT: the grant fails at once, naming the status', async () => {
  await withDuplo(async ({ fake, shell }) => {
    const result = await shell(grantOnly('admin'));
    assertOk(result);
    const line = backendLine(result, 'grant', requestIdIn(result.stdout));
    assert.match(line, /FAILED/);
    assert.match(line, /403|Forbidden|forbidden|admin/);
    assert.equal(fake.calls.length, 1, 'a denial is not retried');
    assert.match(dmsTo(result.stdout, USERS.alice.id).join('\n'), /grant failed/);
    assertNoToken(result, fake.userToken);
  }, { env: (fake) => ({ DUPLO_TOKEN: fake.userToken }), role: ADMIN_ROLE });
});

test('a wrong token fails with 401 and is never echoed', async () => {
  const wrong = 'duplo-wrong-token-5c1e';
  await withDuplo(async ({ fake, shell }) => {
    const result = await shell(grantOnly('admin'));
    assertOk(result);
    const line = backendLine(result, 'grant', requestIdIn(result.stdout));
    assert.match(line, /FAILED/);
    assert.match(line, /401|Unauthorized|unauthorized/);
    assert.equal(fake.calls.length, 1);
    assertNoToken(result, wrong);
  }, { env: () => ({ DUPLO_TOKEN: wrong }), role: ADMIN_ROLE });
});

test('no DUPLO_TOKEN in the environment: a clear error naming the variable, no call', async () => {
  await withDuplo(async ({ fake, shell }) => {
    const result = await shell(grantOnly('admin'));
    // Either the config check refuses to start or the grant fails; both must name the variable.
    assert.match(result.stdout + result.stderr, /DUPLO_TOKEN/);
    assert.deepEqual(fake.calls, []);
  }, { env: () => ({ DUPLO_TOKEN: undefined }), role: ADMIN_ROLE });
});

test('token_env names the variable the token is read from', async () => {
  await withDuplo(async ({ fake, shell }) => {
    const result = await shell(grantOnly('admin'));
    assertOk(result);
    assert.match(backendLine(result, 'grant', requestIdIn(result.stdout)), /: ok/);
    assert.deepEqual(fake.calls.map((c) => c.user), ['jitbot@example.com']);
  }, {
    // DUPLO_TOKEN holds a wrong token: only reading JITBOT_DUPLO_API_TOKEN succeeds.
    env: (fake) => ({ JITBOT_DUPLO_API_TOKEN: fake.adminToken, DUPLO_TOKEN: 'not-this-one' }),
    backendExtra: 'token_env = "JITBOT_DUPLO_API_TOKEN"',
    role: ADMIN_ROLE,
  });
});

test('a 503 is retried', async () => {
  await withDuplo(async ({ fake, shell }) => {
    fake.failNext(503, { retryAfter: 1 });
    const result = await shell(grantOnly('admin'));
    assertOk(result);
    assert.match(backendLine(result, 'grant', requestIdIn(result.stdout)), /: ok/);
    assert.deepEqual(fake.calls.map((c) => c.status), [503, 200]);
    assert.equal(fake.issued.length, 1);
  }, { role: ADMIN_ROLE });
});

test('without admin = true, --scope admin is a tenant name like any other: never admin JIT access', async () => {
  await withDuplo(async ({ fake, shell }) => {
    const result = await shell(grantOnly('admin'));
    assertOk(result);
    const line = backendLine(result, 'grant', requestIdIn(result.stdout));
    assert.match(line, /FAILED/);
    assert.match(line, /no tenant named "admin"/);
    assert.deepEqual(fake.calls.map((c) => c.path), ['/admin/GetTenantsForUser'], 'the scope was looked up as a tenant');
    assert.ok(fake.calls.every((c) => !c.path.startsWith(ADMIN_JIT)), 'admin JIT access was asked for');
    assert.deepEqual(fake.issued, []);
  }, { role: { scopes: ['*'] } });
});

test('/jit extend (self_extend) opens a second console session, linked in the DM; access outlives the old end and expires at the new one', async () => {
  await withDuplo(async ({ fake, dir, shell }) => {
    const granted = await shell(grantOnly('admin'));
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    const oldEnd = /Active until (\S+)/.exec(granted.stdout)?.[1];
    assert.ok(oldEnd, granted.stdout);
    const newEnd = later(oldEnd, 3600);
    assert.equal(fake.issued.length, 1);

    const extended = await shell([...extendLines(id, '1h'), '/wait 2h10m', '/jit list --mine']);
    assertOk(extended);
    assert.match(backendLine(extended, 'extend', id), /: ok — DuploCloud opened a JIT console session/);
    // A JIT session cannot be lengthened: the extension is a fresh one, and its link is in the DM.
    assert.deepEqual(fake.calls.map((c) => [c.path, c.status]), [[`${ADMIN_JIT}admin`, 200], [`${ADMIN_JIT}admin`, 200]]);
    assert.equal(fake.issued.length, 2, 'a second session');
    const dm = dmsTo(extended.stdout, USERS.alice.id).find((text) => text.includes('was extended'));
    assert.ok(dm, `no DM says the access was extended:\n${extended.stdout}`);
    assert.match(dm.replace(/\n\s*/g, ' '), new RegExp(`${id} .*was extended: it now ends at ${newEnd}\\.`));
    assert.ok(dm.includes(`Console: ${fake.issued[1].ConsoleUrl}`), `the DM lacks the new session's link:\n${dm}`);
    assert.ok(!dm.includes(fake.issued[0].ConsoleUrl), 'the DM repeats the first session\'s link');
    const secondSessionEnd = /valid until (\S+) on DuploCloud's side/.exec(backendLine(extended, 'extend', id))?.[1];
    assert.ok(Date.parse(secondSessionEnd) > Date.parse(newEnd), `precondition: the ${fake.validity}s session outlasts the extension`);

    assert.ok(clockAfter(extended.stdout, '/wait 2h10m') > Date.parse(oldEnd), 'precondition: the wait passed the old end');
    assert.deepEqual(backendLines(extended.stdout, 'revoke'), []);
    assert.match(outputOf(extended.stdout, '/jit list --mine'), new RegExp(`${id}\\s+ACTIVE .*Active until ${newEnd}`));

    // A later session: still active just before the new end, expired after it, naming the second session's end.
    const ended = await shell(['/wait 2h50m', '/wait 20m']);
    assertOk(ended);
    assert.ok(clockAfter(ended.stdout, '/wait 2h50m') < Date.parse(newEnd), 'precondition: the first wait stops short of the new end');
    assert.doesNotMatch(outputOf(ended.stdout, '/wait 2h50m'), /· backend cloud revoke/);
    assert.match(outputOf(ended.stdout, '/wait 20m'), new RegExp(`· backend cloud revoke ${id}: ok`));
    assert.match(dmsTo(ended.stdout, USERS.alice.id).join(' ').replace(/\s+/g, ' '),
      new RegExp(`has expired\\. The console session you opened stays valid until ${secondSessionEnd}`));
    assert.equal(fake.calls.length, 2, 'the expiry called DuploCloud');
    assertNothingLeaked(fake, dir, [granted, extended, ended], fake.adminToken);
  }, { role: { ...ADMIN_ROLE, extra: [...ADMIN_ROLE.extra, ...SELF_EXTEND] }, fake: { validity: 4 * 3600 } });
});

function assertNoToken(result, token) {
  assertNotIn(result.stdout, 'stdout', token, 'the API token is never shown');
  assertNotIn(result.stderr, 'stderr', token, 'the API token is never shown');
}
