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
    assert.match(await bot.command(USERS.bob, `deny ${denied} not now`), new RegExp(denied));
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

// ---------------------------------------------------------------------------------------------------------------
// The request form: `/jit request` alone, or the "Request access" global shortcut, opens a modal; its submission is
// checked field by field in the ack and otherwise becomes the request, answered by DM.
// ---------------------------------------------------------------------------------------------------------------

test.describe('the request form', () => {
  const { INCIDENTS } = require('./harness');
  const FORM_CALLBACK = 'jit_request_form';
  const SHORTCUT = 'jit_request';
  const AWS_ROLE = 'aws/prod-infra-admin';
  const GCP_ROLE = 'gcp/roles/cloudsql.admin';
  const clone = (value) => JSON.parse(JSON.stringify(value));

  /// Roles on top of the harness's two (which everyone may request; oscar may also break glass on the aws one):
  /// one only bob may request, one only the SRE leads group (carol, dave) may, and one bob may request and only
  /// oscar may break glass on, so oscar is offered it as a break-glass requester alone.
  const FORM_ROLES = `
[[roles]]
provider = "aws"
name = "restricted-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = [${toml(USERS.bob.id)}]
approvers = [${toml(USERS.carol.id)}]
approvals_required = 1
max_duration = "4h"

[[roles]]
provider = "aws"
name = "sre-console"
scopes = ["123456789012"]
backend = "recorder"
requesters = [${toml(SRE_LEADS)}]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "2h"

[[roles]]
provider = "aws"
name = "vault-breakglass"
scopes = ["123456789012"]
backend = "recorder"
requesters = [${toml(USERS.bob.id)}]
approvers = [${toml(USERS.carol.id)}]
approvals_required = 1
max_duration = "1h"
break_glass_requesters = [${toml(USERS.oscar.id)}]
`;
  const options = { extra: FORM_ROLES };

  const requestForms = (bot, user) =>
    [...bot.slack.views.values()].filter((view) => view.user === user.id && view.callback_id === FORM_CALLBACK);
  const blockOf = (view, id) => view.blocks.find((block) => block.block_id === id);
  const blockIds = (view) => view.blocks.filter((block) => block.type === 'input').map((block) => block.block_id);
  const optionValues = (view, id) => blockOf(view, id).element.options.map((option) => option.value);

  /// Opens the form as `user` (via 'command' or 'shortcut'); resolves with what was sent, its ack and the new view.
  async function openForm(bot, user, via = 'command') {
    const before = requestForms(bot, user).length;
    const sent = via === 'shortcut'
      ? bot.slack.shortcut({ user: user.id, callback_id: SHORTCUT })
      : bot.slack.slashCommand({ user: user.id, text: 'request', channel: 'C0OPS', command: '/jit' });
    const ack = await bot.slack.waitForAck(sent.envelope_id, 5000);
    const view = await until(() => requestForms(bot, user).length > before && requestForms(bot, user).at(-1), 5000,
      `the request form for ${user.name} (via the ${via})`);
    return { sent, ack, view };
  }

  /// view.state.values as Slack sends them, choosing the view's own option objects (a value the form does not
  /// offer is sent anyway, as a forged payload would).
  function formValues(view, { role, scope, duration, reason, breakGlass = false }) {
    const pick = (id, value) => {
      const block = blockOf(view, id);
      const offered = block && block.element.options.find((option) => option.value === value);
      return offered ? clone(offered) : { text: { type: 'plain_text', text: value, emoji: true }, value };
    };
    const values = {
      role: { role: { type: 'static_select', selected_option: pick('role', role) } },
      scope: { scope: { type: 'plain_text_input', value: scope } },
      duration: { duration: { type: 'static_select', selected_option: pick('duration', duration) } },
      reason: { reason: { type: 'plain_text_input', value: reason } },
    };
    if (blockOf(view, 'break_glass') || breakGlass) {
      values.break_glass = { break_glass: { type: 'checkboxes', selected_options: breakGlass ? [pick('break_glass', 'yes')] : [] } };
    }
    return values;
  }

  /// Submits the open form; resolves with the ack and the view as the fake now shows it (errors, or closed).
  async function submit(bot, user, view, fields) {
    const sent = bot.slack.submitView({ user: user.id, view_id: view.id, values: formValues(view, fields) });
    const ack = await bot.slack.waitForAck(sent.envelope_id, 5000);
    assert.equal(ack.late, false, 'the submission is acked within Slack\'s deadline');
    return { sent, ack, view: bot.slack.views.get(view.id) };
  }

  /// The views.open call that opened `view`, and the trigger it used.
  function openCallFor(bot, view) {
    const call = bot.slack.callsTo('views.open').find((c) => c.ok && c.response.view && c.response.view.id === view.id);
    assert.ok(call, `a successful views.open opened ${view.id}`);
    return call;
  }

  const submittedId = async (bot, user, after = 0) => {
    const dm = await until(() => bot.dms(user).slice(after).find((m) => /Request req_[0-9A-Z]{26} submitted/.test(m.text)),
      8000, `the "Request … submitted" DM to ${user.name}`);
    return idIn(dm.text);
  };

  test('/jit request alone opens the form with exactly the roles the person may request; break-glass only for oscar', async () => {
    await withBot(options, async (bot) => {
      const { sent, ack, view } = await openForm(bot, USERS.alice);
      assert.ok(!ack.payload || !ack.payload.text, `the command is acked without an answer: ${JSON.stringify(ack.payload)}`);
      assert.equal(view.type, 'modal');
      assert.equal(view.title.text, 'Request access');
      assert.deepEqual(blockIds(view), ['role', 'scope', 'duration', 'reason'], 'no break_glass block for alice');
      for (const id of blockIds(view)) assert.equal(blockOf(view, id).element.action_id, id, `${id}: block_id = action_id`);
      assert.equal(blockOf(view, 'role').element.type, 'static_select');
      assert.deepEqual(optionValues(view, 'role'), [AWS_ROLE, GCP_ROLE], 'alice is offered the roles everyone may request');
      assert.equal(blockOf(view, 'scope').element.type, 'plain_text_input');
      const hint = blockOf(view, 'scope').hint.text;
      assert.ok(hint.startsWith(`Allowed: ${AWS_ROLE}: 123456789012; `), hint);
      assert.ok(hint.includes(`${GCP_ROLE}: dev-*`), hint);
      assert.ok(!/restricted-admin|sre-console|vault/.test(hint), `only the offered roles' scopes: ${hint}`);
      assert.deepEqual(optionValues(view, 'duration'), ['15m', '30m', '1h', '2h', '4h', '8h'],
        'durations up to the longest max_duration of the offered roles (gcp: 8h)');
      assert.equal(blockOf(view, 'reason').element.type, 'plain_text_input');
      assert.equal(blockOf(view, 'reason').element.multiline, true);
      assert.equal(openCallFor(bot, view).args.trigger_id, sent.trigger_id, 'the form opened with the command\'s trigger_id');

      // A group member is offered the group's role; a named requester the roles naming them.
      const carol = (await openForm(bot, USERS.carol)).view;
      assert.deepEqual(optionValues(carol, 'role'), [AWS_ROLE, GCP_ROLE, 'aws/sre-console'], 'carol, via S0SRELEADS');
      assert.ok(!blockOf(carol, 'break_glass'));
      const bob = (await openForm(bot, USERS.bob)).view;
      assert.deepEqual(optionValues(bob, 'role'), [AWS_ROLE, GCP_ROLE, 'aws/restricted-admin', 'aws/vault-breakglass']);
      assert.ok(!blockOf(bob, 'break_glass'), 'requesting a role with break-glass does not make bob a break-glass requester');

      // oscar may break glass on aws/prod-infra-admin (and is offered vault-breakglass as a break-glass requester only).
      const oscar = (await openForm(bot, USERS.oscar)).view;
      assert.deepEqual(optionValues(oscar, 'role'), [AWS_ROLE, GCP_ROLE, 'aws/vault-breakglass']);
      assert.deepEqual(blockIds(oscar), ['role', 'scope', 'duration', 'reason', 'break_glass']);
      const breakGlass = blockOf(oscar, 'break_glass');
      assert.equal(breakGlass.element.type, 'checkboxes');
      assert.equal(breakGlass.element.action_id, 'break_glass');
      assert.deepEqual(optionValues(oscar, 'break_glass'), ['yes']);
      assert.equal(breakGlass.optional, true, 'break-glass is optional');
      assert.match(breakGlass.hint.text, /aws\/prod-infra-admin, aws\/vault-breakglass$/);
      assert.doesNotMatch(breakGlass.hint.text, /gcp/);

      await sleep(300);
      assert.deepEqual(bot.slack.responses(sent.response_url), [], 'no answer besides the form');
      assert.equal(bot.slack.messages(APPROVALS).length, 0, 'opening the form creates nothing');
      assert.equal(bot.dms(USERS.alice).length, 0);
    });
  });

  test('the Request access shortcut opens the same form', async () => {
    await withBot(options, async (bot) => {
      const { sent, ack, view } = await openForm(bot, USERS.dave, 'shortcut');
      assert.ok(!ack.payload || Object.keys(ack.payload).length === 0, `acked empty: ${JSON.stringify(ack.payload)}`);
      assert.equal(view.title.text, 'Request access');
      assert.deepEqual(optionValues(view, 'role'), [AWS_ROLE, GCP_ROLE, 'aws/sre-console']);
      assert.deepEqual(blockIds(view), ['role', 'scope', 'duration', 'reason']);
      assert.equal(openCallFor(bot, view).args.trigger_id, sent.trigger_id, 'opened with the shortcut\'s trigger_id');

      const oscar = await openForm(bot, USERS.oscar, 'shortcut');
      assert.deepEqual(optionValues(oscar.view, 'role'), [AWS_ROLE, GCP_ROLE, 'aws/vault-breakglass']);
      assert.ok(blockOf(oscar.view, 'break_glass'), 'oscar\'s form offers break-glass');

      await sleep(300);
      assert.equal(bot.dms(USERS.dave).length, 0, 'the form is the answer: no DM');
      assert.equal(bot.dms(USERS.oscar).length, 0);
    });
  });

  test('field problems are answered in the form: errors on the field, the form stays open, nothing is created', async () => {
    await withBot(options, async (bot) => {
      const { view } = await openForm(bot, USERS.alice);
      const good = { role: AWS_ROLE, scope: '123456789012', duration: '1h', reason: 'INC-12 form' };

      const cases = [
        [{ scope: '999999999999' }, 'scope',
          /^Scope 999999999999 is not allowed for aws\/prod-infra-admin\. Allowed scopes: 123456789012\.$/],
        [{ scope: '1234*' }, 'scope', /is not a valid scope for aws\/prod-infra-admin/],
        [{ duration: '8h' }, 'duration', /^Duration 8h is longer than the maximum of 4h for aws\/prod-infra-admin\.$/],
        [{ reason: '  \n ' }, 'reason', /A reason is required/],
        [{ role: 'aws/nope' }, 'role', /^Unknown role aws\/nope\./],
        [{ role: GCP_ROLE, scope: 'dev-app', breakGlass: true }, 'break_glass',
          /^Break-glass is not enabled for gcp\/roles\/cloudsql\.admin\./],
      ];
      for (const [change, field, expected] of cases) {
        const fields = { ...good, ...change };
        const { ack, view: after } = await submit(bot, USERS.alice, view, fields);
        const what = JSON.stringify(change);
        assert.equal(ack.payload && ack.payload.response_action, 'errors', `${what} is answered with errors: ${JSON.stringify(ack.payload)}`);
        assert.deepEqual(Object.keys(ack.payload.errors), [field], `${what}: the error is on ${field}`);
        assert.match(ack.payload.errors[field], expected, what);
        assert.ok(!after.state_closed, `${what}: the form stays open`);
        assert.deepEqual(after.errors, ack.payload.errors, `${what}: Slack shows the error under the field`);
      }

      await sleep(1000);
      assert.equal(bot.slack.messages(APPROVALS).length, 0, 'no card');
      assert.equal(bot.dms(USERS.alice).length, 0, 'no DM');
      assert.equal(bot.backendCalls().length, 0, 'no grant');
      assert.equal(bot.slack.callsTo('chat.postMessage').length, 0, 'nothing posted at all');

      // Fixed in the same form, it goes through.
      const { ack, view: closed } = await submit(bot, USERS.alice, view, good);
      assert.ok(!ack.payload || !ack.payload.response_action, `acked empty: ${JSON.stringify(ack.payload)}`);
      assert.equal(closed.state_closed, true, 'the form closes');
      await bot.waitForCard(await submittedId(bot, USERS.alice));
    });
  });

  test('a good submission closes the form, posts the approval card and DMs the request ID', async () => {
    await withBot(options, async (bot) => {
      const { view } = await openForm(bot, USERS.alice);
      const { ack, view: closed } = await submit(bot, USERS.alice, view,
        { role: GCP_ROLE, scope: 'dev-app', duration: '2h', reason: 'INC-13 schema migration' });
      assert.ok(!ack.payload || Object.keys(ack.payload).length === 0, `acked empty: ${JSON.stringify(ack.payload)}`);
      assert.equal(closed.state_closed, true, 'the form closes');

      const dm = await bot.waitForDm(USERS.alice, /Request req_[0-9A-Z]{26} submitted/, 'the answer');
      const id = idIn(dm.text);
      assert.match(dm.text, /U0BOB|S0SRELEADS/, `the answer says who can approve: ${dm.text}`);
      const card = await bot.waitForCard(id);
      const text = cardText(card);
      for (const expected of ['<@U0ALICE>', 'gcp', 'roles/cloudsql.admin', 'dev-app', '2h', 'INC-13 schema migration',
        'Pending: 0 of 2 approvals']) {
        assert.ok(text.includes(expected), `the card shows ${expected}:\n${text}`);
      }
      assert.deepEqual(buttons(card), ['jit_approve', 'jit_deny']);
      await sleep(300);
      assert.equal(bot.slack.messages(APPROVALS).length, 1, 'one card');
      assert.equal(bot.dms(USERS.alice).length, 1, 'one answer');
      assert.equal(bot.backendCalls().length, 0, 'nothing granted before the approvals');
    });
  });

  test('the reason arrives verbatim: quotes and flags in it are text, not options', async () => {
    await withBot(options, async (bot) => {
      // oscar may break glass on this role, so a --break-glass leaking out of the reason would grant at once.
      const reasons = ['it\'s "urgent" --break-glass', '\'quoted\' at both ends, \'\' and "" --duration 4h \''];
      for (const reason of reasons) {
        const { view } = await openForm(bot, USERS.oscar);
        const dmsBefore = bot.dms(USERS.oscar).length;
        const { ack } = await submit(bot, USERS.oscar, view, { role: AWS_ROLE, scope: '123456789012', duration: '1h', reason });
        assert.ok(!ack.payload || !ack.payload.response_action, `acked empty: ${JSON.stringify(ack.payload)}`);
        const id = await submittedId(bot, USERS.oscar, dmsBefore);
        const card = await bot.waitForCard(id);
        const text = cardText(card);
        assert.ok(text.includes(reason), `the card shows the reason ${JSON.stringify(reason)} verbatim:\n${text}`);
        assert.match(text, /\b1h\b/, 'the duration is the one chosen');
        assert.doesNotMatch(text, /BREAK-GLASS/);
        assert.deepEqual(buttons(card), ['jit_approve', 'jit_deny'], 'it waits for approval');
      }
      await sleep(1000);
      assert.equal(bot.backendCalls().length, 0, 'nothing granted');
      for (const channel of INCIDENTS) assert.equal(bot.slack.messages(channel).length, 0, `no alert in ${channel}`);
    });
  });

  test('text typed in the form is taken as typed: "&amp;" and "&lt;" in it are not Slack entities', async () => {
    await withBot(options, async (bot) => {
      // Slack escapes &, < and > in a slash command's text, so jitbot decodes those; a form's values arrive raw, so
      // whatever looks like an entity there is what the person typed.
      const reason = 'R&amp;D said &lt;b&gt; is fine';
      const { view } = await openForm(bot, USERS.alice);
      await submit(bot, USERS.alice, view, { role: AWS_ROLE, scope: '123456789012', duration: '1h', reason });
      const card = await bot.waitForCard(await submittedId(bot, USERS.alice));
      // The card shows the reason escaped once for mrkdwn: "&amp;" typed is "&amp;amp;" on the card.
      const shown = 'R&amp;amp;D said &amp;lt;b&amp;gt; is fine';
      assert.ok(cardText(card).includes(shown),
        `the card shows ${JSON.stringify(reason)} as typed (${JSON.stringify(shown)} in mrkdwn):\n${cardText(card)}`);
    });
  });

  test('break-glass from the form: oscar is granted at once and the incident channels are alerted', async () => {
    await withBot(options, async (bot) => {
      const { view } = await openForm(bot, USERS.oscar, 'shortcut');
      const { ack, view: closed } = await submit(bot, USERS.oscar, view,
        { role: AWS_ROLE, scope: '123456789012', duration: '30m', reason: 'prod down, via the form', breakGlass: true });
      assert.ok(!ack.payload || !ack.payload.response_action, `acked empty: ${JSON.stringify(ack.payload)}`);
      assert.equal(closed.state_closed, true);
      const dm = await bot.waitForDm(USERS.oscar, /req_[0-9A-Z]{26}/, 'the answer');
      const id = idIn(dm.text);
      const grant = await bot.waitForBackend('grant', id);
      assert.match(grant.line, /U0OSCAR/);
      const card = await bot.waitForCard(id, isActive, 'the card showing active access');
      assert.match(cardText(card), /BREAK-GLASS/);
      assert.match(cardText(card), /prod down, via the form/);
      for (const channel of INCIDENTS) {
        const alert = await bot.slack.waitFor(() => bot.slack.messages(channel)[0], 8000, `an alert in ${channel}`);
        assert.ok(cardText(alert).includes('<@U0OSCAR>'));
      }
    });
  });

  test('who may request is checked after the ack and answered by DM; nothing is created', async () => {
    await withBot(options, async (bot) => {
      const { view } = await openForm(bot, USERS.alice);
      // Neither is offered to alice; a forged submission passes the field checks but not the rules.
      const { ack } = await submit(bot, USERS.alice, view,
        { role: 'aws/restricted-admin', scope: '123456789012', duration: '1h', reason: 'curious' });
      assert.ok(!ack.payload || !ack.payload.response_action, `acked empty: ${JSON.stringify(ack.payload)}`);
      await bot.waitForDm(USERS.alice, /^You are not allowed to request aws\/restricted-admin\./, 'the refusal');

      const again = (await openForm(bot, USERS.alice)).view;
      await submit(bot, USERS.alice, again,
        { role: AWS_ROLE, scope: '123456789012', duration: '1h', reason: 'let me in', breakGlass: true });
      await bot.waitForDm(USERS.alice, /^You are not allowed to break glass for aws\/prod-infra-admin\./, 'the refusal');

      await sleep(500);
      assert.equal(bot.slack.messages(APPROVALS).length, 0, 'no card');
      assert.equal(bot.backendCalls().length, 0, 'no grant');
      for (const channel of INCIDENTS) assert.equal(bot.slack.messages(channel).length, 0, `no alert in ${channel}`);
    });
  });

  test('the form opens with the trigger_id while it is fresh (single use, within 3 s)', async () => {
    await withBot(options, async (bot) => {
      for (const via of ['command', 'shortcut']) {
        const { sent, view } = await openForm(bot, USERS.carol, via);
        const call = openCallFor(bot, view);
        assert.equal(call.args.trigger_id, sent.trigger_id, `${via}: views.open used the trigger_id Slack sent`);
        const trigger = bot.slack._triggers.get(sent.trigger_id);
        assert.equal(trigger.used, true, `${via}: the trigger was exchanged`);
        const after = call.atMs - trigger.issuedMs;
        assert.ok(after < 3000, `${via}: views.open came ${Math.round(after)} ms after the trigger was issued (TTL 3 s)`);
        assert.equal(bot.slack.callsTo('views.open').filter((c) => c.args.trigger_id === sent.trigger_id).length, 1,
          `${via}: one views.open per trigger`);
      }
      assert.equal(bot.slack.callsTo('views.open').filter((c) => !c.ok).length, 0, 'no views.open was refused');
    });
  });

  test('a form that cannot open (the trigger expired) is explained, and how to ask without it', async () => {
    await withBot(options, async (bot) => {
      // Slack answers views.open only after the trigger's 3 s: it refuses it as expired.
      bot.slack.injectLatency('views.open', 3300, { count: 2 });
      const command = bot.slack.slashCommand({ user: USERS.alice.id, text: 'request', channel: 'C0OPS', command: '/jit' });
      bot.slack.shortcut({ user: USERS.dave.id, callback_id: SHORTCUT });
      const answer = await bot.firstResponse(command.response_url, 8000, 'the answer to /jit request');
      assert.match(answer.text, /^The form could not open \(Slack: expired_trigger_id\)\. Use \/jit request --provider /);
      await bot.waitForDm(USERS.dave, /^The form could not open \(Slack: expired_trigger_id\)\./, 'the shortcut\'s answer');
      assert.deepEqual(bot.slack.callsTo('views.open').map((c) => c.error), ['expired_trigger_id', 'expired_trigger_id']);
      assert.equal(requestForms(bot, USERS.alice).length + requestForms(bot, USERS.dave).length, 0);
    });
  });
});

