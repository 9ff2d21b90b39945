// Starts a fake Slack and a real `jitbot run` against it, with helpers to act as Slack users.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { FakeSlack } = require('../fakes/fake_slack');

const SOURCE_DIR = path.resolve(__dirname, '..', '..');
const BINARY = process.env.JITBOT_BINARY || path.join(SOURCE_DIR, 'build', 'bot', 'jitbot');
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
const INCIDENTS = ['C0INCIDENT', 'C0SECURITY'];
const SRE_LEADS = 'S0SRELEADS';

function toml(value) {
  return JSON.stringify(value);
}

/// The config a test runs with; `extra` is appended TOML (e.g. more roles).
function writeConfig(dir, slack, options = {}) {
  const lines = [
    '[bot]',
    `database = ${toml(path.join(dir, 'jitbot.db'))}`,
    `pending_timeout = ${toml(options.pendingTimeout || '30m')}`,
    '',
    '[slack]',
    `api_url = ${toml(slack.apiUrl)}`,
    `approvals_channel = ${toml(APPROVALS)}`,
    `incident_channels = ${toml(INCIDENTS)}`,
    `channel_post_interval = ${toml(options.channelPostInterval || '0s')}`,
    `method_pacing = ${options.methodPacing ? 'true' : 'false'}`,
    `ping_timeout = ${toml(options.pingTimeout || '3s')}`,
    ...(options.caFile ? [`ca_file = ${toml(options.caFile)}`] : []),
    '',
    '[[backends]]',
    'name = "recorder"',
    'type = "exec"',
    `command = ${toml(options.backendCommand || [DEMO_BACKEND])}`,
    'timeout = "20s"',
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
      this.slack = new FakeSlack({ ackDeadlineMs: 3000, ...(this.options.fake || {}) });
      await this.slack.start();
      for (const user of Object.values(USERS)) this.slack.addUser(user);
      this.slack.addUsergroup(SRE_LEADS, [USERS.carol.id, USERS.dave.id]);
      for (const id of [APPROVALS, ...INCIDENTS]) this.slack.addChannel({ id, name: id.toLowerCase() });
      this.slack.addChannel({ id: 'C0OPS', name: 'ops' });
    }
    this.configFile = writeConfig(this.dir, this.slack, this.options);
    await this.launch();
    return this;
  }

  async launch() {
    const connectionsBefore = this.slack.connectionLog.length;
    this.exited = null;
    this.process = spawn(BINARY, ['--log-level', process.env.JITBOT_LOG_LEVEL || 'info', 'run', '--config', this.configFile], {
      env: {
        ...process.env,
        SLACK_APP_TOKEN: this.slack.appToken,
        SLACK_BOT_TOKEN: this.slack.botToken,
        DEMO_BACKEND_LOG: this.backendLog,
        ...(this.options.env || {}),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.process.stderr.on('data', (chunk) => {
      this.stderr += chunk.toString();
    });
    this.exitPromise = new Promise((resolve) => {
      this.process.on('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
    });
    if (this.options.noWaitForConnection) return;
    await this.slack.waitFor(
      () => this.exited || this.slack.connectionLog.length > connectionsBefore,
      10000,
      'jitbot to open a Socket Mode connection',
    );
    if (this.exited) throw new Error(`jitbot exited at start (${JSON.stringify(this.exited)}):\n${this.stderr}`);
  }

  /// kill -9, as a crash would.
  async crash() {
    this.process.kill('SIGKILL');
    await this.exitPromise;
  }

  async stop() {
    if (this.process && !this.exited) {
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 5000);
      await this.exitPromise;
      clearTimeout(timer);
    }
  }

  async close() {
    await this.stop();
    if (this.slack) await this.slack.stop();
    if (!this.options.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /// Types `/jit TEXT` as `user` and returns the ephemeral answer jitbot gives.
  async command(user, text) {
    const sent = this.slack.slashCommand({ user: user.id, text, channel: 'C0OPS', command: '/jit' });
    const ack = await this.slack.waitForAck(sent.envelope_id, 5000);
    if (ack.payload && ack.payload.text) return ack.payload.text;
    const responses = await this.slack.waitFor(
      () => {
        const posted = this.slack.responses(sent.response_url);
        return posted.length > 0 && posted;
      },
      5000,
      `an answer to "/jit ${text}"`,
    );
    return responses[0].text;
  }

  /// Submits a request and returns its ID.
  async request(user, text) {
    const answer = await this.command(user, `request ${text}`);
    const match = /req_[0-9A-Z]{26}/.exec(answer);
    if (!match) throw new Error(`no request ID in the answer: ${answer}`);
    return match[0];
  }

  cardFor(requestId, channel = APPROVALS) {
    return this.slack.messages(channel).find((message) => JSON.stringify(message.blocks).includes(requestId));
  }

  async waitForCard(requestId, predicate = () => true, description = 'the approval card') {
    return this.slack.waitFor(
      () => {
        const card = this.cardFor(requestId);
        return card && predicate(card) && card;
      },
      8000,
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

  async waitForDm(user, pattern, description = 'a DM') {
    return this.slack.waitFor(
      () => this.dms(user).find((message) => pattern.test(message.text)),
      8000,
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

  async waitForBackend(action, requestId) {
    return this.slack.waitFor(
      () => this.backendCalls().find((call) => call.action === action && call.requestId === requestId),
      8000,
      `a backend ${action} of ${requestId}`,
    );
  }
}

const AWS = '--provider aws --role prod-infra-admin --scope 123456789012';

/// Runs `body` with a started bot, closes everything after, and shows jitbot's stderr on failure.
async function withBot(options, body) {
  const bot = new BotUnderTest(options);
  try {
    await bot.start();
    await body(bot);
  } catch (error) {
    error.message += `\n--- jitbot stderr ---\n${bot.stderr.slice(-4000)}`;
    throw error;
  } finally {
    await bot.close();
  }
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
const isActive = (card) => /Active until/.test(cardText(card)) && buttons(card).join() === 'jit_revoke';

module.exports = {
  AWS, BotUnderTest, USERS, APPROVALS, INCIDENTS, SRE_LEADS, cardText, buttons, isActive, withBot, writeConfig,
};
