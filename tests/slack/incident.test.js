// Incident access end to end: `jitbot run` against the fake Slack and the fakes of the services it alerts (its own
// signed webhook, the PagerDuty Events API) and asks who is on call (PagerDuty's /oncalls, Opsgenie's on-calls).
// Each test checks what a responder, a requester or an auditor would notice in Slack and in those services.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  AWS, APPROVALS, INCIDENTS, SRE_LEADS, USERS, assertNoSecrets, buttons, cardText, isActive, requestIdOf, until, withBot,
  writeBackend,
} = require('./harness');
const {
  FakeWebhookReceiver, FakePagerDutyEvents, FakePagerDutyOncalls, FakeOpsgenieOncalls,
} = require('../fakes/cloud/fake_alerts');

/// The variables that hold the alerting and on-call secrets; the harness checks none of them leaks.
const SECRET_ENV = ['JITBOT_ALERT_SECRET', 'PAGERDUTY_ROUTING_KEY', 'PAGERDUTY_API_TOKEN', 'OPSGENIE_API_KEY'];
const toml = (value) => JSON.stringify(value);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const idIn = (text) => {
  const match = /req_[0-9A-Z]{26}/.exec(text);
  if (!match) throw new Error(`no request ID in: ${text}`);
  return match[0];
};
const BREAK_GLASS = `${AWS} --duration 30m --break-glass --reason "prod down"`;
/// Outages in these tests are short, so jitbot's first retry (about 2 s, ±20%) or its second (4 s more) delivers.
const RETRY_WAIT_MS = 15000;

/// Roles with on-call approval, on top of the harness's aws and gcp roles.
const ONCALL_ROLES = `
[[roles]]
provider = "aws"
name = "oncall-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}, ${toml(SRE_LEADS)}]
approvals_required = 1
max_duration = "4h"
auto_approve_oncall = ["pagerduty:PSCHED1"]

[[roles]]
provider = "aws"
name = "oncall-pair"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}, ${toml(SRE_LEADS)}]
approvals_required = 2
max_duration = "4h"
auto_approve_oncall = ["pagerduty:PSCHED1"]

[[roles]]
provider = "aws"
name = "platform-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "4h"
auto_approve_oncall = ["opsgenie:platform"]
`;
const ONCALL = '--provider aws --role oncall-admin --scope 123456789012 --duration 1h --reason "page 4711"';
const ONCALL_PAIR = '--provider aws --role oncall-pair --scope 123456789012 --duration 1h --reason "page 4712"';
const PLATFORM = '--provider aws --role platform-admin --scope 123456789012 --duration 1h --reason "page 4713"';

