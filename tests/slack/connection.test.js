// How `jitbot run` treats its connection to Slack: tokens, reconnects, rate limits, crashes, TLS.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { AWS, BotUnderTest, USERS, APPROVALS, cardText, buttons, isActive, withBot } = require('./harness');

test('missing or malformed tokens: exit 2 with a clear message that never shows the token', async () => {
  const cases = [
    [{ SLACK_APP_TOKEN: '' }, /SLACK_APP_TOKEN is not set/],
    [{ SLACK_APP_TOKEN: 'xoxb-secret-value-123' }, /SLACK_APP_TOKEN must start with xapp-/],
    [{ SLACK_BOT_TOKEN: 'xapp-secret-value-456' }, /SLACK_BOT_TOKEN must start with xoxb-/],
  ];
  for (const [env, message] of cases) {
    const bot = new BotUnderTest({ env, noWaitForConnection: true });
    try {
      await bot.start();
      const exit = await bot.exitPromise;
      assert.equal(exit.code, 2, `exit code for ${JSON.stringify(env)}`);
      assert.match(bot.stderr, message);
      assert.ok(!bot.stderr.includes('secret-value'), 'the token value is never printed');
      assert.equal(bot.slack.connectionLog.length, 0);
    } finally {
      await bot.close();
    }
  }
});

test('a revoked app token (invalid_auth) stops the bot with advice instead of retrying forever', async () => {
  const bot = new BotUnderTest({ env: { SLACK_APP_TOKEN: 'xapp-1-A111-revoked' }, noWaitForConnection: true });
  try {
    await bot.start();
    const exit = await bot.exitPromise;
    assert.equal(exit.code, 1);
    assert.match(bot.stderr, /apps\.connections\.open failed: invalid_auth/);
    assert.match(bot.stderr, /SLACK_APP_TOKEN/);
    assert.ok(!bot.stderr.includes('xapp-1-A111-revoked'));
  } finally {
    await bot.close();
  }
});

test('Socket Mode turned off (link_disabled) stops the bot with advice', async () => {
  await withBot({}, async (bot) => {
    bot.slack.linkDisabled('link_disabled');
    const exit = await bot.exitPromise;
    assert.equal(exit.code, 1);
    assert.match(bot.stderr, /Socket Mode/);
  });
});

test('refresh_requested: the new socket is open before the old one closes, and nothing waits', async () => {
  await withBot({}, async (bot) => {
    const [first] = bot.slack.connectionLog;
    bot.slack.disconnect('refresh_requested');
    // A command right after the notice still reaches the bot over the old socket.
    const answer = await bot.command(USERS.alice, 'list');
    assert.match(answer, /none/);
    const second = await bot.slack.waitFor(() => bot.slack.connectionLog[1], 5000, 'a second socket');
    await bot.slack.waitFor(() => first.closed, 5000, 'the old socket to close');
    assert.ok(second.opened <= first.closed, `new socket opened at ${second.opened}, old closed at ${first.closed}`);
    assert.notEqual(second.ticket, first.ticket, 'a fresh URL for each connection');
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "after refresh"`);
    await bot.waitForCard(id);
  });
});

test('a dropped socket is replaced and work goes on', async () => {
  await withBot({}, async (bot) => {
    bot.slack.dropSockets();
    await bot.slack.waitFor(() => bot.slack.liveConnections >= 1 && bot.slack.connectionLog.length >= 2, 8000,
      'a new socket after the drop');
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "after drop"`);
    await bot.waitForCard(id);
  });
});

test('a half-open socket (no pongs) is noticed and replaced', async () => {
  await withBot({ pingTimeout: '2s' }, async (bot) => {
    bot.slack.halfOpen();
    await bot.slack.waitFor(() => bot.slack.liveConnections >= 1, 10000, 'a live socket replacing the silent one');
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "after half-open"`);
    await bot.waitForCard(id);
  });
});

test('a 429 on the card post: the card is posted once, after Retry-After', async () => {
  await withBot({}, async (bot) => {
    bot.slack.injectError('chat.postMessage', { status: 429, retryAfter: 1, count: 1 });
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "rate limited"`);
    await bot.waitForCard(id);
    const posts = bot.slack.callsTo('chat.postMessage');
    assert.equal(posts.length, 2, 'one refused post, one retry');
    assert.equal(posts[0].status, 429);
    assert.ok(posts[1].ok);
    assert.ok(posts[1].atMs - posts[0].atMs >= 1000, `retried after ${posts[1].atMs - posts[0].atMs} ms`);
    assert.equal(bot.slack.messages(APPROVALS).length, 1, 'exactly one card');
  });
});

