// Every user-visible flow of `jitbot run`, driven through a fake Slack as real users would.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { AWS, USERS, APPROVALS, INCIDENTS, cardText, buttons, isActive, until, withBot } = require('./harness');

const GCP = '--provider gcp --role roles/cloudsql.admin --scope dev-app';

test('request, one approval, grant, card updated, DM, expiry and revoke', async () => {
  await withBot({}, async (bot) => {
    const answer = await bot.command(USERS.alice, `request ${AWS} --duration 3s --reason "INC-4421 db failover"`);
    assert.match(answer, /Request req_\w+ submitted/);
    assert.match(answer, /U0BOB/, 'the answer says who can approve');
    const id = /req_[0-9A-Z]{26}/.exec(answer)[0];

    const card = await bot.waitForCard(id);
    const text = cardText(card);
    for (const expected of ['<@U0ALICE>', 'aws', 'prod-infra-admin', '123456789012', '3s', 'INC-4421 db failover',
      'Pending: 0 of 1 approvals']) {
      assert.ok(text.includes(expected), `the card shows ${expected}:\n${text}`);
    }
    assert.deepEqual(buttons(card), ['jit_approve', 'jit_deny']);

    await bot.click(USERS.bob, id, 'jit_approve');
    const grant = await bot.waitForBackend('grant', id);
    assert.match(grant.line, /for U0ALICE \(alice@example\.com\)/, 'the backend gets the email from users.info');
    assert.ok(bot.slack.callsTo('users.info').some((call) => call.args.user === 'U0ALICE'));
    const granted = await bot.waitForCard(id, isActive, 'the card showing active access');
    assert.match(cardText(granted), /Approved by <@U0BOB> at 20\d\d-/);
    assert.equal(granted.ts, card.ts, 'the same card is updated in place');
    await bot.waitForDm(USERS.alice, /access is active/i);

    await bot.waitForBackend('revoke', id);
    const expired = await bot.waitForCard(id, (c) => /Expired at/.test(cardText(c)), 'the card showing expiry');
    assert.deepEqual(buttons(expired), [], 'an expired card has no buttons');
    await bot.waitForDm(USERS.alice, /expired/i, 'the expiry DM');
    assert.equal(bot.backendCalls().filter((call) => call.requestId === id).length, 2, 'one grant, one revoke');
    assert.equal(bot.slack.messages(APPROVALS).length, 1, 'one card, never a second');
  });
});

test('when Slack cannot say who is in a user group, its member hears that jitbot cannot tell yet', async () => {
  await withBot({}, async (bot) => {
    const id = await bot.request(USERS.alice, `${GCP} --duration 1h --reason "migration"`);
    await bot.waitForCard(id);
    const outage = bot.slack.injectError('usergroups.users.list', { error: 'internal_error', count: Infinity });
    const refused = await bot.click(USERS.carol, id, 'jit_approve'); // carol approves through S0SRELEADS
    const answer = await bot.answerTo(refused, "the answer to carol's click during the outage");
    assert.match(answer, /cannot tell yet whether you may do this: Slack did not say who is in user group S0SRELEADS \(internal_error\)/);
    assert.match(answer, /Nothing was changed; try again in a minute/);
    assert.doesNotMatch(answer, /not an approver/, 'an approver is not told that she is none');
    assert.ok(outage.fired > 0, 'the group was asked for');

    bot.slack.clearInjectedErrors();
    await bot.click(USERS.carol, id, 'jit_approve');
    await bot.waitForCard(id, (c) => /1 of 2 approvals/.test(cardText(c)), 'the card with 1 of 2 once Slack answers');
  });
});

test('two approvals, one of them through a Slack user group', async () => {
  await withBot({}, async (bot) => {
    const id = await bot.request(USERS.alice, `${GCP} --duration 1h --reason "migration"`);
    await bot.waitForCard(id);
    await bot.click(USERS.carol, id, 'jit_approve'); // carol approves as a member of S0SRELEADS
    const half = await bot.waitForCard(id, (c) => /1 of 2 approvals/.test(cardText(c)), 'the card with 1 of 2');
    assert.deepEqual(buttons(half), ['jit_approve', 'jit_deny'], 'still open for the second approver');
    assert.ok(bot.slack.callsTo('usergroups.users.list').some((call) => call.args.usergroup === 'S0SRELEADS'));
    assert.equal(bot.backendCalls().length, 0, 'nothing granted after one approval of two');

    const again = await bot.click(USERS.carol, id, 'jit_approve');
    assert.match(await bot.answerTo(again), /already approved/);

    await bot.click(USERS.bob, id, 'jit_approve');
    const granted = await bot.waitForCard(id, isActive);
    assert.match(cardText(granted), /Approved by <@U0CAROL>/);
    assert.match(cardText(granted), /Approved by <@U0BOB>/);
    assert.equal(bot.backendCalls().filter((call) => call.action === 'grant').length, 1);
  });
});