/// Starts the fakes `setup` asks for (webhook, pagerduty, pdOncall, opsgenie: TLS, trusted through their ca_file),
/// then a bot configured for them, and runs body(bot, fakes). With an external sink, [[alerts]] also has a slack sink
/// on both incident channels that pings @here; without one, jitbot alerts the incident channels by default. setup
/// also: breakGlass (keys of [break_glass]; realert_after defaults to 1h here), resolveOn (the PagerDuty sink's
/// resolve_on), roles (more [[roles]]), before(fakes) (faults set before jitbot starts), env (overrides of the
/// secrets' variables), bot (more harness options).
async function withIncidentBot(setup, body) {
  const fakes = {};
  try {
    if (setup.webhook) fakes.hook = await new FakeWebhookReceiver().start();
    if (setup.pagerduty) fakes.pd = await new FakePagerDutyEvents().start();
    if (setup.pdOncall) fakes.pdOncall = await new FakePagerDutyOncalls().start();
    if (setup.opsgenie) fakes.genie = await new FakeOpsgenieOncalls().start();
    if (setup.before) setup.before(fakes);
    const { hook, pd, pdOncall, genie } = fakes;
    const env = {};
    const extra = [setup.roles || ''];
    const breakGlass = { realert_after: '1h', ...(setup.breakGlass || {}) };
    extra.push('[break_glass]', ...Object.entries(breakGlass).map(([key, value]) => `${key} = ${toml(value)}`), '');
    if (hook || pd) {
      extra.push('[[alerts]]', 'name = "incident"', 'type = "slack"', `channels = ${toml(INCIDENTS)}`,
        'mention = "<!here>"', '');
    }
    if (hook) {
      env.JITBOT_ALERT_SECRET = hook.secret;
      extra.push('[[alerts]]', 'name = "siem"', 'type = "webhook"', `url = ${toml(hook.hookUrl)}`,
        'secret_env = "JITBOT_ALERT_SECRET"', `ca_file = ${toml(hook.caFile)}`, '');
    }
    if (pd) {
      env.PAGERDUTY_ROUTING_KEY = pd.routingKey;
      extra.push('[[alerts]]', 'name = "pager"', 'type = "pagerduty"', `api_url = ${toml(`${pd.url}/v2/enqueue`)}`,
        'routing_key_env = "PAGERDUTY_ROUTING_KEY"', 'severity = "critical"',
        `resolve_on = ${toml(setup.resolveOn || 'acknowledge')}`, `ca_file = ${toml(pd.caFile)}`, '');
    }
    if (pdOncall) {
      env.PAGERDUTY_API_TOKEN = pdOncall.token;
      extra.push('[oncall.pagerduty]', `api_url = ${toml(pdOncall.url)}`, 'token_env = "PAGERDUTY_API_TOKEN"',
        `ca_file = ${toml(pdOncall.caFile)}`, '');
    }
    if (genie) {
      env.OPSGENIE_API_KEY = genie.key;
      extra.push('[oncall.opsgenie]', `api_url = ${toml(genie.url)}`, 'key_env = "OPSGENIE_API_KEY"',
        `ca_file = ${toml(genie.caFile)}`, '');
    }
    Object.assign(env, setup.env || {});
    await withBot({ extra: extra.join('\n'), env, secretEnv: SECRET_ENV, ...(setup.bot || {}) }, async (bot) => {
      // The harness's leak check (when the bot is closed) covers every secret given to jitbot here.
      assert.deepEqual(bot.secrets().map((s) => s.name).filter((name) => SECRET_ENV.includes(name)).sort(),
        Object.keys(env).sort(), 'the leak check knows the alerting secrets');
      await body(bot, fakes);
      // What jitbot sent the alert services must not carry the secrets of the others (nor the webhook's own).
      const secrets = bot.secrets().filter((s) => s.name !== 'SLACK_APP_TOKEN' && s.name !== 'SLACK_BOT_TOKEN');
      if (hook) assertNoSecrets(hook.calls.map((c) => JSON.stringify(c.document)).join('\n'), secrets, 'the webhooks');
      if (pd) {
        const others = secrets.filter((s) => s.name !== 'PAGERDUTY_ROUTING_KEY');
        assertNoSecrets(pd.calls.map((c) => JSON.stringify(c.document?.payload ?? null)).join('\n'), others,
          'the PagerDuty events');
      }
    });
  } finally {
    for (const fake of Object.values(fakes)) await fake.close();
  }
}

/// The break-glass alert messages for `id` in `channel` (top-level messages, not thread replies).
function alertsIn(bot, channel, id) {
  return bot.slack.messages(channel).filter((message) => !message.thread_ts && requestIdOf(message) === id);
}

/// Replies in the thread of `alert` in `channel`.
function repliesTo(bot, channel, alert) {
  return bot.slack.messages(channel).filter((message) => message.thread_ts === alert.ts);
}

async function waitForAlert(bot, channel, id, predicate = () => true, description = 'the alert', timeoutMs = 8000) {
  return bot.slack.waitFor(() => {
    const [alert] = alertsIn(bot, channel, id);
    return alert && predicate(alert) && alert;
  }, timeoutMs, `${description} for ${id} in ${channel}`);
}

/// Every text an alert message has shown: what was posted and each edit.
function versions(message) {
  return [...message.updates.map((update) => ({ text: update.text, blocks: update.blocks })), message]
    .map((version) => `${version.text}\n${cardText(version)}`);
}

/// Webhook documents about `id` (optionally of one event).
function webhookEvents(hook, id, event) {
  return hook.events.filter((e) => e.request_id === id && (event === undefined || e.event === event));
}

function pagerDutyEvents(pd, id) {
  return pd.events.filter((e) => e.dedup_key === id);
}

const granted = (alert) => /granted without approval/.test(cardText(alert)) && /Active until/.test(cardText(alert));

/// Clicks a button of a message in an incident channel; resolves with the click after Slack has its ack.
async function clickAlert(bot, user, channel, alert, actionId) {
  const sent = bot.slack.clickButton({ user: user.id, channel, ts: alert.ts, action_id: actionId });
  await bot.slack.waitForAck(sent.envelope_id, 5000);
  return sent;
}

