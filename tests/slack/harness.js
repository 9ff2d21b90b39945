// Starts a fake Slack and a real `jitbot run` against it, with helpers to act as Slack users.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const assert = require('node:assert/strict');
const { performance } = require('node:perf_hooks');
const { FakeSlack } = require('../fakes/fake_slack');

const SOURCE_DIR = path.resolve(__dirname, '..', '..');
const BINARY = process.env.JITBOT_BINARY || path.join(SOURCE_DIR, 'build', 'bot', 'jitbot');
/// The key jitbot run seals audit records with in these tests (it refuses to start without one).
const AUDIT_KEY = 'test-audit-key-0123456789abcdef0123456789abcdef';
const DEMO_BACKEND = path.join(SOURCE_DIR, 'config', 'examples', 'demo-backend.sh');

// The people in the fake workspace.
const USERS = {
  alice: { id: 'U0ALICE', name: 'alice', real_name: 'Alice Liddell', email: 'alice@example.com' },
  bob: { id: 'U0BOB', name: 'bob', real_name: 'Bob Stone', email: 'bob@example.com' },
  carol: { id: 'U0CAROL', name: 'carol', real_name: 'Carol Chen', email: 'carol@example.com' },
  dave: { id: 'U0DAVE', name: 'dave', real_name: 'Dave Park', email: 'dave@example.com' },
  oscar: { id: 'U0OSCAR', name: 'oscar', real_name: 'Oscar Oncall', email: 'oscar@example.com' },
};
const APPROVALS = 'C0APPROVALS';

/// Slack's deadline for acknowledging an envelope: past it the person sees an error ("operation_timeout").
// A sanitized build runs several times slower, so its run (scripts/test-sanitized.sh) may allow
// more: it checks memory and undefined behaviour, while the normal build holds the timing promise.
const ACK_DEADLINE_MS = Number(process.env.JITBOT_ACK_DEADLINE_MS) || 3000;
/// How long `jitbot run` may take to exit after SIGTERM before a test fails (and it is killed with SIGKILL). A stop
/// normally takes a fraction of a second (the SIGTERM test holds it to 3 s); this is generous because a bot stopped
/// while still starting up holds the signal until its first Web API call (auth.test) has given up, about 7.5 s of
/// retries when Slack refuses it, and a loaded machine stretches that.
const STOP_GRACE_MS = 15000;
/// A secret counts as leaked when any piece of it this long appears.
const SECRET_PIECE = 12;
const INCIDENTS = ['C0INCIDENT', 'C0SECURITY'];
const SRE_LEADS = 'S0SRELEADS';

/// Where a test may ask jitbot to post its audit head ([slack] audit_channel).
const AUDIT_CHANNEL = 'C0AUDIT';

function toml(value) {
  return JSON.stringify(value);
}

/// The config a test runs with; `extra` is appended TOML (e.g. more roles), `botExtra` more keys of [bot].
function writeConfig(dir, slack, options = {}) {
  const lines = [
    '[bot]',
    `database = ${toml(options.database || path.join(dir, 'jitbot.db'))}`, // options.database: e.g. a PostgreSQL URL
    `pending_timeout = ${toml(options.pendingTimeout || '30m')}`,
    ...(options.botExtra ? [options.botExtra] : []), // more keys of [bot]
    '',
    '[slack]',
    `api_url = ${toml(slack.apiUrl)}`,
    `approvals_channel = ${toml(APPROVALS)}`,
    `incident_channels = ${toml(INCIDENTS)}`,
    `channel_post_interval = ${toml(options.channelPostInterval || '0s')}`,
    `method_pacing = ${options.methodPacing ? 'true' : 'false'}`,
    `ping_timeout = ${toml(options.pingTimeout || '3s')}`,
    ...(options.caFile ? [`ca_file = ${toml(options.caFile)}`] : []),
    ...(options.slackExtra ? [options.slackExtra] : []), // more keys of [slack]
    '',
    '[[backends]]',
    'name = "recorder"',
    'type = "exec"',
    `command = ${toml(options.backendCommand || [DEMO_BACKEND])}`,
    `timeout = ${toml(options.backendTimeout || '20s')}`,
    // What the demo backend reads of the environment; nothing else of jitbot's reaches it.
    'env = ["DEMO_BACKEND_LOG", "DEMO_BACKEND_FAIL"]',
    ...(options.backendExtra ? [options.backendExtra] : []), // more keys of this [[backends]] entry
    '',
    '[[roles]]',
    'provider = "aws"',
    'name = "prod-infra-admin"',
    'scopes = ["123456789012"]',
    'backend = "recorder"',
    'requesters = ["*"]',
    `approvers = [${toml(USERS.bob.id)}, ${toml(SRE_LEADS)}]`,
    'approvals_required = 1',
    'max_duration = "4h"',
    `break_glass_requesters = [${toml(USERS.oscar.id)}]`,
    '',
    '[[roles]]',
    'provider = "gcp"',
    'name = "roles/cloudsql.admin"',
    'scopes = ["dev-*"]',
    'backend = "recorder"',
    'requesters = ["*"]',
    `approvers = [${toml(SRE_LEADS)}, ${toml(USERS.bob.id)}]`,
    'approvals_required = 2',
    'max_duration = "8h"',
    '',
    options.extra || '',
  ];
  const file = path.join(dir, 'jitbot.toml');
  fs.writeFileSync(file, lines.join('\n'));
  return file;
}

