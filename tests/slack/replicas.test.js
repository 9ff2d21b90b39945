// Several `jitbot run` processes ("replicas") on one PostgreSQL database and one Slack app. Each holds its own Socket
// Mode connection and the fake Slack hands every envelope to one random live socket, so a request's command and its
// clicks land on different replicas. What people and operators must see is what one process would give them: each
// request granted once and revoked once, every card ending in its true state, one audit chain that verifies, work of
// a replica killed with -9 finished by the others once its leases run out, and a replica older than the schema
// refusing to run.
//
// PostgreSQL: the ctest fixture `postgres` (scripts/pg-cluster.sh) starts a throwaway cluster and writes an env file
// (JITBOT_TEST_PG_URL, PGPASSWORD, …) named by JITBOT_TEST_PG_ENV. Without it these tests fail: they never skip.
'use strict';
const { describe, test } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const {
  APPROVALS, AUDIT_CHANNEL, AUDIT_KEY, AWS, BotUnderTest, USERS, buttons, cardText, isActive, requestIdOf, runJitbot,
  until, withReplicas, writeBackend, writeConfig,
} = require('./harness');

const GCP = '--provider gcp --role roles/cloudsql.admin'; // two approvals: S0SRELEADS (carol, dave) or bob
// The sanitized run (scripts/test-sanitized.sh) checks memory and undefined behaviour on fewer flows: its jitbot
// is several times slower, and the normal build holds the full count.
const FLOWS = Number(process.env.JITBOT_REPLICA_FLOWS) || 200;
/// Flows start this far apart (a steady stream rather than one burst; the burst tests are elsewhere).
const FLOW_SPACING_MS = 60;
/// How long the access of the flows that end by expiry lasts.
const EXPIRE_AFTER = '15s';
/// The longest a replica's leases may keep its work from the others after it was killed with -9.
const TAKEOVER_LIMIT_MS = 90000;
/// How long one step of a flow (an answer, a card change) may take. Generous: a loaded 2-core machine runs hundreds of
/// backend scripts here; the promises with a deadline of their own (acks within 3 s) are held separately.
const STEP_TIMEOUT_MS = 90000;

const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL

/// The throwaway cluster's settings, from the file JITBOT_TEST_PG_ENV names; fails the test when there is none.
function pgSettings() {
  const file = process.env.JITBOT_TEST_PG_ENV;
  assert.ok(file, 'JITBOT_TEST_PG_ENV names the env file of a PostgreSQL cluster for these tests ' +
    '(ctest starts one with scripts/pg-cluster.sh; by hand: scripts/pg-cluster.sh start /tmp/pgtest.env)');
  assert.ok(fs.existsSync(file),
    `JITBOT_TEST_PG_ENV=${file}, which does not exist: is the PostgreSQL cluster running?`);
  const settings = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) settings[match[1]] = match[2];
  }
  assert.ok(settings.JITBOT_TEST_PG_URL, `${file} has a JITBOT_TEST_PG_URL line`);
  assert.ok(settings.PGPASSWORD, `${file} has a PGPASSWORD line`);
  return settings;
}