test('revoke from the card ends access at once', async () => {
  await withBot({}, async (bot) => {
    const id = await bot.request(USERS.alice, `${AWS} --duration 2h --reason "deploy"`);
    await bot.waitForCard(id);
    await bot.click(USERS.bob, id, 'jit_approve');
    await bot.waitForCard(id, isActive);
    await bot.click(USERS.alice, id, 'jit_revoke');
    await bot.waitForBackend('revoke', id);
    const revoked = await bot.waitForCard(id, (c) => /Revoked by <@U0ALICE>/.test(cardText(c)), 'the revoked card');
    assert.deepEqual(buttons(revoked), []);
    await bot.waitForDm(USERS.alice, /revoked/i, 'the revocation DM');
  });
});

test('deny: the button asks for a reason, the card says who denied and why, the requester is told', async () => {
  await withBot({}, async (bot) => {
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "curious"`);
    await bot.waitForCard(id);

    // Someone who may not deny gets an answer, never the form.
    const outsider = await bot.click(USERS.oscar, id, 'jit_deny');
    assert.match(await bot.answerTo(outsider), /not an approver/);

    await bot.click(USERS.bob, id, 'jit_deny');
    const form = await until(() => [...bot.slack.views.values()].find(
      (view) => view.user === USERS.bob.id && view.callback_id === 'jit_deny_form'), 5000, 'the Deny form for bob');
    assert.equal(form.private_metadata, id);
    assert.match(JSON.stringify(form.blocks), /Deny U0ALICE's request/);
    assert.ok(![...bot.slack.views.values()].some((view) => view.user === USERS.oscar.id), 'no form for oscar');
    assert.deepEqual(buttons(bot.cardFor(id)), ['jit_approve', 'jit_deny'], 'opening the form decides nothing');

    const sent = bot.slack.submitView({
      user: USERS.bob.id, view_id: form.id,
      values: { reason: { reason: { type: 'plain_text_input', value: 'use <!channel> the read-only role' } } },
    });
    await bot.slack.waitForAck(sent.envelope_id, 5000);
    const denied = await bot.waitForCard(id, (c) => /Denied by/.test(cardText(c)), 'the denied card');
    assert.match(cardText(denied), /Denied by <@U0BOB> at 20\d\d-[^:]*:\d\d:\d\dZ: use &lt;!channel&gt; the read-only role/);
    assert.deepEqual(buttons(denied), []);
    await bot.waitForDm(USERS.alice, /denied by <@U0BOB>: use &lt;!channel&gt; the read-only role/i, 'the denial DM with the reason');
    assert.equal(bot.backendCalls().length, 0);
  });
});

test('self-approval, a non-approver and a forged click are refused and change nothing', async () => {
  await withBot({}, async (bot) => {
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "hotfix"`);
    const card = await bot.waitForCard(id);

    const own = await bot.click(USERS.alice, id, 'jit_approve');
    assert.match(await bot.answerTo(own), /cannot approve or deny your own request/);
    const outsider = await bot.click(USERS.oscar, id, 'jit_approve');
    assert.match(await bot.answerTo(outsider), /not an approver/);

    // A payload that claims a button the card never had, for a request that does not exist.
    const forgedResponseUrl = bot.slack._newResponseUrl({ forged: true });
    const forged = bot.slack.sendInteractive({
      type: 'block_actions',
      user: { id: USERS.bob.id, username: 'bob', name: 'bob', team_id: 'T111' },
      team: { id: 'T111', domain: 'acme' },
      response_url: forgedResponseUrl,
      actions: [{ type: 'button', action_id: 'jit_approve', block_id: 'x', value: 'req_00000000000000000000000000' }],
    });
    await bot.slack.waitForAck(forged.envelope_id);
    assert.match(await bot.answerTo({ response_url: forgedResponseUrl }), /no request/i);

    const after = bot.cardFor(id);
    assert.equal(after.updates.length, 0, 'the card was never changed');
    assert.deepEqual(buttons(after), ['jit_approve', 'jit_deny']);
    assert.equal(bot.backendCalls().length, 0);
    assert.equal(card.ts, after.ts);
  });
});

