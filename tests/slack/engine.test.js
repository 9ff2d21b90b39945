// The engine end to end: backend calls off the workflow thread, an outbox that delivers or parks each notice on its
// own, bursts, kill -9 at the awkward moments, the scheduler under load, failed revokes, and the admin CLI. Each test
// drives the real `jitbot run` through the fake Slack and checks what people (or an operator) would see.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  AWS, USERS, APPROVALS, INCIDENTS, cardText, isActive, requestIdOf, runJitbot, until, withBot, writeBackend, writeConfig,
} = require('./harness');

// A role whose own approvals channel is gone: Slack answers channel_not_found for it, now and forever.
const GONE = 'C0GONE';
const LEGACY = '--provider aws --role legacy-admin --scope 999999999999';
const LEGACY_ROLE = `
[[roles]]
provider = "aws"
name = "legacy-admin"
scopes = ["*"]
backend = "recorder"
requesters = ["*"]
approvers = ["${USERS.bob.id}"]
max_duration = "4h"
approvals_channel = "${GONE}"
`;

// A role only members of the Slack user group S0GATED may ask for: handling each request for it
// looks the group up (usergroups.users.list), which a test can slow down.
const GATED = '--provider aws --role gated-admin --scope 123456789012';
const GATED_ROLE = `
[[roles]]
provider = "aws"
name = "gated-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["S0GATED"]
approvers = ["${USERS.bob.id}"]
max_duration = "4h"
`;

const range = (n) => Array.from({ length: n }, (_, i) => i);
const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const tempDir = () => fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-engine-'));

/// Runs `body` with a bot whose backend is a script from harness.writeBackend(dir, options.backend).
async function withEngineBot(options, body) {
  const dir = tempDir();
  const { backend = {}, ...rest } = options;
  const script = writeBackend(dir, backend);
  await withBot({ dir, backendCommand: [script], backendTimeout: '180s', ...rest }, body);
}

/// Lets every held backend call go on.
const release = (bot) => fs.writeFileSync(path.join(bot.dir, 'release'), '');

const calls = (bot, action, requestId) =>
  bot.backendCalls().filter((call) => call.action === action && (!requestId || call.requestId === requestId));

/// The most backend calls of `action` that were running at the same moment, from the backend's own log.
function mostAtOnce(bot, action) {
  const events = bot.backendCalls()
    .filter((call) => call.action === `${action}-begin` || call.action === action || call.action === `${action}-repeat`)
    .map((call) => ({ at: Date.parse(call.at), step: call.action.endsWith('-begin') ? 1 : -1 }))
    .sort((a, b) => a.at - b.at || a.step - b.step); // an end and a start in the same millisecond: the end came first
  let running = 0;
  let most = 0;
  for (const event of events) most = Math.max(most, (running += event.step));
  return most;
}

/// Messages in `channel` whose text matches `pattern` and names `requestId`.
const messagesAbout = (bot, channel, pattern, requestId) => bot.slack.messages(channel).filter((message) => {
  const text = `${message.text}\n${cardText(message)}`;
  return pattern.test(text) && text.includes(requestId);
});

const allHaveCards = (bot, ids, channel = APPROVALS) => {
  const cards = bot.cardsByRequest(channel);
  return ids.every((id) => cards.has(id));
};

