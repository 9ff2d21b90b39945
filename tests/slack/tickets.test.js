// Ticket checks end to end: `jitbot run` against the fake Slack and the fakes of Jira's and GitHub's issue APIs. A
// role with require_ticket wants its reason to cite an open ticket: jitbot looks the ticket up, refuses a missing,
// closed or absent one with an ephemeral answer that says what to do, shows the ticket's link and title on the
// approval card, and when the ticket system cannot be asked marks the ticket as not verified (on_error = "allow") or
// refuses (on_error = "refuse"). Each test checks what a requester or an approver would notice in Slack and what the
// ticket system was asked.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { APPROVALS, USERS, buttons, cardText, isActive, requestIdOf, withBot } = require('./harness');
const { FakeJira, FakeGitHub } = require('../fakes/cloud/fake_tickets');

/// The variables that hold the ticket systems' tokens; the harness fails a test if any piece of one reaches jitbot's
/// stderr or anything it sent to Slack.
const SECRET_ENV = ['JIRA_API_TOKEN', 'GITHUB_TOKEN'];
const toml = (value) => JSON.stringify(value);
const idIn = (text) => {
  const match = /req_[0-9A-Z]{26}/.exec(text);
  if (!match) throw new Error(`no request ID in: ${text}`);
  return match[0];
};
/// What escape_mrkdwn does to text a person or a ticket system wrote: Slack's three control characters.
const escaped = (text) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/// A role for each ticket system, on top of the harness's aws and gcp roles (which need no ticket); bob approves both
/// and oscar may break glass on the Jira one.
const ROLES = `
[[roles]]
provider = "aws"
name = "db-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "4h"
require_ticket = "jira"
break_glass_requesters = [${toml(USERS.oscar.id)}]

[[roles]]
provider = "aws"
name = "repo-admin"
scopes = ["123456789012"]
backend = "recorder"
requesters = ["*"]
approvers = [${toml(USERS.bob.id)}]
approvals_required = 1
max_duration = "4h"
require_ticket = "github"
`;
const DB = '--provider aws --role db-admin --scope 123456789012 --duration 1h';
const REPO = '--provider aws --role repo-admin --scope 123456789012 --duration 1h';

/// Starts the fakes `setup` asks for (jira: options of FakeJira, github: options of FakeGitHub; both TLS, trusted
/// through their ca_file), then a bot with [tickets.jira] / [tickets.github] for them and the roles above, and runs
/// body(bot, fakes). setup also: jiraConfig / githubConfig (more keys of those sections, e.g. on_error), repos (the
/// GitHub repos jitbot accepts; default acme/ops and acme/infra), before(fakes) (issues and faults set before jitbot
/// starts), env (overrides of the variables), bot (more harness options).
async function withTickets(setup, body) {
  const fakes = {};
  try {
    if (setup.jira) fakes.jira = await new FakeJira(setup.jira).start();
    if (setup.github) fakes.github = await new FakeGitHub(setup.github).start();
    if (setup.before) setup.before(fakes);
    const { jira, github } = fakes;
    const env = {};
    const extra = [ROLES];
    // require_ticket needs its section, so the role of a system not under test goes to a dead port it never asks.
    const jiraUrl = jira ? jira.baseUrl : 'https://127.0.0.1:9';
    extra.push('[tickets.jira]', `url = ${toml(jiraUrl)}`, 'token_env = "JIRA_API_TOKEN"',
      'projects = ["INC", "OPS"]');
    if (jira?.email) extra.push('email_env = "JIRA_EMAIL"');
    if (jira?.caFile) extra.push(`ca_file = ${toml(jira.caFile)}`);
    if (setup.jiraConfig) extra.push(setup.jiraConfig);
    extra.push('');
    const githubUrl = github ? github.baseUrl : 'https://127.0.0.1:9';
    extra.push('[tickets.github]', `api_url = ${toml(githubUrl)}`, 'token_env = "GITHUB_TOKEN"',
      `repos = ${toml(setup.repos || ['acme/ops', 'acme/infra'])}`);
    if (github?.caFile) extra.push(`ca_file = ${toml(github.caFile)}`);
    if (setup.githubConfig) extra.push(setup.githubConfig);
    extra.push('');
    if (jira) env.JIRA_API_TOKEN = jira.token;
    if (jira?.email) env.JIRA_EMAIL = jira.email;
    if (github) env.GITHUB_TOKEN = github.token;
    Object.assign(env, setup.env || {});
    await withBot({ extra: extra.join('\n'), env, secretEnv: SECRET_ENV, ...(setup.bot || {}) }, async (bot) => {
      // The harness's leak check (when the bot is closed) covers the tokens given to jitbot here.
      const checked = bot.secrets().map((s) => s.name);
      for (const name of SECRET_ENV.filter((n) => env[n] !== undefined)) {
        assert.ok(checked.includes(name), `the leak check knows ${name}`);
      }
      await body(bot, fakes);
    });
  } finally {
    for (const fake of Object.values(fakes)) await fake.close();
  }
}