/// Runs one SQL statement with psql (without blocking the fake Slack); resolves with its output, trimmed.
function psql(settings, url, sql) {
  return new Promise((resolve, reject) => {
    const child = spawn('psql', [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      env: { ...process.env, PGPASSWORD: settings.PGPASSWORD }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    child.on('error', reject);
    child.on('close', (status) => {
      if (status === 0) resolve(stdout.trim());
      else reject(new Error(`psql ${JSON.stringify(sql)} exited ${status}: ${stderr}`));
    });
  });
}

/// Runs `body(url, settings)` with a database of its own, made for it and dropped after.
async function withDatabase(body) {
  const settings = pgSettings();
  const base = settings.JITBOT_TEST_PG_URL;
  const name = `jitbot_replicas_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  const url = base.replace(/\/[^/?]*(\?.*)?$/, (_, query) => `/${name}${query || ''}`);
  await psql(settings, base, `CREATE DATABASE ${name}`);
  try {
    await body(url, settings);
  } finally {
    await psql(settings, base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

/// What replicas on `url` run with: the database, its password in the environment only, the audit head posted to the
/// audit channel every second (a PostgreSQL database has no anchor file beside it), and `more`.
function replicaOptions(url, settings, more = {}) {
  return {
    database: url,
    env: { PGPASSWORD: settings.PGPASSWORD },
    secretEnv: ['PGPASSWORD'],
    slackExtra: `audit_channel = "${AUDIT_CHANNEL}"\naudit_anchor_interval = "1s"`,
    // jitbot's default: these tests are about sharing work, not about noticing dead sockets fast (connection.test.js),
    // and a few seconds without an answer from the fake on a loaded 2-core machine must not replace sockets.
    pingTimeout: '20s',
    ...more,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Cards, followed as the fake Slack changes them (polling every card for hundreds of waiters would eat the CPU)

class Cards {
  constructor(slack) {
    this.slack = slack;
    this.byId = new Map(); // request ID → its top-level messages in the approvals channel, oldest first
    this.waiters = new Map(); // request ID → Set of checks
    this.clicks = new Map(); // request ID → [{user, actionId, sent}] clicked through click()
    for (const message of slack.messages(APPROVALS)) this.seen(message);
    slack.on('message', ({ message }) => this.seen(message));
  }

  seen(message) {
    if (message.channel !== APPROVALS || message.thread_ts) return;
    const id = requestIdOf(message);
    if (!id) return;
    const list = this.byId.get(id) || [];
    if (!list.includes(message)) list.push(message);
    this.byId.set(id, list);
    for (const check of [...(this.waiters.get(id) || [])]) check();
  }

  card(id) {
    const list = this.byId.get(id);
    return list && list[0];
  }

  /// Resolves with {card, atMs} once the card of `id` satisfies `predicate` (atMs: when it first did).
  wait(id, predicate, description, timeoutMs = STEP_TIMEOUT_MS) {
    return new Promise((resolve, reject) => {
      const checks = this.waiters.get(id) || new Set();
      this.waiters.set(id, checks);
      let timer = null;
      const check = () => {
        const card = this.card(id);
        if (!card || !predicate(card)) return false;
        clearTimeout(timer);
        checks.delete(check);
        resolve({ card, atMs: Date.now() });
        return true;
      };
      if (check()) return;
      checks.add(check);
      timer = setTimeout(() => {
        checks.delete(check);
        const card = this.card(id);
        const answers = (this.clicks.get(id) || []).map(({ user, actionId, sent }) => {
          const ack = this.slack.acks.get(sent.envelope_id);
          return `${user.name}'s ${actionId} (${ack ? `acked on connection ${ack.connectionId}` : 'not acked'}) was ` +
            `answered ${JSON.stringify(this.slack.responses(sent.response_url).map((post) => post.text))}`;
        });
        const shows = card ? JSON.stringify(cardText(card)) : 'no card at all';
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${description} of ${id}; the card shows: ` +
          `${shows}${answers.length ? `; ${answers.join('; ')}` : ''}`));
      }, timeoutMs);
    });
  }

  /// Clicks `actionId` on the card of `id` as `user`; resolves with the click ({envelope_id, …}) once it is acked.
  async click(user, id, actionId) {
    const card = this.card(id);
    assert.ok(card, `a card for ${id} to click on`);
    const sent = this.slack.clickButton({ user: user.id, channel: APPROVALS, ts: card.ts, action_id: actionId });
    this.clicks.set(id, [...(this.clicks.get(id) || []), { user, actionId, sent }]);
    await this.slack.waitForAck(sent.envelope_id, 10000);
    return sent;
  }
}

const approvedBy = (user) => (card) => cardText(card).includes(`Approved by <@${user.id}>`);

/// The status line of a card's version.
const statusOf = (version) => /\*Status:\*([^\n]*)/.exec(cardText(version))?.[1] || '';

/// How far along a card's version is: pending with N approvals (N), granting (10), active (11), ending (12), ended
/// (13).
function progress(version) {
  const status = statusOf(version);
  if (/Expired at|Revoked by/.test(status)) return 13;
  if (/Expiring|Being revoked/.test(status)) return 12;
  if (/Active until/.test(status)) return 11;
  if (/granting now/.test(status)) return 10;
  const pending = /Pending: (\d+) of/.exec(status);
  if (pending) return Number(pending[1]);
  return -1;
}

/// Every version a card showed, oldest first (the fake keeps what each chat.update replaced).
const versions = (card) => [...card.updates, card];

/// Where a card went back to an earlier state (an update that arrived after a later one), or null.
function wentBack(card) {
  const ranks = versions(card).map(progress);
  for (let i = 1; i < ranks.length; i++) {
    if (ranks[i] < ranks[i - 1]) {
      return `${ranks.join(' → ')} (status ${JSON.stringify(statusOf(versions(card)[i]))} after one further on)`;
    }
  }
  if (ranks.includes(-1)) return `a version with no status we know: ${ranks.join(' → ')}`;
  return null;
}
const expired = (card) => /Expired at/.test(cardText(card));
const revoked = (card) => /Revoked by/.test(cardText(card));

/// Backend calls of `action` (the demo backend's and writeBackend's log share their first three fields) by request.
function callsByRequest(bot, action) {
  const byId = new Map();
  for (const call of bot.backendCalls()) {
    if (call.action !== action) continue;
    if (!byId.has(call.requestId)) byId.set(call.requestId, []);
    byId.get(call.requestId).push(call);
  }
  return byId;
}

/// The newest audit head the replicas posted to the audit channel ("SEQUENCE:HASH:MAC"), or null.
function postedHead(slack) {
  let best = null;
  for (const message of slack.messages(AUDIT_CHANNEL)) {
    const head = /jitbot audit head: `([^`]+)`/.exec(message.text || '')?.[1];
    if (head && (!best || Number(head.split(':')[0]) > Number(best.split(':')[0]))) best = head;
  }
  return best;
}

/// Waits until the audit channel shows the head of the whole chain, stops the replicas, and verifies the chain
/// against that head with `jitbot audit verify --anchor`, as an operator would.
async function verifyAuditTrail(set, settings, url) {
  const newest = await until(async () => {
    const inDatabase = Number(await psql(settings, url, 'SELECT COALESCE(MAX(sequence), 0) FROM audit'));
    const head = postedHead(set.slack);
    return head && Number(head.split(':')[0]) === inDatabase && inDatabase > 0 && head;
  }, 30000, 'the audit channel to show the head of the whole audit chain', 500);
  assert.deepEqual(await set.stopAll(), [], 'SIGTERM stops every replica cleanly');
  // However many replicas saw each head, one of them posted it.
  const posted = set.slack.messages(AUDIT_CHANNEL)
    .map((message) => /jitbot audit head: `([^`]+)`/.exec(message.text || '')?.[1]).filter(Boolean);
  assert.equal(new Set(posted).size, posted.length, `each head is posted once: ${posted.join(', ')}`);
  const result = await runJitbot(['audit', 'verify', '--anchor', newest, '--config', set.configFile],
    { JITBOT_AUDIT_KEY: AUDIT_KEY, PGPASSWORD: settings.PGPASSWORD });
  const shown = `jitbot audit verify exited ${result.status}\n${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, shown);
  assert.match(result.stdout, /audit trail intact/, shown);
  assert.match(result.stdout, new RegExp(`reaches the head anchor .*\\(record ${newest.split(':')[0]}\\)`), shown);
  return { head: newest, output: result.stdout.trim() };
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Full flows across replicas

/// One person's whole flow: request, two approvals by click, the grant, then `/jit revoke` or expiry.
async function fullFlow(set, cards, user, i, ending) {
  const requester = set.replicas[0]; // any will do: they all share the fake Slack
  const duration = ending === 'expire' ? EXPIRE_AFTER : '1h';
  const id = await requester.request(user, `${GCP} --scope dev-flow${i} --duration ${duration} --reason "flow ${i}"`,
    STEP_TIMEOUT_MS);
  await cards.wait(id, (card) => buttons(card).includes('jit_approve'), 'the card asking for approval');
  await cards.click(USERS.carol, id, 'jit_approve');
  await cards.wait(id, approvedBy(USERS.carol), "the card showing carol's approval");
  await cards.click(USERS.dave, id, 'jit_approve');
  if (ending === 'revoke') {
    await cards.wait(id, isActive, 'the card showing active access');
    await requester.command(user, `revoke ${id}`, STEP_TIMEOUT_MS);
    await cards.wait(id, revoked, 'the card showing the revocation');
  } else {
    // The card may go from "granting now" straight to "Expired": notices show the state when they are delivered.
    await cards.wait(id, expired, 'the card showing the expiry');
  }
  return id;
}

async function fullFlows(replicaCount) {
  const started = Date.now();
  await withDatabase(async (url, settings) => {
    // A slow backend call must not time out (and be retried, calling the backend twice) on a loaded machine.
    await withReplicas(replicaCount, replicaOptions(url, settings, { backendTimeout: '120s' }), async (set) => {
      const cards = new Cards(set.slack);
      const crowd = set.replicas[0].addUsers(FLOWS);
      const endings = crowd.map((_, i) => (i % 2 === 0 ? 'revoke' : 'expire'));
      const ids = await Promise.all(crowd.map(async (user, i) => {
        await delay(i * FLOW_SPACING_MS);
        return fullFlow(set, cards, user, i, endings[i]);
      }));
      assert.equal(new Set(ids).size, FLOWS, 'every flow made a request of its own');
      await delay(2000); // time for a second grant, revoke or card update to show

      const grants = callsByRequest(set.replicas[0], 'grant');
      const revokes = callsByRequest(set.replicas[0], 'revoke');
      const problems = [];
      for (const [i, id] of ids.entries()) {
        const granted = (grants.get(id) || []).length;
        const revokedCalls = (revokes.get(id) || []).length;
        if (granted !== 1) problems.push(`${id}: granted ${granted} times by the backend`);
        if (revokedCalls !== 1) problems.push(`${id}: revoked ${revokedCalls} times by the backend`);
        const messages = cards.byId.get(id) || [];
        if (messages.length !== 1) problems.push(`${id}: ${messages.length} cards in the approvals channel`);
        const card = messages[0];
        const text = card ? cardText(card) : '';
        const ended = endings[i] === 'revoke' ? /Revoked by/ : /Expired at/;
        if (!ended.test(text) || /Active until|Pending|granting now/.test(text)) {
          problems.push(`${id} (${endings[i]}): the card ends showing ${JSON.stringify(text.slice(0, 400))}`);
        }
        if (card && buttons(card).length !== 0) problems.push(`${id}: the ended card still offers ${buttons(card)}`);
        const back = card && wentBack(card);
        if (back) problems.push(`${id}: the card's updates came out of order: ${back}`);
        if (!approvedBy(USERS.carol)(card || { blocks: [] }) || !approvedBy(USERS.dave)(card || { blocks: [] })) {
          problems.push(`${id}: the card does not show both approvals`);
        }
      }
      const strays = [...grants.keys(), ...revokes.keys()].filter((id) => !ids.includes(id));
      if (strays.length) problems.push(`backend calls for requests nobody made: ${[...new Set(strays)]}`);
      assert.deepEqual(problems, [], `every request granted once, revoked once, its one card in its final state:\n${
        problems.slice(0, 20).join('\n')}`);

      // Every replica took part: Slack gave each of them commands and clicks, and each acked them.
      const delivered = set.deliveriesByReplica();
      const acked = set.replicas.map((_, r) => new Set(set.ackedBy(r)));
      const share = delivered.map((list, r) => list.filter((d) => acked[r].has(d.envelope_id)).length);
      const unattributed = set.slack.deliveries.filter((d) => !(set.connectionOwner.get(d.connectionId) >= 0));
      const slowest = Math.max(...[...set.slack.acks.values()].filter((ack) => ack.type !== 'events_api')
        .map((ack) => ack.atMs - set.slack._envelopes.get(ack.envelope_id).deadlineStartMs));
      console.log(`${replicaCount} replicas: commands and clicks acked per replica: ${share.join(', ')}` +
        ` (of ${FLOWS * 3 + FLOWS / 2} sent); the slowest ack came ${Math.round(slowest)} ms after the click or ` +
        'command');
      assert.deepEqual(unattributed.map((d) => d.connectionId), [], 'every envelope went to a known replica');
      for (const [r, count] of share.entries()) {
        assert.ok(count > FLOWS / (replicaCount * 4),
          `replica ${r} received and acked its share of the commands and clicks: ${share.join(', ')}`);
      }

      const audit = await verifyAuditTrail(set, settings, url);
      console.log(`${replicaCount} replicas: ${audit.output}`);
      assert.ok(Number(audit.head.split(':')[0]) >= FLOWS * 5,
        `the chain holds at least five records per flow (request, two approvals, grant, end): head ${audit.head}`);
    });
  });
  console.log(`${replicaCount} replicas: ${FLOWS} full flows took ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

describe('replicas share the work', () => {
  test(`2 replicas: ${FLOWS} full flows, each granted once, revoked once, its card right, one audit chain`,
    { timeout: 240000 }, () => fullFlows(2));
  test(`3 replicas: ${FLOWS} full flows, each granted once, revoked once, its card right, one audit chain`,
    { timeout: 240000 }, () => fullFlows(3));
});

// ---------------------------------------------------------------------------------------------------------------
// 2. kill -9 of one replica mid-flow

describe('a replica killed with -9', () => {
  test('the others finish its grants and its acked clicks once its leases run out: no double grant, no input lost',
    { timeout: 400000 }, async () => {
      await withDatabase(async (url, settings) => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-replicas-'));
        // Every grant waits in the backend until the test lets it go: so the victim surely has some running.
        const script = writeBackend(dir, { hold: ['grant'], caller: true });
        const options = replicaOptions(url, settings, { dir, backendCommand: [script], backendTimeout: '120s' });
        await withReplicas(3, options, async (set) => {
          const slack = set.slack;
          const cards = new Cards(slack);
          const VICTIM = 1;
          const victim = set.replicas[VICTIM];
          const victimPid = victim.process.pid;
          const calls = (action) => set.replicas[0].backendCalls().filter((call) => call.action === action);
          const callerOf = (call) => Number(/ caller=(\d+)/.exec(call.line)?.[1]);

          const crowd = set.replicas[0].addUsers(44);
          const ids = await Promise.all(crowd.map((user, i) =>
            set.replicas[0].request(user, `${AWS} --duration 1h --reason "kill test ${i}"`, STEP_TIMEOUT_MS)));
          await Promise.all(ids.map((id) => cards.wait(id, (card) => buttons(card).includes('jit_approve'),
            'the card asking for approval')));
          const clicks = []; // {id, user, sent, phase}

          // Phase A: bob approves one request after another until the victim runs at least two grants (held).
          let next = 0;
          while (next < 20 && calls('grant-begin').filter((call) => callerOf(call) === victimPid).length < 2) {
            const id = ids[next++];
            clicks.push({ id, user: USERS.bob, sent: await cards.click(USERS.bob, id, 'jit_approve'), phase: 'A' });
            await cards.wait(id, (card) => /granting now/.test(cardText(card)), 'the card showing the grant starting');
            await until(() => calls('grant-begin').some((call) => call.requestId === id), STEP_TIMEOUT_MS,
              `the grant of ${id} to start in the backend`);
          }
          const victimGrants = () => calls('grant-begin').filter((call) => callerOf(call) === victimPid);
          assert.ok(victimGrants().length >= 1,
            `the victim replica ran a grant among the first ${next} approvals (grants by caller: ` +
            `${JSON.stringify(calls('grant-begin').map(callerOf))}, replicas ` +
            `${set.replicas.map((r) => r.process.pid)})`);

          // Phase B: carol (an approver through the user group S0SRELEADS) approves the next ones while Slack is
          // slow to say who is in the group: every replica acks her click at once but holds it for 5 s before it
          // takes effect. As soon as the victim has acked two of them, it is killed.
          assert.equal(slack.callsTo('usergroups.users.list').length, 0,
            'no replica has looked up the user group yet (the slow lookup below is the first)');
          slack.injectLatency('usergroups.users.list', 5000, { count: Infinity });
          const ackedByVictim = () => clicks.filter((click) => click.phase === 'B' &&
            slack.acks.get(click.sent.envelope_id)?.connectionId !== undefined &&
            set.connectionOwner.get(slack.acks.get(click.sent.envelope_id).connectionId) === VICTIM);
          while (next < ids.length && ackedByVictim().length < 2) {
            const id = ids[next++];
            const sent = slack.clickButton({ user: USERS.carol.id, channel: APPROVALS, ts: cards.card(id).ts,
              action_id: 'jit_approve' });
            clicks.push({ id, user: USERS.carol, sent, phase: 'B' });
            await until(() => slack.acks.has(sent.envelope_id), 10000, `the ack of carol's click on ${id}`, 5);
          }
          assert.ok(ackedByVictim().length >= 1, 'the victim acked some of carol\'s clicks');
          const killedAt = Date.now();
          await set.crash(VICTIM);
          slack.clearInjectedErrors();
          fs.writeFileSync(path.join(dir, 'release'), ''); // the grants held in the backend go on, the orphans' too
          const inFlight = victimGrants().map((call) => call.requestId);
          const pendingClicks = ackedByVictim().filter((click) => !approvedBy(USERS.carol)(cards.card(click.id)));
          console.log(`killed replica ${VICTIM} (pid ${victimPid}) with ${inFlight.length} grants in the backend ` +
            `and ${ackedByVictim().length} of carol's clicks acked, ${pendingClicks.length} of them not yet applied`);

          // The survivors take over: every acked click takes effect, every grant completes.
          const acked = clicks.filter((click) => slack.acks.has(click.sent.envelope_id));
          const lost = clicks.filter((click) => !slack.acks.has(click.sent.envelope_id));
          const ackedOn = (click) => set.connectionOwner.get(slack.acks.get(click.sent.envelope_id).connectionId);
          const takeover = await Promise.all(acked.map((click) => cards.wait(click.id,
            (card) => approvedBy(click.user)(card) && isActive(card),
            `the approval by ${click.user.name} (acked by ${ackedOn(click) === VICTIM ? 'the killed replica' : 'a ' +
              'survivor'}) to take effect and the grant to finish`,
            TAKEOVER_LIMIT_MS + 30000)));
          const lastEffect = Math.max(...takeover.map((done) => done.atMs));
          const victimWork = [
            ...pendingClicks.map((click) => takeover[acked.indexOf(click)].atMs),
            ...inFlight.map((id) => takeover[acked.findIndex((click) => click.id === id)].atMs),
          ];
          const failoverMs = Math.max(...victimWork) - killedAt;
          console.log(`failover: the killed replica's work (${pendingClicks.length} acked clicks, ${inFlight.length} ` +
            `grants) was finished by the others ${(failoverMs / 1000).toFixed(1)} s after the kill; everything acked ` +
            `was done ${((lastEffect - killedAt) / 1000).toFixed(1)} s after it`);
          assert.ok(pendingClicks.length + inFlight.length > 0,
            'the killed replica held work the others had to finish');
          assert.ok(failoverMs <= TAKEOVER_LIMIT_MS,
            `the others finished the killed replica's work within ${TAKEOVER_LIMIT_MS / 1000} s: ${failoverMs} ms`);

          // The clicks lost with the victim (never acked: the person saw an error) are made again, and the rest of
          // the requests approved, by the survivors.
          const rest = ids.filter((id) => !acked.some((click) => click.id === id));
          for (const id of rest) {
            clicks.push({ id, user: USERS.bob, sent: await cards.click(USERS.bob, id, 'jit_approve'), phase: 'C' });
          }
          await Promise.all(rest.map((id) => cards.wait(id, isActive, 'the card showing active access')));
          console.log(`${lost.length} clicks were lost with the killed replica (never acked); ${rest.length} ` +
            'requests were approved after the kill');

          // Everyone's access ends: bob presses Revoke on each card.
          for (const id of ids) await cards.click(USERS.bob, id, 'jit_revoke');
          await Promise.all(ids.map((id) => cards.wait(id, revoked, 'the card showing the revocation')));
          await delay(3000); // time for a second grant or revoke to show

          const problems = [];
          for (const id of ids) {
            const grantCalls = calls('grant-begin').filter((call) => call.requestId === id);
            const byVictim = grantCalls.filter((call) => callerOf(call) === victimPid);
            const bySurvivors = grantCalls.filter((call) => callerOf(call) !== victimPid);
            if (bySurvivors.length !== 1) {
              problems.push(`${id}: the surviving replicas called grant ${bySurvivors.length} times`);
            }
            if (byVictim.length > 1) problems.push(`${id}: the killed replica called grant ${byVictim.length} times`);
            if (byVictim.some((call) => Date.parse(call.at) > killedAt)) {
              problems.push(`${id}: the killed replica called grant after it was killed`);
            }
            const granted = calls('grant').filter((call) => call.requestId === id).length;
            if (granted !== 1) problems.push(`${id}: the backend granted ${granted} times`);
            const revokes = calls('revoke').filter((call) => call.requestId === id).length;
            if (revokes !== 1) problems.push(`${id}: revoked ${revokes} times`);
            const cardCount = (cards.byId.get(id) || []).length;
            if (cardCount !== 1) problems.push(`${id}: ${cardCount} cards`);
            const back = cards.card(id) && wentBack(cards.card(id));
            if (back) problems.push(`${id}: the card's updates came out of order: ${back}`);
          }
          for (const click of clicks.filter((c) => slack.acks.has(c.sent.envelope_id))) {
            if (!approvedBy(click.user)(cards.card(click.id))) {
              problems.push(`${click.id}: ${click.user.name}'s acked click (phase ${click.phase}) left no approval on ` +
                'the card');
            }
          }
          assert.deepEqual(problems, [], problems.join('\n'));
          for (const id of inFlight) {
            const survivorCall = calls('grant-begin')
              .find((call) => call.requestId === id && callerOf(call) !== victimPid);
            assert.ok(Date.parse(survivorCall.at) >= killedAt,
              `${id}: the grant the killed replica was running was run again only after the kill`);
          }

          const audit = await verifyAuditTrail(set, settings, url);
          console.log(`after the kill: ${audit.output}`);
        });
        fs.rmSync(dir, { recursive: true, force: true });
      });
    });
});