const output = (result) => `jitbot ${result.args.join(' ')} exited ${result.status}\n` +
  `--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;

describe('a slow backend holds up nobody else', () => {
  test('while 16 grants sit in a slow backend, 100 other people get their answers and cards', { timeout: 300000 }, async () => {
    await withEngineBot({ backend: { hold: ['grant'] }, backendExtra: 'max_concurrent = 16' }, async (bot) => {
      const grants = await Promise.all(range(16).map((i) =>
        bot.request(USERS.oscar, `${AWS} --duration 1h --break-glass --reason "outage ${i}"`, 30000)));
      await until(() => grants.every((id) => calls(bot, 'grant-begin', id).length > 0), 60000,
        'all 16 grants to be running in the backend at once');

      const crowd = bot.addUsers(100);
      const ids = await Promise.all(crowd.map((user) =>
        bot.request(user, `${AWS} --duration 1h --reason "routine work"`, 30000)));
      await until(() => allHaveCards(bot, ids), 60000, 'the cards of the 100 other requests');

      assert.deepEqual(calls(bot, 'grant'), [], 'all of that happened while every one of the 16 grants was still running');
      assert.deepEqual(bot.slack.timedOut, [], 'nobody saw a slash command time out');

      release(bot);
      for (const id of grants) await bot.waitForCard(id, isActive, 'the card showing active access', 60000);
      assert.equal(calls(bot, 'grant').length, 16);
    });
  });

  test('max_concurrent = 2: two calls to that backend run at once and the rest wait their turn', { timeout: 180000 }, async () => {
    await withEngineBot({ backend: { hold: ['grant'] }, backendExtra: 'max_concurrent = 2' }, async (bot) => {
      const grants = await Promise.all(range(4).map((i) =>
        bot.request(USERS.oscar, `${AWS} --duration 1h --break-glass --reason "outage ${i}"`, 30000)));
      await until(() => calls(bot, 'grant-begin').length >= 2, 30000, 'two grants running in the backend');
      await delay(3000); // room for a third call, which must not start while two are running
      assert.equal(calls(bot, 'grant-begin').length, 2, 'only two calls run at once');

      release(bot);
      for (const id of grants) await bot.waitForCard(id, isActive, 'the card showing active access', 60000);
      assert.equal(mostAtOnce(bot, 'grant'), 2, 'never more than two at once, even after the first two finished');
    });
  });

  test('a backend with all 16 of its slots held up holds up no other backend', { timeout: 300000 }, async () => {
    // A second backend that answers at once, for a role of its own. With a fixed pool of 16 job
    // threads, the slow backend's 16 calls would take every thread and this grant would wait.
    const quickRole = `
[[backends]]
name = "quick"
type = "exec"
command = ["/bin/sh", "-c", "echo '{}'", "sh"]

[[roles]]
provider = "aws"
name = "quick-admin"
scopes = ["*"]
backend = "quick"
requesters = ["*"]
approvers = ["${USERS.bob.id}"]
max_duration = "4h"
break_glass_requesters = ["${USERS.oscar.id}"]
`;
    await withEngineBot({ backend: { hold: ['grant'] }, backendExtra: 'max_concurrent = 16', extra: quickRole }, async (bot) => {
      const held = await Promise.all(range(16).map((i) =>
        bot.request(USERS.oscar, `${AWS} --duration 1h --break-glass --reason "outage ${i}"`, 30000)));
      await until(() => held.every((id) => calls(bot, 'grant-begin', id).length > 0), 60000,
        'all 16 grants to be running in the slow backend at once');

      const quick = await bot.request(USERS.oscar,
        '--provider aws --role quick-admin --scope 111122223333 --duration 1h --break-glass --reason "other account"', 30000);
      await bot.waitForCard(quick, isActive, 'the other backend\'s grant showing active access', 60000);
      assert.deepEqual(calls(bot, 'grant'), [], 'it was granted while every one of the 16 slow grants was still running');

      release(bot);
      for (const id of held) await bot.waitForCard(id, isActive, 'the card showing active access', 60000);
    });
  });
});

describe('a slow directory holds up nobody else', () => {
  test('while 8 commands wait on a slow user-group lookup, another person is answered at once', { timeout: 120000 }, async () => {
    await withBot({ extra: GATED_ROLE }, async (bot) => {
      const lookup = bot.slack.injectLatency('usergroups.users.list', 8000, { count: Infinity });
      const members = bot.addUsers(8, 'U0GATED');
      bot.slack.addUsergroup('S0GATED', members.map((user) => user.id));
      // More waiting inputs than the four input threads jitbot had: they held every thread.
      const gated = members.map((user, i) => bot.request(user,
        `${GATED} --duration 1h --reason "gated ${i}"`, 30000));
      await until(() => lookup.fired >= 1, 10000, 'the group lookup to be under way');
      const other = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "not gated"`, 30000);
      assert.ok(bot.slack.callsTo('usergroups.users.list').length === 0,
        'alice was answered while the group lookup was still waiting');
      await bot.waitForCard(other);
      assert.equal((await Promise.all(gated)).length, 8, 'the gated requests are answered once the lookup returns');
      // One call for the 8 (Slack allows about 20 a minute), not one per waiting request.
      assert.equal(lookup.fired, 1, 'the group was asked for once');
    });
  });
});