test('a double click grants once', async () => {
  await withBot({}, async (bot) => {
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "double"`);
    const card = await bot.waitForCard(id);
    // Both clicks leave before the card changes, as an impatient thumb on a phone would.
    const first = bot.slack.clickButton({ user: USERS.bob.id, channel: APPROVALS, ts: card.ts, action_id: 'jit_approve' });
    const second = bot.slack.clickButton({ user: USERS.bob.id, channel: APPROVALS, ts: card.ts, action_id: 'jit_approve' });
    await bot.slack.waitForAck(first.envelope_id);
    await bot.slack.waitForAck(second.envelope_id);
    await bot.waitForCard(id, isActive);
    // Clicks are handled side by side, so either may be the one that counts; the other is refused.
    const refusals = await bot.slack.waitFor(() => {
      const answers = [first, second].flatMap((click) => bot.slack.responses(click.response_url));
      return answers.length > 0 && answers;
    }, 5000, 'the refusal of one click');
    assert.equal(refusals.length, 1);
    assert.match(refusals[0].text, /already approved|already active/);
    assert.equal(bot.backendCalls().filter((call) => call.action === 'grant').length, 1);
  });
});

test('break-glass grants at once and alerts every incident channel', async () => {
  await withBot({}, async (bot) => {
    const answer = await bot.command(USERS.oscar, `request ${AWS} --duration 30m --break-glass --reason "prod down"`);
    const id = /req_[0-9A-Z]{26}/.exec(answer)[0];
    await bot.waitForBackend('grant', id);
    for (const channel of INCIDENTS) {
      const alert = await bot.slack.waitFor(() => bot.slack.messages(channel)[0], 8000, `an alert in ${channel}`);
      const text = cardText(alert);
      for (const expected of ['<@U0OSCAR>', 'aws', 'prod-infra-admin', '123456789012', '30m', 'prod down']) {
        assert.ok(text.includes(expected), `the alert shows ${expected}`);
      }
      assert.match(text, /break-glass/i);
    }
    const card = await bot.waitForCard(id, isActive);
    assert.match(cardText(card), /BREAK-GLASS/);
  });
});

test('an undecided request times out and the card says so', async () => {
  await withBot({ pendingTimeout: '2s' }, async (bot) => {
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "slow approvers"`);
    const timedOut = await bot.waitForCard(id, (c) => /Timed out/.test(cardText(c)), 'the timed-out card');
    assert.deepEqual(buttons(timedOut), []);
    await bot.waitForDm(USERS.alice, /timed out/i, 'the time-out DM');
  });
});

test('bad commands get a clear answer and create nothing', async () => {
  await withBot({}, async (bot) => {
    assert.match(await bot.command(USERS.alice, 'request --provider aws'), /Usage:/);
    assert.match(await bot.command(USERS.alice, 'frobnicate'), /Unknown command "frobnicate"/);
    assert.match(
      await bot.command(USERS.alice, 'request --provider aws --role nope --scope 1 --duration 1h --reason x'),
      /Unknown role aws\/nope/,
    );
    assert.match(
      await bot.command(USERS.alice, `request ${AWS} --duration 9h --reason x`),
      /longer than the maximum/,
    );
    assert.match(await bot.command(USERS.alice, 'help'), /request/);
    assert.match(await bot.command(USERS.alice, 'list --mine'), /none/);
    assert.equal(bot.slack.messages(APPROVALS).length, 0, 'no card for a refused request');
  });
});

test('user text is escaped: a reason can neither ping the channel nor mention nor link', async () => {
  await withBot({}, async (bot) => {
    const reason = '<!channel> ping <@U0BOB> and <https://evil.example|click me> & more';
    const id = await bot.request(USERS.alice, `${AWS} --duration 1h --reason "${reason}"`);
    const card = await bot.waitForCard(id);
    const text = cardText(card);
    assert.ok(text.includes('&lt;!channel&gt; ping &lt;@U0BOB&gt; and &lt;https://evil.example|click me&gt; &amp; more'),
      text);
    assert.ok(!/<!channel>|<@U0BOB>|<https:\/\/evil/.test(text), 'no live mention or link from user text');
    assert.ok(!/<!channel>/.test(card.text), 'the notification text is escaped too');
  });
});