/// Types `/jit TEXT` as `user`; resolves with what Slack shows them ({text, response_type, …}): the ack's payload or
/// the first post to the command's response_url.
async function ask(bot, user, text, timeoutMs = 5000) {
  const sent = bot.slack.slashCommand({ user: user.id, text, channel: 'C0OPS', command: '/jit' });
  await bot.slack.waitForAck(sent.envelope_id, timeoutMs);
  return bot.firstResponse(sent.response_url, timeoutMs, `an answer to "/jit ${text}"`);
}

/// Asks for access that must be refused; checks the answer is ephemeral and names no request, and returns its text.
async function refused(bot, user, text) {
  const answer = await ask(bot, user, `request ${text}`);
  assert.equal(answer.response_type, 'ephemeral', `a refusal is shown only to the requester: ${JSON.stringify(answer)}`);
  assert.doesNotMatch(answer.text, /req_[0-9A-Z]{26}/, `a refused request has no ID: ${answer.text}`);
  return answer.text;
}

/// The "*Ticket:* …" section of a card, without its label (undefined when the card has none).
function ticketLine(card) {
  const block = card.blocks.find((b) => b.type === 'section' && b.text && /^\*Ticket:\* /.test(b.text.text));
  return block && block.text.text.replace(/^\*Ticket:\* /, '');
}