describe('outbox: each notice is delivered or parked on its own', () => {
  test('a card for a channel that no longer exists is parked at once and announced once; the cards after it all arrive', { timeout: 120000 }, async () => {
    await withBot({ extra: LEGACY_ROLE }, async (bot) => {
      const lost = await bot.request(USERS.alice, `${LEGACY} --duration 1h --reason "old account"`);
      const crowd = bot.addUsers(20);
      const ids = await Promise.all(crowd.map((user) =>
        bot.request(user, `${AWS} --duration 1h --reason "submitted after the lost one"`, 15000)));

      await until(() => allHaveCards(bot, ids), 30000, 'the cards of the 20 requests submitted after it');
      for (const channel of INCIDENTS) {
        await until(() => messagesAbout(bot, channel, /could not deliver/i, lost).length > 0, 30000,
          `an alert in ${channel} that the card for ${lost} could not be delivered`);
      }
      await delay(5000); // a notice wrongly retried (first retry after 2 s) would be tried and announced again
      for (const channel of INCIDENTS) {
        assert.equal(messagesAbout(bot, channel, /could not deliver/i, lost).length, 1, `one alert in ${channel}`);
      }
      const tries = bot.slack.callsTo('chat.postMessage').filter((call) => call.args.channel === GONE);
      assert.equal(tries.length, 1, 'channel_not_found is not retried');
    });
  });

  test("a DM that can never be delivered holds up neither that request's card nor other people's DMs", { timeout: 120000 }, async () => {
    await withBot({}, async (bot) => {
      const { alice, bob, dave } = USERS;
      // Dave's account was deactivated after he asked: every DM to him is refused, for good.
      const refusals = [
        bot.slack.injectError('conversations.open',
          { error: 'user_disabled', count: Infinity, when: (args) => String(args.users) === dave.id }),
        bot.slack.injectError('chat.postMessage',
          { error: 'channel_not_found', count: Infinity, when: (args) => args.channel === dave.id }),
      ];
      const his = await bot.request(dave, `${AWS} --duration 1h --reason "his"`);
      const hers = await bot.request(alice, `${AWS} --duration 1h --reason "hers"`);
      await bot.waitForCard(his);
      await bot.waitForCard(hers);

      await bot.click(bob, his, 'jit_approve');
      await bot.waitForCard(his, isActive, 'his card showing active access', 15000);
      await until(() => refusals.some((rule) => rule.fired > 0), 15000, 'jitbot to try the DM to dave');

      await bot.click(bob, hers, 'jit_approve');
      await bot.waitForDm(alice, /access is active/i, 'her grant DM, after his failed', 15000);
      await bot.click(bob, his, 'jit_revoke');
      await bot.waitForCard(his, (card) => /Revoked by/.test(cardText(card)), 'his card showing the revocation', 15000);
    });
  });

  test('a grant failure given as long multi-byte text shows cleanly on the card, and later cards still arrive', { timeout: 120000 }, async () => {
    // About 4.8 KB: any cut by bytes lands inside a character two times out of three.
    const head = 'Zugriff verweigert — 拒绝访问';
    const failure = `${head} — ${'€😀é日'.repeat(400)}`;
    await withEngineBot({ backend: { fail: { grant: failure } } }, async (bot) => {
      const id = await bot.request(USERS.oscar, `${AWS} --duration 1h --break-glass --reason "prod down"`);
      const card = await bot.waitForCard(id, (c) => /grant failed/i.test(cardText(c)), 'the card showing the failed grant', 20000);
      const text = cardText(card);
      const start = text.indexOf(head);
      assert.ok(start >= 0, `the card shows the backend's reason:\n${text.slice(0, 600)}`);
      const shown = [...text.slice(start)];
      const original = [...failure];
      let same = 0;
      while (same < shown.length && same < original.length && shown[same] === original[same]) same++;
      assert.ok(same >= [...head].length, 'the reason is shown as the backend wrote it, up to where it was cut');
      await bot.waitForDm(USERS.oscar, /fail/i, 'the DM that the grant failed', 20000);

      const later = await Promise.all(range(5).map((i) => bot.request(USERS.alice, `${AWS} --duration 1h --reason "later ${i}"`)));
      await until(() => allHaveCards(bot, later), 20000, 'the cards of requests submitted after the failure');
      const broken = bot.slack.apiCalls.filter((call) => call.invalidUtf8);
      assert.deepEqual(broken.map((call) => call.method), [], 'jitbot never sent Slack text that is not valid UTF-8');
    });
  });
});