test('break-glass alerts Slack, a webhook and PagerDuty; the webhook, down at first, gets its event once when back', async () => {
  await withIncidentBot({ webhook: true, pagerduty: true }, async (bot, { hook, pd }) => {
    hook.down();
    const answer = await bot.command(USERS.oscar, `request ${BREAK_GLASS}`);
    assert.match(answer, /being granted now/);
    const id = idIn(answer);

    // Slack and PagerDuty hear at once, though the webhook is down.
    for (const channel of INCIDENTS) {
      const alert = await waitForAlert(bot, channel, id, granted, 'the alert showing the grant');
      const text = cardText(alert);
      for (const expected of ['<@U0OSCAR>', 'prod-infra-admin', '123456789012', '30m', 'prod down', id]) {
        assert.ok(text.includes(expected), `the alert in ${channel} shows ${expected}:\n${text}`);
      }
      assert.match((alert.updates[0] || alert).text, /<!here>/, 'the alert as posted pings the channel');
      assert.deepEqual(buttons(alert), ['jit_ack', 'jit_revoke']);
    }
    const incident = await until(() => pd.incidents.get(id), 8000, `a PagerDuty incident for ${id}`);
    assert.equal(incident.status, 'triggered');
    assert.equal(incident.severity, 'critical');
    assert.equal(incident.source, 'jitbot');
    assert.ok(incident.summary.includes(id) && incident.summary.includes('U0OSCAR'), incident.summary);
    assert.equal(incident.custom_details.request_id, id);
    await until(() => hook.calls.some((call) => call.status === 503), 8000, 'jitbot to try the webhook');
    assert.equal(hook.events.length, 0, 'nothing reached the webhook while it was down');
    await bot.waitForBackend('grant', id);

    hook.up();
    const event = await until(() => webhookEvents(hook, id, 'break_glass')[0], RETRY_WAIT_MS,
      'the break_glass webhook once the receiver is back');
    assert.equal(event.version, 1);
    assert.equal(event.requester, USERS.oscar.id);
    assert.deepEqual([event.provider, event.role, event.scope], ['aws', 'prod-infra-admin', '123456789012']);
    assert.equal(event.duration_seconds, 1800);
    assert.equal(event.reason, 'prod down');
    assert.equal(event.break_glass, true);
    assert.ok(event.summary.includes(id), event.summary);
    await until(() => webhookEvents(hook, id, 'granted')[0], RETRY_WAIT_MS, 'the granted webhook');

    // A retry interval later still nothing twice, anywhere.
    await sleep(2500);
    assert.equal(webhookEvents(hook, id, 'break_glass').length, 1, 'one break_glass event at the webhook');
    assert.deepEqual(webhookEvents(hook, id).map((e) => e.event), ['break_glass', 'granted'],
      'the webhook hears each event once, in order');
    assert.deepEqual(hook.duplicates, [], 'no delivery repeated');
    assert.deepEqual([...pd.incidents.keys()], [id], 'one PagerDuty incident, keyed by the request');
    assert.equal(pd.incidents.get(id).triggers, 1, 'paged once');
    assert.deepEqual(pd.closedIncidents, []);
    for (const channel of INCIDENTS) assert.equal(alertsIn(bot, channel, id).length, 1, `one alert in ${channel}`);
  });
});

test('a webhook reply lost after delivery is retried with the same delivery_id', async () => {
  await withIncidentBot({ webhook: true }, async (bot, { hook }) => {
    hook.failNext(1, 504, { afterProcessing: true });
    const id = await bot.request(USERS.oscar, BREAK_GLASS);
    await until(() => hook.duplicates.some((d) => d.request_id === id), RETRY_WAIT_MS,
      'the retry of the break_glass webhook whose reply was lost');
    const [first] = webhookEvents(hook, id, 'break_glass');
    assert.ok(first, 'the first attempt was delivered');
    assert.deepEqual(hook.duplicates.map((d) => [d.event, d.delivery_id]), [['break_glass', first.delivery_id]],
      'the retry carries the same delivery_id, so a receiver can drop it');
    assert.equal(webhookEvents(hook, id, 'break_glass').length, 1);
    await until(() => webhookEvents(hook, id, 'granted')[0], 8000, 'the granted webhook');
  });
});

