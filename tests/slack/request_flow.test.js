// Pending requests end to end: `jitbot run` against the fake Slack. Reminders in the card's thread, escalation to
// more approvers (across a restart too), the refusal of a request asked twice, and answers that say what to do next.
// Each test checks what a requester or an approver would notice in Slack.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { AWS, APPROVALS, SRE_LEADS, USERS, buttons, cardText, isActive, until, withBot } = require('./harness');

const toml = (value) => JSON.stringify(value);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/// The fake Slack's clock (postedAtMs of its messages).
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
const idIn = (text) => {
  const match = /req_[0-9A-Z]{26}/.exec(text);
  if (!match) throw new Error(`no request ID in: ${text}`);
  return match[0];
};

/// A user group of the fake workspace that only escalations use (dave is its one member).
const MANAGERS = 'S0MANAGERS';
const addManagers = (slack) => slack.addUsergroup(MANAGERS, [USERS.dave.id]);

/// Roles on top of the harness's aws and gcp roles; only bob approves them, so carol and dave can be escalated to.
const ROLES = `
[[roles]]
provider = "aws"
name = "billing-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "4h"
remind_after = "2s"
max_reminders = 5
escalate_after = "3s"
escalation_approvers = [${toml(USERS.carol.id)}, ${toml(MANAGERS)}]

[[roles]]
provider = "aws"
name = "ledger-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "4h"
remind_after = "2s"
max_reminders = 5
escalate_after = "5s"
escalation_approvers = [${toml(USERS.carol.id)}]

[[roles]]
provider = "aws"
name = "restricted-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = [${toml(USERS.bob.id)}]
approvers = [${toml(USERS.carol.id)}, ${toml(SRE_LEADS)}]
approvals_required = 1
max_duration = "4h"
`;
const BILLING = '--provider aws --role billing-admin --scope 123456789012';
const LEDGER = '--provider aws --role ledger-admin --scope 123456789012';
const RESTRICTED = '--provider aws --role restricted-admin --scope 123456789012';

/// Replies in the thread of `card` (in the approvals channel), oldest first.
const threadOf = (bot, card) => bot.slack.messages(APPROVALS).filter((message) => message.thread_ts === card.ts);
const remindersOf = (bot, card) => threadOf(bot, card).filter((message) => message.text.startsWith(':bell: Reminder:'));
const escalationsOf = (bot, card) =>
  threadOf(bot, card).filter((message) => message.text.startsWith(':arrow_double_up: Escalated:'));
/// Whom a reminder asks to decide: the mentions before ": please approve or deny it."
const askedIn = (reminder) => {
  const match = /\)\. ([^.]*): please approve or deny it\.$/.exec(reminder.text);
  assert.ok(match, `the reminder ends by asking the approvers to decide: ${reminder.text}`);
  return match[1].split(' ');
};
const escalationDms = (bot, user, id) =>
  bot.dms(user).filter((message) => message.text.includes(id) && /was escalated to you/.test(message.text));

async function waitForReminders(bot, card, count, timeoutMs = 8000) {
  return until(() => remindersOf(bot, card).length >= count && remindersOf(bot, card), timeoutMs,
    `${count} reminder(s) in the thread of the card ${card.ts}`);
}