test('the App Home tab shows your open requests and those waiting on you, with the same buttons', async () => {
  await withBot({}, async (bot) => {
    const mine = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "home: pending"`);
    await bot.waitForCard(mine);
    const ack = bot.slack.sendEvent({ type: 'app_home_opened', user: USERS.alice.id, channel: 'D0ALICE', tab: 'home' });
    await bot.slack.waitForAck(ack.envelope_id, 5000);
    const home = await until(() => bot.slack.homeViews.get(USERS.alice.id), 5000, "alice's Home tab");
    const text = JSON.stringify(home.view.blocks);
    assert.equal(home.view.type, 'home');
    assert.match(text, new RegExp(`\\*${mine}\\* aws/prod-infra-admin on 123456789012 for 1h`));
    assert.match(text, /Nothing waits for your approval/, 'alice approves nothing');

    // Bob approves the role: the request waits on him, with Approve and Deny.
    const opened = bot.slack.sendEvent({ type: 'app_home_opened', user: USERS.bob.id, channel: 'D0BOB', tab: 'home' });
    await bot.slack.waitForAck(opened.envelope_id, 5000);
    const bobs = await until(() => bot.slack.homeViews.get(USERS.bob.id), 5000, "bob's Home tab");
    const actions = bobs.view.blocks.filter((block) => block.type === 'actions')
      .flatMap((block) => block.elements.map((element) => `${element.action_id}:${element.value}`));
    assert.deepEqual(actions, [`jit_approve:${mine}`, `jit_deny:${mine}`]);
    assert.match(JSON.stringify(bobs.view.blocks), /home: pending/, 'with the reason');

    // The Messages tab opening is not the Home tab: nothing is published for it.
    const messages = bot.slack.sendEvent({ type: 'app_home_opened', user: USERS.carol.id, channel: 'D0CAROL', tab: 'messages' });
    await bot.slack.waitForAck(messages.envelope_id, 5000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(bot.slack.homeViews.get(USERS.carol.id), undefined);
  });
});