for (const [how, halt] of [['SIGTERM', (bot) => bot.stop()], ['kill -9', (bot) => bot.crash()]]) {
test(`a restart (${how}) between the grant and the alert deliveries loses nothing and repeats nothing`, async () => {
  await withIncidentBot({ webhook: true, pagerduty: true }, async (bot, { hook, pd }) => {
    hook.down();
    pd.down();
    const id = await bot.request(USERS.oscar, BREAK_GLASS);
    for (const channel of INCIDENTS) await waitForAlert(bot, channel, id, granted, 'the alert showing the grant');
    await bot.waitForBackend('grant', id);
    await until(() => hook.calls.length > 0 && pd.calls.length > 0, 8000, 'jitbot to try the webhook and PagerDuty');
    await halt(bot);
    assert.deepEqual([hook.events.length, pd.events.length], [0, 0], 'nothing was delivered before the stop');

    hook.up();
    pd.up();
    await bot.launch();
    await until(() => webhookEvents(hook, id, 'break_glass')[0] && webhookEvents(hook, id, 'granted')[0],
      RETRY_WAIT_MS, 'the webhooks after the restart');
    await until(() => pd.incidents.get(id), RETRY_WAIT_MS, 'the PagerDuty incident after the restart');

    await sleep(2500);
    assert.equal(webhookEvents(hook, id, 'break_glass').length, 1);
    assert.equal(webhookEvents(hook, id, 'granted').length, 1);
    assert.deepEqual(hook.duplicates, []);
    assert.equal(pagerDutyEvents(pd, id).filter((e) => e.event_action === 'trigger').length, 1, 'paged once');
    assert.deepEqual([...pd.incidents.keys()], [id]);
    for (const channel of INCIDENTS) {
      assert.equal(alertsIn(bot, channel, id).length, 1, `the alert in ${channel} is not posted again`);
    }
    assert.equal(bot.backendCalls().filter((call) => call.action === 'grant').length, 1, 'granted once');
  });
});
}

test('an alert PagerDuty refuses (a wrong routing key) is set aside and announced in the incident channels', async () => {
  const wrongKey = crypto.randomBytes(16).toString('hex'); // well-formed, but not the integration's key
  await withIncidentBot({ webhook: true, pagerduty: true, env: { PAGERDUTY_ROUTING_KEY: wrongKey } }, async (bot, { hook, pd }) => {
    const id = await bot.request(USERS.oscar, BREAK_GLASS);
    const parked = new RegExp(`could not deliver a message about ${id} and set it aside`);
    for (const channel of INCIDENTS) {
      const notice = await bot.slack.waitFor(() => bot.slack.messages(channel).find((m) => parked.test(m.text)), 8000,
        `the announcement in ${channel} that the PagerDuty alert was set aside`);
      assert.match(notice.text, /pager/, 'it names the sink');
      assert.match(notice.text, /Invalid routing key/, "it gives PagerDuty's reason");
      await waitForAlert(bot, channel, id, granted, 'the alert, unaffected');
    }
    // The other sinks go on: the webhook hears of the break-glass.
    await until(() => webhookEvents(hook, id, 'break_glass')[0], 8000, 'the break_glass webhook');
    await sleep(2500);
    assert.equal(pd.calls.length, 1, 'a refusal no retry can fix is not retried');
    assert.equal(pd.incidents.size, 0);
    for (const channel of INCIDENTS) {
      assert.equal(bot.slack.messages(channel).filter((m) => parked.test(m.text)).length, 1, `announced once in ${channel}`);
    }
  });
});