test('reminders: every remind_after in the card thread, mentioning the approvers, at most max_reminders times', async () => {
  await withBot({ botExtra: 'remind_after = "2s"\nmax_reminders = 2' }, async (bot) => {
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "INC-1 reminders"`);
    const card = await bot.waitForCard(id);
    // bob approves this role too: his own request must not ask him to approve it.
    const own = await bot.request(USERS.bob, `${AWS} --duration 1h --reason "INC-1 bob's own"`);
    const ownCard = await bot.waitForCard(own);

    const reminders = await waitForReminders(bot, card, 2);
    for (const [i, reminder] of reminders.entries()) {
      assert.equal(reminder.thread_ts, card.ts, 'a reminder is a reply in the thread of the card');
      assert.equal(reminder.reply_broadcast, false, 'a reminder stays in the thread');
      assert.match(reminder.text, /^:bell: Reminder: /);
      assert.match(reminder.text, /prod-infra-admin/, 'it says which access waits');
      assert.match(reminder.text, /Pending: 0 of 1 approvals/, 'it says what the request waits for');
      assert.deepEqual(askedIn(reminder), ['<@U0BOB>', `<!subteam^${SRE_LEADS}>`], 'it mentions the approvers');
      const since = reminder.postedAtMs - (i === 0 ? card.postedAtMs : reminders[i - 1].postedAtMs);
      assert.ok(since >= 1500, `reminder ${i + 1} came ${Math.round(since)} ms after the one before (remind_after 2s)`);
    }
    const [ownReminder] = await waitForReminders(bot, ownCard, 1);
    assert.deepEqual(askedIn(ownReminder), [`<!subteam^${SRE_LEADS}>`],
      'a reminder does not ask the requester to approve their own request');

    await sleep(4500); // more than two intervals after the last
    assert.equal(remindersOf(bot, card).length, 2, 'no reminder after max_reminders');
    assert.equal(remindersOf(bot, ownCard).length, 2, 'no reminder after max_reminders');
    assert.equal(threadOf(bot, card).length, 2, 'nothing else in the thread');
    assert.equal(bot.slack.messages(APPROVALS).filter((m) => !m.thread_ts).length, 2, 'no card posted twice');
    assert.deepEqual(buttons(bot.cardFor(id)), ['jit_approve', 'jit_deny'], 'the request still waits');
    assert.equal(bot.dms(USERS.bob).length, 0, 'approvers are reminded in the thread, not in DMs');
  });
});

test('a request that times out is no longer reminded', async () => {
  await withBot({ botExtra: 'remind_after = "2s"\nmax_reminders = 5', pendingTimeout: '4s' }, async (bot) => {
    const expiring = await bot.request(USERS.dave, `${AWS} --duration 1h --reason "nobody looks"`);
    const expiringCard = await bot.waitForCard(expiring);
    await waitForReminders(bot, expiringCard, 1);
    await bot.waitForCard(expiring, (c) => /Timed out/.test(cardText(c)), 'the timed-out card');
    const afterTimeout = remindersOf(bot, expiringCard).length;
    await sleep(4500);
    assert.equal(remindersOf(bot, expiringCard).length, afterTimeout, 'no reminder after the request timed out');
  });
});

test('a decision stops the reminders: approve, deny and cancel', async () => {
  await withBot({ botExtra: 'remind_after = "2s"\nmax_reminders = 5' }, async (bot) => {
    const approved = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "to approve"`);
    const denied = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "to deny"`);
    const cancelled = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "to cancel"`);
    const cards = {};
    for (const id of [approved, denied, cancelled]) cards[id] = await bot.waitForCard(id);
    for (const id of [approved, denied, cancelled]) await waitForReminders(bot, cards[id], 1);

    await bot.click(USERS.bob, approved, 'jit_approve');
    await bot.click(USERS.bob, denied, 'jit_deny');
    assert.match(await bot.command(USERS.alice, `cancel ${cancelled}`), new RegExp(cancelled));
    await bot.waitForBackend('grant', approved);
    await bot.waitForCard(approved, isActive, 'the card showing active access');
    await bot.waitForCard(denied, (c) => /Denied by/.test(cardText(c)), 'the denied card');
    await bot.waitForCard(cancelled, (c) => /[Cc]ancelled/.test(cardText(c)), 'the cancelled card');
    const counts = () => [approved, denied, cancelled].map((id) => remindersOf(bot, cards[id]).length);
    const decided = counts();
    await sleep(4500); // more than two intervals
    assert.deepEqual(counts(), decided, 'no reminder after approve, deny or cancel');
  });
});