describe('bursts', () => {
  test('1000 /jit request commands in a burst all get their cards', { timeout: 300000 }, async () => {
    await withBot({}, async (bot) => {
      const crowd = bot.addUsers(100);
      const ids = await Promise.all(range(1000).map((i) =>
        bot.request(crowd[i % crowd.length], `${AWS} --duration 1h --reason "burst ${i}"`, 60000)));
      assert.equal(new Set(ids).size, 1000, 'every command got a request of its own');
      await until(() => allHaveCards(bot, ids), 60000, 'all 1000 cards');
      // No pause while cards remain: the courier of old took "more rows remain" for a failure
      // and backed off 2 s, 4 s, 8 s … between batches. Far above any pause without one.
      const posted = bot.slack.callsTo('chat.postMessage')
        .filter((call) => call.ok && call.args.channel === APPROVALS)
        .map((call) => call.atMs)
        .sort((a, b) => a - b);
      const longest = Math.max(...posted.slice(1).map((at, i) => at - posted[i]));
      assert.ok(longest < 3000, `the longest pause between two cards was ${Math.round(longest)} ms`);
    });
  });
});

describe('kill -9 loses nothing', () => {
  test('commands acknowledged just before a kill -9 are each handled exactly once after the restart', { timeout: 180000 }, async () => {
    // Slowed-down group lookups keep acknowledged commands waiting when the kill lands.
    await withBot({ extra: GATED_ROLE }, async (bot) => {
      bot.slack.injectLatency('*', 2000, { count: Infinity });
      const crowd = bot.addUsers(50);
      bot.slack.addUsergroup('S0GATED', crowd.map((user) => user.id));
      const reasons = crowd.map((_, i) => `acked${String(i).padStart(3, '0')}`);
      const sent = crowd.map((user, i) => bot.slack.slashCommand({
        user: user.id, channel: 'C0OPS', command: '/jit',
        text: `request ${GATED} --duration 1h --reason "${reasons[i]}"`,
      }));
      await Promise.all(sent.map((command) => bot.slack.waitForAck(command.envelope_id, 10000)));
      await bot.crash();
      // The kill must land while acknowledged commands still wait, or this test proves nothing:
      // fewer requests exist than commands were acknowledged.
      const listed = await bot.cli(['requests', 'list', '--limit', '1000']);
      assert.equal(listed.status, 0, output(listed));
      const madeBeforeKill = listed.stdout.split('\n').filter((line) => /req_[0-9A-Z]{26}/.test(line)).length;
      assert.ok(madeBeforeKill < reasons.length, `${madeBeforeKill} of ${reasons.length} were handled before the kill`);
      bot.slack.clearInjectedErrors();
      await bot.launch();

      const cardsWith = (reason) => bot.slack.messages(APPROVALS).filter((message) => cardText(message).includes(reason));
      await until(() => reasons.every((reason) => cardsWith(reason).length > 0), 60000, 'a card for every acknowledged command');
      await delay(3000); // time for a command handled twice to show a second request
      // Handled once means one request per command. A card whose post was on its way at the kill
      // may be posted again (Slack has no idempotency key), but for the same request.
      for (const reason of reasons) {
        const requests = new Set(cardsWith(reason).map(requestIdOf));
        assert.equal(requests.size, 1, `one request for the command "${reason}"`);
      }
    });
  });

  test('a kill -9 while the backend grants: after the restart the request is active once and revoked once', { timeout: 180000 }, async () => {
    await withEngineBot({ backend: { hold: ['grant'] } }, async (bot) => {
      const id = await bot.request(USERS.oscar, `${AWS} --duration 30s --break-glass --reason "prod down"`);
      await bot.waitForBackend('grant-begin', id, 15000);
      await bot.crash();
      release(bot); // the orphaned call may finish now; the backend keeps the first grant for this request ID
      await bot.launch();

      await bot.waitForCard(id, isActive, 'the card showing active access after the restart', 30000);
      await bot.waitForCard(id, (card) => /Expired at/.test(cardText(card)), 'the card showing expiry', 90000);
      await delay(3000); // time for a second revoke to show
      assert.equal(calls(bot, 'grant', id).length, 1, 'the backend granted once');
      const revokes = calls(bot, 'revoke', id);
      assert.equal(revokes.length, 1, 'revoked once');
      assert.ok(revokes[0].line.includes(`grant_id=grant-${id}`), 'the revoke names the grant the backend made');
      assert.equal(bot.dms(USERS.oscar).filter((message) => /access is active/i.test(message.text)).length, 1,
        'one "access is active" DM');
      assert.equal(bot.cardsByRequest().get(id).length, 1, 'one card, not a second after the restart');
    });
  });

  test('a kill -9 in the middle of delivering cards: after the restart every request has its card', { timeout: 180000 }, async () => {
    await withBot({}, async (bot) => {
      // After the first ten, each post spends 5 s on its way to Slack and is lost if jitbot dies meanwhile.
      let posts = 0;
      const slow = bot.slack.injectLatency('chat.postMessage', 5000,
        { count: Infinity, when: () => ++posts > 10, dropIfGone: true });
      const crowd = bot.addUsers(40);
      const ids = await Promise.all(crowd.map((user, i) =>
        bot.request(user, `${AWS} --duration 1h --reason "delivery ${i}"`, 15000)));
      await until(() => bot.cardsByRequest().size >= 10 && slow.fired > 0, 30000, 'ten cards out and more on their way');
      await delay(1500); // the slow posts are still in flight; jitbot has had time to record the first ten
      const deliveredBefore = [...bot.cardsByRequest().keys()];
      await bot.crash();
      bot.slack.clearInjectedErrors();
      await bot.launch();

      await until(() => allHaveCards(bot, ids), 60000, 'a card for every request');
      await delay(3000); // time for a card posted twice to show
      const cards = bot.cardsByRequest();
      for (const id of deliveredBefore) {
        assert.equal(cards.get(id).length, 1, `the card for ${id}, delivered before the kill, is not posted again`);
      }
      // A second card can only come from a post that reached Slack while its answer was lost with jitbot.
      const duplicated = ids.filter((id) => cards.get(id).length > 1);
      const answerLost = bot.slack.callsTo('chat.postMessage').filter((call) => call.clientGone && !call.dropped);
      assert.ok(duplicated.length <= answerLost.length,
        `${duplicated.length} requests got a second card, more than the ${answerLost.length} posts whose answer the kill lost`);
      assert.ok(slow.fired > 0, 'posts were on their way when jitbot was killed (else this test proved nothing)');
    });
  });
});