test('the requester cannot acknowledge their own break-glass, nor can a non-approver; nothing changes', async () => {
  await withIncidentBot({ webhook: true, pagerduty: true }, async (bot, { hook, pd }) => {
    const id = await bot.request(USERS.oscar, BREAK_GLASS);
    const alerts = [];
    for (const channel of INCIDENTS) alerts.push(await waitForAlert(bot, channel, id, granted, 'the granted alert'));
    const card = await bot.waitForCard(id, (c) => /Active until/.test(cardText(c)));
    assert.deepEqual(buttons(card), ['jit_ack', 'jit_revoke'], 'the card offers Acknowledge too');
    await until(() => pd.incidents.get(id) && webhookEvents(hook, id, 'granted')[0], 8000, 'the external alerts');
    const before = alerts.map((alert) => alert.updates.length);
    const cardBefore = card.updates.length;

    assert.match(await bot.command(USERS.oscar, `ack ${id} all good`),
      new RegExp(`You cannot review your own break-glass request ${id}`));
    const ownClick = await clickAlert(bot, USERS.oscar, INCIDENTS[0], alerts[0], 'jit_ack');
    assert.match(await bot.answerTo(ownClick), /You cannot review your own break-glass request/);
    assert.equal(bot.slack.responses(ownClick.response_url)[0].response_type, 'ephemeral');
    assert.match(await bot.command(USERS.alice, `ack ${id}`),
      /Only approvers of aws\/prod-infra-admin and jitbot admins can review/);
    assert.match(await bot.command(USERS.bob, 'list --unreviewed'), new RegExp(`${id} .*NOT reviewed`));

    await sleep(1000); // anything the refusals wrongly set off would show by now
    alerts.forEach((alert, i) => {
      assert.equal(alert.updates.length, before[i], `the alert in ${INCIDENTS[i]} was not edited`);
      assert.doesNotMatch(cardText(alert), /Reviewed by/);
      assert.deepEqual(buttons(alert), ['jit_ack', 'jit_revoke']);
    });
    assert.equal(bot.cardFor(id).updates.length, cardBefore, 'the card was not edited');
    assert.equal(pd.incidents.get(id).status, 'triggered', 'the PagerDuty incident stays open');
    assert.deepEqual(webhookEvents(hook, id, 'reviewed'), []);
    assert.equal(bot.slack.messages('C0OPS').length, 0, 'refusals are only shown to the person');
  });
});

test('an approver acknowledges: every alert and the card say so, PagerDuty is resolved, a second ack is refused', async () => {
  await withIncidentBot({ webhook: true, pagerduty: true }, async (bot, { hook, pd }) => {
    const id = await bot.request(USERS.oscar, BREAK_GLASS);
    const alerts = [];
    for (const channel of INCIDENTS) alerts.push(await waitForAlert(bot, channel, id, granted, 'the granted alert'));
    await bot.waitForCard(id, (c) => /Active until/.test(cardText(c)));
    await until(() => pd.incidents.get(id), 8000, 'the PagerDuty incident');

    // bob presses Acknowledge on the alert in the second channel.
    await clickAlert(bot, USERS.bob, INCIDENTS[1], alerts[1], 'jit_ack');
    const reviewed = (message) => /Reviewed by <@U0BOB> at 20\d\d-/.test(cardText(message));
    for (const channel of INCIDENTS) {
      const alert = await waitForAlert(bot, channel, id, reviewed, 'the alert showing the review');
      assert.deepEqual(buttons(alert), ['jit_revoke'], `no Acknowledge left in ${channel}; Revoke stays`);
      assert.match(cardText(alert), /granted without approval/);
      assert.equal(alertsIn(bot, channel, id).length, 1, `edited in place in ${channel}`);
    }
    const card = await bot.waitForCard(id, reviewed, 'the card showing the review');
    assert.deepEqual(buttons(card), ['jit_revoke']);
    await until(() => pd.incidents.get(id).status === 'resolved', 8000, 'PagerDuty to resolve the incident');
    assert.deepEqual(pd.incidents.get(id).history, ['trigger', 'resolve']);
    const event = await until(() => webhookEvents(hook, id, 'reviewed')[0], 8000, 'the reviewed webhook');
    assert.equal(event.reviewed_by, USERS.bob.id);
    assert.ok(event.reviewed_at, 'the webhook says when');

    assert.match(await bot.command(USERS.carol, `ack ${id} me too`),
      new RegExp(`Break-glass request ${id} was already reviewed by U0BOB`));
    assert.doesNotMatch(await bot.command(USERS.bob, 'list --unreviewed'), new RegExp(id));
    await sleep(500);
    assert.equal(webhookEvents(hook, id, 'reviewed').length, 1, 'the refused second ack sent nothing');
    assert.doesNotMatch(cardText(alertsIn(bot, INCIDENTS[0], id)[0]), /U0CAROL|me too/);
  });
});