test('escalation: after escalate_after the escalation approvers are asked and may decide', async () => {
  await withBot({ extra: ROLES, prepare: addManagers }, async (bot) => {
    const id = await bot.request(USERS.alice, `${BILLING} --duration 1h --reason "INC-9 invoices stuck"`);
    const card = await bot.waitForCard(id);

    // Before the escalation carol is nobody to this request.
    const early = await bot.click(USERS.carol, id, 'jit_approve');
    assert.match(await bot.answerTo(early), /You are not an approver for aws\/billing-admin/);

    const escalated = (c) => /escalated to U0CAROL, S0MANAGERS at 20\d\d-/.test(cardText(c));
    const edited = await bot.waitForCard(id, escalated, 'the card showing the escalation');
    assert.equal(edited.ts, card.ts, 'the card is edited in place');
    assert.match(cardText(edited), /Pending: 0 of 1 approvals/, 'carol\'s early click counted for nothing');
    assert.deepEqual(buttons(edited), ['jit_approve', 'jit_deny']);
    assert.equal(bot.backendCalls().length, 0);

    const [escalation] = await until(() => escalationsOf(bot, card).length > 0 && escalationsOf(bot, card), 5000,
      'the escalation reply in the thread of the card');
    assert.ok(escalation.postedAtMs - card.postedAtMs >= 2500,
      `escalated ${Math.round(escalation.postedAtMs - card.postedAtMs)} ms after the request (escalate_after 3s)`);
    assert.ok(escalation.text.includes('<@U0CAROL>'), escalation.text);
    assert.ok(escalation.text.includes(`<!subteam^${MANAGERS}>`), escalation.text);
    assert.ok(!escalation.text.includes('<@U0DAVE>'), 'a group is mentioned as a group');

    const dm = await bot.waitForDm(USERS.carol, /was escalated to you/, 'the escalation DM');
    assert.ok(dm.text.includes(id), dm.text);
    assert.ok(bot.slack.callsTo('conversations.open').some((call) => String(call.args.users) === USERS.carol.id),
      'jitbot opened a DM with carol');
    assert.equal(escalationDms(bot, USERS.dave, id).length, 0, 'a group\'s members are mentioned, not DMed');
    assert.equal(escalationDms(bot, USERS.bob, id).length, 0, 'the approvers are not told they were escalated to');

    // Reminders from now on ask the escalation approvers too.
    const later = await until(() => remindersOf(bot, card).find((r) => r.postedAtMs > escalation.postedAtMs), 5000,
      'a reminder after the escalation');
    assert.deepEqual(askedIn(later), ['<@U0BOB>', '<@U0CAROL>', `<!subteam^${MANAGERS}>`]);

    await bot.click(USERS.carol, id, 'jit_approve');
    await bot.waitForBackend('grant', id);
    const granted = await bot.waitForCard(id, isActive, 'the card showing active access');
    assert.match(cardText(granted), /Approved by <@U0CAROL> at 20\d\d-/);
    await bot.waitForDm(USERS.alice, /access is active/i);
    assert.equal(escalationsOf(bot, card).length, 1, 'escalated once');
  });
});

test('an escalation due while jitbot was stopped happens once after the restart; reminders go on where they were', async () => {
  await withBot({ extra: ROLES }, async (bot) => {
    const id = await bot.request(USERS.alice, `${LEDGER} --duration 1h --reason "INC-11 ledger locked"`);
    const card = await bot.waitForCard(id);
    const [first] = await waitForReminders(bot, card, 1);
    await bot.stop();
    assert.equal(escalationsOf(bot, card).length, 0, 'not escalated before the stop (escalate_after 5s)');
    assert.deepEqual(askedIn(first), ['<@U0BOB>']);

    // Down past the escalation time and two more reminder times.
    const downFor = card.postedAtMs + 7500 - nowMs();
    if (downFor > 0) await sleep(downFor);
    const relaunchedAt = nowMs();
    await bot.launch();

    const [escalation] = await until(() => escalationsOf(bot, card).length > 0 && escalationsOf(bot, card), 8000,
      'the escalation after the restart');
    assert.ok(escalation.postedAtMs >= relaunchedAt);
    assert.ok(escalation.text.includes('<@U0CAROL>'), escalation.text);
    await bot.waitForCard(id, (c) => /escalated to U0CAROL at 20\d\d-/.test(cardText(c)),
      'the card showing the escalation');
    await bot.waitForDm(USERS.carol, /was escalated to you/, 'the escalation DM');

    const [, second] = await waitForReminders(bot, card, 2);
    assert.ok(second.postedAtMs >= relaunchedAt, 'the second reminder came after the restart');
    assert.deepEqual(askedIn(second), ['<@U0BOB>', '<@U0CAROL>']);
    await sleep(1000);
    assert.equal(remindersOf(bot, card).length, 2, 'one reminder after the downtime, not one per missed interval');

    const [, , third] = await waitForReminders(bot, card, 3);
    assert.ok(third.postedAtMs - second.postedAtMs >= 1500, 'then one every remind_after again');
    assert.equal(escalationsOf(bot, card).length, 1, 'escalated once');
    assert.equal(escalationDms(bot, USERS.carol, id).length, 1, 'carol is told once');

    await bot.click(USERS.carol, id, 'jit_approve');
    await bot.waitForBackend('grant', id);
    await bot.waitForCard(id, isActive, 'the card showing active access');
  });
});

