// Extending active access end to end: `jitbot run` against the fake Slack, with an exec backend that records the argv
// and stdin of every call. `/jit extend` is a new decision on the same request, made on the same card; self_extend
// roles skip it; max_extended_duration bounds the whole access; the pre-expiry DM offers an Extend button; a program
// that does not know `extend` is granted again; and a restart between the approval and the new expiry applies it once.
// Each test checks what the requester or an approver would notice in Slack, and what the backend was asked to do.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  AWS, APPROVALS, SRE_LEADS, USERS, backendDocuments, buttons, cardText, isActive, until, withBot, writeBackend,
} = require('./harness');

const toml = (value) => JSON.stringify(value);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/// `rfc3339` (as jitbot writes it: whole seconds, Z) moved by `seconds`, written the same way.
const plus = (rfc3339, seconds) => new Date(Date.parse(rfc3339) + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const quote = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/// Roles on top of the harness's aws and gcp roles (prod-infra-admin: bob and SRE_LEADS approve, 4h at most, no
/// self_extend). deploy-admin lets its requesters extend alone, up to 3h in all. quick-admin, paired-admin and
/// tight-admin warn 50 s before the end: quick-admin with room to extend alone, paired-admin with room to extend once
/// bob approves, tight-admin with none (its max_duration is the whole limit).
const ROLES = `
[[roles]]
provider = "aws"
name = "deploy-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "2h"
max_extended_duration = "3h"
self_extend = true

[[roles]]
provider = "aws"
name = "quick-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "1h"
max_extended_duration = "2h"
self_extend = true
warn_before = "50s"

[[roles]]
provider = "aws"
name = "paired-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "1h"
max_extended_duration = "2h"
warn_before = "50s"

[[roles]]
provider = "aws"
name = "tight-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "1m"
warn_before = "50s"
`;
const DEPLOY = '--provider aws --role deploy-admin --scope 123456789012';
const QUICK = '--provider aws --role quick-admin --scope 123456789012';
const PAIRED = '--provider aws --role paired-admin --scope 123456789012';
const TIGHT = '--provider aws --role tight-admin --scope 123456789012';

/// Runs `body` with a bot whose exec backend is harness.writeBackend(dir, {record: true, ...backend}), so the test
/// sees each call's argv and stdin document; the roles above come on top of the harness's.
async function withExtensionBot(options, body) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-extension-'));
  const { backend = {}, ...rest } = options;
  const script = writeBackend(dir, { record: true, ...backend });
  await withBot({ dir, backendCommand: [script], extra: ROLES, ...rest }, body);
}

/// The documents the backend got for `action` of `requestId` ([{argv, input}], oldest first).
const documents = (bot, action, requestId) =>
  backendDocuments(bot.dir).filter((call) => call.argv[0] === action && call.input.request_id === requestId);
/// Calls of the backend log that finished as `word` ("extend", "grant", "grant-repeat", "extend-unknown" …).
const logged = (bot, word, requestId) =>
  bot.backendCalls().filter((call) => call.action === word && call.requestId === requestId);

/// The card's status line, as people read it.
function statusOf(card) {
  const line = cardText(card).split('\n').find((text) => text.startsWith('*Status:* '));
  assert.ok(line, `the card has a status line:\n${cardText(card)}`);
  return line.slice('*Status:* '.length);
}

/// The labels of a message's buttons, in order.
const labels = (message) => (message.blocks || []).filter((block) => block.type === 'actions')
  .flatMap((block) => block.elements.map((element) => element.text.text));

/// Replies in the thread of `card` in the approvals channel, oldest first.
const threadOf = (bot, card) => bot.slack.messages(APPROVALS).filter((message) => message.thread_ts === card.ts);