test('with resolve_on = "end" the PagerDuty incident outlives the review and is resolved when access expires', async () => {
  await withIncidentBot({ webhook: true, pagerduty: true, resolveOn: 'end' }, async (bot, { hook, pd }) => {
    const id = await bot.request(USERS.oscar, `${AWS} --duration 4s --break-glass --reason "quick fix"`);
    const alert = await waitForAlert(bot, INCIDENTS[0], id, granted, 'the granted alert');
    await until(() => pd.incidents.get(id), 8000, 'the PagerDuty incident');
    await clickAlert(bot, USERS.bob, INCIDENTS[0], alert, 'jit_ack');
    await until(() => webhookEvents(hook, id, 'reviewed')[0], 8000, 'the reviewed webhook');
    await sleep(500);
    assert.equal(pd.incidents.get(id).status, 'triggered', 'the review does not resolve it: the access still exists');
    assert.equal(bot.backendCalls().filter((call) => call.action === 'revoke').length, 0, 'still active');

    await bot.waitForBackend('revoke', id);
    await until(() => pd.incidents.get(id).status === 'resolved', 8000, 'PagerDuty resolved when access ended');
    assert.deepEqual(pd.incidents.get(id).history, ['trigger', 'resolve']);
    await until(() => webhookEvents(hook, id, 'expired')[0], 8000, 'the expired webhook');
  });
});

test('an unreviewed break-glass is re-alerted in the alert thread, after its access ended too, until acknowledged', async () => {
  await withIncidentBot({ webhook: true, pagerduty: true, breakGlass: { realert_after: '2s' } }, async (bot, { hook, pd }) => {
    const id = await bot.request(USERS.oscar, `${AWS} --duration 3s --break-glass --reason "prod down"`);
    const alerts = [];
    for (const channel of INCIDENTS) alerts.push(await waitForAlert(bot, channel, id, granted, 'the granted alert'));
    const reminders = (i) => repliesTo(bot, INCIDENTS[i], alerts[i]);
    for (let i = 0; i < INCIDENTS.length; i++) {
      const [reminder] = await until(() => reminders(i).length > 0 && reminders(i), 8000,
        `a re-alert in the thread of the alert in ${INCIDENTS[i]}`);
      assert.equal(reminder.reply_broadcast, true, 'the reminder is also shown in the channel');
      assert.match(reminder.text, /still \*not reviewed\*/);
      assert.ok(reminder.text.includes(id), reminder.text);
    }
    await until(() => webhookEvents(hook, id, 'realert')[0], 8000, 'a realert webhook');

    // The access ends; nobody has looked at it yet, so the reminders go on.
    await bot.waitForBackend('revoke', id);
    const ended = await waitForAlert(bot, INCIDENTS[0], id, (a) => /Expired at/.test(cardText(a)), 'the alert showing the end');
    assert.deepEqual(buttons(ended), ['jit_ack'], 'still to be acknowledged, nothing to revoke');
    const sinceEnd = reminders(0).length;
    await until(() => reminders(0).length > sinceEnd, 8000, 'a re-alert after the access ended');

    assert.match(await bot.command(USERS.carol, `ack ${id} rotated the keys`), /You reviewed/);
    for (const channel of INCIDENTS) {
      // The alert's lane is in order: once the review shows, every earlier reminder has been posted.
      await waitForAlert(bot, channel, id, (a) => /Reviewed by <@U0CAROL> at 20\d\d-.*: rotated the keys/.test(cardText(a)),
        'the alert showing the review');
    }
    await until(() => webhookEvents(hook, id, 'reviewed')[0], 8000, 'the reviewed webhook');
    const counted = [reminders(0).length, reminders(1).length, webhookEvents(hook, id, 'realert').length];

    await sleep(6500); // more than three re-alert intervals
    assert.deepEqual([reminders(0).length, reminders(1).length, webhookEvents(hook, id, 'realert').length], counted,
      'no re-alert after the review');
    const incident = pd.incidents.get(id);
    assert.equal(incident.triggers, 1, 'PagerDuty is not paged again for re-alerts');
    assert.equal(incident.status, 'resolved');
    for (const channel of INCIDENTS) assert.equal(alertsIn(bot, channel, id).length, 1);
  });
});

