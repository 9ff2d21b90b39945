// How `jitbot run` treats its connection to Slack: tokens, reconnects, rate limits, crashes (TLS: tls.test.js).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { AWS, BotUnderTest, USERS, APPROVALS, assertNoSecrets, cardText, buttons, isActive, withBot } = require('./harness');

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
      assert.equal(exit.code, 2, `a missing or malformed token exits with 2 (${Object.keys(env).join()})`);
      assert.match(bot.stderr, message, 'the message says which token is wrong and how');
      // Neither the token nor any 12-character piece of it is printed (the check never prints it either).
      assertNoSecrets(bot.stderr, bot.secrets(), "jitbot's stderr for a malformed token");
      assert.equal(bot.slack.connectionLog.length, 0, 'nothing is sent to Slack with a malformed token');
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
    assertNoSecrets(bot.stderr, bot.secrets(), "jitbot's stderr for a revoked token");
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

test('a redelivered envelope is handled once: one request, one card, one answer; a redelivered event is acked', async () => {
  await withBot({}, async (bot) => {
    const { slack } = bot;
    // The very same frame again, as a retry across sockets could bring it; resolves once jitbot has acked it too, so
    // it reached jitbot (which keeps an input before it acks).
    const redeliver = async (sent) => {
      slack.sendRaw(JSON.stringify(slack._envelopes.get(sent.envelope_id).envelope));
      await slack.waitFor(() => slack.clientErrors.some((e) => e.kind === 'duplicate_ack' && e.data.includes(sent.envelope_id)),
        5000, 'the redelivered envelope to reach jitbot');
    };

    const command = slack.slashCommand({ user: USERS.alice.id, channel: 'C0OPS', command: '/jit',
      text: `request ${AWS} --duration 1h --reason "delivered twice"` });
    const answer = await bot.firstResponse(command.response_url, 8000, 'the answer to the request');
    const id = /req_[0-9A-Z]{26}/.exec(answer.text)[0];
    await bot.waitForCard(id);
    await redeliver(command);

    const click = await bot.click(USERS.alice, id, 'jit_approve'); // refused: her own request
    await bot.answerTo(click);
    await redeliver(click);

    // Input is handled in the order it came, so once a request sent after both duplicates has its card, a duplicate
    // handled again would have made its own request and answer; two more seconds for its card to arrive.
    const later = await bot.request(USERS.bob, `${AWS} --duration 1h --reason "after the duplicates"`);
    await bot.waitForCard(later);
    await delay(2000);

    const cards = slack.messages(APPROVALS).filter((message) => cardText(message).includes('delivered twice'));
    assert.equal(cards.length, 1, 'a command delivered twice makes one card');
    const list = await bot.cli(['requests', 'list']);
    assert.equal(list.status, 0, list.stderr);
    const hers = list.stdout.split('\n').filter((line) => line.includes(`by ${USERS.alice.id}`));
    assert.equal(hers.length, 1, `a command delivered twice makes one request:\n${list.stdout}`);
    assert.equal(slack.responses(command.response_url).length, 1, 'a command delivered twice is answered once');
    assert.equal(slack.responses(click.response_url).length, 1, 'a click delivered twice is answered once');
    assert.deepEqual(buttons(bot.cardFor(id)), ['jit_approve', 'jit_deny'], 'the card is unchanged');

    // Slack redelivers an unacked event with a new envelope and the same event_id; both are acked (the harness fails
    // any test with a late or missing ack), so Slack stops retrying.
    const first = slack.sendEvent({ type: 'app_mention', user: USERS.bob.id, text: 'hi', channel: 'C0OPS' },
      { event_id: 'Ev0DEDUP' });
    const again = slack.sendEvent({ type: 'app_mention', user: USERS.bob.id, text: 'hi', channel: 'C0OPS' },
      { event_id: 'Ev0DEDUP', retry_attempt: 1, retry_reason: 'timeout' });
    await slack.waitForAck(first.envelope_id);
    await slack.waitForAck(again.envelope_id);
  });
});
