'use strict';
/**
 * The http backend end to end: the real `jitbot shell` posts signed grant and revoke documents to
 * FakeHttpBackend (the reference receiver), shows the receiver's reply to the requester, retries
 * what is retryable and never reveals the signing secret.
 *
 * Run: cd tests/backends && node --test http_backend.e2e.test.js   (needs build/bot/jitbot or JITBOT_BINARY)
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { USERS, writeConfig, runShell, approvalStory, toml, requestIdIn, dmsTo, databaseBytes, assertShellOk, backendLine, backendLines,
  SELF_EXTEND, extendLines, outputOf, clockAfter, later } = require('./shell_harness');
const { FakeHttpBackend, verify } = require('../fakes/cloud/fake_http_backend');
const { sendJson } = require('../fakes/cloud/fake_server');

const CONSOLE_URL = 'https://access.internal.example.com/sessions/console?team=orders';

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/// Starts FakeHttpBackend (TLS, base path /jit) and a jitbot config whose backend "cloud" posts to
/// it, then runs fn({fake, dir, shell}). options.env(fake) gives jitbot's extra environment
/// (default: JITBOT_HTTP_SECRET = the receiver's secret); options.backendExtra is more TOML;
/// options.timeout is the backend's timeout.
/// options.Receiver is the receiver's class (default FakeHttpBackend); options.roleExtra is more TOML
/// for the [[roles]] entry.
async function withReceiver(fn, { env = (fake) => ({ JITBOT_HTTP_SECRET: fake.secret }), backendExtra = '', timeout = '20s',
  Receiver = FakeHttpBackend, roleExtra = [] } = {}) {
  const fake = await new Receiver({ consoleUrl: CONSOLE_URL }).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-http-e2e-'));
  try {
    const backend = ['[[backends]]', 'name = "cloud"', 'type = "http"', `url = ${toml(fake.baseUrl)}`,
      `ca_file = ${toml(fake.caFile)}`, `timeout = ${toml(timeout)}`, backendExtra].join('\n');
    const { file } = writeConfig({ dir, backend, role: { provider: 'platform', name: 'db-admin', scopes: ['orders'], extra: roleExtra } });
    await fn({ fake, dir, shell: (lines) => runShell(file, lines, { env: env(fake) }) });
  } finally {
    await fake.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const story = () => approvalStory({ provider: 'platform', role: 'db-admin', scope: 'orders', reason: 'INC-4421 orders db' });
const grantOnly = () => story().filter((l) => !l.startsWith('/wait') && !l.startsWith('/jit list'));

const assertOk = assertShellOk;

function assertSecretKept(result, dir, secret) {
  assert.ok(!result.stdout.includes(secret), 'the secret is in stdout');
  assert.ok(!result.stderr.includes(secret), 'the secret is in stderr');
  assert.ok(!databaseBytes(dir).includes(secret), 'the secret is in the SQLite files');
}

// ---------------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------------

test('grant and revoke reach the receiver signed, with the exec backend document; its reply reaches the DM', async () => {
  await withReceiver(async ({ fake, dir, shell }) => {
    const result = await shell(story());
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/);
    assert.match(backendLine(result, 'revoke', id), /: ok/);
    assert.deepEqual(fake.calls.map((c) => [c.path, c.status, c.verified]), [['/jit/grant', 200, true], ['/jit/revoke', 200, true]]);

    const [grant, revoke] = fake.calls;
    assert.match(grant.headers['content-type'], /^application\/json/);
    assert.match(grant.headers['x-jitbot-timestamp'], /^\d+$/);
    assert.match(grant.headers['x-jitbot-signature'], /^v0=[0-9a-f]{64}$/);
    const doc = grant.document;
    assert.deepEqual({ ...doc, expires_at: undefined }, {
      version: 1, action: 'grant', request_id: id, provider: 'platform', role: 'db-admin', scope: 'orders',
      duration_seconds: 7200, expires_at: undefined, reason: 'INC-4421 orders db', break_glass: false,
      requester: { slack_user_id: USERS.alice.id, email: USERS.alice.email, name: USERS.alice.name },
      approvers: [USERS.bob.id],
    });
    assert.match(doc.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(revoke.document.action, 'revoke');
    assert.equal(revoke.document.request_id, id);
    assert.equal(revoke.document.grant_id, fake.grants()[0].grant_id, 'the revoke carries the grant_id the grant returned');
    assert.equal(fake.grants()[0].active, false);

    // The revoke ran after "/wait 2h" on the manual clock: its timestamp must still be the real time.
    const skew = Math.abs(Number(revoke.headers['x-jitbot-timestamp']) - Date.now() / 1000);
    assert.ok(skew < 300, `the revoke's timestamp is ${skew}s off the real clock`);

    const dm = dmsTo(result.stdout, USERS.alice.id).join('\n');
    assert.match(dm, /Granted db-admin on orders to alice@example\.com\./, `the receiver's message is not in the DM:\n${dm}`);
    assert.ok(dm.includes(`Console: ${CONSOLE_URL}`), `the receiver's console_url is not in the DM:\n${dm}`);
    assertSecretKept(result, dir, fake.secret);
  });
});

test('a 503 with Retry-After, then success: retried, granted once', async () => {
  await withReceiver(async ({ fake, shell }) => {
    fake.failNext(503, { retryAfter: 1, error: 'control plane restarting' });
    const result = await shell(grantOnly());
    assertOk(result);
    assert.match(backendLine(result, 'grant', requestIdIn(result.stdout)), /: ok/);
    assert.deepEqual(fake.calls.map((c) => [c.action, c.status]), [['grant', 503], ['grant', 200]]);
    assert.equal(fake.grants().length, 1);
  });
});

test('a lost reply (502 after the receiver granted) is retried with the same request ID: one grant', async () => {
  await withReceiver(async ({ fake, shell }) => {
    fake.failNext(502, { afterProcessing: true });
    const result = await shell(grantOnly());
    assertOk(result);
    const id = requestIdIn(result.stdout);
    assert.match(backendLine(result, 'grant', id), /: ok/);
    assert.deepEqual(fake.calls.map((c) => c.document?.request_id), [id, id]);
    assert.equal(fake.grants().length, 1);
    assert.equal(fake.grants()[0].grant_calls, 2);
  });
});

test('a wrong secret fails the grant with the receiver\'s error, at once; the secret is never shown', async () => {
  const wrong = 'wrong-http-secret-0b7d41';
  await withReceiver(async ({ fake, dir, shell }) => {
    const result = await shell(grantOnly());
    assertOk(result);
    const line = backendLine(result, 'grant', requestIdIn(result.stdout));
    assert.match(line, /FAILED/);
    assert.match(line, /invalid signature/, 'the receiver\'s "error" field is shown');
    assert.equal(fake.calls.filter((c) => c.action === 'grant').length, 1, 'a 401 is not retried');
    assert.match(dmsTo(result.stdout, USERS.alice.id).join('\n'), /grant failed: .*invalid signature/);
    assert.deepEqual(fake.grants(), []);
    assertSecretKept(result, dir, wrong);
    assertSecretKept(result, dir, fake.secret);
  }, { env: () => ({ JITBOT_HTTP_SECRET: wrong }) });
});

test('a 403 with an error field fails the grant with that error, not retried', async () => {
  await withReceiver(async ({ fake, shell }) => {
    fake.failNext(403, { error: 'alice is not on the orders on-call rota' });
    const result = await shell(grantOnly());
    assertOk(result);
    const line = backendLine(result, 'grant', requestIdIn(result.stdout));
    assert.match(line, /FAILED.*alice is not on the orders on-call rota/);
    assert.equal(fake.calls.filter((c) => c.action === 'grant').length, 1);
  });
});

test('secret_env names the variable the secret is read from', async () => {
  await withReceiver(async ({ fake, shell }) => {
    const result = await shell(grantOnly());
    assertOk(result);
    assert.match(backendLine(result, 'grant', requestIdIn(result.stdout)), /: ok/);
    assert.deepEqual(fake.calls.map((c) => c.verified), [true]);
  }, {
    // JITBOT_HTTP_SECRET holds a wrong secret: only reading PLATFORM_JIT_SECRET succeeds.
    env: (fake) => ({ PLATFORM_JIT_SECRET: fake.secret, JITBOT_HTTP_SECRET: 'not-this-one' }),
    backendExtra: 'secret_env = "PLATFORM_JIT_SECRET"',
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Extending active access
// ---------------------------------------------------------------------------------------------------------------

/// The reference receiver taught the extend action: POST {base}/extend with a version 2 document,
/// signed and checked like a grant; it moves the end of the grant it made for the request. Grants
/// record the end they were given, so a test can see what the receiver would enforce.
class ExtendingReceiver extends FakeHttpBackend {
  handle(req, body, res) {
    const url = new URL(req.url, 'http://fake');
    if (url.pathname !== `${this.basePath}/extend`) return super.handle(req, body, res);
    const call = { action: 'extend', path: url.pathname, status: 0, verified: false, error: null, document: null, headers: req.headers, at: Date.now() };
    this.calls.push(call);
    const reply = (code, value) => {
      call.status = code;
      if (value.error) call.error = value.error;
      sendJson(res, code, value);
    };
    if (req.method !== 'POST') return reply(405, { error: 'use POST' });
    const problem = verify(this.secret, req.headers, body);
    if (problem) return reply(401, { error: problem });
    call.verified = true;
    let document;
    try {
      document = JSON.parse(body.toString('utf8'));
    } catch {
      return reply(400, { error: 'body is not JSON' });
    }
    call.document = document;
    if (document.version !== 2 || document.action !== 'extend') return reply(400, { error: 'expected a version 2 extend document' });
    if (!document.previous_expires_at || !document.expires_at) return reply(400, { error: 'missing previous_expires_at or expires_at' });
    const record = this.records.get(document.request_id);
    if (!record || !record.active) return reply(409, { error: `nothing granted for ${document.request_id} to extend` });
    if (document.grant_id !== record.grant_id) return reply(409, { error: `grant_id ${document.grant_id} is not ${record.grant_id}` });
    record.expires_at = document.expires_at;
    return reply(200, { message: `Extended ${record.grant_id} until ${document.expires_at}.` });
  }

  grant(document) {
    const answer = super.grant(document);
    const record = this.records.get(document.request_id);
    if (record) record.expires_at = document.expires_at;
    return answer;
  }
}

/// Grant, then (a second shell run) Alice extends by 1h and time passes the old end, then (a third)
/// time passes the new end in two steps. Returns the three results and the ends.
async function extendStory(shell) {
  const granted = await shell(grantOnly());
  assertOk(granted);
  const id = requestIdIn(granted.stdout);
  const oldEnd = /Active until (\S+)/.exec(granted.stdout)?.[1];
  assert.ok(oldEnd, granted.stdout);
  const extended = await shell([...extendLines(id, '1h'), '/wait 2h10m', '/jit list --mine']);
  assertOk(extended);
  return { id, granted, extended, oldEnd, newEnd: later(oldEnd, 3600) };
}

/// What the requester sees of a successful extension, and that the access outlived its old end.
function assertExtended({ id, extended, oldEnd, newEnd }) {
  assert.match(backendLine(extended, 'extend', id), /: ok/);
  assert.match(dmsTo(extended.stdout, USERS.alice.id).join(' '), new RegExp(`${id} .*was extended: it now ends at ${newEnd}\\.`));
  assert.ok(clockAfter(extended.stdout, '/wait 2h10m') > Date.parse(oldEnd), 'precondition: the wait passed the old end');
  assert.deepEqual(backendLines(extended.stdout, 'revoke'), []);
  assert.match(outputOf(extended.stdout, '/jit list --mine'), new RegExp(`${id}\\s+ACTIVE .*Active until ${newEnd}`));
}

/// A third shell run: nothing is revoked just before the new end; the revoke comes after it.
async function assertEndsAtNewEnd(shell, { id, newEnd }) {
  const ended = await shell(['/wait 2h50m', '/wait 20m']);
  assertOk(ended);
  assert.ok(clockAfter(ended.stdout, '/wait 2h50m') < Date.parse(newEnd), 'precondition: the first wait stops short of the new end');
  assert.doesNotMatch(outputOf(ended.stdout, '/wait 2h50m'), /· backend cloud revoke/);
  assert.match(outputOf(ended.stdout, '/wait 20m'), new RegExp(`· backend cloud revoke ${id}: ok`));
  return ended;
}

test('/jit extend (self_extend) POSTs a signed version 2 document to /extend with previous_expires_at; the grant outlives the old end and is revoked at the new one', async () => {
  await withReceiver(async ({ fake, dir, shell }) => {
    const story = await extendStory(shell);
    const { id, extended, oldEnd, newEnd } = story;
    assertExtended(story);
    assert.deepEqual(fake.calls.map((c) => [c.path, c.status, c.verified]), [['/jit/grant', 200, true], ['/jit/extend', 200, true]]);
    const extend = fake.calls[1];
    assert.match(extend.headers['x-jitbot-signature'], /^v0=[0-9a-f]{64}$/);
    const [grant] = fake.grants();
    assert.deepEqual({ ...extend.document, duration_seconds: undefined }, {
      version: 2, action: 'extend', request_id: id, provider: 'platform', role: 'db-admin', scope: 'orders',
      duration_seconds: undefined, expires_at: newEnd, previous_expires_at: oldEnd, grant_id: grant.grant_id, reason: 'INC-4421 orders db',
      break_glass: false, requester: { slack_user_id: USERS.alice.id, email: USERS.alice.email, name: USERS.alice.name },
      approvers: [], // self_extend: nobody approved this extension, and the receiver is not told otherwise
    });
    assert.equal(extend.document.duration_seconds, 3 * 3600, 'the whole length of the access, extension included');
    assert.equal(grant.expires_at, newEnd, 'the receiver moved its end');
    assert.equal(grant.active, true, 'still granted after the old end');
    assert.match(dmsTo(extended.stdout, USERS.alice.id).join(' '), new RegExp(`Extended ${grant.grant_id} until ${newEnd}\\.`),
      'the receiver\'s message reaches the DM');

    const ended = await assertEndsAtNewEnd(shell, story);
    assert.deepEqual(fake.calls.map((c) => c.path), ['/jit/grant', '/jit/extend', '/jit/revoke']);
    assert.equal(fake.grants()[0].active, false);
    assert.match(dmsTo(ended.stdout, USERS.alice.id).join(' '), /has expired and was removed/);
    assertSecretKept(extended, dir, fake.secret);
  }, { Receiver: ExtendingReceiver, roleExtra: SELF_EXTEND });
});

/// A receiver written before extend existed that says so, as HTTP means it: 501 Not Implemented.
class NotImplementedReceiver extends FakeHttpBackend {
  handle(req, body, res) {
    const url = new URL(req.url, 'http://fake');
    if (url.pathname !== `${this.basePath}/extend`) return super.handle(req, body, res);
    this.calls.push({ action: 'extend', path: url.pathname, status: 501, verified: false, error: 'not implemented',
      document: null, headers: req.headers, at: Date.now() });
    return sendJson(res, 501, { error: 'extend is not implemented here' });
  }
}

test('a receiver that does not implement /extend (501) is sent a grant until the new end instead, and the extension succeeds', async () => {
  await withReceiver(async ({ fake, shell }) => {
    const story = await extendStory(shell);
    const { id, oldEnd, newEnd } = story;
    assertExtended(story);
    assert.deepEqual(fake.calls.map((c) => [c.path, c.status]), [['/jit/grant', 200], ['/jit/extend', 501], ['/jit/grant', 200]]);
    const [first, , again] = fake.calls;
    assert.equal(again.verified, true);
    // The grant document a receiver written before extend existed knows: version 1, the new end.
    assert.equal(first.document.expires_at, oldEnd);
    // The same grant, but for the extension: its approvers (none, with self_extend), and just the time left.
    assert.deepEqual({ ...again.document, expires_at: undefined, duration_seconds: undefined, approvers: undefined },
      { ...first.document, expires_at: undefined, duration_seconds: undefined, approvers: undefined });
    assert.deepEqual(again.document.approvers, []);
    const left = (Date.parse(newEnd) - again.at) / 1000;
    assert.ok(Math.abs(again.document.duration_seconds - left) <= 5,
      `a grant for the time left until the new end (${again.document.duration_seconds} s, ${left} s left)`);
    assert.equal(again.document.version, 1);
    assert.equal(again.document.action, 'grant');
    assert.equal(again.document.expires_at, newEnd);
    assert.equal(again.document.previous_expires_at, undefined);
    assert.equal(fake.grants().length, 1, 'the same grant, granted again (idempotent on the request ID)');
    assert.equal(fake.grants()[0].grant_calls, 2);
    assert.equal(fake.grants()[0].active, true);

    await assertEndsAtNewEnd(shell, story);
    assert.equal(fake.calls.at(-1).path, '/jit/revoke');
    assert.equal(fake.calls.at(-1).document.grant_id, fake.grants()[0].grant_id);
    assert.equal(fake.grants()[0].active, false);
  }, { Receiver: NotImplementedReceiver, roleExtra: SELF_EXTEND });
});

test('a 404 from /extend fails the extension: nothing is granted again, and access ends at the old end', async () => {
  await withReceiver(async ({ fake, shell }) => {
    const granted = await shell(grantOnly());
    assertOk(granted);
    const id = requestIdIn(granted.stdout);
    const oldEnd = /Active until (\S+)/.exec(granted.stdout)?.[1];
    const extended = await shell([...extendLines(id, '1h'), '/jit list --mine']);
    assertOk(extended);
    assert.deepEqual(fake.calls.map((c) => [c.path, c.status]), [['/jit/grant', 200], ['/jit/extend', 404]],
      'a 404 may mean "no such grant": no grant follows it');
    assert.match(dmsTo(extended.stdout, USERS.alice.id).join(' '), new RegExp(`${id} .*could not be extended: .*404.*It still ends at ${oldEnd}`));
    assert.match(outputOf(extended.stdout, '/jit list --mine'), new RegExp(`${id}\\s+ACTIVE .*Active until ${oldEnd}`));
  }, { roleExtra: SELF_EXTEND });
});

// A receiver that stays down: jitbot retries within the backend's timeout, using all of it (a
// backoff that would pass the deadline is cut short for one last try), then gives up saying so.
// With Retry-After: 1 it stops once the service's own wait would pass the deadline (2 s in).
// The bounds are wide for a loaded machine; what matters to the requester is an answer about when
// the timeout says, not much sooner (access given up on too early) and not never.
for (const { retryAfter, atLeastSeconds } of [{ retryAfter: undefined, atLeastSeconds: 2.2 }, { retryAfter: 1, atLeastSeconds: 1.9 }]) {
  const hint = retryAfter === undefined ? 'no Retry-After' : `Retry-After: ${retryAfter}`;
  test(`a receiver answering 503 (${hint}) until timeout = "3s" runs out: the grant fails in time, naming the 503, and nothing stays granted`, async () => {
    await withReceiver(async ({ fake, shell }) => {
      // The receiver grants, but its answer never gets back (a proxy in front of it answers 503):
      // the access exists on the receiver's side, so giving up must also take it away.
      fake.failNext(503, { times: Infinity, action: 'grant', afterProcessing: true, retryAfter, error: 'upstream timed out' });
      const result = await shell(grantOnly());
      assertOk(result);
      const id = requestIdIn(result.stdout);
      const line = backendLine(result, 'grant', id);
      assert.match(line, /FAILED — .*HTTP 503.*gave up after \d+ tries when the backend's timeout \(3s\) ran out/,
        'the grant fails with a message naming the 503 and the timeout that ended the retries');
      assert.match(dmsTo(result.stdout, USERS.alice.id).join('\n'), /grant failed: .*HTTP 503/, 'Alice is told the grant failed and why');

      const grants = fake.calls.filter((c) => c.action === 'grant');
      const cleanup = fake.calls.find((c) => c.action === 'revoke');
      assert.ok(grants.length >= 3, `a persistent 503 is retried while the timeout lasts (${grants.length} grant calls)`);
      assert.ok(grants.every((c) => c.status === 503), 'precondition: every grant call got the 503');
      assert.ok(cleanup, `after giving up jitbot removes what the receiver may have granted:\n${result.stdout}`);
      assert.ok(grants.every((c) => c.at <= cleanup.at), 'no grant call comes after jitbot gave up');
      const seconds = (cleanup.at - grants[0].at) / 1000;
      assert.ok(seconds >= atLeastSeconds, `the grant keeps retrying until its 3 s timeout is nearly spent before giving up, not ${seconds} s`);
      assert.ok(seconds < 20, `the grant gives up when its 3 s timeout runs out, not after ${seconds} s`);

      assert.equal(fake.grants().length, 1, 'precondition: the receiver granted (idempotently) though its answers were lost');
      assert.equal(fake.grants()[0].active, false, 'nothing stays granted after the grant failed');
      assert.match(backendLine(result, 'revoke', id), /: ok/, 'the clean-up revoke succeeds');
      const cardLines = result.stdout.split('\n').filter((l) => l.trim().startsWith('Grant failed:'));
      assert.match(cardLines.at(-1) || '', /HTTP 503.*Nothing is granted/, `the card ends saying the grant failed and nothing is granted:\n${result.stdout}`);
    }, { timeout: '3s' });
  });
}