test('break-glass limits: too long or too often becomes a normal request that waits for approval', async () => {
  const breakGlass = { max_per_user: 1, window: '24h', max_duration: '1h' };
  await withIncidentBot({ breakGlass }, async (bot) => {
    const long = await bot.command(USERS.oscar, `request ${AWS} --duration 2h --break-glass --reason "long outage"`);
    assert.match(long, /^Break-glass was not used: break-glass access lasts at most 1h/);
    assert.match(long, /submitted/);
    const longId = idIn(long);
    const longCard = await bot.waitForCard(longId);
    assert.deepEqual(buttons(longCard), ['jit_approve', 'jit_deny'], 'a normal pending card');

    const first = await bot.request(USERS.oscar, BREAK_GLASS);
    await waitForAlert(bot, INCIDENTS[0], first, granted, 'the alert of the allowed break-glass');

    const again = await bot.command(USERS.oscar, `request ${BREAK_GLASS}`);
    assert.match(again, /^Break-glass was not used: you have broken glass 1 time in the last .*\(the limit is 1\)/);
    const againId = idIn(again);
    const againCard = await bot.waitForCard(againId);
    assert.deepEqual(buttons(againCard), ['jit_approve', 'jit_deny']);
    assert.match(cardText(againCard), /Pending: 0 of 1 approvals/);
    assert.doesNotMatch(cardText(againCard), /BREAK-GLASS/);

    await sleep(1000);
    for (const channel of INCIDENTS) {
      assert.deepEqual(alertsIn(bot, channel, longId), [], `no alert in ${channel} for the too-long request`);
      assert.deepEqual(alertsIn(bot, channel, againId), [], `no alert in ${channel} for the one over the limit`);
    }
    assert.deepEqual(bot.backendCalls().map((call) => call.requestId), [first], 'only the allowed one is granted');
  });
});

test('a failed break-glass grant is announced as failed, never as granted', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-incident-'));
  const backend = writeBackend(dir, { fail: { grant: 'AccessDenied: role prod-infra-admin is locked' } });
  await withIncidentBot({ webhook: true, pagerduty: true, bot: { dir, backendCommand: [backend] } }, async (bot, { hook, pd }) => {
    const id = await bot.request(USERS.oscar, BREAK_GLASS);
    const failed = (alert) => /the grant FAILED/.test(cardText(alert));
    for (const channel of INCIDENTS) {
      const alert = await waitForAlert(bot, channel, id, failed, 'the alert showing the failed grant');
      assert.match(cardText(alert), /Grant failed: .*AccessDenied/);
      assert.deepEqual(buttons(alert), ['jit_ack'], 'nothing to revoke');
    }
    const event = await until(() => webhookEvents(hook, id, 'grant_failed')[0], 8000, 'the grant_failed webhook');
    assert.equal(event.state, 'GRANT_FAILED');
    await until(() => pd.incidents.get(id)?.triggers === 2, 8000, 'PagerDuty paged about the failure');
    assert.match(pd.incidents.get(id).summary, /Grant failed/);
    assert.deepEqual([...pd.incidents.keys()], [id], 'the failure updates the same incident');
    await bot.waitForDm(USERS.oscar, /grant failed/i, 'the failure DM');

    await sleep(1500);
    assert.deepEqual(webhookEvents(hook, id, 'granted'), [], 'the webhook never hears "granted"');
    for (const channel of INCIDENTS) {
      for (const text of versions(alertsIn(bot, channel, id)[0])) {
        assert.doesNotMatch(text, /granted without approval|Active until/, `no version of the alert says granted`);
      }
    }
    assert.deepEqual(bot.backendCalls().filter((call) => call.action === 'grant'), [], 'the backend granted nothing');
  });
});