describe('scheduler', () => {
  test('a 5 s grant expires on time while 1000 commands arrive in a burst', { timeout: 300000 }, async () => {
    await withEngineBot({}, async (bot) => {
      const crowd = bot.addUsers(100);
      const id = await bot.request(USERS.oscar, `${AWS} --duration 5s --break-glass --reason "quick fix"`);
      const active = await bot.waitForCard(id, isActive, 'the card showing active access', 15000);
      const shown = /Active until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))/.exec(cardText(active));
      assert.ok(shown, `the card says until when:\n${cardText(active)}`);
      const expiresAt = Date.parse(shown[1]);
      assert.ok(expiresAt - Date.now() <= 6000, `the card shows access ending about 5 s from now: ${shown[1]}`);

      await delay(Math.max(0, expiresAt - 1000 - Date.now())); // the burst arrives around the expiry
      const burst = Promise.all(range(1000).map((i) =>
        bot.request(crowd[i % crowd.length], `${AWS} --duration 1h --reason "flood ${i}"`, 120000)));
      const revoke = await bot.waitForBackend('revoke-begin', id, 60000);
      await bot.waitForCard(id, (card) => /Expired at/.test(cardText(card)), 'the card showing expiry', 60000);
      // The one deadline here is the product's promise: access ends when it was granted until, give or take a few seconds.
      const lateMs = Date.parse(revoke.at) - expiresAt;
      assert.ok(lateMs >= -1000, `the revoke started ${-lateMs} ms before the access was due to end`);
      assert.ok(lateMs <= 10000, `the revoke started ${lateMs} ms after the access was due to end`);
      assert.equal((await burst).length, 1000, 'and the burst was answered');
    });
  });
});