test('the same request twice while the first waits is refused and points to the first', async () => {
  await withBot({}, async (bot) => {
    const text = `${AWS} --duration 1h --reason "INC-7 disk full"`;
    const first = await bot.request(USERS.alice, text);
    await bot.waitForCard(first);

    const again = await bot.command(USERS.alice, `request ${text}`);
    assert.match(again, /^You already asked for exactly this: /);
    assert.ok(again.includes(first), `the answer names the open request ${first}: ${again}`);
    assert.ok(again.includes(`/jit cancel ${first}`), `the answer says how to cancel it: ${again}`);
    assert.equal(bot.slack.messages(APPROVALS).length, 1, 'no second card');

    const otherReason = await bot.command(USERS.alice, `request ${AWS} --duration 1h --reason "INC-8 disk full again"`);
    assert.match(otherReason, /submitted/, 'a different reason is another need');
    const otherDuration = await bot.command(USERS.alice, `request ${AWS} --duration 2h --reason "INC-7 disk full"`);
    assert.match(otherDuration, /submitted/, 'a different duration is another need');
    const otherPerson = await bot.command(USERS.carol, `request ${text}`);
    assert.match(otherPerson, /submitted/, 'someone else may ask for the same');
    const ids = [idIn(otherReason), idIn(otherDuration), idIn(otherPerson)];
    for (const id of ids) await bot.waitForCard(id);
    assert.equal(new Set([first, ...ids]).size, 4);

    // Once the first is decided, asking again is fine.
    await bot.command(USERS.alice, `cancel ${first}`);
    await bot.waitForCard(first, (c) => /[Cc]ancelled/.test(cardText(c)), 'the cancelled card');
    const afterCancel = await bot.command(USERS.alice, `request ${text}`);
    assert.match(afterCancel, /submitted/, 'the same request again once the first is cancelled');
    assert.notEqual(idIn(afterCancel), first);
  });
});

test('the same request sent twice at once creates one request', async () => {
  await withBot({}, async (bot) => {
    const text = `request ${AWS} --duration 1h --reason "double enter"`;
    const answers = await Promise.all([bot.command(USERS.dave, text), bot.command(USERS.dave, text)]);
    const submitted = answers.filter((answer) => /submitted/.test(answer));
    const refused = answers.filter((answer) => /^You already asked for exactly this/.test(answer));
    assert.equal(submitted.length, 1, `one is submitted: ${JSON.stringify(answers)}`);
    assert.equal(refused.length, 1, `the other is refused: ${JSON.stringify(answers)}`);
    assert.ok(refused[0].includes(idIn(submitted[0])), 'the refusal points to the one submitted');
    await bot.waitForCard(idIn(submitted[0]));
    await sleep(500);
    assert.equal(bot.slack.messages(APPROVALS).length, 1, 'one card');
  });
});

test('answers that say what to do next: unknown command, blank reason, not a requester', async () => {
  await withBot({ extra: ROLES }, async (bot) => {
    const unknown = await bot.command(USERS.alice, 'x');
    assert.match(unknown, /^Unknown command "x"\. The commands are request, approve, /);
    assert.match(unknown, /Usage: \/jit help$/);
    assert.doesNotMatch(unknown, /Usage: Usage:/);
    assert.equal((unknown.match(/Usage:/g) || []).length, 1, `the usage is given once: ${unknown}`);

    const blank = await bot.command(USERS.alice, `request ${AWS} --duration 1h --reason "   "`);
    assert.match(blank, /A reason is required/);
    assert.doesNotMatch(blank, /req_/);

    const outsider = await bot.command(USERS.alice, `request ${RESTRICTED} --duration 1h --reason "curious"`);
    assert.match(outsider, /You are not allowed to request aws\/restricted-admin\./);
    const ask = /Ask one of its approvers \(([^)]*)\) to add you to its requesters\./.exec(outsider);
    assert.ok(ask, `the answer says whom to ask: ${outsider}`);
    assert.match(ask[1], /U0CAROL/);
    assert.match(ask[1], new RegExp(SRE_LEADS));

    assert.match(await bot.command(USERS.bob, `request ${RESTRICTED} --duration 1h --reason "allowed"`), /submitted/);
    await sleep(300);
    assert.equal(bot.slack.messages(APPROVALS).length, 1, 'only the allowed request has a card');
  });
});
