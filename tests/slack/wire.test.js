// What `jitbot run` promises on the wire (README, "How it behaves on the wire"): answers inside the ack, a clean stop
// on SIGTERM, pacing that keeps Slack from answering 429, retries with backoff, the 10 s Web API timeout and the
// directory cache. Each test drives the real binary through the fake Slack and checks what people would see.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const {
  AWS, APPROVALS, BotUnderTest, SECRET_PIECE, USERS, assertNoSecrets, cardText, isActive, redact, until, withBot,
} = require('./harness');

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const gapsOf = (times) => times.slice(1).map((t, i) => t - times[i]);
const seconds = (list) => list.map((ms) => (ms / 1000).toFixed(2)).join(', ');

test('help and malformed commands are answered in the ack itself, only to the person, and nothing else is posted', async () => {
  await withBot({}, async (bot) => {
    const cases = [
      ['help', /\/jit request/],
      ['request --duration', /--duration needs a value[\s\S]*Usage: \/jit request/],
      ['request --provider aws --role prod-infra-admin --scope 123456789012 --duration soon --reason x', /not a duration/],
      ['frobnicate', /Unknown command "frobnicate"/],
    ];
    const sent = [];
    for (const [text, expected] of cases) {
      const command = bot.slack.slashCommand({ user: USERS.alice.id, channel: 'C0OPS', command: '/jit', text });
      const ack = await bot.slack.waitForAck(command.envelope_id);
      assert.equal(ack.form, 'payload', `"/jit ${text}" is answered in the ack itself (the ack carried no answer)`);
      assert.match(ack.payload.text || '', expected, `the answer in the ack to "/jit ${text}" says what is wrong or how to use it`);
      sent.push([text, command]);
    }
    await delay(2000); // an answer also sent some other way (response_url, chat.postEphemeral) would show by now
    for (const [text, command] of sent) {
      assert.deepEqual(bot.slack.responses(command.response_url).map((post) => post.via), ['ack'],
        `"/jit ${text}" gets one answer, the one in the ack, not a later response_url post`);
    }
    assert.deepEqual(bot.slack.callsTo('chat.postEphemeral').map((call) => call.args.text), [],
      'answers to help and malformed commands are in the ack, not chat.postEphemeral');
    assert.deepEqual(bot.slack.messages('C0OPS'), [], 'the answers are seen only by the person who typed, not the channel');
    assert.deepEqual(bot.slack.messages(APPROVALS), [], 'a malformed command creates nothing');
  });
});

test('SIGTERM: jitbot exits with code 0 within 3 s and closes its socket with a close frame', async () => {
  await withBot({}, async (bot) => {
    // Every part has work behind it: a request, its card, a grant, the DM.
    const id = await bot.request(USERS.alice, `${AWS} --duration 2h --reason "before the stop"`);
    await bot.waitForCard(id);
    await bot.click(USERS.bob, id, 'jit_approve');
    await bot.waitForCard(id, isActive, 'the card showing active access');
    await bot.waitForDm(USERS.alice, /access is active/i);

    const open = bot.slack.connectionLog.filter((log) => log.closed === null);
    assert.equal(open.length, 1, 'one Socket Mode connection is open before the stop');
    const exit = await bot.stop(3000); // fails the test if jitbot is still running 3 s after SIGTERM
    assert.equal(exit.code, 0, 'SIGTERM stops jitbot with exit code 0');
    await bot.slack.waitFor(() => open[0].closed !== null, 5000, 'the fake to see the socket end');
    assert.equal(open[0].closedBy, 'client',
      `SIGTERM closes the Socket Mode connection with a close frame, not a dropped TCP connection (close code ${open[0].closeCode})`);
  });
});