// ---------------------------------------------------------------------------------------------------------------
// 3. An older jitbot on a newer schema

describe('schema versions', () => {
  test('a replica on a database whose schema is newer than it understands refuses to run', { timeout: 120000 },
    async () => {
      await withDatabase(async (url, settings) => {
        const bot = new BotUnderTest({ ...replicaOptions(url, settings), noWaitForConnection: true });
        let failure = null;
        try {
          // This jitbot's schema, made by jitbot migrate (which needs no Slack); a replica runs on it.
          const config = writeConfig(bot.dir, { apiUrl: 'http://127.0.0.1:9/api/' }, bot.options);
          const migrated = await runJitbot(['migrate', '-c', config], { PGPASSWORD: settings.PGPASSWORD });
          assert.equal(migrated.status, 0, `jitbot migrate on a new database:\n${migrated.stdout}${migrated.stderr}`);
          await bot.start();
          await until(() => bot.exited || bot.slack.connectionLog.length > 0, 20000, 'a replica to connect');
          assert.equal(bot.exited, null, `a replica runs on the schema this jitbot made:\n${bot.stderr}`);
          await bot.stop();
          const version = Number(await psql(settings, url, 'SELECT version FROM jitbot_schema'));
          assert.ok(version >= 1, `the schema has a version (${version})`);

          // A newer jitbot migrated the database since.
          await psql(settings, url, `UPDATE jitbot_schema SET version = ${version + 1}`);
          const connections = bot.slack.connectionLog.length;
          const logged = bot.stderr.length;
          await bot.launch();
          let timer;
          const exited = await Promise.race([bot.exitPromise,
            new Promise((resolve) => { timer = setTimeout(() => resolve(null), 30000); })]);
          clearTimeout(timer);
          const said = bot.stderr.slice(logged);
          assert.ok(exited, `the older replica exits instead of running:\n${said}`);
          assert.notEqual(exited.code, 0, `it exits with an error status:\n${said}`);
          assert.match(said, /newer than this jitbot understands/, 'and says why');
          console.log(`the older replica exited with status ${exited.code}: ` +
            `${said.split('\n').find((line) => /newer than this/.test(line))}`);
          assert.equal(bot.slack.connectionLog.length, connections, 'it never came online in Slack');

          const again = await runJitbot(['migrate', '-c', bot.configFile], { PGPASSWORD: settings.PGPASSWORD });
          assert.notEqual(again.status, 0, `jitbot migrate refuses too:\n${again.stdout}${again.stderr}`);
          assert.match(again.stderr, /newer than this jitbot understands/);
          assert.equal(Number(await psql(settings, url, 'SELECT version FROM jitbot_schema')), version + 1,
            'the schema version is left as the newer jitbot set it');
        } catch (error) {
          failure = error;
        }
        try {
          await bot.close();
        } catch (error) {
          if (!failure) failure = error;
        }
        if (failure) throw failure;
      });
    });
});