test('a requester on call is approved by jitbot (PagerDuty and Opsgenie schedules)', async () => {
  const before = ({ pdOncall, genie }) => {
    // PagerDuty has alice's address in other letter case than Slack: email addresses match regardless.
    pdOncall.setOnCall('PSCHED1', [{ email: 'Alice@EXAMPLE.com' }]);
    genie.setOnCall('platform', [USERS.carol.email]);
  };
  await withIncidentBot({ pdOncall: true, opsgenie: true, roles: ONCALL_ROLES, before }, async (bot, { pdOncall, genie }) => {
    const answer = await bot.command(USERS.alice, `request ${ONCALL}`);
    assert.match(answer, /You are on call in pagerduty:PSCHED1, so jitbot approved it/);
    const id = idIn(answer);
    await bot.waitForBackend('grant', id);
    const card = await bot.waitForCard(id, isActive, 'the card showing active access');
    assert.match(cardText(card), /Approved by jitbot: on call in pagerduty:PSCHED1 at 20\d\d-/);
    const [lookup] = pdOncall.calls;
    assert.equal(lookup.status, 200);
    assert.deepEqual(lookup.query.schedule_ids, ['PSCHED1']);
    assert.deepEqual(lookup.query.include, ['users']);
    assert.deepEqual(lookup.query.ignored, []);

    const platform = await bot.command(USERS.carol, `request ${PLATFORM}`);
    assert.match(platform, /You are on call in opsgenie:platform, so jitbot approved it/);
    const platformId = idIn(platform);
    await bot.waitForBackend('grant', platformId);
    assert.match(cardText(await bot.waitForCard(platformId, isActive)), /Approved by jitbot: on call in opsgenie:platform/);
    assert.deepEqual([genie.calls[0].identifier, genie.calls[0].query.scheduleIdentifierType], ['platform', 'name']);

    // Two approvals needed: being on call counts as one.
    const pair = await bot.command(USERS.alice, `request ${ONCALL_PAIR}`);
    assert.match(pair, /needs 1 more approval/);
    const pairId = idIn(pair);
    const half = await bot.waitForCard(pairId, (c) => /Pending: 1 of 2 approvals/.test(cardText(c)));
    assert.match(cardText(half), /Approved by jitbot: on call in pagerduty:PSCHED1/);
    assert.deepEqual(buttons(half), ['jit_approve', 'jit_deny']);
    await bot.click(USERS.bob, pairId, 'jit_approve');
    await bot.waitForBackend('grant', pairId);
    assert.equal(bot.backendCalls().filter((call) => call.action === 'grant').length, 3);
  });
});

test('a requester not on call waits for a person', async () => {
  const before = ({ pdOncall }) => pdOncall.setOnCall('PSCHED1', [{ email: USERS.alice.email }]);
  await withIncidentBot({ pdOncall: true, opsgenie: true, roles: ONCALL_ROLES, before }, async (bot, { pdOncall }) => {
    const answer = await bot.command(USERS.dave, `request ${ONCALL}`);
    assert.match(answer, /submitted/);
    assert.match(answer, /You are not on call in pagerduty:PSCHED1/);
    const id = idIn(answer);
    const card = await bot.waitForCard(id);
    assert.match(cardText(card), /Pending: 0 of 1 approvals/);
    assert.doesNotMatch(cardText(card), /Approved by/);
    assert.deepEqual(buttons(card), ['jit_approve', 'jit_deny']);
    assert.ok(pdOncall.calls.length >= 1, 'jitbot asked PagerDuty');
    await sleep(500);
    assert.deepEqual(bot.backendCalls(), [], 'nothing granted');
  });
});

test('an on-call schedule that cannot be read never approves: the request waits and says why', async () => {
  const before = ({ pdOncall, genie }) => {
    pdOncall.setOnCall('PSCHED1', [{ email: USERS.alice.email }]);
    genie.setOnCall('platform', [USERS.carol.email]);
    pdOncall.down();
    genie.failNext(1, 500);
  };
  await withIncidentBot({ pdOncall: true, opsgenie: true, roles: ONCALL_ROLES, before }, async (bot, { pdOncall }) => {
    const answer = await bot.command(USERS.alice, `request ${ONCALL}`);
    assert.match(answer, /submitted/);
    assert.match(answer, /jitbot could not read the on-call schedule \(pagerduty:PSCHED1: HTTP 503\)/);
    const id = idIn(answer);
    const card = await bot.waitForCard(id);
    assert.match(cardText(card), /Pending: 0 of 1 approvals/);
    assert.doesNotMatch(cardText(card), /Approved by jitbot/);

    const platform = await bot.command(USERS.carol, `request ${PLATFORM}`);
    assert.match(platform, /jitbot could not read the on-call schedule \(opsgenie:platform: HTTP 500\)/);
    await bot.waitForCard(idIn(platform));
    await sleep(500);
    assert.deepEqual(bot.backendCalls(), [], 'nothing granted while the schedules could not be read');

    // The failure is not remembered: once PagerDuty answers, the on-call requester is approved.
    pdOncall.up();
    // Another reason: the same request again would be refused while the first is pending.
    const later = await bot.command(USERS.alice, `request ${ONCALL.replace(/--reason "[^"]*"/, '--reason "INC-2 retry"')}`);
    assert.match(later, /You are on call in pagerduty:PSCHED1, so jitbot approved it/);
    await bot.waitForBackend('grant', idIn(later));
    assert.equal(bot.cardFor(id).updates.length, 0, 'the first request still waits for a person');
  });
});