test('SIGTERM while Slack hangs every Web API call: jitbot still exits with code 0 within its 20 s stop deadline', { timeout: 120000 }, async () => {
  await withBot({}, async (bot) => {
    // Cards and DMs hang: the courier is stuck in a call Slack never answers when the stop comes.
    bot.slack.injectLatency('chat.postMessage', 10 * 60 * 1000, { count: 1000, dropIfGone: true });
    const id = await bot.request(USERS.alice, `${AWS} --duration 2h --reason "slack hangs at the stop"`);
    await delay(2000); // the card post is on its way and hangs (a hung call is recorded only when jitbot hangs up)
    assert.equal(bot.slack.messages(APPROVALS).length, 0, 'precondition: the card post hangs');
    const started = Date.now();
    const exit = await bot.stop(25000); // a supervisor (Kubernetes: 30 s) must not have to kill it
    const took = (Date.now() - started) / 1000;
    assert.equal(exit.code, 0, 'a stop with work stuck on Slack still exits with code 0');
    assert.ok(took < 25, `jitbot stops within its deadline however long Slack hangs (took ${took} s)`);
    assert.match(bot.stderr, /still stopping after 10s: closing Slack/, 'the log says why the stop took longer');
    // Nothing is lost: the card is still owed, in the database, for the next start.
    const shown = await bot.cli(['requests', 'show', id]);
    assert.equal(shown.status, 0, shown.stderr);
    assert.match(shown.stdout, /PENDING/, 'the request is kept for the next start');
  });
});

test('SIGTERM during start-up, while jitbot still waits on Slack, ends it at once with code 0', { timeout: 60000 }, async () => {
  const bot = new BotUnderTest({
    noWaitForConnection: true,
    prepare: (slack) => slack.injectLatency('auth.test', 10 * 60 * 1000, { count: 100, dropIfGone: true }),
  });
  try {
    await bot.start();
    await delay(1500); // auth.test hangs (a hung call is recorded only when jitbot hangs up)
    assert.equal(bot.exited, null, 'jitbot is still starting, waiting on auth.test');
    assert.equal(bot.slack.connectionLog.length, 0, 'precondition: not connected yet');
    const exit = await bot.stop(3000);
    assert.equal(exit.code, 0, 'a stop during start-up exits with code 0');
    assert.match(bot.stderr, /stopped during start-up/);
  } finally {
    await bot.close();
  }
});