class BotUnderTest {
  constructor(options = {}) {
    this.options = options;
    this.dir = options.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-slack-'));
    this.backendLog = path.join(this.dir, 'backend.log');
    this.stderr = '';
  }

  async start() {
    if (!this.slack) {
      this.slack = new FakeSlack({ ackDeadlineMs: ACK_DEADLINE_MS, ...(this.options.fake || {}) });
      await this.slack.start();
      for (const user of Object.values(USERS)) this.slack.addUser(user);
      this.slack.addUsergroup(SRE_LEADS, [USERS.carol.id, USERS.dave.id]);
      for (const id of [APPROVALS, ...INCIDENTS]) this.slack.addChannel({ id, name: id.toLowerCase() });
      this.slack.addChannel({ id: 'C0OPS', name: 'ops' });
      this.slack.addChannel({ id: AUDIT_CHANNEL, name: 'jitbot-audit' });
      if (this.options.prepare) this.options.prepare(this.slack); // e.g. faults that must be there before jitbot starts
    }
    this.configFile = writeConfig(this.dir, this.slack, this.options);
    await this.launch();
    return this;
  }

  async launch() {
    const connectionsBefore = this.slack.connectionLog.length;
    this.exited = null;
    this.env = {
      ...process.env,
      SLACK_APP_TOKEN: this.slack.appToken,
      SLACK_BOT_TOKEN: this.slack.botToken,
      JITBOT_AUDIT_KEY: AUDIT_KEY,
      DEMO_BACKEND_LOG: this.backendLog,
      ...(this.options.env || {}),
    };
    // options.globalArgs: more arguments before `run`; options.runArgs: after `run --config FILE` (e.g.
    // ['--log-format', 'json'] in either place).
    const args = ['--log-level', process.env.JITBOT_LOG_LEVEL || 'info', ...(this.options.globalArgs || []), 'run',
      '--config', this.configFile, ...(this.options.runArgs || [])];
    this.watch(spawn(BINARY, args, {
      env: this.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    }));
    if (this.options.noWaitForConnection) return;
    await this.slack.waitFor(
      () => this.exited || this.slack.connectionLog.length > connectionsBefore,
      10000,
      'jitbot to open a Socket Mode connection',
    );
    if (this.exited) throw new Error(`jitbot exited at start (${JSON.stringify(this.exited)}):\n${this.stderr}`);
  }