test('a Slack outage delays the card, never loses it', async () => {
  await withBot({}, async (bot) => {
    bot.slack.injectError('chat.postMessage', { status: 503, count: 8 });
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "outage"`);
    const card = await bot.slack.waitFor(() => bot.cardFor(id), 20000, 'the card once Slack is back');
    assert.deepEqual(buttons(card), ['jit_approve', 'jit_deny']);
    assert.equal(bot.slack.messages(APPROVALS).length, 1);
  });
});

test('kill -9 with an active grant: after restart it is still revoked on time', async () => {
  await withBot({}, async (bot) => {
    const id = await bot.request(USERS.alice, `${AWS} --duration 4s --reason "crash test"`);
    await bot.waitForCard(id);
    await bot.click(USERS.bob, id, 'jit_approve');
    await bot.waitForCard(id, isActive);
    await bot.crash();
    const grantedAt = Date.parse(bot.backendCalls().find((call) => call.action === 'grant').at);
    await bot.launch();
    const revoke = await bot.waitForBackend('revoke', id);
    // The demo backend logs whole seconds; the revoke is due 4 s after the grant.
    const late = Date.parse(revoke.at) - grantedAt;
    assert.ok(late >= 3000 && late <= 7000, `revoked ${late} ms after the grant`);
    await bot.waitForCard(id, (c) => /Expired at/.test(cardText(c)), 'the expired card');
    assert.equal(bot.backendCalls().filter((call) => call.action === 'grant').length, 1, 'no second grant');
  });
});

test('TLS: jitbot verifies the server certificate and its host name', async () => {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'jitbot-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], { stdio: 'ignore' });
  const tls = { key: fs.readFileSync(key, 'utf8'), cert: fs.readFileSync(cert, 'utf8') };

  // Trusted CA: https:// Web API and wss:// Socket Mode both work.
  await withBot({ fake: { tls }, caFile: cert }, async (bot) => {
    assert.match(bot.slack.apiUrl, /^https:\/\/localhost:/);
    assert.match(bot.slack.connectionLog[0].url || '', /ticket=/);
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "over tls"`);
    await bot.waitForCard(id);
  });

  // Without that CA the same server is refused: no call ever reaches it.
  const untrusted = new BotUnderTest({ fake: { tls }, noWaitForConnection: true });
  try {
    await untrusted.start();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(untrusted.slack.apiCalls.length, 0, 'no request passed an unverified TLS handshake');
    assert.equal(untrusted.slack.connectionLog.length, 0);
  } finally {
    await untrusted.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('an envelope delivered twice is acked twice but handled once; a redelivered event is acked', async () => {
  await withBot({}, async (bot) => {
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "dedup"`);
    await bot.waitForCard(id);
    const click = await bot.click(USERS.alice, id, 'jit_approve'); // refused: her own request
    await bot.answerTo(click);
    // The very same frame again, as a retry across sockets could bring it.
    bot.slack.sendRaw(JSON.stringify(bot.slack._envelopes.get(click.envelope_id).envelope));
    await bot.slack.waitFor(
      () => bot.slack.clientErrors.some((e) => e.kind === 'duplicate_ack' && e.data.includes(click.envelope_id)),
      5000,
      'the duplicate to be acked too',
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(bot.slack.responses(click.response_url).length, 1, 'answered once');

    const first = bot.slack.sendEvent({ type: 'app_mention', user: USERS.bob.id, text: 'hi', channel: 'C0OPS' },
      { event_id: 'Ev0DEDUP' });
    const again = bot.slack.sendEvent({ type: 'app_mention', user: USERS.bob.id, text: 'hi', channel: 'C0OPS' },
      { event_id: 'Ev0DEDUP', retry_attempt: 1, retry_reason: 'timeout' });
    await bot.slack.waitForAck(first.envelope_id);
    await bot.slack.waitForAck(again.envelope_id);
    assert.equal(bot.slack.eventTimeouts.length, 0, 'no event missed its deadline');
  });
});