test('the harness fails a test when SIGTERM does not stop the process cleanly, rather than killing it silently', async () => {
  // A process that ignores SIGTERM must fail the test and still be killed.
  const stubborn = new BotUnderTest();
  stubborn.watch(spawn('sh', ['-c', 'trap "" TERM; exec sleep 60'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  await delay(200); // the trap is set
  await assert.rejects(stubborn.stop(500), /SIGTERM stops jitbot cleanly: it was still running 500 ms after SIGTERM/,
    'a process still running after SIGTERM fails the test');
  assert.equal(stubborn.exited.signal, 'SIGKILL', 'and is then killed, so nothing is left running');

  // One that exits on SIGTERM with an error code fails it too.
  const failing = new BotUnderTest();
  failing.watch(spawn('sh', ['-c', 'trap "exit 3" TERM; while :; do sleep 0.05; done'], { stdio: ['ignore', 'ignore', 'pipe'] }));
  await delay(200);
  await assert.rejects(failing.stop(5000), /exit code 0: it exited with code 3/, 'a non-zero exit after SIGTERM fails the test');
  for (const bot of [stubborn, failing]) await bot.close();
});

test('channel_post_interval = "1s": a burst of 5 cards to one channel is spread over at least 4 s, and Slack never answers 429', { timeout: 90000 }, async () => {
  // The fake enforces Slack's limit for chat.postMessage: about one message per second per channel, short bursts.
  await withBot({ channelPostInterval: '1s', fake: { rateLimits: true } }, async (bot) => {
    const crowd = bot.addUsers(5, 'U0PACE');
    const ids = await Promise.all(crowd.map((user, i) => bot.request(user, `${AWS} --duration 1h --reason "burst ${i}"`)));
    await until(() => ids.every((id) => bot.cardFor(id)), 40000, 'the 5 cards');
    const posts = bot.slack.callsTo('chat.postMessage').filter((call) => call.args.channel === APPROVALS);
    assert.deepEqual(posts.filter((call) => call.status === 429).map((call) => call.atMs), [],
      'paced posts are never refused with 429 by Slack');
    const times = ids.map((id) => bot.cardFor(id).postedAtMs).sort((a, b) => a - b);
    // jitbot sends them at least 1 s apart; the fake sees their arrival, which load can shift by a fraction of a second.
    assert.ok(times[4] - times[0] >= 3500,
      `5 cards to one channel take at least about 4 s with channel_post_interval = "1s" (took ${times[4] - times[0]} ms)`);
    assert.equal(bot.slack.messages(APPROVALS).length, 5, 'every card arrives once');
  });
});

test('method_pacing = true: 160 people granted at once, users.info stays within Tier 4 and Slack never answers 429', { timeout: 300000 }, async () => {
  // Slack documents Tier 4 (users.info) as "100+ per minute, including generous burst behavior". The fake holds
  // users.info to that: a bucket of one minute's allowance, refilled at 100 a minute, with one call to spare (the "+"),
  // since jitbot paces at exactly the tier and its calls reach Slack a little after it counts them. Other methods are
  // left unlimited here, so that only users.info is under test. 160 distinct people need 160 lookups within seconds (grants run
  // 16 at once): more than the tier allows, unless jitbot spreads them out.
  const others = ['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'conversations.open', 'usergroups.users.list',
    'auth.test', 'apps.connections.open'];
  const rateLimits = {
    tiers: { 4: { perMinute: 100, burst: 101 } },
    methodTiers: Object.fromEntries(others.map((method) => [method, null])),
  };
  const crowd = Array.from({ length: 160 }, (_, i) => `U0TIER${String(i + 1).padStart(4, '0')}`);
  const role = `
[[roles]]
provider = "aws"
name = "oncall-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = ["${USERS.bob.id}"]
max_duration = "4h"
break_glass_requesters = [${crowd.map((id) => JSON.stringify(id)).join(', ')}]
`;
  await withBot({ methodPacing: true, fake: { rateLimits }, extra: role, backendExtra: 'max_concurrent = 16' }, async (bot) => {
    const people = bot.addUsers(crowd.length, 'U0TIER');
    const ids = await Promise.all(people.map((user) =>
      bot.request(user, '--provider aws --role oncall-admin --scope 123456789012 --duration 1h --break-glass --reason "outage"', 30000)));
    await until(() => {
      const granted = new Set(bot.backendCalls().filter((call) => call.action === 'grant').map((call) => call.requestId));
      return ids.every((id) => granted.has(id));
    }, 240000, 'a grant for each of the 160 break-glass requests', 250);

    const lookups = bot.slack.callsTo('users.info');
    assert.deepEqual(lookups.filter((call) => call.status === 429).map((call) => call.args.user), [],
      'with method_pacing, users.info keeps within its tier: Slack never answers 429');
    assert.equal(new Set(lookups.map((call) => call.args.user)).size, crowd.length, 'each person was looked up in Slack');
    for (const user of people) {
      assert.ok(bot.backendCalls().some((call) => call.action === 'grant' && call.line.includes(`for ${user.id} (${user.email})`)),
        `the grant for ${user.id} carries the email Slack gave for them`);
    }
  });
});

test('apps.connections.open answering 5xx at start-up is retried with growing, capped gaps, then jitbot connects', { timeout: 180000 }, async () => {
  const failures = 12;
  await withBot({
    noWaitForConnection: true,
    prepare: (slack) => slack.injectError('apps.connections.open', { status: 503, error: 'service_unavailable', count: failures }),
  }, async (bot) => {
    await bot.slack.waitFor(() => bot.exited || bot.slack.connectionLog.length > 0, 150000,
      'jitbot to connect once apps.connections.open answers');
    assert.equal(bot.exited, null, `a 5xx from apps.connections.open is retried, never the end of jitbot: ${JSON.stringify(bot.exited)}`);
    const times = bot.slack.callsTo('apps.connections.open').map((call) => call.atMs);
    assert.equal(times.length, failures + 1, 'every refused apps.connections.open is tried again, and the one that works is the last');
    const gaps = gapsOf(times);
    const shortest = Math.min(...gaps);
    const longest = Math.max(...gaps);
    assert.ok(shortest >= 400, `Slack is not hammered: at least 0.4 s between tries (gaps in s: ${seconds(gaps)})`);
    assert.ok(longest >= 3000 && longest >= 4 * shortest,
      `the gaps between tries grow: to seconds, several times the shortest (gaps in s: ${seconds(gaps)})`);
    assert.ok(longest <= 40000, `the gaps are capped at 30 s, so jitbot comes back soon after Slack does (gaps in s: ${seconds(gaps)})`);

    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "after the outage"`);
    await bot.waitForCard(id);
  });
});

test('reconnect backoff grows exponentially and is capped at 30 s: eight refused sockets in a row, then it connects', { timeout: 300000 }, async () => {
  // apps.connections.open works, but the WebSocket upgrade is refused eight times: each refusal is a failed
  // connection, and jitbot waits longer after each (with jitter), never more than 30 s.
  const refusals = 8;
  await withBot({ noWaitForConnection: true, prepare: (slack) => slack.rejectUpgrades(refusals) }, async (bot) => {
    await bot.slack.waitFor(() => bot.exited || bot.slack.connectionLog.length > 0, 240000,
      'jitbot to connect after eight refused upgrades');
    assert.equal(bot.exited, null, `a refused socket is retried, never the end of jitbot: ${JSON.stringify(bot.exited)}`);
    assert.equal(bot.slack.upgradeRejections.length, refusals, 'every refused upgrade was tried again');
    const attempts = [...bot.slack.upgradeRejections.map((rejection) => rejection.atMs), bot.slack.connectionLog[0].opened];
    const gaps = gapsOf(attempts);
    assert.ok(gaps.at(-1) >= 8 * gaps[0] && gaps.at(-1) >= 10000,
      `the wait after each failure grows (gaps in s: ${seconds(gaps)})`);
    assert.ok(gaps.every((gap) => gap <= 38000),
      `no wait between reconnects is longer than 30 s, plus a margin for a loaded machine (gaps in s: ${seconds(gaps)})`);
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "after the refusals"`);
    await bot.waitForCard(id);
  });
});

test('a Web API call Slack never answers is given up after about 10 s and retried: the card still arrives, once', { timeout: 120000 }, async () => {
  await withBot({}, async (bot) => {
    // The first card post reaches Slack and hangs there: never answered, never carried out.
    const hang = bot.slack.injectLatency('chat.postMessage', 10 * 60 * 1000,
      { count: 1, dropIfGone: true, when: (args) => args.channel === APPROVALS });
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "slack hangs"`);
    const card = await bot.waitForCard(id, () => true, 'the card after the hung post', 60000);
    assert.equal(hang.fired, 1, 'the first post hung');
    const posts = bot.slack.callsTo('chat.postMessage').filter((call) => call.args.channel === APPROVALS);
    const hung = posts.find((call) => call.dropped);
    assert.ok(hung, 'jitbot gave up on the hung post (closed its connection)');
    assert.ok(hung.durationMs >= 9000, `jitbot waits about 10 s for an answer before giving up (gave up after ${Math.round(hung.durationMs)} ms)`);
    assert.ok(hung.durationMs <= 30000, `jitbot does not wait for ever on a call Slack never answers (waited ${Math.round(hung.durationMs)} ms)`);
    const retry = posts.find((call) => call.ok);
    assert.ok(retry && retry.atMs >= hung.atMs + hung.durationMs - 100, 'the card was posted by a retry after jitbot gave up');
    assert.match(cardText(card), /Pending: 0 of 1 approvals/);
    assert.equal(bot.slack.messages(APPROVALS).length, 1, 'exactly one card');
  });
});

test('directory: users.info is asked once per person while cached, and a [directory] entry wins over Slack', { timeout: 120000 }, async () => {
  const configured = { name: 'Oscar From Config', email: 'oscar.oncall@config.example' };
  const extra = `
[directory.users]
${USERS.oscar.id} = { name = ${JSON.stringify(configured.name)}, email = ${JSON.stringify(configured.email)} }
`;
  await withBot({ extra }, async (bot) => {
    // Three requests by alice, one after another, each approved and granted: Slack is asked about her once.
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "cache ${i}"`);
      await bot.waitForCard(id);
      await bot.click(USERS.bob, id, 'jit_approve');
      const grant = await bot.waitForBackend('grant', id);
      assert.match(grant.line, /for U0ALICE \(alice@example\.com\)/, 'the backend gets the email Slack has for her');
      ids.push(id);
    }
    await bot.click(USERS.alice, ids[0], 'jit_revoke');
    await bot.waitForBackend('revoke', ids[0]);
    const asked = bot.slack.callsTo('users.info').filter((call) => call.args.user === USERS.alice.id);
    assert.equal(asked.length, 1, 'users.info is asked once per person within the cache lifetime (5 minutes), not per grant or revoke');

    // Oscar is in [directory]: the backend gets the config's email, and Slack is never asked about him.
    const answer = await bot.command(USERS.oscar, `request ${AWS} --duration 30m --break-glass --reason "prod down"`);
    const id = /req_[0-9A-Z]{26}/.exec(answer)[0];
    const grant = await bot.waitForBackend('grant', id);
    assert.ok(grant.line.includes(`for ${USERS.oscar.id} (${configured.email})`),
      `a [directory] entry takes precedence over Slack: the backend gets the config's email (${grant.line})`);
    assert.ok(!grant.line.includes(USERS.oscar.email), "Slack's email for him is not used");
    assert.deepEqual(bot.slack.callsTo('users.info').filter((call) => call.args.user === USERS.oscar.id), [],
      'Slack is not asked about someone the config already describes');
  });
});