/// `user` asks for `text`, bob approves on the card, the backend grants; resolves with the ID, the card and when
/// the access ends (the grant's expires_at, which the card shows too).
async function activeRequest(bot, user, text) {
  const id = await bot.request(user, text);
  await bot.waitForCard(id);
  await bot.click(USERS.bob, id, 'jit_approve');
  await bot.waitForBackend('grant', id);
  const card = await bot.waitForCard(id, isActive, 'the card showing active access');
  const [grant] = documents(bot, 'grant', id);
  assert.ok(grant, `the backend was asked to grant ${id}`);
  const end = grant.input.expires_at;
  assert.match(end, /^20\d\d-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(statusOf(card), `Active until ${end}`, 'the card shows the end the backend was given');
  return { id, card, end };
}

/// Clicks a button of a DM as `user`; resolves with the click once Slack has its ack.
async function clickDm(bot, user, message, actionId) {
  const sent = bot.slack.clickButton({ user: user.id, channel: message.channel, ts: message.ts, action_id: actionId });
  await bot.slack.waitForAck(sent.envelope_id, 5000);
  return sent;
}

const extendedDms = (bot, user, id) =>
  bot.dms(user).filter((message) => message.text.includes(id) && / was extended: /.test(message.text));
/// Waits for the DM telling `user` that `id` now ends at `end`.
const waitForExtendedDm = (bot, user, id, end, timeoutMs = 8000) => bot.waitForDm(user,
  new RegExp(`^Your access ${id} \\(.*\\) was extended: it now ends at ${quote(end)}\\.`), 'the extension DM', timeoutMs);
/// Each extend the backend got for `id`, as [previous_expires_at, expires_at].
const moves = (bot, id) =>
  documents(bot, 'extend', id).map((call) => [call.input.previous_expires_at, call.input.expires_at]);
/// A card that offers Approve extension / Deny extension.
const asksToExtend = (card) => buttons(card).includes('jit_approve');

test('an extension approved on the card: the backend extends, the requester is told the new end', async () => {
  await withExtensionBot({}, async (bot) => {
    const { id, card, end } = await activeRequest(bot, USERS.alice, `${AWS} --duration 2h --reason "INC-50 migration"`);
    const later = plus(end, 3600);

    const asked = await bot.command(USERS.alice, `extend ${id} 1h --reason "INC-50 the copy needs another hour"`);
    assert.match(asked, new RegExp(`^Asked to extend ${id} by 1h, until ${quote(later)}\\. It needs 1 approval from `));
    assert.match(asked, new RegExp(`your access still ends at ${quote(end)} unless it is approved before then\\.$`));

    const pending = await bot.waitForCard(id, asksToExtend, 'the card asking for the extension');
    assert.equal(pending.ts, card.ts, 'the same card is updated in place');
    assert.deepEqual(buttons(pending), ['jit_approve', 'jit_deny', 'jit_revoke']);
    assert.deepEqual(labels(pending), ['Approve extension', 'Deny extension', 'Revoke']);
    assert.equal(statusOf(pending),
      `Active until ${end}; extension by 1h asked for (0 of 1 approvals): INC-50 the copy needs another hour`);
    assert.equal(bot.slack.messages(APPROVALS).filter((message) => !message.thread_ts).length, 1, 'no second card');

    // Edits notify nobody, so the approvers are asked in the card's thread.
    const [reply] = await until(() => threadOf(bot, card).length > 0 && threadOf(bot, card), 8000,
      'the thread reply asking for the extension');
    const asking = new RegExp('^:hourglass_flowing_sand: <@U0ALICE> asks to extend .* by 1h: ' +
      'INC-50 the copy needs another hour\\. ([^.]*): approve or deny the extension on the card\\.$').exec(reply.text);
    assert.ok(asking, `the reply says who asks for what, and whom: ${reply.text}`);
    assert.deepEqual(asking[1].split(' '), ['<@U0BOB>', `<!subteam^${SRE_LEADS}>`],
      'it mentions the approvers (the requester is not asked)');

    // One extension at a time.
    assert.match(await bot.command(USERS.alice, `extend ${id} 30m`),
      new RegExp(`^An extension of ${id} is already waiting for approval\\.`));

    const own = await bot.click(USERS.alice, id, 'jit_approve');
    assert.match(await bot.answerTo(own, 'the refusal of her own approval'),
      /You cannot approve or deny your own request/);
    const outsider = await bot.click(USERS.oscar, id, 'jit_approve');
    assert.match(await bot.answerTo(outsider, "the refusal of oscar's approval"),
      /You are not an approver for aws\/prod-infra-admin/);
    assert.deepEqual(documents(bot, 'extend', id), [], 'refused clicks extend nothing');

    await bot.click(USERS.bob, id, 'jit_approve');
    await bot.waitForBackend('extend', id);
    const [extend, ...more] = documents(bot, 'extend', id);
    assert.deepEqual(more, [], 'extended once');
    assert.deepEqual(extend.argv, ['extend']);
    assert.equal(extend.input.version, 2);
    assert.equal(extend.input.action, 'extend');
    assert.equal(extend.input.previous_expires_at, end, 'previous_expires_at is the old end');
    assert.equal(extend.input.expires_at, later, 'expires_at is the old end + 1h');
    assert.equal(extend.input.grant_id, `grant-${id}`, 'the grant the backend made is named');
    assert.equal(extend.input.requester.slack_user_id, USERS.alice.id);

    const dm = await bot.waitForDm(USERS.alice, / was extended: /, 'the extension DM');
    assert.match(dm.text, new RegExp(`^Your access ${id} \\(.*\\) was extended: it now ends at ${quote(later)}\\.`));

    const extended = await bot.waitForCard(id, (c) => buttons(c).join() === 'jit_revoke', 'the card back to Revoke only');
    assert.equal(extended.ts, card.ts);
    assert.equal(statusOf(extended), `Active until ${later} (extended by 1h in all)`);
    assert.match(cardText(extended), /2h \(\+1h extended\)/, 'the duration shows the extension');

    const status = await bot.command(USERS.alice, `status ${id}`);
    assert.match(status, new RegExp(`State: ACTIVE — Active until ${quote(later)} \\(extended by 1h in all\\)`));
    assert.match(status, /Extended by: 1h/);

    await sleep(500);
    assert.equal(extendedDms(bot, USERS.alice, id).length, 1, 'one extension DM');
    assert.equal(threadOf(bot, card).length, 1, 'one thread reply');
    assert.equal(bot.slack.messages('C0OPS').length, 0, 'answers and refusals are only shown to the person');
  });
});

test('an extension denied through the Deny form: the requester hears who and why, the end stays', async () => {
  await withExtensionBot({}, async (bot) => {
    const { id, end } = await activeRequest(bot, USERS.alice, `${AWS} --duration 1h --reason "INC-51 cleanup"`);

    await bot.command(USERS.alice, `extend ${id} 30m`);
    const pending = await bot.waitForCard(id, asksToExtend, 'the card asking for the extension');
    assert.equal(statusOf(pending), `Active until ${end}; extension by 30m asked for (0 of 1 approvals)`,
      'no reason given: none is shown, the request\'s own holds');

    // Someone who may not decide gets an answer, never the form.
    const outsider = await bot.click(USERS.oscar, id, 'jit_deny');
    assert.match(await bot.answerTo(outsider, "the refusal of oscar's deny"), /not an approver/);
    const own = await bot.click(USERS.alice, id, 'jit_deny');
    assert.match(await bot.answerTo(own, 'the refusal of her own deny'), /You cannot approve or deny your own request/);

    await bot.click(USERS.bob, id, 'jit_deny');
    const form = await until(() => [...bot.slack.views.values()].find(
      (view) => view.user === USERS.bob.id && view.callback_id === 'jit_deny_form'), 5000, 'the Deny form for bob');
    assert.equal(form.private_metadata, id);
    assert.match(JSON.stringify(form.blocks), new RegExp(`Deny the extension by 30m of U0ALICE's access ${id}`));
    assert.ok(![...bot.slack.views.values()].some((view) => view.user !== USERS.bob.id), 'no form for anyone else');
    assert.deepEqual(buttons(bot.cardFor(id)), ['jit_approve', 'jit_deny', 'jit_revoke'], 'the form decides nothing');

    const sent = bot.slack.submitView({
      user: USERS.bob.id, view_id: form.id,
      values: { reason: { reason: { type: 'plain_text_input', value: 'not during the freeze' } } },
    });
    await bot.slack.waitForAck(sent.envelope_id, 5000);

    const dm = await bot.waitForDm(USERS.alice, /The extension of your access/, 'the denial DM');
    assert.match(dm.text, new RegExp(`^The extension of your access ${id} \\(.*\\) was denied by <@U0BOB>: ` +
      `not during the freeze\\. Your access ends at ${quote(end)} as planned\\.$`));
    const denied = await bot.waitForCard(id, (c) => /denied by/.test(statusOf(c)), 'the card showing the denial');
    assert.equal(statusOf(denied), `Active until ${end}; extension by 30m denied by <@U0BOB>: not during the freeze`);
    assert.deepEqual(buttons(denied), ['jit_revoke']);
    assert.match(await bot.command(USERS.alice, `status ${id}`), new RegExp(`Active until ${quote(end)};`),
      'the end is unchanged');

    // Decided, so another may be asked for; a member of the approvers' group approves it with /jit approve.
    await bot.command(USERS.alice, `extend ${id} 1h --reason "INC-51 after all"`);
    await bot.waitForCard(id, asksToExtend, 'the card asking for the second extension');
    assert.match(await bot.command(USERS.carol, `approve ${id}`),
      new RegExp(`^You approved the extension of ${id} by 1h; the expiry is being moved\\.`));
    await bot.waitForBackend('extend', id);
    const [extend] = documents(bot, 'extend', id);
    assert.deepEqual([extend.input.previous_expires_at, extend.input.expires_at], [end, plus(end, 3600)]);
    await waitForExtendedDm(bot, USERS.alice, id, plus(end, 3600));
    assert.equal(documents(bot, 'extend', id).length, 1, 'only the approved extension reached the backend');
  });
});

test('self_extend applies at once within max_extended_duration; past it, or by someone else, it is refused', async () => {
  await withExtensionBot({}, async (bot) => {
    const { id, card, end } = await activeRequest(bot, USERS.alice, `${DEPLOY} --duration 1h --reason "release 7"`);

    assert.match(await bot.command(USERS.dave, `extend ${id} 30m`), new RegExp(
      `^Only the requester can extend ${id}\\. If they need more time, they ask with /jit extend ${id} DURATION\\.`));
    assert.match(await bot.command(USERS.alice, `extend ${id} 3h`),
      new RegExp(`^Extending ${id} by 3h would take aws/deploy-admin past its limit of 3h in all; ` +
        'ask for 2h or less\\.$'));
    assert.deepEqual(documents(bot, 'extend', id), [], 'refusals extend nothing');

    const firstEnd = plus(end, 90 * 60);
    assert.equal(await bot.command(USERS.alice, `extend ${id} 90m`),
      `Extending ${id} by 1h30m, until ${firstEnd}. You will get a message when it is done.`);
    await bot.waitForBackend('extend', id);
    assert.deepEqual(moves(bot, id), [[end, firstEnd]]);
    await waitForExtendedDm(bot, USERS.alice, id, firstEnd);
    const extended = await bot.waitForCard(id, (c) => /extended by 1h30m in all/.test(statusOf(c)), 'the extended card');
    assert.equal(statusOf(extended), `Active until ${firstEnd} (extended by 1h30m in all)`);
    assert.ok([...card.updates, extended].every((version) => !labels(version).includes('Approve extension')),
      'no version of the card asked anyone to approve the extension');
    assert.equal(threadOf(bot, card).length, 0, 'no approver is asked in the thread');

    // 1h + 1h30m used of 3h: 30m left.
    assert.match(await bot.command(USERS.alice, `extend ${id} 1h`),
      /past its limit of 3h in all; ask for 30m or less\.$/);
    const secondEnd = plus(firstEnd, 30 * 60);
    assert.match(await bot.command(USERS.alice, `extend ${id} 30m`),
      new RegExp(`^Extending ${id} by 30m, until ${quote(secondEnd)}\\.`));
    await waitForExtendedDm(bot, USERS.alice, id, secondEnd);
    assert.match(await bot.command(USERS.alice, `extend ${id} 1m`),
      /past its limit of 3h in all; it cannot be extended any further; request it again when it ends\.$/);
    assert.match(await bot.command(USERS.alice, `status ${id}`),
      new RegExp(`Active until ${quote(secondEnd)} \\(extended by 2h in all\\)`));
    assert.equal(logged(bot, 'extend', id).length, 2, 'two extensions, two backend calls');
    assert.equal(bot.slack.messages('C0OPS').length, 0, 'refusals are only shown to the person');
  });
});

test('the pre-expiry DM offers an Extend button that extends once; with nothing left it offers none', async () => {
  await withExtensionBot({}, async (bot) => {
    // Each ends a minute after its grant and warns 50 s before, so about 10 s after it.
    const quick = await activeRequest(bot, USERS.alice, `${QUICK} --duration 1m --reason "INC-52 hotfix"`);
    const paired = await activeRequest(bot, USERS.carol, `${PAIRED} --duration 1m --reason "INC-52 logs"`);
    const tight = await activeRequest(bot, USERS.dave, `${TIGHT} --duration 1m --reason "INC-52 look"`);
    const warningsTo = (user, id) =>
      bot.dms(user).filter((message) => new RegExp(`^Your access ${id} \\(.*\\) ends at `).test(message.text));

    const warning = await bot.waitForDm(USERS.alice, new RegExp(`^Your access ${quick.id} .* ends at `), 'the warning',
      30000);
    assert.match(warning.text, new RegExp(`^Your access ${quick.id} \\(.*\\) ends at ${quote(quick.end)}\\. ` +
      `Need more time\\? Extend it by 1m with the button, or with /jit extend ${quick.id} DURATION\\.$`));
    const [block] = warning.blocks.filter((b) => b.type === 'actions');
    assert.ok(block, 'the warning has a button');
    assert.deepEqual(block.elements.map((e) => [e.action_id, e.value, e.text.text]),
      [['jit_extend', quick.id, 'Extend by 1m']]);

    const none = await bot.waitForDm(USERS.dave, new RegExp(`^Your access ${tight.id} .* ends at `), 'the warning',
      30000);
    assert.match(none.text, new RegExp(`ends at ${quote(tight.end)}\\. It cannot be extended any further; ` +
      'request it again if you still need it\\.$'));
    assert.deepEqual(labels(none), [], 'nothing left to extend: no button');

    // The button is the requester's: bob pressing it changes nothing.
    const bobs = await clickDm(bot, USERS.bob, warning, 'jit_extend');
    assert.match(await bot.answerTo(bobs, "the refusal of bob's click"),
      new RegExp(`^Only the requester can extend ${quick.id}\\.`));

    const later = plus(quick.end, 60);
    await clickDm(bot, USERS.alice, warning, 'jit_extend');
    await bot.waitForBackend('extend', quick.id);
    assert.deepEqual(moves(bot, quick.id), [[quick.end, later]], 'the backend was asked for one more minute');
    await waitForExtendedDm(bot, USERS.alice, quick.id, later);
    const card = await bot.waitForCard(quick.id, (c) => /extended by 1m in all/.test(statusOf(c)), 'the extended card');
    assert.equal(statusOf(card), `Active until ${later} (extended by 1m in all)`);

    // Without self_extend the button asks bob, on the card, as /jit extend would.
    const pairedWarning = await bot.waitForDm(USERS.carol, new RegExp(`^Your access ${paired.id} .* ends at `),
      'the warning', 30000);
    assert.deepEqual(labels(pairedWarning), ['Extend by 1m']);
    await clickDm(bot, USERS.carol, pairedWarning, 'jit_extend');
    const asking = await bot.waitForCard(paired.id, asksToExtend, 'the card asking bob');
    assert.equal(statusOf(asking), `Active until ${paired.end}; extension by 1m asked for (0 of 1 approvals)`);
    await until(() => threadOf(bot, paired.card).some((reply) => /<@U0CAROL> asks to extend .* by 1m\. <@U0BOB>: /
      .test(reply.text)), 8000, 'the thread reply asking bob');
    assert.deepEqual(documents(bot, 'extend', paired.id), [], 'nothing extended before bob approves');
    await bot.click(USERS.bob, paired.id, 'jit_approve');
    await waitForExtendedDm(bot, USERS.carol, paired.id, plus(paired.end, 60));

    // The next warning is 50 s before the new end, well after this: until then each got one.
    await sleep(3000);
    assert.equal(warningsTo(USERS.alice, quick.id).length, 1, 'alice was warned once');
    assert.equal(warningsTo(USERS.dave, tight.id).length, 1, 'dave was warned once');
    assert.equal(warningsTo(USERS.carol, paired.id).length, 1, 'carol was warned once');
    assert.equal(extendedDms(bot, USERS.alice, quick.id).length, 1, 'one extension DM');
    assert.equal(documents(bot, 'extend', quick.id).length, 1, 'extended once');
    assert.deepEqual(documents(bot, 'extend', tight.id), [], 'nothing extended what may not be');
  });
});

test('a program that does not know extend (exit status 3) is granted again with the new expiry', async () => {
  await withExtensionBot({ backend: { unknown: ['extend'] } }, async (bot) => {
    const { id, end } = await activeRequest(bot, USERS.alice, `${DEPLOY} --duration 1h --reason "release 8"`);
    const later = plus(end, 3600);
    await bot.command(USERS.alice, `extend ${id} 1h`);

    await waitForExtendedDm(bot, USERS.alice, id, later);
    const [extend, ...moreExtends] = documents(bot, 'extend', id);
    assert.deepEqual(moreExtends, []);
    assert.equal(extend.input.version, 2);
    assert.equal(logged(bot, 'extend-unknown', id).length, 1, 'the program said it does not know extend');
    const [grant, again, ...moreGrants] = documents(bot, 'grant', id);
    assert.ok(again, 'a second grant followed the unknown extend');
    assert.deepEqual(moreGrants, []);
    assert.deepEqual(again.argv, ['grant']);
    assert.equal(again.input.version, 1, 'a grant document, as the program knows it');
    assert.equal(again.input.action, 'grant');
    assert.equal(again.input.expires_at, later, 'granted until the new end');
    assert.equal(again.input.previous_expires_at, undefined);
    // Just the time left until the new end, so a program that counts its end from the duration
    // grants no more than was approved (the seconds lost in between may round one down).
    const left = (Date.parse(later) - Date.now()) / 1000;
    assert.ok(again.input.duration_seconds <= 2 * 3600 && again.input.duration_seconds >= left - 5,
      `a grant for the time left (${again.input.duration_seconds} s; ${left} s left now)`);
    assert.equal(grant.input.expires_at, end);
    assert.equal(logged(bot, 'grant-repeat', id).length, 1, 'the program took it as a repeat of its grant');

    const card = await bot.waitForCard(id, (c) => /extended by 1h in all/.test(statusOf(c)), 'the extended card');
    assert.equal(statusOf(card), `Active until ${later} (extended by 1h in all)`);
    assert.doesNotMatch(bot.dms(USERS.alice).map((m) => m.text).join('\n'), /could not be extended/);
  });
});

const release = (bot) => fs.writeFileSync(path.join(bot.dir, 'release'), '');
/// jitbot gives up a stop after 20 s (leaving the rest to the next start); the harness waits this long for it.
const STOP_DEADLINE_GRACE_MS = 40000;

// Each way jitbot can go down while the backend is moving the expiry, and how often the backend is then asked: once
// when the call finishes before jitbot is gone, twice when the next start asks again (the same move, so idempotent).
const RESTARTS = [
  {
    how: 'SIGTERM, the backend answering during the stop',
    calls: 1,
    // The signal is sent before the backend may answer, so its answer is recorded by the stopping jitbot.
    halt: async (bot) => {
      const stopped = bot.stop();
      release(bot);
      await stopped;
    },
  },
  {
    how: 'SIGTERM, the backend outlasting the stop deadline',
    calls: 2,
    // jitbot waits for the call in hand, gives up after its stop deadline and leaves the job to the next start.
    halt: async (bot) => {
      await bot.stop(STOP_DEADLINE_GRACE_MS);
      release(bot); // the orphaned call may finish now
    },
  },
  {
    how: 'kill -9',
    calls: 2,
    halt: async (bot) => {
      await bot.crash();
      release(bot); // the orphaned call may finish now
    },
  },
];

for (const { how, calls: expectedCalls, halt } of RESTARTS) {
  const title = `a restart (${how}) while the approved extension is being applied moves the end once, by exactly 1h`;
  test(title, { timeout: 120000 }, async () => {
    // The backend's own timeout must outlast the held call and jitbot's stop deadline.
    await withExtensionBot({ backend: { hold: ['extend'] }, backendTimeout: '180s' }, async (bot) => {
      const { id, card, end } = await activeRequest(bot, USERS.alice, `${AWS} --duration 2h --reason "INC-53 restore"`);
      const later = plus(end, 3600);
      await bot.command(USERS.alice, `extend ${id} 1h`);
      await bot.waitForCard(id, asksToExtend, 'the card asking for the extension');
      await bot.click(USERS.bob, id, 'jit_approve');
      await bot.waitForBackend('extend-begin', id);
      const applying = await bot.waitForCard(id, (c) => /extension by 1h approved, being applied/.test(statusOf(c)),
        'the card showing the extension being applied');
      assert.equal(statusOf(applying), `Active until ${end}; extension by 1h approved, being applied`,
        'the end has not moved before the backend answered');

      await halt(bot);
      await bot.launch();

      await waitForExtendedDm(bot, USERS.alice, id, later, 15000);
      await bot.waitForCard(id, (c) => statusOf(c) === `Active until ${later} (extended by 1h in all)`,
        'the card showing the new end', 15000);
      assert.match(await bot.command(USERS.alice, `status ${id}`),
        new RegExp(`Active until ${quote(later)} \\(extended by 1h in all\\)`));

      await sleep(2000); // time for a second extension to show
      const calls = documents(bot, 'extend', id);
      assert.equal(calls.length, expectedCalls,
        `the backend was asked to extend ${expectedCalls === 1 ? 'once' : 'again after the restart'}`);
      for (const call of calls) {
        assert.deepEqual([call.input.previous_expires_at, call.input.expires_at], [end, later],
          'every attempt asks for the same move, so a repeat changes nothing');
      }
      assert.equal(extendedDms(bot, USERS.alice, id).length, 1, 'one extension DM');
      assert.equal(bot.slack.messages(APPROVALS).filter((message) => !message.thread_ts).length, 1, 'one card');
      assert.equal(bot.cardFor(id).ts, card.ts);
      assert.equal(statusOf(bot.cardFor(id)), `Active until ${later} (extended by 1h in all)`, 'moved once');
      assert.equal(logged(bot, 'grant', id).length, 1, 'granted once');
    });
  });
}