/// The calls a fake got for issues (its log also has any that failed before being looked at).
const issueCalls = (fake) => fake.calls.filter((call) => /\/issues?\//.test(call.path));

/// Checks nothing reached the approvers: no card, no post of any kind in the approvals channel.
function assertNoCards(bot, what) {
  assert.deepEqual(bot.slack.messages(APPROVALS).map((m) => m.text), [], `${what}: no card in the approvals channel`);
}

// --- Jira -------------------------------------------------------------------------------------------------------

test('Jira (Data Center): an open ticket goes on the card as its link and title; Bearer token, status and summary asked', async () => {
  await withTickets({
    jira: {},
    before: ({ jira }) => {
      jira.addIssue('INC-7', { summary: 'Primary DB failover', status: 'In Progress' });
      jira.addIssue('OPS-12', { summary: 'Rotate replica credentials', status: 'To Do' });
    },
  }, async (bot, { jira }) => {
    const answer = await ask(bot, USERS.alice, `request ${DB} --reason "INC-7 db failover"`);
    assert.equal(answer.response_type, 'ephemeral');
    assert.match(answer.text, /^Request req_[0-9A-Z]{26} submitted: /, answer.text);
    assert.doesNotMatch(answer.text, /not verified|could not be checked/, 'a checked ticket is not flagged');
    const id = idIn(answer.text);
    const card = await bot.waitForCard(id);
    assert.equal(ticketLine(card), `<${jira.baseUrl}/browse/INC-7|INC-7>: Primary DB failover`,
      `the card links the ticket and shows its title:\n${cardText(card)}`);
    assert.deepEqual(buttons(card), ['jit_approve', 'jit_deny']);

    // What Jira was asked: the issue, with only the two fields jitbot reads, as the Data Center token's holder.
    const calls = issueCalls(jira);
    assert.equal(calls.length, 1, `one lookup: ${JSON.stringify(calls.map((c) => c.path))}`);
    const [call] = calls;
    assert.equal(call.method, 'GET');
    assert.equal(call.path, '/rest/api/2/issue/INC-7');
    assert.deepEqual([...(call.fields || [])].sort(), ['status', 'summary'], `fields asked: ${call.query}`);
    assert.equal(call.auth, 'bearer', 'Data Center: the personal access token as a Bearer token');
    assert.equal(call.headers.authorization, `Bearer ${jira.token}`);
    assert.equal(call.status, 200);

    // A ticket of the other listed project, not first in the reason, is found too.
    const second = idIn((await ask(bot, USERS.carol, `request ${DB} --reason "follow-up of OPS-12, see runbook"`)).text);
    assert.equal(ticketLine(await bot.waitForCard(second)),
      `<${jira.baseUrl}/browse/OPS-12|OPS-12>: Rotate replica credentials`);

    // The ticket is kept with the request: the card still shows it once approved and granted, and so does status.
    await bot.click(USERS.bob, id, 'jit_approve');
    await bot.waitForBackend('grant', id);
    const active = await bot.waitForCard(id, isActive, 'the card showing active access');
    assert.equal(ticketLine(active), `<${jira.baseUrl}/browse/INC-7|INC-7>: Primary DB failover`,
      'the approved card keeps the ticket');
    const status = await ask(bot, USERS.alice, `status ${id}`);
    assert.ok(status.text.includes(`Ticket: INC-7: Primary DB failover (${jira.baseUrl}/browse/INC-7)`), status.text);
    assert.equal(issueCalls(jira).length, 2, 'the ticket is looked up when asked for, not again on approval');
  });
});

test('Jira Cloud: with email_env jitbot sends Basic base64(email:token), which Cloud takes (it refuses Bearer)', async () => {
  await withTickets({
    jira: { email: 'jitbot-bot@example.com' },
    before: ({ jira }) => jira.addIssue('INC-21', { summary: 'Cloud site check' }),
  }, async (bot, { jira }) => {
    const id = idIn((await ask(bot, USERS.alice, `request ${DB} --reason "INC-21 cloud"`)).text);
    const card = await bot.waitForCard(id);
    assert.equal(ticketLine(card), `<${jira.baseUrl}/browse/INC-21|INC-21>: Cloud site check`, cardText(card));
    const [call, ...more] = issueCalls(jira);
    assert.equal(more.length, 0);
    assert.equal(call.auth, 'basic', `the fake took jitbot's credentials as Jira Cloud's Basic auth (${call.status})`);
    assert.equal(call.headers.authorization,
      `Basic ${Buffer.from(`jitbot-bot@example.com:${jira.token}`).toString('base64')}`);
  });
});

test('Jira: a closed, a missing or an uncited ticket is refused with what to do, and nothing is created', async () => {
  await withTickets({
    jira: {},
    before: ({ jira }) => {
      jira.addIssue('INC-3', { summary: 'Old outage', status: 'Done' });
      jira.addIssue('INC-5', { summary: 'Abandoned', status: 'Parked', statusCategory: 'done' });
      jira.addIssue('ABC-1', { summary: 'Not a listed project' });
    },
  }, async (bot, { jira }) => {
    assert.equal(await refused(bot, USERS.alice, `${DB} --reason "INC-3 db failover"`),
      'Ticket INC-3 is closed. Cite an open ticket for this work in --reason, or reopen it.');
    // Closed is the status category, whatever the workflow calls the status.
    assert.match(await refused(bot, USERS.alice, `${DB} --reason "INC-5 again"`), /^Ticket INC-5 is closed\. /);
    const missing = await refused(bot, USERS.alice, `${DB} --reason "INC-404 db failover"`);
    assert.match(missing, /^Ticket INC-404 was not found \(.+\)\. Check the key, or cite another ticket in --reason\.$/,
      missing);
    const needs = 'aws/db-admin needs a ticket: cite one in --reason, such as INC-123 or OPS-123.';
    assert.equal(await refused(bot, USERS.alice, `${DB} --reason "db failover"`), needs);
    // Only the listed projects count, and only as a key of their own.
    assert.equal(await refused(bot, USERS.alice, `${DB} --reason "ABC-1 db failover"`), needs);
    assert.equal(await refused(bot, USERS.alice, `${DB} --reason "XINC-7 or INC- or INC-x"`), needs);

    const asked = issueCalls(jira).map((call) => `${call.path} ${call.status}`);
    assert.deepEqual(asked, ['/rest/api/2/issue/INC-3 200', '/rest/api/2/issue/INC-5 200', '/rest/api/2/issue/INC-404 404'],
      'Jira is asked only about cited tickets of the listed projects');
    assertNoCards(bot, 'after the refusals');
    const mine = await ask(bot, USERS.alice, 'list --mine');
    assert.doesNotMatch(mine.text, /req_/, `no request was created: ${mine.text}`);

    // A role without require_ticket still needs none.
    const plain = await ask(bot, USERS.alice, 'request --provider aws --role prod-infra-admin --scope 123456789012 --duration 1h --reason "db failover"');
    assert.match(plain.text, /submitted/, plain.text);
    // Break-glass needs no ticket, even on this role, and Jira is not asked.
    const glass = await ask(bot, USERS.oscar, `request ${DB} --break-glass --reason "prod down"`);
    assert.match(glass.text, /being granted now/, glass.text);
    await bot.waitForBackend('grant', idIn(glass.text));
    assert.equal(issueCalls(jira).length, 3, 'break-glass does not look a ticket up');
  });
});

test('Jira unreachable with on_error = "allow": the request goes on, its answer and card say not verified', async () => {
  await withTickets({ jira: {}, before: ({ jira }) => jira.addIssue('INC-7', { summary: 'DB failover' }) }, async (bot, { jira }) => {
    await jira.close(); // nothing listens on its port any more
    const answer = await ask(bot, USERS.alice, `request ${DB} --reason "INC-7 db failover"`);
    assert.match(answer.text, /^Request req_[0-9A-Z]{26} submitted: /, answer.text);
    assert.ok(answer.text.includes('Ticket INC-7 could not be checked just now; the card marks it as not verified'),
      answer.text);
    const id = idIn(answer.text);
    const card = await bot.waitForCard(id);
    assert.equal(ticketLine(card), 'INC-7 :warning: _not verified: the ticket system could not be reached_',
      cardText(card));
    assert.deepEqual(buttons(card), ['jit_approve', 'jit_deny'], 'the approvers decide');
  });
});

test('Jira refusing jitbot\'s token (401): allow marks the ticket not verified; refuse names the variable, never the token', async () => {
  const WRONG = 'ATATT-wrong-token-0123456789abcdef0123456789';
  await withTickets({
    jira: {},
    before: ({ jira }) => jira.addIssue('INC-7', { summary: 'DB failover' }),
    env: { JIRA_API_TOKEN: WRONG },
  }, async (bot, { jira }) => {
    const answer = await ask(bot, USERS.alice, `request ${DB} --reason "INC-7 db failover"`);
    assert.ok(answer.text.includes('Ticket INC-7 could not be checked just now'), answer.text);
    const card = await bot.waitForCard(idIn(answer.text));
    assert.equal(ticketLine(card), 'INC-7 :warning: _not verified: the ticket system could not be reached_');
    const [call] = issueCalls(jira);
    assert.equal(call.status, 401, 'the fake refused the wrong token');
    assert.equal(call.headers.authorization, `Bearer ${WRONG}`);
    // The wrong token is a secret like the right one: the harness checks stderr and Slack for it when closing.
  });
  await withTickets({
    jira: {},
    jiraConfig: 'on_error = "refuse"',
    before: ({ jira }) => jira.addIssue('INC-7', { summary: 'DB failover' }),
    env: { JIRA_API_TOKEN: WRONG },
  }, async (bot, { jira }) => {
    const text = await refused(bot, USERS.alice, `${DB} --reason "INC-7 db failover"`);
    assert.match(text, /^Ticket INC-7 could not be checked \(.*401.*\) and aws\/db-admin accepts only checked tickets\./, text);
    assert.ok(text.includes('JIRA_API_TOKEN'), `the refusal says which variable to check: ${text}`);
    assert.equal(issueCalls(jira)[0].status, 401);
    assertNoCards(bot, 'after the refusal');
  });
});

test('a hung Jira: after jitbot\'s lookup timeout the request goes on, not verified; nobody else waits for it', async () => {
  await withTickets({
    jira: {},
    before: ({ jira }) => jira.addIssue('INC-7', { summary: 'DB failover' }),
  }, async (bot, { jira }) => {
    jira.delay(Infinity); // accepts the connection, never answers
    const startedAt = Date.now();
    const hung = ask(bot, USERS.alice, `request ${DB} --reason "INC-7 db failover"`, 9000);
    await bot.slack.waitFor(() => issueCalls(jira).length === 1, 3000, 'jitbot to ask Jira');
    // Others are answered while the lookup hangs.
    const other = await ask(bot, USERS.carol, 'request --provider aws --role prod-infra-admin --scope 123456789012 --duration 1h --reason "unrelated"', 2000);
    assert.match(other.text, /submitted/, other.text);
    const answer = await hung;
    const waited = Date.now() - startedAt;
    assert.ok(waited >= 4000 && waited < 8500, `the requester waited ${waited} ms (jitbot gives a lookup 5 s)`);
    assert.ok(answer.text.includes('Ticket INC-7 could not be checked just now'), answer.text);
    const card = await bot.waitForCard(idIn(answer.text));
    assert.equal(ticketLine(card), 'INC-7 :warning: _not verified: the ticket system could not be reached_');

    // Once Jira answers again, so do lookups (nothing of the hung connection is reused).
    jira.delay(0);
    const next = await ask(bot, USERS.dave, `request ${DB} --reason "INC-7 take two"`);
    assert.doesNotMatch(next.text, /not verified/, next.text);
    assert.equal(ticketLine(await bot.waitForCard(idIn(next.text))), `<${jira.baseUrl}/browse/INC-7|INC-7>: DB failover`);
  });
});

test('Jira down with on_error = "refuse": refused with the reason, nothing created; served again once it is back', async () => {
  await withTickets({
    jira: {},
    jiraConfig: 'on_error = "refuse"',
    before: ({ jira }) => jira.addIssue('INC-7', { summary: 'DB failover' }),
  }, async (bot, { jira }) => {
    jira.down(); // 503 to everything
    const outage = await refused(bot, USERS.alice, `${DB} --reason "INC-7 db failover"`);
    assert.match(outage, /^Ticket INC-7 could not be checked \(.+\) and aws\/db-admin accepts only checked tickets\./,
      outage);
    assert.match(outage, /503/, `it says what went wrong: ${outage}`);
    jira.failNext(1, 500);
    jira.up();
    assert.match(await refused(bot, USERS.alice, `${DB} --reason "INC-7 second try"`),
      /^Ticket INC-7 could not be checked \(.*500.*\) and aws\/db-admin accepts only checked tickets\./);
    // A missing ticket is still "not found", not "could not be checked".
    assert.match(await refused(bot, USERS.alice, `${DB} --reason "INC-8 other"`), /^Ticket INC-8 was not found/);
    assertNoCards(bot, 'while Jira could not answer');

    const answer = await ask(bot, USERS.alice, `request ${DB} --reason "INC-7 third try"`);
    assert.match(answer.text, /^Request req_[0-9A-Z]{26} submitted: /, answer.text);
    assert.doesNotMatch(answer.text, /not verified/);
    const card = await bot.waitForCard(idIn(answer.text));
    assert.equal(ticketLine(card), `<${jira.baseUrl}/browse/INC-7|INC-7>: DB failover`);
  });
});

test('Jira unreachable with on_error = "refuse": refused, and no card', async () => {
  await withTickets({ jira: {}, jiraConfig: 'on_error = "refuse"' }, async (bot, { jira }) => {
    await jira.close();
    const text = await refused(bot, USERS.alice, `${DB} --reason "INC-7 db failover"`);
    assert.match(text, /^Ticket INC-7 could not be checked \(.+\) and aws\/db-admin accepts only checked tickets\. /, text);
    assertNoCards(bot, 'after the refusal');
  });
});

// --- GitHub -----------------------------------------------------------------------------------------------------

test('GitHub: an open issue goes on the card as its html_url and title; the API is asked as GitHub documents', async () => {
  await withTickets({
    github: {},
    before: ({ github }) => github.addIssue('acme/ops', 12, { title: 'Rotate deploy keys' }),
  }, async (bot, { github }) => {
    const answer = await ask(bot, USERS.alice, `request ${REPO} --reason "acme/ops#12 rotate keys"`);
    assert.match(answer.text, /^Request req_[0-9A-Z]{26} submitted: /, answer.text);
    const card = await bot.waitForCard(idIn(answer.text));
    assert.equal(ticketLine(card), '<https://github.com/acme/ops/issues/12|acme/ops#12>: Rotate deploy keys',
      cardText(card));

    const [call, ...more] = issueCalls(github);
    assert.equal(more.length, 0);
    assert.equal(call.method, 'GET');
    assert.equal(call.path, '/repos/acme/ops/issues/12');
    assert.equal(call.status, 200);
    assert.equal(call.auth, 'bearer');
    assert.equal(call.headers.authorization, `Bearer ${github.token}`);
    assert.equal(call.accept, 'application/vnd.github+json');
    assert.equal(call.apiVersion, '2022-11-28');
    assert.equal(call.userAgent, 'jitbot');

    // With two repos configured, "#12" alone names no repository.
    assert.equal(await refused(bot, USERS.alice, `${REPO} --reason "#12 rotate keys"`),
      'aws/repo-admin needs a ticket: cite one in --reason, such as acme/ops#123 or acme/infra#123.');
    assert.equal(issueCalls(github).length, 1, 'an ambiguous citation is not looked up');
  });
});

test('GitHub: a closed, a missing or a deleted issue is refused, and nothing is created', async () => {
  await withTickets({
    github: {},
    before: ({ github }) => {
      github.addIssue('acme/ops', 3, { title: 'Done already', state: 'closed', state_reason: 'completed' });
      github.addIssue('acme/infra', 4, { title: 'Will not do', state: 'closed', state_reason: 'not_planned' });
      github.addIssue('acme/ops', 9, { title: 'Deleted' });
      github.deleteIssue('acme/ops', 9);
      github.setRepo('acme/infra', { accessible: false }); // the token may not see it: 404, like a missing issue
    },
  }, async (bot, { github }) => {
    assert.equal(await refused(bot, USERS.alice, `${REPO} --reason "acme/ops#3 again"`),
      'Ticket acme/ops#3 is closed. Cite an open ticket for this work in --reason, or reopen it.');
    assert.match(await refused(bot, USERS.alice, `${REPO} --reason "acme/ops#404 typo"`),
      /^Ticket acme\/ops#404 was not found \(.+\)\. Check the key, or cite another ticket in --reason\.$/);
    assert.match(await refused(bot, USERS.alice, `${REPO} --reason "acme/ops#9 deleted"`),
      /^Ticket acme\/ops#9 was not found \(.+\)\. Check the key/, 'GitHub answers 410 Gone for a deleted issue');
    assert.match(await refused(bot, USERS.alice, `${REPO} --reason "acme/infra#4 hidden"`),
      /^Ticket acme\/infra#4 was not found/);
    // A repository jitbot does not accept is no citation.
    assert.equal(await refused(bot, USERS.alice, `${REPO} --reason "other/repo#5"`),
      'aws/repo-admin needs a ticket: cite one in --reason, such as acme/ops#123 or acme/infra#123.');

    assert.deepEqual(issueCalls(github).map((call) => `${call.path} ${call.status}`), [
      '/repos/acme/ops/issues/3 200', '/repos/acme/ops/issues/404 404', '/repos/acme/ops/issues/9 410',
      '/repos/acme/infra/issues/4 404',
    ]);
    assertNoCards(bot, 'after the refusals');
  });
});

test('GitHub: an issue of a repository whose name merely ends like an accepted one is no citation', async () => {
  await withTickets({
    github: {},
    before: ({ github }) => github.addIssue('acme/ops', 5, { title: 'Unrelated open issue' }),
  }, async (bot, { github }) => {
    // GitHub owners may contain "-": evil-acme/ops#5 is issue 5 of evil-acme/ops, which jitbot does not accept. Read
    // as acme/ops#5 it would put an unrelated ticket on the card as the one the requester cited.
    const text = (await ask(bot, USERS.alice, `request ${REPO} --reason "evil-acme/ops#5 see there"`)).text;
    assert.equal(text, 'aws/repo-admin needs a ticket: cite one in --reason, such as acme/ops#123 or acme/infra#123.',
      'evil-acme/ops#5 is not a citation of acme/ops#5');
    assert.deepEqual(issueCalls(github).map((call) => call.path), [], 'GitHub is not asked about acme/ops#5');
    assertNoCards(bot, 'after the refusal');
  });
});

test('GitHub: "#N" alone cites the one configured repository', async () => {
  await withTickets({
    github: {},
    repos: ['acme/ops'],
    before: ({ github }) => github.addIssue('acme/ops', 12, { title: 'Rotate deploy keys' }),
  }, async (bot, { github }) => {
    const answer = await ask(bot, USERS.alice, `request ${REPO} --reason "#12 rotate keys"`);
    assert.match(answer.text, /submitted/, answer.text);
    const card = await bot.waitForCard(idIn(answer.text));
    assert.equal(ticketLine(card), '<https://github.com/acme/ops/issues/12|acme/ops#12>: Rotate deploy keys');
    assert.deepEqual(issueCalls(github).map((call) => call.path), ['/repos/acme/ops/issues/12']);
    assert.equal(await refused(bot, USERS.alice, `${REPO} --reason "issue12 and x#13"`),
      'aws/repo-admin needs a ticket: cite one in --reason, such as acme/ops#123.');
  });
});

test('GitHub unreachable: allow marks the ticket not verified; refuse refuses', async () => {
  await withTickets({ github: {} }, async (bot, { github }) => {
    github.down();
    const answer = await ask(bot, USERS.alice, `request ${REPO} --reason "acme/ops#12 rotate keys"`);
    assert.ok(answer.text.includes('Ticket acme/ops#12 could not be checked just now; the card marks it as not verified'),
      answer.text);
    const card = await bot.waitForCard(idIn(answer.text));
    assert.equal(ticketLine(card), 'acme/ops#12 :warning: _not verified: the ticket system could not be reached_');
  });
  await withTickets({ github: {}, githubConfig: 'on_error = "refuse"' }, async (bot, { github }) => {
    await github.close();
    const text = await refused(bot, USERS.alice, `${REPO} --reason "acme/ops#12 rotate keys"`);
    assert.match(text,
      /^Ticket acme\/ops#12 could not be checked \(.+\) and aws\/repo-admin accepts only checked tickets\. /, text);
    assertNoCards(bot, 'after the refusal');
  });
});

// --- Text from the ticket systems -------------------------------------------------------------------------------

test('a hostile ticket title cannot ping, link or break out of the card', async () => {
  const hostile = '<!channel> *bold* <https://evil.example/login|click here> & <@U0BOB> `code`';
  await withTickets({
    jira: {},
    github: {},
    before: ({ jira, github }) => {
      jira.addIssue('INC-66', { summary: hostile });
      github.addIssue('acme/ops', 66, { title: hostile });
    },
  }, async (bot, { jira }) => {
    const fromJira = idIn((await ask(bot, USERS.alice, `request ${DB} --reason "INC-66 look"`)).text);
    const fromGitHub = idIn((await ask(bot, USERS.alice, `request ${REPO} --reason "acme/ops#66 look"`)).text);
    const expected = {
      [fromJira]: `<${jira.baseUrl}/browse/INC-66|INC-66>: ${escaped(hostile)}`,
      [fromGitHub]: `<https://github.com/acme/ops/issues/66|acme/ops#66>: ${escaped(hostile)}`,
    };
    for (const id of [fromJira, fromGitHub]) {
      const card = await bot.waitForCard(id);
      const line = ticketLine(card);
      assert.equal(line, expected[id], 'the title is shown as text, with Slack\'s control characters escaped');
      // The only Slack markup left in the line is jitbot's own link.
      assert.deepEqual(line.match(/<[^>]*>/g), [expected[id].match(/^<[^>]*>/)[0]], line);
      const everything = JSON.stringify(card.blocks) + card.text;
      for (const bad of ['<!channel>', '<https://evil.example', '<@U0BOB>']) {
        assert.ok(!everything.includes(bad), `the card carries no live ${bad}: ${everything}`);
      }
      assert.ok(!card.text.includes('evil.example'), 'the notification text does not carry the title');
      // Nor does /jit status, which shows the ticket as text.
      const status = await ask(bot, USERS.alice, `status ${id}`);
      assert.ok(!/<!channel>|<https:\/\/evil|<@U0BOB>/.test(status.text), status.text);
      assert.ok(status.text.includes(escaped(hostile)), status.text);
    }
    assert.equal(requestIdOf(bot.slack.messages(APPROVALS)[0]), fromJira);
  });
});