  /// Follows `child` as the process under test: its stderr, and its exit in this.exited / this.exitPromise.
  watch(child) {
    this.exited = null;
    this.process = child;
    if (child.stderr) child.stderr.on('data', (chunk) => { this.stderr += chunk.toString(); });
    this.exitPromise = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
      // A process that could not be started (e.g. the binary is being rebuilt) never exits: say so instead of hanging.
      child.on('error', (error) => {
        if (this.exited) return;
        this.exited = { code: null, signal: null, error: error.message };
        this.stderr += `could not run ${child.spawnfile}: ${error.message}\n`;
        resolve(this.exited);
      });
    });
    return child;
  }

  /// kill -9, as a crash would.
  async crash() {
    this.process.kill('SIGKILL');
    await this.exitPromise;
  }

  /// SIGTERM, as systemd or Kubernetes stop a service. Resolves with {code, signal, ms} (ms: from SIGTERM to the exit).
  /// Throws when jitbot was still running `graceMs` after SIGTERM (it is then killed with SIGKILL) or exited with
  /// anything but 0: SIGTERM must stop it cleanly.
  async stop(graceMs = STOP_GRACE_MS) {
    if (!this.process || this.exited) return this.exited;
    const sentAt = performance.now();
    this.process.kill('SIGTERM');
    let timer;
    const exited = await Promise.race([
      this.exitPromise,
      new Promise((resolve) => { timer = setTimeout(() => resolve(null), graceMs); }),
    ]);
    clearTimeout(timer);
    if (!exited) {
      this.process.kill('SIGKILL');
      await this.exitPromise;
      throw new Error(`SIGTERM stops jitbot cleanly: it was still running ${graceMs} ms after SIGTERM, so the test ` +
        'killed it with SIGKILL');
    }
    this.exited.ms = performance.now() - sentAt;
    if (exited.code !== 0) {
      throw new Error(`SIGTERM stops jitbot cleanly with exit code 0: it exited with code ${exited.code}` +
        `${exited.signal ? ` (signal ${exited.signal})` : ''}`);
    }
    return this.exited;
  }

  /// Stops jitbot and the fake, then fails if anything this test did broke a promise every test holds: every
  /// envelope acked within Slack's deadline, and no secret in jitbot's log or in anything it sent to Slack.
  async close() {
    const problems = [];
    try {
      await this.stop();
    } catch (error) {
      problems.push(error.message);
    }
    if (this.slack) {
      problems.push(...this.ackProblems());
      try {
        this.assertNoLeaks();
      } catch (error) {
        problems.push(error.message);
      }
      await this.slack.stop();
    }
    if (!this.options.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }

  /// What the fake saw of acks that missed Slack's deadline. The fake runs the deadline as Slack does: from the click
  /// or command for slash commands and clicks (the person is already waiting, even when no socket is up), from the
  /// delivery for events. The threshold is Slack's own 3 s, with no margin added: past it the person sees an error
  /// however loaded the machine, so a test must not accept it. Nor is it any tighter: jitbot acks after writing one
  /// inbox row, which takes milliseconds here and at worst about 0.4 s while 1000 commands arrive at once on a loaded
  /// 2-core machine, so the deadline still leaves several times that for scheduling delays of jitbot and the fake.
  /// `excused`: envelope IDs not to count (e.g. those a replica killed on purpose received and never acked).
  ackProblems(excused = new Set()) {
    const slack = this.slack;
    const missed = new Set([
      ...slack.timedOut,
      ...slack.eventTimeouts.map((timeout) => timeout.envelope_id),
      ...[...slack.acks.values()].filter((ack) => ack.late).map((ack) => ack.envelope_id),
    ].filter((id) => !excused.has(id)));
    if (missed.size === 0) return [];
    const describe = (id) => {
      const rec = slack._envelopes.get(id);
      const ack = slack.acks.get(id);
      const what = rec ? `${rec.type}${rec.type === 'slash_commands' ? ` "${rec.envelope.payload.text}"` : ''}` : 'envelope';
      return `${what} ${ack ? `acked ${Math.round(ack.atMs - rec.deadlineStartMs)} ms after it was sent` : 'never acked'}`;
    };
    return [`every envelope is acked within ${ACK_DEADLINE_MS} ms (Slack's deadline): ${missed.size} ${missed.size === 1 ? 'was' : 'were'} not: ` +
      `${[...missed].slice(0, 5).map(describe).join('; ')}${missed.size > 5 ? '; …' : ''}`];
  }

  /// The secrets jitbot was started with, by the variable that holds each (options.secretEnv names more, e.g. an
  /// alert sink's signing secret passed in options.env).
  secrets() {
    const env = this.env || {};
    return ['SLACK_APP_TOKEN', 'SLACK_BOT_TOKEN', 'JITBOT_AUDIT_KEY', ...(this.options.secretEnv || [])]
      .filter((name) => typeof env[name] === 'string' && env[name].length >= SECRET_PIECE)
      .map((name) => ({ name, value: env[name] }));
  }

  /// Fails if any secret, or any 12-character piece of one, is in jitbot's stderr or in anything it sent to Slack
  /// (Web API arguments, acks, response_url posts). Tokens travel only in Authorization headers, which the fake does
  /// not record as arguments.
  assertNoLeaks() {
    const secrets = this.secrets();
    if (secrets.length === 0) return;
    assertNoSecrets(this.stderr, secrets, "jitbot's stderr");
    const slack = this.slack;
    const sent = [
      ...slack.apiCalls.map((call) => `${call.method} ${JSON.stringify(call.args)}`),
      ...[...slack.acks.values()].map((ack) => JSON.stringify(ack.payload)),
      ...[...slack._responseUrls.values()].flatMap((rec) => rec.posts.map((post) => JSON.stringify(post))),
    ].join('\n');
    assertNoSecrets(sent, secrets, 'what jitbot sent to Slack');
  }

  /// Types `/jit TEXT` as `user` and returns the ephemeral answer jitbot gives.
  async command(user, text, timeoutMs = 5000) {
    const sent = this.slack.slashCommand({ user: user.id, text, channel: 'C0OPS', command: '/jit' });
    const ack = await this.slack.waitForAck(sent.envelope_id, timeoutMs);
    if (ack.payload && ack.payload.text) return ack.payload.text;
    const response = await this.firstResponse(sent.response_url, timeoutMs, `an answer to "/jit ${text}"`);
    return response.text;
  }

  /// The first post to a response_url; waits on the fake's 'response' events, so a thousand waiters cost nothing.
  firstResponse(responseUrl, timeoutMs, description) {
    const posted = this.slack.responses(responseUrl);
    if (posted.length > 0) return Promise.resolve(posted[0]);
    if (!this.responseWaiters) {
      this.responseWaiters = new Map();
      this.slack.on('response', ({ response_url: url, post }) => {
        const waiters = this.responseWaiters.get(url) || [];
        this.responseWaiters.delete(url);
        for (const waiter of waiters) waiter(post);
      });
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${description} within ${timeoutMs} ms`)), timeoutMs);
      const waiters = this.responseWaiters.get(responseUrl) || [];
      waiters.push((post) => {
        clearTimeout(timer);
        resolve(post);
      });
      this.responseWaiters.set(responseUrl, waiters);
    });
  }

  /// Submits a request and returns its ID.
  async request(user, text, timeoutMs = 5000) {
    const answer = await this.command(user, `request ${text}`, timeoutMs);
    const match = /req_[0-9A-Z]{26}/.exec(answer);
    if (!match) throw new Error(`no request ID in the answer: ${answer}`);
    return match[0];
  }

  cardFor(requestId, channel = APPROVALS) {
    return this.slack.messages(channel).find((message) => JSON.stringify(message.blocks).includes(requestId));
  }

  async waitForCard(requestId, predicate = () => true, description = 'the approval card', timeoutMs = 8000) {
    return this.slack.waitFor(
      () => {
        const card = this.cardFor(requestId);
        return card && predicate(card) && card;
      },
      timeoutMs,
      `${description} for ${requestId}`,
    );
  }

  /// Clicks a button on the card as `user`; resolves with the ephemeral answer, if any, after the ack.
  async click(user, requestId, actionId) {
    const card = this.cardFor(requestId);
    if (!card) throw new Error(`no card for ${requestId}`);
    const sent = this.slack.clickButton({ user: user.id, channel: APPROVALS, ts: card.ts, action_id: actionId });
    await this.slack.waitForAck(sent.envelope_id, 5000);
    return sent;
  }

  async answerTo(sent, description = 'an ephemeral answer') {
    const posted = await this.slack.waitFor(
      () => {
        const responses = this.slack.responses(sent.response_url);
        return responses.length > 0 && responses;
      },
      5000,
      description,
    );
    return posted[0].text;
  }

  dms(user) {
    return this.slack.messages(this.slack.dmChannel(user.id));
  }

  async waitForDm(user, pattern, description = 'a DM', timeoutMs = 8000) {
    return this.slack.waitFor(
      () => this.dms(user).find((message) => pattern.test(message.text)),
      timeoutMs,
      `${description} to ${user.name} matching ${pattern}`,
    );
  }

  backendCalls() {
    if (!fs.existsSync(this.backendLog)) return [];
    return fs
      .readFileSync(this.backendLog, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [at, action, requestId] = line.split(' ');
        return { at, action, requestId, line };
      });
  }

  async waitForBackend(action, requestId, timeoutMs = 8000) {
    return this.slack.waitFor(
      () => this.backendCalls().find((call) => call.action === action && call.requestId === requestId),
      timeoutMs,
      `a backend ${action} of ${requestId}`,
    );
  }

  /// Adds `count` people to the fake workspace (IDs PREFIX0001…) and returns them.
  addUsers(count, prefix = 'U0CROWD') {
    return Array.from({ length: count }, (_, i) => {
      const n = String(i + 1).padStart(4, '0');
      const user = { id: `${prefix}${n}`, name: `${prefix.toLowerCase()}${n}`, real_name: `Person ${n}`,
        email: `${prefix.toLowerCase()}${n}@example.com` };
      this.slack.addUser(user);
      return user;
    });
  }

  /// The messages in `channel` by the request ID they show (Map ID → [messages], oldest first).
  cardsByRequest(channel = APPROVALS) {
    const byId = new Map();
    for (const message of this.slack.messages(channel)) {
      const id = requestIdOf(message);
      if (!id) continue;
      if (!byId.has(id)) byId.set(id, []);
      byId.get(id).push(message);
    }
    return byId;
  }

  /// Runs `jitbot ARGS --config FILE` to completion (the admin CLI) without blocking the fake Slack.
  cli(args, options = {}) {
    return runJitbot([...args, '--config', this.configFile], {
      SLACK_APP_TOKEN: this.slack.appToken, SLACK_BOT_TOKEN: this.slack.botToken, JITBOT_AUDIT_KEY: AUDIT_KEY,
      ...(this.options.env || {}), ...options.env,
    });
  }
}

// A card's request ID never changes, so it is read once per message record.
const requestIds = new WeakMap();
function requestIdOf(message) {
  if (!requestIds.has(message)) {
    const match = /req_[0-9A-Z]{26}/.exec(`${JSON.stringify(message.blocks || [])} ${message.text || ''}`);
    requestIds.set(message, match ? match[0] : null);
  }
  return requestIds.get(message);
}

/// Runs the jitbot binary with `args`; resolves with {status, signal, stdout, stderr}.
function runJitbot(args, env = {}, timeoutMs = 60000) {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr, args });
    });
  });
}

/// Polls `predicate` every `intervalMs` until it returns something truthy (returned); rejects after timeoutMs.
async function until(predicate, timeoutMs, description, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${description}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/// Writes an exec backend into `dir` (a Node script) and returns its path. Every call is logged to
/// dir/backend.log (BotUnderTest.backendCalls reads it) as "<ISO time> <action>-begin <request_id> <user>" when it
/// starts and "<ISO time> <action> <request_id> <user> …" when it succeeds. Grants are idempotent by request ID, as
/// the exec contract asks: a repeat is logged as "grant-repeat" and returns the first grant's grant_id.
/// behaviour: hold: ['grant'|'revoke'|'extend'] waits until the file dir/release exists (at most holdMs, or until dir
/// is removed); fail: {grant|revoke|extend: 'text'} fails that action with `text` as the last line of stderr;
/// unknown: ['extend'] exits with status 3 ("unknown action") for those actions, logged as "<action>-unknown";
/// record: true also appends every call's argv and stdin document to dir/calls.jsonl (backendDocuments reads it).
/// caller: true ends every log line with " caller=PID", the process ID of the jitbot that ran the call (its parent when
/// it started), so a test with several jitbot processes sees which one made each call.
function writeBackend(dir, behaviour = {}) {
  const settings = {
    dir, log: path.join(dir, 'backend.log'), release: path.join(dir, 'release'), grants: path.join(dir, 'grants'),
    calls: path.join(dir, 'calls.jsonl'), hold: [], holdMs: 120000, fail: {}, unknown: [], record: false, caller: false,
    ...behaviour,
  };
  fs.mkdirSync(settings.grants, { recursive: true });
  const script = path.join(dir, 'backend.js');
  fs.writeFileSync(script, `#!${process.execPath}\n'use strict';\n(${backendMain})(${JSON.stringify(settings)});\n`,
    { mode: 0o755 });
  return script;
}

// The body of the script writeBackend writes; it runs in its own process.
function backendMain(settings) {
  const fs = require('node:fs');
  const path = require('node:path');
  const action = process.argv[2];
  const input = JSON.parse(fs.readFileSync(0, 'utf8'));
  const id = input.request_id;
  const caller = settings.caller ? ` caller=${process.ppid}` : ''; // read now: an orphan's parent changes
  const log = (word, extra = '') => fs.appendFileSync(settings.log,
    `${new Date().toISOString()} ${word} ${id} ${input.requester && input.requester.slack_user_id}${extra}${caller}\n`);
  const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  log(`${action}-begin`);
  if (settings.record) {
    fs.appendFileSync(settings.calls, `${JSON.stringify({ argv: process.argv.slice(2), input })}\n`);
  }
  if ((settings.unknown || []).includes(action)) {
    log(`${action}-unknown`);
    process.stderr.write(`unknown action ${action}\n`);
    process.exit(3);
  }
  if (settings.hold.includes(action)) {
    const start = Date.now();
    while (!fs.existsSync(settings.release) && fs.existsSync(settings.dir) && Date.now() - start < settings.holdMs) sleep(50);
  }
  if (settings.fail[action]) {
    process.stderr.write(`${settings.fail[action]}\n`);
    process.exit(1);
  }
  if (action === 'grant') {
    let first = true;
    try {
      fs.closeSync(fs.openSync(path.join(settings.grants, id), 'wx'));
    } catch {
      first = false;
    }
    log(first ? 'grant' : 'grant-repeat');
    process.stdout.write(JSON.stringify({ grant_id: `grant-${id}` }));
  } else {
    log(action, ` grant_id=${input.grant_id}`);
    process.stdout.write('{}');
  }
}

/// What a writeBackend script with record: true was called with, oldest first: [{argv, input}] (input: the stdin
/// document). The script writes each line before it acts, so a call in progress is listed too.
function backendDocuments(dir) {
  const file = path.join(dir, 'calls.jsonl');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
}

const AWS = '--provider aws --role prod-infra-admin --scope 123456789012';

/// The process (by ID, among `pids`) that holds the TCP connection from local port `port` to remote port `remotePort`,
/// from /proc: the table of TCP sockets gives the socket's inode, and each process's open files name the inodes it
/// holds.
function processOfConnection(port, remotePort, pids) {
  let inode = null;
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (inode || !fs.existsSync(table)) continue;
    for (const line of fs.readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const portOf = (address) => parseInt(address.split(':').pop(), 16);
      if (portOf(fields[1]) === port && portOf(fields[2]) === remotePort && fields[9] !== '0') {
        inode = fields[9];
        break;
      }
    }
  }
  if (!inode) return null;
  for (const pid of pids) {
    let fds = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

/// Several `jitbot run` processes ("replicas") on one config, one database (options.database, e.g. PostgreSQL) and one
/// fake Slack, as several pods of one deployment. replicas[0] starts the fake; all share its folder and config. Each
/// Socket Mode connection is attributed to the replica that opened it (connectionOwner: connection ID → replica index),
/// so a test sees which replica received and acked each envelope.
class ReplicaSet {
  constructor(count, options = {}) {
    this.count = count;
    this.options = options;
    this.replicas = [];
    this.connectionOwner = new Map();
  }

  async start() {
    const first = new BotUnderTest({
      ...this.options,
      prepare: (slack) => {
        this.slack = slack;
        slack.on('connection', ({ id }) => this.attribute(id));
        if (this.options.prepare) this.options.prepare(slack);
      },
    });
    this.replicas.push(first);
    await first.start();
    this.slack = first.slack;
    this.dir = first.dir;
    this.configFile = first.configFile;
    while (this.replicas.length < this.count) await this.add();
    return this;
  }

  /// Starts one more replica on the same config; resolves once it has a Socket Mode connection.
  async add() {
    const replica = new BotUnderTest({ ...this.options, dir: this.dir });
    replica.slack = this.slack;
    replica.configFile = this.configFile;
    this.replicas.push(replica);
    await replica.launch();
    return replica;
  }

  attribute(connectionId) {
    const conn = [...this.slack._conns].find((c) => c.id === connectionId);
    const socket = conn && conn.ws._socket; // the fake's end: its remote port is the replica's local port
    const pids = this.replicas.filter((r) => r.process && !r.exited).map((r) => r.process.pid);
    const pid = socket ? processOfConnection(socket.remotePort, socket.localPort, pids) : null;
    this.connectionOwner.set(connectionId, this.replicas.findIndex((r) => r.process && r.process.pid === pid));
  }

  /// The envelopes (the fake's delivery records) each replica received, by replica index; `types` picks envelope types.
  deliveriesByReplica(types = ['slash_commands', 'interactive']) {
    const byReplica = this.replicas.map(() => []);
    for (const delivery of this.slack.deliveries) {
      if (!types.includes(delivery.type)) continue;
      const owner = this.connectionOwner.get(delivery.connectionId);
      if (owner !== undefined && owner >= 0) byReplica[owner].push(delivery);
    }
    return byReplica;
  }

  /// Envelope IDs acked over a connection of replica `index`.
  ackedBy(index) {
    return [...this.slack.acks.values()]
      .filter((ack) => this.connectionOwner.get(ack.connectionId) === index)
      .map((ack) => ack.envelope_id);
  }

  /// SIGTERM to every replica still running, side by side; resolves with the problems (a replica that did not stop
  /// cleanly), as text.
  async stopAll() {
    const problems = [];
    await Promise.all(this.replicas.map(async (replica, i) => {
      try {
        await replica.stop();
      } catch (error) {
        problems.push(`replica ${i}: ${error.message}`);
      }
    }));
    return problems;
  }

  /// Stops every replica and the fake, then fails if a promise every test holds was broken (as BotUnderTest.close):
  /// every envelope acked in time, except those delivered to a replica killed on purpose and never acked (they were
  /// lost with it; the person saw an error), and no secret in any replica's log or in what was sent to Slack.
  async close() {
    const problems = await this.stopAll();
    if (this.slack) {
      const killed = new Set(this.replicas.map((r, i) => (r.killed ? i : -1)).filter((i) => i >= 0));
      const excused = new Set([...this.slack._envelopes.values()]
        .filter((rec) => !rec.acked && killed.has(this.connectionOwner.get(rec.connectionId)))
        .map((rec) => rec.envelope_id));
      problems.push(...this.replicas[0].ackProblems(excused));
      for (const [i, replica] of this.replicas.entries()) {
        try {
          if (i === 0) replica.assertNoLeaks();
          else assertNoSecrets(replica.stderr, replica.secrets(), `replica ${i}'s stderr`);
        } catch (error) {
          problems.push(error.message);
        }
      }
      await this.slack.stop();
    }
    if (!this.options.keepDir && this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    if (problems.length > 0) throw new Error(problems.join('\n'));
  }

  /// kill -9 of replica `index`, as a crash would; marks it, so close() excuses what was lost with it.
  async crash(index) {
    this.replicas[index].killed = true;
    await this.replicas[index].crash();
  }

  /// Each replica's stderr, last `chars` characters each, secrets blotted out; then the Socket Mode connections (whose,
  /// opened and closed when) and the commands and clicks that were never acked, with the connection they went to.
  logs(chars = 3000) {
    const stderr = this.replicas.map((replica, i) =>
      `--- replica ${i} (pid ${replica.process && replica.process.pid}) stderr ---\n` +
      `${redact(chars === Infinity ? replica.stderr : replica.stderr.slice(-chars), replica.secrets())}`).join('\n');
    if (!this.slack) return stderr;
    // The fake's times are from process.hrtime; shown as wall-clock times, like jitbot's log.
    const offset = Date.now() - Number(process.hrtime.bigint()) / 1e6;
    const at = (ms) => (ms == null ? '-' : new Date(ms + offset).toISOString());
    const connections = this.slack.connectionLog.map((log) => `connection ${log.id} of replica ` +
      `${this.connectionOwner.get(log.id)}: opened ${at(log.opened)}, closed ${at(log.closed)}` +
      `${log.closed == null ? '' : ` by ${log.closedBy} (${log.closeCode})`}`);
    const unacked = [...this.slack._envelopes.values()].filter((rec) => !rec.acked && rec.type !== 'events_api')
      .map((rec) => `${rec.type} ${rec.envelope_id} created ${at(rec.createdMs)}, sent ${at(rec.sentMs)} to connection ` +
        `${rec.connectionId}: never acked`);
    return `${stderr}\n--- Socket Mode connections ---\n${connections.join('\n')}` +
      `${unacked.length ? `\n${unacked.join('\n')}` : ''}`;
  }
}

/// Runs `body` with `count` started replicas (ReplicaSet), closes everything after, and shows every replica's stderr on
/// failure.
async function withReplicas(count, options, body) {
  const set = new ReplicaSet(count, options);
  let failure = null;
  try {
    await set.start();
    await body(set);
  } catch (error) {
    failure = error;
  }
  try {
    await set.close();
  } catch (error) {
    if (failure) failure.message += `\n--- and after the test ---\n${error.message}`;
    else failure = error;
  }
  if (failure) {
    // The whole of every log, for a failure the tails above do not explain.
    const file = path.join(os.tmpdir(), `jitbot-replicas-failure-${process.pid}-${Date.now()}.log`);
    try {
      fs.writeFileSync(file, set.logs(Infinity));
      failure.message += `\n${set.logs()}\n(every replica's whole log: ${file})`;
    } catch {
      failure.message += `\n${set.logs()}`;
    }
    throw failure;
  }
}

/// Runs `body` with a started bot, closes everything after (which fails the test if an ack came late, SIGTERM did not
/// stop jitbot cleanly or a secret leaked), and shows jitbot's stderr on failure.
async function withBot(options, body) {
  const bot = new BotUnderTest(options);
  let failure = null;
  try {
    await bot.start();
    await body(bot);
  } catch (error) {
    failure = error;
  }
  try {
    await bot.close();
  } catch (error) {
    if (failure) failure.message += `\n--- and after the test ---\n${error.message}`;
    else failure = error;
  }
  if (failure) {
    const stderr = bot.stderr.slice(-4000);
    // The log is shown with any secret in it blotted out; the leak itself is reported above.
    failure.message += `\n--- jitbot stderr ---\n${redact(stderr, bot.secrets())}`;
    throw failure;
  }
}

/// Each place in `text` where a piece (SECRET_PIECE characters or more) of a secret appears: [{secret, at, length}].
function secretPieces(text, secrets) {
  const found = [];
  for (const secret of secrets) {
    const covered = new Uint8Array(text.length);
    for (let i = 0; i + SECRET_PIECE <= secret.value.length; i++) {
      const piece = secret.value.slice(i, i + SECRET_PIECE);
      for (let at = text.indexOf(piece); at >= 0; at = text.indexOf(piece, at + 1)) covered.fill(1, at, at + SECRET_PIECE);
    }
    for (let at = covered.indexOf(1); at >= 0; at = covered.indexOf(1, at)) {
      let end = at;
      while (end < covered.length && covered[end]) end++;
      found.push({ secret, at, length: end - at });
      at = end;
    }
  }
  return found.sort((a, b) => a.at - b.at);
}

/// `text` with every piece of a secret replaced by ‹ITS_NAME›.
function redact(text, secrets) {
  let out = '';
  let from = 0;
  for (const { secret, at, length } of secretPieces(text, secrets)) {
    if (at < from) continue;
    out += `${text.slice(from, at)}‹${secret.name}›`;
    from = at + length;
  }
  return out + text.slice(from);
}

/// Fails unless `text` holds neither a secret nor any SECRET_PIECE-character piece of one (every window of it). The
/// message names the secret by its variable and shows the text around the leak with the secret blotted out; it never
/// shows the secret.
function assertNoSecrets(text, secrets, where) {
  text = String(text);
  const [leak] = secretPieces(text, secrets);
  if (!leak) return;
  const around = redact(text.slice(Math.max(0, leak.at - 80), leak.at + leak.length + 80), secrets);
  assert.fail(`no secret ever appears in ${where}: ${leak.length} characters of ${leak.secret.name} ` +
    `(${leak.length >= leak.secret.value.length ? 'the whole value' : 'a piece of it'}) at offset ${leak.at}; ` +
    `around it: ${JSON.stringify(around)}`);
}

/// The text a person sees on a card: every mrkdwn text in its blocks.
function cardText(card) {
  const texts = [];
  const walk = (node) => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (node && typeof node === 'object') {
      if (typeof node.text === 'string') texts.push(node.text);
      Object.values(node).forEach(walk);
    }
  };
  walk(card.blocks);
  return texts.join('\n');
}

function buttons(card) {
  return card.blocks
    .filter((block) => block.type === 'actions')
    .flatMap((block) => block.elements.map((element) => element.action_id));
}

/// A card that shows active access and offers only Revoke.
/// Active, and offering Revoke (a break-glass card not yet reviewed offers Acknowledge first).
const isActive = (card) => /Active until/.test(cardText(card)) &&
  ['jit_revoke', 'jit_ack,jit_revoke'].includes(buttons(card).join());

module.exports = {
  ACK_DEADLINE_MS, AUDIT_CHANNEL, AUDIT_KEY, AWS, BINARY, BotUnderTest, SECRET_PIECE, STOP_GRACE_MS, USERS, APPROVALS,
  INCIDENTS, SRE_LEADS, assertNoSecrets, backendDocuments, buttons, cardText, isActive, redact, requestIdOf, runJitbot,
  until, withBot, writeBackend, writeConfig,
  ReplicaSet, withReplicas,
};