test('the secret check finds a whole secret or any 12-character piece of it, and never shows it', () => {
  const secret = { name: 'SLACK_BOT_TOKEN', value: 'xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp' };
  assert.doesNotThrow(() => assertNoSecrets('nothing to see here', [secret], 'a string'));
  assert.doesNotThrow(() => assertNoSecrets(`a ${secret.value.slice(3, 3 + SECRET_PIECE - 1)} b`, [secret], 'a string'),
    'eleven characters are not yet a leak');
  const pieces = [secret.value];
  for (let i = 0; i + SECRET_PIECE <= secret.value.length; i++) pieces.push(secret.value.slice(i, i + SECRET_PIECE));
  for (const piece of pieces) {
    assert.throws(() => assertNoSecrets(`log line: token=${piece} end`, [secret], "jitbot's stderr"), (error) => {
      assert.match(error.message, /no secret ever appears in jitbot's stderr: \d+ characters of SLACK_BOT_TOKEN/);
      for (let i = 0; i + SECRET_PIECE <= secret.value.length; i++) {
        assert.ok(!error.message.includes(secret.value.slice(i, i + SECRET_PIECE)), 'the failure never shows the secret');
      }
      return true;
    }, `a ${piece.length}-character piece of the secret is found`);
  }
  assert.equal(redact(`a ${secret.value} b`, [secret]), 'a ‹SLACK_BOT_TOKEN› b', 'logs are shown with secrets blotted out');
});