describe('a revoke that fails', () => {
  test('REVOKE_FAILED alerts the incident channels, tells the requester, and the card shows the attempt and the next try', { timeout: 120000 }, async () => {
    await withEngineBot({ backend: { fail: { revoke: 'revoke refused: the cloud API is down' } } }, async (bot) => {
      const id = await bot.request(USERS.oscar, `${AWS} --duration 3s --break-glass --reason "prod down"`);
      await bot.waitForBackend('revoke-begin', id, 20000);
      for (const channel of INCIDENTS) {
        await until(() => messagesAbout(bot, channel, /could not be revoked/i, id).length > 0, 20000,
          `an alert in ${channel} that ${id} could not be revoked`);
      }
      await bot.waitForDm(USERS.oscar, /could not be revoked/i, 'the DM that access could not be revoked', 20000);
      const card = await bot.waitForCard(id, (c) => /attempt 1\b/.test(cardText(c)) && /next try/i.test(cardText(c)),
        'the card showing attempt 1 and the next try', 20000);
      assert.match(cardText(card), /revoke refused: the cloud API is down/, 'the card says why');
    });
  });
});

describe('admin CLI', () => {
  test('requests revoke with Slack down and the bot stopped: the CLI revokes through the backend and records who', { timeout: 120000 }, async () => {
    await withEngineBot({}, async (bot) => {
      const id = await bot.request(USERS.oscar, `${AWS} --duration 2h --break-glass --reason "prod down"`);
      await bot.waitForCard(id, isActive);
      await bot.stop();
      await bot.slack.stop();

      const revoke = await bot.cli(['requests', 'revoke', id, '--reason', 'laptop stolen', '--as', 'ops-lead']);
      assert.equal(revoke.status, 0, output(revoke));
      assert.match(revoke.stdout, /revoked/i, output(revoke));
      assert.equal(calls(bot, 'revoke', id).length, 1, 'the backend got the revoke');

      const show = await bot.cli(['requests', 'show', id]);
      assert.equal(show.status, 0, output(show));
      assert.match(show.stdout, /\bREVOKED\b/, output(show));
      assert.ok(show.stdout.split('\n').some((line) => line.includes('cli:ops-lead')), `an audit line by cli:ops-lead\n${output(show)}`);
    });
  });

  test('requests resolve closes a REVOKE_FAILED request by hand', { timeout: 120000 }, async () => {
    await withEngineBot({ backend: { fail: { revoke: 'revoke refused: the cloud API is down' } } }, async (bot) => {
      const id = await bot.request(USERS.oscar, `${AWS} --duration 3s --break-glass --reason "prod down"`);
      await bot.waitForCard(id, (c) => /attempt 1\b/.test(cardText(c)), 'the card showing the failed revoke', 20000);
      await bot.stop();

      const before = await bot.cli(['requests', 'show', id]);
      assert.match(before.stdout, /REVOKE_FAILED/, output(before));
      assert.doesNotMatch(before.stdout, /\bREVOKED\b/, output(before));
      const resolve = await bot.cli(['requests', 'resolve', id, '--reason', 'removed in the console by hand', '--as', 'ops-lead']);
      assert.equal(resolve.status, 0, output(resolve));

      const show = await bot.cli(['requests', 'show', id]);
      assert.match(show.stdout, /\bREVOKED\b/, output(show));
      const audit = show.stdout.split('\n').find((line) => line.includes('cli:ops-lead'));
      assert.ok(audit, `an audit line by cli:ops-lead\n${output(show)}`);
      assert.match(audit, /resolv/i, 'the audit says it was resolved by hand');
    });
  });

  test('outbox list --parked shows a parked card, and outbox retry has the running bot deliver it', { timeout: 120000 }, async () => {
    await withBot({ extra: LEGACY_ROLE }, async (bot) => {
      const id = await bot.request(USERS.alice, `${LEGACY} --duration 1h --reason "old account"`);
      for (const channel of INCIDENTS) {
        await until(() => messagesAbout(bot, channel, /could not deliver/i, id).length > 0, 30000, `the parked alert in ${channel}`);
      }
      const list = await bot.cli(['outbox', 'list', '--parked']);
      assert.equal(list.status, 0, output(list));
      const line = list.stdout.split('\n').find((l) => l.includes(id));
      assert.ok(line, `a line for ${id}\n${output(list)}`);
      assert.match(line, /parked/i);
      assert.ok(line.includes(GONE), `the line names the target ${GONE}: ${line}`);
      const noticeId = line.trim().split(/\s+/)[0].replace(/^#/, '').replace(/[:,]$/, '');

      bot.slack.addChannel({ id: GONE, name: 'legacy-approvals' }); // someone made the channel again
      const retry = await bot.cli(['outbox', 'retry', noticeId]);
      assert.equal(retry.status, 0, output(retry));
      assert.match(retry.stdout, /will be retried/i, output(retry));
      await until(() => bot.cardsByRequest(GONE).has(id), 30000, `the card for ${id} in ${GONE} after the retry`);
      const after = await bot.cli(['outbox', 'list', '--parked']);
      assert.ok(!after.stdout.includes(id), `no longer parked\n${output(after)}`);
    });
  });

  test('read-only commands on a config whose database does not exist say so and create nothing', async () => {
    const dir = tempDir();
    try {
      const config = writeConfig(dir, { apiUrl: 'http://127.0.0.1:9/api/' });
      for (const args of [['requests', 'list'], ['requests', 'show', 'req_00000000000000000000000000'], ['audit', 'verify'],
        ['outbox', 'list']]) {
        const result = await runJitbot([...args, '--config', config]);
        assert.equal(result.status, 1, output(result));
        assert.match(result.stderr, /no database/i, output(result));
        assert.deepEqual(fs.readdirSync(dir).filter((name) => name.startsWith('jitbot.db')), [],
          `jitbot ${args.join(' ')} created no database`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('check-config names an active request whose backend was renamed away', { timeout: 60000 }, async () => {
    await withBot({}, async (bot) => {
      const id = await bot.request(USERS.oscar, `${AWS} --duration 2h --break-glass --reason "prod down"`);
      await bot.waitForCard(id, isActive);
      await bot.stop();
      const unchanged = await bot.cli(['check-config']);
      assert.equal(unchanged.status, 0, output(unchanged));

      const renamed = fs.readFileSync(bot.configFile, 'utf8')
        .replace('name = "recorder"', 'name = "vault"')
        .replaceAll('backend = "recorder"', 'backend = "vault"');
      fs.writeFileSync(bot.configFile, renamed);
      const check = await bot.cli(['check-config']);
      assert.equal(check.status, 1, output(check));
      const said = check.stdout + check.stderr;
      assert.ok(said.includes(id), `names the request\n${output(check)}`);
      assert.match(said, /recorder/, `names the missing backend\n${output(check)}`);
    });
  });

  test('check-config names an active request whose role was removed from the config', { timeout: 60000 }, async () => {
    await withBot({}, async (bot) => {
      const id = await bot.request(USERS.oscar, `${AWS} --duration 2h --break-glass --reason "prod down"`);
      await bot.waitForCard(id, isActive);
      await bot.stop();
      const config = fs.readFileSync(bot.configFile, 'utf8');
      const role = 'name = "prod-infra-admin"';
      assert.ok(config.includes(role), 'the harness config names the role this test removes');
      fs.writeFileSync(bot.configFile, config.replace(role, 'name = "prod-infra-readonly"'));
      const check = await bot.cli(['check-config']);
      assert.equal(check.status, 1, output(check));
      const said = check.stdout + check.stderr;
      assert.ok(said.includes(id), `names the request\n${output(check)}`);
      assert.match(said, /aws\/prod-infra-admin, which is not configured/, `names the missing role\n${output(check)}`);
    });
  });

  test('check-config accepts max_concurrent from 1 to 64 and refuses 0 and 65', async () => {
    const dir = tempDir();
    try {
      for (const [value, status] of [[1, 0], [64, 0], [0, 2], [65, 2]]) {
        const config = writeConfig(dir, { apiUrl: 'http://127.0.0.1:9/api/' }, { backendExtra: `max_concurrent = ${value}` });
        const result = await runJitbot(['check-config', '--config', config]);
        assert.equal(result.status, status, output(result));
        if (status !== 0) assert.match(result.stderr, /max_concurrent/, output(result));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('[slack] audit_channel: the audit head is posted when it changes, never twice, and verifies the trail without the anchor file', async () => {
  const { AUDIT_CHANNEL } = require('./harness');
  const options = { slackExtra: `audit_channel = "${AUDIT_CHANNEL}"\naudit_anchor_interval = "1s"` };
  await withBot(options, async (bot) => {
    const anchorFile = path.join(bot.dir, 'jitbot.db.audit-head');
    const posted = () => bot.slack.messages(AUDIT_CHANNEL).map((m) => /jitbot audit head: `([^`]+)`/.exec(m.text)?.[1]);

    const answer = await bot.command(USERS.alice, `request ${AWS} --duration 1h --reason "INC-1 audit head"`);
    const id = /req_[0-9A-Z]{26}/.exec(answer)[0];
    const first = await until(() => {
      const anchors = posted();
      const onDisk = fs.existsSync(anchorFile) && fs.readFileSync(anchorFile, 'utf8').trim();
      return anchors.length && anchors.at(-1) === onDisk && anchors.at(-1);
    }, 8000, 'the audit head of the submitted request posted to the audit channel');
    assert.match(first, /^\d+:[0-9a-f]{64}:[0-9a-f]{64}$/, 'a sealed anchor: sequence, hash and MAC');

    // Nothing new is appended: nothing new is posted.
    const count = posted().length;
    await delay(2500);
    assert.equal(posted().length, count, 'an unchanged head is not posted again');

    await bot.click(USERS.bob, id, 'jit_approve');
    await bot.waitForCard(id, isActive, 'the card showing active access');
    const second = await until(() => posted().at(-1) !== first && posted().at(-1), 8000, 'the newer audit head posted');
    assert.ok(Number(second.split(':')[0]) > Number(first.split(':')[0]), 'the head moved forward');

    // The posted copy alone checks the whole trail: with the file beside the database gone.
    await bot.stop();
    fs.rmSync(anchorFile);
    const verified = await bot.cli(['audit', 'verify', '--anchor', posted().at(-1)]);
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /audit trail intact/);
  });
});
