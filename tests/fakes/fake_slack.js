'use strict';
/**
 * FakeSlack: an in-process fake of Slack's Web API and Socket Mode for jitbot's integration tests.
 *
 * The behaviour follows Slack's documented Web API and Socket Mode (api.slack.com/apis/socket-mode,
 * api.slack.com/web) and what the official SDKs do against them:
 *   - Web API at POST /api/<method> (form or JSON bodies, Bearer auth, token-type checks, Block Kit limits,
 *     per-tier token-bucket rate limits, injectable failures);
 *   - Socket Mode at /link/?ticket=… (single-use tickets from apps.connections.open, hello, envelopes delivered to
 *     one random live socket, acks with a deadline, events_api redelivery, disconnect/drop/half-open faults);
 *   - response_url endpoints at /response/<id> (5 uses within 30 minutes, then 404).
 *
 * Everything listens on 127.0.0.1 on a random port. All timestamps recorded for observation (atMs, opened, closed,
 * latencyMs) are milliseconds from process.hrtime (monotonic, float), not wall-clock time.
 *
 * CommonJS; depends only on `ws` and Node built-ins.
 *
 * API index (details at each method):
 *   lifecycle   new FakeSlack(opts) (see FakeSlack.DEFAULTS), start(), stop(), port, apiUrl, baseUrl, wsBaseUrl
 *   directory   addUser, addUsergroup, addChannel, dmChannel
 *   driving     slashCommand, clickButton, shortcut, submitView, sendInteractive, sendEvent, sendRaw
 *   acks        waitForAck, acks, timedOut, eventTimeouts, deliveries, queued
 *   faults      disconnect, dropSockets, halfOpen, linkDisabled/linkEnabled, injectError, injectLatency,
 *               clearInjectedErrors, rejectUpgrades, setRateLimits (injectError/injectLatency take `when` to pick
 *               calls by their arguments, and count: Infinity for a fault that never goes away)
 *   observing   connections, liveConnections, connectionLog, upgradeRejections, apiCalls, callsTo, messages,
 *               message, responses, ephemerals, views, clientErrors, waitFor, clearLogs
 *   events      'connection', 'close', 'delivery', 'ack', 'timeout', 'api', 'message', 'response', 'ephemeral',
 *               'view', 'client_error'
 */
const http = require('node:http');
const https = require('node:https');
const crypto = require('node:crypto');
const { EventEmitter } = require('node:events');
const { isUtf8 } = require('node:buffer');
const { WebSocketServer, WebSocket } = require('ws');

/** Monotonic milliseconds (float) from process.hrtime. */
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

// ---------------------------------------------------------------------------------------------------------------
// Rate-limit tables (protocol doc section 2). Tier rates are per method per workspace; chat.postMessage is "Special":
// about 1 message per second per channel with short bursts.
// ---------------------------------------------------------------------------------------------------------------
const METHOD_TIERS = {
  'apps.connections.open': 1,
  'auth.test': 4, // "Special" in the docs, very generous; treated as Tier 4 here
  'chat.postMessage': 'special',
  'chat.update': 3,
  'chat.delete': 3,
  'chat.postEphemeral': 4,
  'conversations.open': 3,
  'users.info': 4,
  'users.lookupByEmail': 3,
  'usergroups.users.list': 2,
  'views.open': 4,
  'views.update': 4,
  'views.push': 4,
  'views.publish': 4,
};

const DEFAULT_RATE_LIMITS = {
  // perMinute: sustained rate; burst: bucket capacity (Slack "tolerates a small amount of burst behaviour").
  tiers: {
    1: { perMinute: 1, burst: 3 },
    2: { perMinute: 20, burst: 5 },
    3: { perMinute: 50, burst: 10 },
    4: { perMinute: 100, burst: 20 },
  },
  postMessagePerChannel: { perSecond: 1, burst: 3 },
};

/** Arguments that clients send JSON-stringified inside form bodies (protocol doc section 2). */
const NESTED_JSON_ARGS = new Set(['blocks', 'attachments', 'view', 'metadata', 'unfurls', 'user_auth_blocks']);

class TokenBucket {
  constructor(perMs, burst) {
    this.perMs = perMs;
    this.capacity = burst;
    this.tokens = burst;
    this.last = nowMs();
  }

  /** Takes one token. Returns 0 on success, otherwise the milliseconds until a token will be available. */
  take(t = nowMs()) {
    this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.perMs);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.perMs;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Block Kit validation (limits from protocol doc section 4). Error strings imitate Slack's
// "must be less than 3001 characters [json-pointer:/blocks/0/text/text]".
// ---------------------------------------------------------------------------------------------------------------
const INTERACTIVE_ELEMENT_TYPES = new Set([
  'button', 'static_select', 'external_select', 'users_select', 'conversations_select', 'channels_select',
  'multi_static_select', 'multi_external_select', 'multi_users_select', 'multi_conversations_select',
  'multi_channels_select', 'overflow', 'datepicker', 'timepicker', 'datetimepicker', 'checkboxes', 'radio_buttons',
  'plain_text_input', 'email_text_input', 'url_text_input', 'number_input', 'rich_text_input', 'workflow_button',
  'file_input',
]);
const KNOWN_BLOCK_TYPES = new Set([
  'section', 'actions', 'context', 'divider', 'header', 'image', 'input', 'rich_text', 'markdown', 'file', 'video',
  'table', 'context_actions',
]);

function validateBlocks(blocks, { maxBlocks = 50, pointer = '/blocks' } = {}) {
  const errors = [];
  const fail = (msg, ptr) => errors.push(`${msg} [json-pointer:${ptr}]`);
  const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

  const checkText = (t, ptr, { max, plainOnly = false } = {}) => {
    if (!isObj(t)) return fail('must be a text object', ptr);
    if (t.type !== 'plain_text' && t.type !== 'mrkdwn') return fail('must be either "plain_text" or "mrkdwn"', `${ptr}/type`);
    if (plainOnly && t.type !== 'plain_text') return fail('must be "plain_text"', `${ptr}/type`);
    if (typeof t.text !== 'string' || t.text.length < 1) return fail('must be more than 0 characters', `${ptr}/text`);
    if (max && t.text.length > max) fail(`must be less than ${max + 1} characters`, `${ptr}/text`);
  };

  const checkElement = (el, ptr, actionIds) => {
    if (!isObj(el)) return fail('must be an object', ptr);
    if (!INTERACTIVE_ELEMENT_TYPES.has(el.type) && el.type !== 'image') return fail('unsupported element type', `${ptr}/type`);
    if (el.action_id !== undefined) {
      if (typeof el.action_id !== 'string' || el.action_id.length < 1) fail('must be more than 0 characters', `${ptr}/action_id`);
      else if (el.action_id.length > 255) fail('must be less than 256 characters', `${ptr}/action_id`);
      else if (actionIds) {
        if (actionIds.has(el.action_id)) fail('duplicate action_id', `${ptr}/action_id`);
        actionIds.add(el.action_id);
      }
    }
    if (el.type === 'button') {
      checkText(el.text, `${ptr}/text`, { max: 75, plainOnly: true });
      if (el.value !== undefined && (typeof el.value !== 'string' || el.value.length > 2000)) fail('must be less than 2001 characters', `${ptr}/value`);
      if (el.url !== undefined && (typeof el.url !== 'string' || el.url.length > 3000)) fail('must be less than 3001 characters', `${ptr}/url`);
      if (el.style !== undefined && el.style !== 'primary' && el.style !== 'danger') fail('must be either "primary" or "danger"', `${ptr}/style`);
    }
  };

  if (!Array.isArray(blocks)) {
    fail('must be an array', pointer);
    return errors;
  }
  if (blocks.length > maxBlocks) fail(`no more than ${maxBlocks} items allowed`, pointer);
  const blockIds = new Set();
  blocks.forEach((b, i) => {
    const p = `${pointer}/${i}`;
    if (!isObj(b)) return fail('must be an object', p);
    if (b.block_id !== undefined) {
      if (typeof b.block_id !== 'string' || b.block_id.length < 1) fail('must be more than 0 characters', `${p}/block_id`);
      else if (b.block_id.length > 255) fail('must be less than 256 characters', `${p}/block_id`);
      else if (blockIds.has(b.block_id)) fail('duplicate block_id', `${p}/block_id`);
      else blockIds.add(b.block_id);
    }
    if (!KNOWN_BLOCK_TYPES.has(b.type)) return fail('unsupported block type', `${p}/type`);
    switch (b.type) {
      case 'section':
        if (b.text === undefined && b.fields === undefined && b.expand === undefined) fail('must provide either text or fields', p);
        if (b.text !== undefined) checkText(b.text, `${p}/text`, { max: 3000 });
        if (b.fields !== undefined) {
          if (!Array.isArray(b.fields)) fail('must be an array', `${p}/fields`);
          else {
            if (b.fields.length > 10) fail('no more than 10 items allowed', `${p}/fields`);
            b.fields.forEach((f, j) => checkText(f, `${p}/fields/${j}`, { max: 2000 }));
          }
        }
        if (b.accessory !== undefined) checkElement(b.accessory, `${p}/accessory`, null);
        break;
      case 'actions':
        if (!Array.isArray(b.elements) || b.elements.length < 1) fail('must contain at least 1 item', `${p}/elements`);
        else {
          if (b.elements.length > 25) fail('no more than 25 items allowed', `${p}/elements`);
          const ids = new Set();
          b.elements.forEach((el, j) => checkElement(el, `${p}/elements/${j}`, ids));
        }
        break;
      case 'context':
        if (!Array.isArray(b.elements) || b.elements.length < 1) fail('must contain at least 1 item', `${p}/elements`);
        else {
          if (b.elements.length > 10) fail('no more than 10 items allowed', `${p}/elements`);
          b.elements.forEach((el, j) => {
            if (isObj(el) && el.type === 'image') return;
            checkText(el, `${p}/elements/${j}`);
          });
        }
        break;
      case 'header':
        checkText(b.text, `${p}/text`, { max: 150, plainOnly: true });
        break;
      case 'markdown':
        if (typeof b.text !== 'string' || b.text.length < 1) fail('must be more than 0 characters', `${p}/text`);
        else if (b.text.length > 12000) fail('must be less than 12001 characters', `${p}/text`);
        break;
      case 'image':
        if (b.image_url === undefined && b.slack_file === undefined) fail('must provide image_url or slack_file', p);
        if (typeof b.alt_text !== 'string') fail('must be a string', `${p}/alt_text`);
        break;
      case 'input':
        checkText(b.label, `${p}/label`, { max: 2000, plainOnly: true });
        if (!isObj(b.element)) fail('must be an object', `${p}/element`);
        else checkElement(b.element, `${p}/element`, null);
        break;
      default:
        break; // rich_text, file, video, table: accepted without deeper checks
    }
  });
  return errors;
}

/** True when every name and value of a form body percent-decodes to well-formed UTF-8. */
function formIsUtf8(raw) {
  for (const part of raw.split('&')) {
    for (const piece of part.split('=')) {
      try {
        decodeURIComponent(piece.replace(/\+/g, ' '));
      } catch {
        return false; // decodeURIComponent throws URIError on ill-formed UTF-8
      }
    }
  }
  return true;
}

/** Deep copy of JSON-shaped data. */
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

/** A short random id like the block_ids Slack assigns to blocks sent without one. */
const randomShortId = (n = 5) => {
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (const byte of crypto.randomBytes(n)) s += abc[byte % abc.length];
  return s;
};

/** Slack fills in block_id (and action_id on interactive elements) when a message is stored without them. */
function assignMissingIds(blocks) {
  if (!Array.isArray(blocks)) return blocks;
  const out = clone(blocks);
  for (const b of out) {
    if (!b || typeof b !== 'object') continue;
    if (b.block_id === undefined) b.block_id = randomShortId();
    const els = [];
    if (b.type === 'actions' && Array.isArray(b.elements)) els.push(...b.elements);
    if (b.accessory) els.push(b.accessory);
    if (b.type === 'input' && b.element) els.push(b.element);
    for (const el of els) {
      if (el && typeof el === 'object' && INTERACTIVE_ELEMENT_TYPES.has(el.type) && el.action_id === undefined) {
        el.action_id = randomShortId();
      }
    }
  }
  return out;
}

const truthy = (v) => v === true || v === 'true' || v === '1' || v === 1;

// ---------------------------------------------------------------------------------------------------------------
// FakeSlack
// ---------------------------------------------------------------------------------------------------------------
class FakeSlack extends EventEmitter {
  /**
   * @param {object} [options] see DEFAULTS below for every option and its meaning.
   */
  constructor(options = {}) {
    super();
    this.opts = { ...FakeSlack.DEFAULTS, ...options };
    this.appToken = this.opts.appToken;
    this.botToken = this.opts.botToken;

    // Observation (public, read-only by convention)
    this.acks = new Map(); // envelope_id -> ack record
    this.timedOut = []; // envelope_ids of slash/interactive envelopes not acked in time ("user saw a timeout")
    this.eventTimeouts = []; // [{envelope_id, event_id, retry_attempt, atMs}] events_api envelopes not acked in time
    this.deliveries = []; // [{envelope_id, type, connectionId, atMs, retry_attempt}] every envelope written
    this.connectionLog = []; // [{id, opened, closed, url, ticket, closeCode, closeReason, closedBy, rejected}]
    //               closedBy: 'client' (the client sent a close frame first: it closed the socket cleanly), 'server' (the
    //               fake started the close handshake), 'drop' (no close frame from the client: TCP just ended)
    this.upgradeRejections = []; // [{status, url, atMs}]
    this.apiCalls = []; // [{method, args, status, ok, error, atMs, auth, tokenSource, contentType, response, injected,
    //               invalidUtf8 (the body was not valid UTF-8), clientGone (the client hung up before the answer),
    //               dropped (injectLatency dropIfGone: the call never took effect)}]
    this.ephemerals = []; // [{channel, user, text, blocks, message_ts, atMs}]
    this.clientErrors = []; // [{kind, connectionId, data, error, atMs}] malformed frames, unknown envelope ids …
    this.views = new Map(); // view id -> view object (modals opened with views.open/views.push)
    this.homeViews = new Map(); // user id -> {view, publishedMs, count}: App Home tabs published with views.publish

    // Directory and stored state
    this._users = new Map();
    this._usergroups = new Map();
    this._channels = new Map();
    this._dms = new Map(); // user id -> D… id
    this._dmIds = new Set();
    this._messages = new Map(); // channel id -> [message record]
    this._tickets = new Map(); // ticket -> {issuedMs, used}
    this._triggers = new Map(); // trigger_id -> {issuedMs, used, user}
    this._responseUrls = new Map(); // id -> {id, url, createdMs, uses, posts, rejected, ctx}
    this._envelopes = new Map(); // envelope_id -> internal record
    this._queue = []; // envelopes waiting for a live socket
    this._conns = new Set(); // live connection records
    this._timers = new Set();
    this._injections = [];
    this._ackWaiters = new Map(); // envelope_id -> Set of resolve functions (waitForAck)
    this._rejectUpgrades = 0;
    this._rejectUpgradeStatus = 409;
    this._linkDisabledError = null;
    this._buckets = new Map();
    this._seq = { ticket: 0, conn: 0, dm: 0, view: 0, trigger: 0 };
    this._lastTsMicros = 0n;
    this.setRateLimits(this.opts.rateLimits);

    this._methods = {
      'auth.test': (a, ctx) => this._authTest(a, ctx),
      'apps.connections.open': (a) => this._appsConnectionsOpen(a),
      'chat.postMessage': (a) => this._chatPostMessage(a),
      'chat.update': (a) => this._chatUpdate(a),
      'chat.delete': (a) => this._chatDelete(a),
      'chat.postEphemeral': (a) => this._chatPostEphemeral(a),
      'conversations.open': (a) => this._conversationsOpen(a),
      'users.info': (a) => this._usersInfo(a),
      'users.lookupByEmail': (a) => this._usersLookupByEmail(a),
      'usergroups.users.list': (a) => this._usergroupsUsersList(a),
      'views.open': (a) => this._viewsOpen(a, false),
      'views.push': (a) => this._viewsOpen(a, true),
      'views.update': (a) => this._viewsUpdate(a),
      'views.publish': (a) => this._viewsPublish(a),
    };
  }

  // =============================================================================================================
  // Lifecycle
  // =============================================================================================================

  async start() {
    if (this._server) throw new Error('FakeSlack already started');
    const handler = (req, res) => this._onRequest(req, res);
    this._server = this.opts.tls
      ? https.createServer({ key: this.opts.tls.key, cert: this.opts.tls.cert }, handler)
      : http.createServer(handler);
    // autoPong is off so that half-open sockets can stop answering pings; live sockets are ponged by hand.
    this._wss = new WebSocketServer({ noServer: true, autoPong: false, clientTracking: false });
    this._server.on('upgrade', (req, socket, head) => this._onUpgrade(req, socket, head));
    await new Promise((resolve, reject) => {
      this._server.once('error', reject);
      this._server.listen(0, this.opts.listenHost, () => {
        this._server.off('error', reject);
        resolve();
      });
    });
    this.port = this._server.address().port;
    const host = this.opts.host || (this.opts.tls ? 'localhost' : '127.0.0.1');
    this.baseUrl = `${this.opts.tls ? 'https' : 'http'}://${host}:${this.port}`;
    this.wsBaseUrl = `${this.opts.tls ? 'wss' : 'ws'}://${host}:${this.port}`;
    this.apiUrl = `${this.baseUrl}/api/`;
    return this;
  }

  async stop() {
    if (!this._server) return;
    for (const t of this._timers) clearTimeout(t);
    this._timers.clear();
    for (const conn of this._conns) {
      clearInterval(conn.pingTimer);
      conn.ws.terminate();
    }
    this._wss.close();
    const server = this._server;
    this._server = null;
    await new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // kill keep-alive HTTP connections so close() does not wait for them
    });
  }

  // =============================================================================================================
  // Directory
  // =============================================================================================================

  /** addUser({id, name, email, real_name, display_name, is_bot, deleted, tz}) */
  addUser(user) {
    if (!user || !user.id) throw new Error('addUser: id required');
    this._users.set(user.id, { name: user.id.toLowerCase(), ...user });
    return this;
  }

  addUsergroup(id, userIds = []) {
    this._usergroups.set(id, [...userIds]);
    return this;
  }

  /** addChannel({id, name, is_private=false, is_archived=false, is_member=true, members: [U…] | undefined}) */
  addChannel(ch) {
    if (!ch || !ch.id) throw new Error('addChannel: id required');
    this._channels.set(ch.id, { name: ch.id.toLowerCase(), is_private: false, is_archived: false, is_member: true, ...ch });
    return this;
  }

  /** The stable D… id that conversations.open gives this user (created on first use). */
  dmChannel(userId) {
    let id = this._dms.get(userId);
    if (!id) {
      id = `D0${String(++this._seq.dm).padStart(8, '0')}`;
      this._dms.set(userId, id);
      this._dmIds.add(id);
    }
    return id;
  }

  // =============================================================================================================
  // Observation helpers
  // =============================================================================================================

  /** Number of open sockets (including half-open and draining ones; excluding too_many_websockets rejects). */
  get connections() {
    let n = 0;
    for (const c of this._conns) if (!c.rejected && c.ws.readyState === WebSocket.OPEN) n++;
    return n;
  }

  /** Number of sockets envelopes can be delivered to (open, not half-open, not told to disconnect). */
  get liveConnections() {
    return this._liveConns().length;
  }

  /** Envelopes waiting for a live socket. */
  get queued() {
    return this._queue.length;
  }

  /** Forgets the observation logs (apiCalls, deliveries, acks, timedOut, …), e.g. between benchmark phases.
   *  Directory, messages, sockets and pending envelopes are kept. */
  clearLogs() {
    this.apiCalls = [];
    this.deliveries = [];
    this.acks = new Map();
    this.timedOut = [];
    this.eventTimeouts = [];
    this.ephemerals = [];
    this.clientErrors = [];
    this.upgradeRejections = [];
    this.connectionLog = this.connectionLog.filter((l) => l.closed === null);
  }

  callsTo(method) {
    return this.apiCalls.filter((c) => c.method === method);
  }

  /** Current (not deleted) messages of a channel id (a U… id means that user's DM). Live records, oldest first. */
  messages(channel) {
    const id = this._channelKey(channel);
    return (this._messages.get(id) || []).filter((m) => !m.deleted);
  }

  /** One message record (deleted ones too, with deleted:true), or undefined. */
  message(channel, ts) {
    const id = this._channelKey(channel);
    return (this._messages.get(id) || []).find((m) => m.ts === ts);
  }

  /** Posts made to a response_url (by URL or id), oldest first, including slash-command ack payloads (via:'ack'). */
  responses(urlOrId) {
    const rec = this._responseUrls.get(this._responseId(urlOrId));
    return rec ? rec.posts : [];
  }

  /** Polls predicate every 5 ms until it returns something truthy (which is returned); rejects on timeout. */
  waitFor(predicate, timeoutMs = 5000, description = 'condition') {
    const start = nowMs();
    return new Promise((resolve, reject) => {
      const tick = async () => {
        let v;
        try {
          v = await predicate();
        } catch (e) {
          reject(e);
          return;
        }
        if (v) return resolve(v);
        if (nowMs() - start >= timeoutMs) {
          return reject(new Error(`FakeSlack.waitFor timed out after ${timeoutMs} ms waiting for: ${description}`));
        }
        setTimeout(tick, 5);
      };
      tick();
    });
  }

  /** Resolves with the ack record {envelope_id, latencyMs, payload, late, …} (late ones too); rejects on timeout. */
  waitForAck(envelopeId, timeoutMs = 5000) {
    if (this.acks.has(envelopeId)) return Promise.resolve(this.acks.get(envelopeId));
    return new Promise((resolve, reject) => {
      // Waiters live in a map rather than as 'ack' listeners so that many concurrent waits do not trip
      // EventEmitter's max-listeners warning.
      const waiters = this._ackWaiters.get(envelopeId) || new Set();
      this._ackWaiters.set(envelopeId, waiters);
      const waiter = (ack) => {
        clearTimeout(timer);
        resolve(ack);
      };
      waiters.add(waiter);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        if (waiters.size === 0) this._ackWaiters.delete(envelopeId);
        const rec = this._envelopes.get(envelopeId);
        const state = !rec ? 'unknown envelope' : rec.sentMs == null ? 'never delivered (no live socket)' : `delivered to connection ${rec.connectionId}`;
        reject(new Error(`FakeSlack.waitForAck: no ack for ${envelopeId} within ${timeoutMs} ms (${rec ? rec.type : '?'}, ${state})`));
      }, timeoutMs);
    });
  }

  // =============================================================================================================
  // Driving: envelopes sent to the app
  // =============================================================================================================

  /**
   * A user typed a slash command. Returns {envelope_id, response_url, trigger_id, delivered, connectionId}.
   * Extra fields: channel_name, team_id, enterprise fields via `extra`.
   */
  slashCommand({ user, text = '', channel, command = '/jit', channel_name, extra = {} } = {}) {
    if (!user) throw new Error('slashCommand: user required');
    if (!channel) throw new Error('slashCommand: channel required');
    const u = this._users.get(user);
    const trigger_id = this._newTrigger(user);
    const response_url = this._newResponseUrl({ kind: 'command', channel, user });
    const payload = {
      token: this.opts.verificationToken,
      team_id: this.opts.teamId,
      team_domain: this.opts.teamDomain,
      channel_id: channel,
      channel_name: channel_name || this._channelName(channel),
      user_id: user,
      user_name: u ? u.name : user.toLowerCase(),
      command,
      text,
      api_app_id: this.opts.appId,
      is_enterprise_install: 'false', // a string in slash command payloads
      response_url,
      trigger_id,
      ...extra,
    };
    const rec = this._dispatch('slash_commands', payload, { accepts_response_payload: true, response_url });
    return { envelope_id: rec.envelope_id, response_url, trigger_id, delivered: rec.sentMs != null, connectionId: rec.connectionId };
  }

  /**
   * A user clicked a button that is on a stored message's *current* blocks. Throws if the message or the button
   * does not exist (or several buttons match: pass block_id or value to pick one).
   * Returns {envelope_id, response_url, trigger_id, delivered, connectionId}.
   */
  clickButton({ user, channel, ts, action_id, block_id, value } = {}) {
    if (!user) throw new Error('clickButton: user required');
    const msg = this.message(channel, ts);
    if (!msg || msg.deleted) throw new Error(`clickButton: no message ts=${ts} in channel ${channel}`);
    const found = [];
    for (const b of msg.blocks || []) {
      const els = [];
      if (b.type === 'actions' && Array.isArray(b.elements)) els.push(...b.elements);
      if (b.type === 'section' && b.accessory) els.push(b.accessory);
      for (const el of els) {
        if (el.type !== 'button' || el.action_id !== action_id) continue;
        if (block_id !== undefined && b.block_id !== block_id) continue;
        if (value !== undefined && el.value !== value) continue;
        found.push({ block: b, el });
      }
    }
    if (found.length === 0) {
      const have = [];
      for (const b of msg.blocks || []) {
        for (const el of [...(b.elements || []), ...(b.accessory ? [b.accessory] : [])]) {
          if (el && el.type === 'button') have.push(`${b.block_id}/${el.action_id}`);
        }
      }
      throw new Error(`clickButton: message ${channel}/${ts} has no button action_id=${action_id}` +
        `${block_id !== undefined ? ` block_id=${block_id}` : ''} (buttons: ${have.join(', ') || 'none'})`);
    }
    if (found.length > 1) {
      throw new Error(`clickButton: ${found.length} buttons with action_id=${action_id} on ${channel}/${ts}; pass block_id or value`);
    }
    const { block, el } = found[0];
    const channelId = msg.channel;
    const trigger_id = this._newTrigger(user);
    const response_url = this._newResponseUrl({ kind: 'interactive', channel: channelId, ts: msg.ts, user });
    const action = {
      type: 'button',
      action_id: el.action_id,
      block_id: block.block_id,
      text: clone(el.text),
      value: el.value,
      style: el.style,
      action_ts: this._wallTs(),
    };
    const payload = {
      type: 'block_actions',
      user: this._userRef(user),
      api_app_id: this.opts.appId,
      token: this.opts.verificationToken,
      container: { type: 'message', message_ts: msg.ts, channel_id: channelId, is_ephemeral: false },
      trigger_id,
      team: { id: this.opts.teamId, domain: this.opts.teamDomain },
      enterprise: null,
      is_enterprise_install: false,
      channel: { id: channelId, name: this._channelName(channelId) },
      message: this._publicMessage(msg),
      state: { values: {} },
      response_url,
      actions: [action],
    };
    const rec = this._dispatch('interactive', payload, { accepts_response_payload: false, response_url });
    return { envelope_id: rec.envelope_id, response_url, trigger_id, delivered: rec.sentMs != null, connectionId: rec.connectionId };
  }

  /**
   * A user submitted a modal opened with views.open. values: {block_id: {action_id: {type, value, …}}}.
   * The ack's response_action is applied to slack.views (errors → view.errors; update; push; clear).
   */
  submitView({ user, view_id, values = {}, accepts_response_payload = this.opts.viewSubmissionAcceptsResponsePayload } = {}) {
    const view = this.views.get(view_id);
    if (!view || view.state_closed) throw new Error(`submitView: no open view ${view_id}`);
    const submitted = clone(view);
    delete submitted.state_closed;
    delete submitted.errors;
    delete submitted.user;
    submitted.state = { values: clone(values) };
    const payload = {
      type: 'view_submission',
      team: { id: this.opts.teamId, domain: this.opts.teamDomain },
      user: this._userRef(user || view.user),
      api_app_id: this.opts.appId,
      token: this.opts.verificationToken,
      trigger_id: this._newTrigger(user || view.user),
      view: submitted,
      response_urls: [],
      is_enterprise_install: false,
      enterprise: null,
    };
    const rec = this._dispatch('interactive', payload, { accepts_response_payload, view_id });
    return { envelope_id: rec.envelope_id, trigger_id: payload.trigger_id, delivered: rec.sentMs != null };
  }

  /**
   * A user ran a global shortcut (the lightning-bolt menu or the search bar) with this callback_id. Slack sends it
   * as an "interactive" envelope whose payload has type "shortcut", a fresh trigger_id (3 s, single use) and no
   * response_url: a global shortcut belongs to no conversation. Returns {envelope_id, trigger_id, delivered,
   * connectionId}.
   */
  shortcut({ user, callback_id } = {}) {
    if (!user) throw new Error('shortcut: user required');
    if (!callback_id) throw new Error('shortcut: callback_id required');
    const trigger_id = this._newTrigger(user);
    const ref = this._userRef(user);
    const payload = {
      type: 'shortcut',
      token: this.opts.verificationToken,
      action_ts: this._wallTs(),
      team: { id: this.opts.teamId, domain: this.opts.teamDomain },
      user: { id: ref.id, username: ref.username, team_id: ref.team_id },
      is_enterprise_install: false,
      enterprise: null,
      callback_id,
      trigger_id,
    };
    const rec = this._dispatch('interactive', payload, { accepts_response_payload: false });
    return { envelope_id: rec.envelope_id, trigger_id, delivered: rec.sentMs != null, connectionId: rec.connectionId };
  }

  /** A raw (possibly forged) interactive payload. Returns {envelope_id, delivered, connectionId}. */
  sendInteractive(payload, { accepts_response_payload = false } = {}) {
    const rec = this._dispatch('interactive', payload, { accepts_response_payload });
    return { envelope_id: rec.envelope_id, delivered: rec.sentMs != null, connectionId: rec.connectionId };
  }

  /**
   * An Events API event (e.g. {type:'app_mention', user, text, channel, ts}). Not acked within the deadline →
   * redelivered with a new envelope_id, the same event_id, retry_attempt+1, retry_reason "timeout" (up to
   * maxEventRetries). Returns {envelope_id, event_id, delivered, connectionId}.
   */
  sendEvent(event, { event_id, event_time, retry_attempt = 0, retry_reason = '' } = {}) {
    const evId = event_id || `Ev${randomShortId(10).toUpperCase()}`;
    const payload = {
      token: this.opts.verificationToken,
      team_id: this.opts.teamId,
      api_app_id: this.opts.appId,
      type: 'event_callback',
      event_id: evId,
      event_time: event_time || Math.floor(Date.now() / 1000),
      event: clone(event),
      authorizations: [{ enterprise_id: null, team_id: this.opts.teamId, user_id: this.opts.botUserId, is_bot: true, is_enterprise_install: false }],
      is_ext_shared_channel: false,
      event_context: `1-${event && event.type}-${this.opts.teamId}-${(event && event.channel) || ''}`,
    };
    const rec = this._dispatch('events_api', payload, { accepts_response_payload: false, retry_attempt, retry_reason });
    return { envelope_id: rec.envelope_id, event_id: evId, delivered: rec.sentMs != null, connectionId: rec.connectionId };
  }

  /** Writes a raw frame (string → text frame, Buffer → binary frame). which: 'all' | 'random' | 'oldest' | id. */
  sendRaw(data, { which = 'all' } = {}) {
    const targets = this._select(which, this._liveConns());
    for (const c of targets) c.ws.send(data, { binary: Buffer.isBuffer(data) });
    return targets.map((c) => c.id);
  }

  // =============================================================================================================
  // Faults (protocol doc section 7.5)
  // =============================================================================================================

  /**
   * Sends {"type":"disconnect","reason":…} to the chosen sockets and stops delivering to them.
   * 'warning': the TCP connection is dropped (no close frame) warningDropMs later.
   * others (refresh_requested, link_disabled, …): the server closes the socket itself closeAfterMs later if the
   * client has not. Returns the affected connection ids.
   */
  disconnect(reason = 'refresh_requested', { which = 'all', warningDropMs = this.opts.warningDropMs, closeAfterMs = this.opts.refreshCloseMs } = {}) {
    const targets = this._select(which, this._liveConns());
    for (const conn of targets) {
      conn.draining = true;
      conn.ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'applink-fake' } }));
      if (reason === 'warning') {
        this._later(warningDropMs, () => conn.ws.terminate());
      } else {
        this._later(closeAfterMs, () => this._closeConn(conn, 1001, reason));
      }
    }
    return targets.map((c) => c.id);
  }

  /** Abrupt reset: destroys the TCP sockets without a close frame. Returns the affected connection ids. */
  dropSockets({ which = 'all' } = {}) {
    const targets = this._select(which, this._openConns());
    for (const conn of targets) conn.ws.terminate();
    return targets.map((c) => c.id);
  }

  /**
   * The chosen sockets go silent but TCP stays open: nothing more is sent on them (no envelopes, no pings, no
   * pongs) and nothing the client sends is read. After halfOpenTimeoutMs (null = never) the fake reaps them.
   */
  halfOpen({ which = 'all' } = {}) {
    const targets = this._select(which, this._liveConns());
    for (const conn of targets) {
      conn.halfOpen = true;
      conn.log.halfOpen = nowMs();
      clearInterval(conn.pingTimer);
      conn.ws.pause(); // stop reading the TCP socket: client pings, acks and close frames go unanswered
      if (this.opts.halfOpenTimeoutMs != null) this._later(this.opts.halfOpenTimeoutMs, () => conn.ws.terminate());
    }
    return targets.map((c) => c.id);
  }

  /** Socket Mode turned off: disconnect link_disabled, then apps.connections.open fails with `error`. */
  linkDisabled(error = 'link_disabled') {
    this._linkDisabledError = error;
    return this.disconnect('link_disabled', { closeAfterMs: this.opts.linkDisabledCloseMs });
  }

  linkEnabled() {
    this._linkDisabledError = null;
  }

  /**
   * The next `count` calls of `method` ('*' = any method), or only its nth call from now, fail:
   *   status 200 → {ok:false, error}; status 429 → Retry-After: retryAfter (default 1) + {ok:false,error:'ratelimited'};
   *   other status (5xx) → that status with {ok:false, error}. reset:true destroys the TCP connection instead.
   *   delayMs adds latency before the (failed) response. Returns the rule; rule.fired counts firings.
   *   when: (args, method) => boolean limits the rule to the calls it accepts (e.g. one channel or one user);
   *   other calls neither fire it nor count towards nth. count: Infinity makes the fault persistent, as a
   *   deleted channel or a deactivated user is for real.
   */
  injectError(method, { error = 'internal_error', status = 200, retryAfter = null, count = 1, nth = null, delayMs = 0, reset = false, extra = {}, when = null } = {}) {
    const rule = { method, error, status, retryAfter, remaining: count, nth, seen: 0, delayMs, reset, extra, fired: 0, when };
    this._injections.push(rule);
    return rule;
  }

  /**
   * Adds latency to the next `count` calls of `method` (those `when` accepts, if given) without failing them.
   * dropIfGone: the delay is on the way to Slack, so a call whose client hangs up (or dies) meanwhile never takes
   * effect; it is recorded with dropped: true as soon as the client hangs up (durationMs: how long the client waited).
   * Otherwise it takes effect and only the answer is lost. A delay longer than the test never ends: the call is
   * simply never answered.
   */
  injectLatency(method, delayMs, { count = 1, when = null, dropIfGone = false } = {}) {
    const rule = { method, latencyOnly: true, delayMs, remaining: count, nth: null, seen: 0, fired: 0, when, dropIfGone };
    this._injections.push(rule);
    return rule;
  }

  clearInjectedErrors() {
    this._injections = [];
  }

  /** The next n WebSocket upgrades are refused with HTTP `status` (409 by default). */
  rejectUpgrades(n = 1, status = 409) {
    this._rejectUpgrades = n;
    this._rejectUpgradeStatus = status;
  }

  /** false | true | {tiers:{1:{perMinute,burst},…}, postMessagePerChannel:{perSecond,burst}, methodTiers:{…}} */
  setRateLimits(v) {
    this._buckets.clear();
    if (!v) {
      this._rateLimits = null;
      return;
    }
    const o = v === true ? {} : v;
    this._rateLimits = {
      tiers: { ...DEFAULT_RATE_LIMITS.tiers, ...(o.tiers || {}) },
      postMessagePerChannel: { ...DEFAULT_RATE_LIMITS.postMessagePerChannel, ...(o.postMessagePerChannel || {}) },
      methodTiers: { ...METHOD_TIERS, ...(o.methodTiers || {}) },
    };
  }

  // =============================================================================================================
  // Internals: envelopes, delivery and acks
  // =============================================================================================================

  _dispatch(type, payload, { accepts_response_payload, retry_attempt = 0, retry_reason = '', response_url, view_id } = {}) {
    const envelope_id = crypto.randomUUID();
    const envelope = { envelope_id, type, accepts_response_payload: !!accepts_response_payload, payload };
    if (type === 'events_api') {
      envelope.retry_attempt = retry_attempt;
      envelope.retry_reason = retry_reason;
    }
    const rec = {
      envelope_id, type, envelope, response_url, view_id,
      createdMs: nowMs(), sentMs: null, connectionId: null, acked: false, deadlinePassed: false, deadlineStartMs: null,
    };
    this._envelopes.set(envelope_id, rec);
    if (type !== 'events_api') {
      // The user is already waiting: the 3 s clock runs from the action, even if no socket is up yet.
      rec.deadlineStartMs = rec.createdMs;
      this._later(this.opts.ackDeadlineMs, () => this._onUserFacingDeadline(rec));
    }
    this._deliverOrQueue(rec);
    return rec;
  }

  _deliverOrQueue(rec) {
    const live = this._liveConns();
    if (live.length === 0) {
      this._queue.push(rec);
      return;
    }
    this._write(live[Math.floor(this.opts.random() * live.length)], rec);
  }

  _write(conn, rec) {
    rec.sentMs = nowMs();
    rec.connectionId = conn.id;
    conn.ws.send(JSON.stringify(rec.envelope));
    this.deliveries.push({
      envelope_id: rec.envelope_id, type: rec.type, connectionId: conn.id, atMs: rec.sentMs,
      retry_attempt: rec.envelope.retry_attempt,
    });
    this.emit('delivery', { envelope_id: rec.envelope_id, type: rec.type, connectionId: conn.id, envelope: rec.envelope });
    if (rec.type === 'events_api') {
      rec.deadlineStartMs = rec.sentMs;
      this._later(this.opts.ackDeadlineMs, () => this._onEventDeadline(rec));
    }
  }

  _flushQueue() {
    const pending = this._queue;
    this._queue = [];
    for (const rec of pending) {
      if (rec.deadlinePassed) continue;
      this._deliverOrQueue(rec);
    }
  }

  _onUserFacingDeadline(rec) {
    if (rec.acked) return;
    rec.deadlinePassed = true;
    this._queue = this._queue.filter((r) => r !== rec); // Slack gives up on it; the user sees an error
    this.timedOut.push(rec.envelope_id);
    this.emit('timeout', { envelope_id: rec.envelope_id, type: rec.type });
  }

  _onEventDeadline(rec) {
    if (rec.acked) return;
    rec.deadlinePassed = true;
    const attempt = rec.envelope.retry_attempt;
    const event_id = rec.envelope.payload && rec.envelope.payload.event_id;
    this.eventTimeouts.push({ envelope_id: rec.envelope_id, event_id, retry_attempt: attempt, atMs: nowMs() });
    this.emit('timeout', { envelope_id: rec.envelope_id, type: rec.type, event_id, retry_attempt: attempt });
    if (attempt >= this.opts.maxEventRetries) return;
    const delays = this.opts.eventRetryDelaysMs;
    const delay = delays[Math.min(attempt, delays.length - 1)] || 0;
    this._later(delay, () => {
      // Same payload (so the same event_id), new envelope; may land on another socket.
      this._dispatch('events_api', rec.envelope.payload, {
        accepts_response_payload: rec.envelope.accepts_response_payload,
        retry_attempt: attempt + 1,
        retry_reason: 'timeout',
      });
    });
  }

  _onClientMessage(conn, data, isBinary) {
    const t = nowMs();
    if (conn.halfOpen) return;
    if (isBinary) {
      this._clientError('binary_frame', conn, data.toString('base64'));
      return;
    }
    const text = data.toString('utf8');
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (e) {
      this._clientError('malformed_json', conn, text, e.message);
      return;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.envelope_id !== 'string') {
      this._clientError('unexpected_message', conn, text);
      return;
    }
    const rec = this._envelopes.get(msg.envelope_id);
    if (!rec) {
      this._clientError('unknown_envelope_id', conn, text);
      return;
    }
    if (rec.acked) {
      this._clientError('duplicate_ack', conn, text);
      return;
    }
    rec.acked = true;
    const late = rec.deadlinePassed || t - rec.deadlineStartMs > this.opts.ackDeadlineMs;
    const hasPayload = Object.prototype.hasOwnProperty.call(msg, 'payload');
    const payload = hasPayload ? msg.payload : null;
    const ack = {
      envelope_id: rec.envelope_id,
      type: rec.type,
      latencyMs: t - rec.sentMs,
      payload,
      late,
      // 'bare' = {"envelope_id":X}; 'empty' = payload {}; 'payload' = a real payload
      form: !hasPayload ? 'bare' : payload && typeof payload === 'object' && Object.keys(payload).length === 0 ? 'empty' : 'payload',
      connectionId: conn.id,
      deliveredTo: rec.connectionId,
      atMs: t,
      retry_attempt: rec.envelope.retry_attempt,
      event_id: rec.type === 'events_api' ? rec.envelope.payload.event_id : undefined,
    };
    this.acks.set(rec.envelope_id, ack);

    // Only an on-time ack can still change what the user sees.
    if (!late && payload && typeof payload === 'object') {
      if (rec.type === 'slash_commands' && (payload.text !== undefined || payload.blocks !== undefined)) {
        this._ackAsResponse(rec, payload, conn);
      } else if (rec.view_id) {
        this._applyViewResponse(rec.view_id, payload);
      }
    } else if (!late && rec.view_id) {
      this._applyViewResponse(rec.view_id, {});
    }
    const waiters = this._ackWaiters.get(rec.envelope_id);
    if (waiters) {
      this._ackWaiters.delete(rec.envelope_id);
      for (const w of waiters) w(ack);
    }
    this.emit('ack', ack);
  }

  /** A slash command's ack payload is the message the user sees, recorded on that command's response_url. */
  _ackAsResponse(rec, payload, conn) {
    if (payload.blocks !== undefined) {
      const errs = validateBlocks(payload.blocks);
      if (errs.length) {
        this._clientError('invalid_ack_blocks', conn, JSON.stringify(payload), errs.join('; '));
        return;
      }
    }
    const r = this._responseUrls.get(this._responseId(rec.response_url));
    if (!r) return;
    const post = { ...clone(payload), via: 'ack', atMs: nowMs() };
    r.posts.push(post);
    if (payload.response_type === 'in_channel') this._postFromResponse(r, post);
    this.emit('response', { response_url: r.url, post });
  }

  _applyViewResponse(viewId, payload) {
    const view = this.views.get(viewId);
    if (!view) return;
    const action = payload.response_action;
    view.lastResponse = clone(payload);
    if (action === 'errors') {
      view.errors = clone(payload.errors);
    } else if (action === 'update' && payload.view) {
      Object.assign(view, clone(payload.view), { errors: undefined });
    } else if (action === 'push' && payload.view) {
      this._createView(payload.view, view.user, view.id);
    } else if (action === 'clear') {
      for (const v of this.views.values()) if (v.root_view_id === view.root_view_id) v.state_closed = true;
    } else {
      view.state_closed = true; // plain ack: the modal closes
    }
  }

  _clientError(kind, conn, data, error) {
    const rec = { kind, connectionId: conn ? conn.id : null, data, error, atMs: nowMs() };
    this.clientErrors.push(rec);
    this.emit('client_error', rec);
  }

  // =============================================================================================================
  // Internals: WebSocket connections
  // =============================================================================================================

  _onUpgrade(req, socket, head) {
    const url = new URL(req.url, 'http://fake');
    const refuse = (status, text) => {
      this.upgradeRejections.push({ status, url: req.url, atMs: nowMs() });
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    socket.on('error', () => {}); // a client resetting during the handshake must not crash the fake
    if (url.pathname !== '/link/' && url.pathname !== '/link') return refuse(404, 'Not Found');
    if (this._rejectUpgrades > 0) {
      this._rejectUpgrades--;
      return refuse(this._rejectUpgradeStatus, http.STATUS_CODES[this._rejectUpgradeStatus] || 'Refused');
    }
    const ticket = url.searchParams.get('ticket');
    const t = this._tickets.get(ticket);
    if (!t || t.used) return refuse(401, 'Unauthorized'); // tickets are single-use
    t.used = true;
    this._wss.handleUpgrade(req, socket, head, (ws) => this._onConnection(ws, req, url, ticket));
  }

  _onConnection(ws, req, url, ticket) {
    const id = ++this._seq.conn;
    const log = { id, opened: nowMs(), closed: null, url: req.url, ticket, closeCode: null, closeReason: null, closedBy: null, rejected: false };
    const conn = { id, ws, log, halfOpen: false, draining: false, rejected: false, serverClosing: false, pingTimer: null, lastPongMs: null };
    this.connectionLog.push(log);
    this._conns.add(conn);

    ws.on('message', (data, isBinary) => this._onClientMessage(conn, data, isBinary));
    ws.on('ping', (data) => {
      if (!conn.halfOpen) ws.pong(data);
    });
    ws.on('pong', () => {
      conn.lastPongMs = nowMs();
    });
    ws.on('error', (e) => this._clientError('ws_error', conn, null, e.message));
    ws.on('close', (code, reason) => {
      clearInterval(conn.pingTimer);
      log.closed = nowMs();
      log.closeCode = code;
      log.closeReason = reason ? reason.toString() : '';
      // ws reports 1006 exactly when no close frame arrived (1006 may never be sent on the wire).
      log.closedBy = code === 1006 ? 'drop' : conn.serverClosing ? 'server' : 'client';
      this._conns.delete(conn);
      this.emit('close', { id, code, reason: log.closeReason, log });
    });

    // At most maxSockets concurrent sockets per app; the extra one is told so and closed.
    const others = this._openConns().filter((c) => c !== conn && !c.rejected).length;
    if (others >= this.opts.maxSockets) {
      conn.rejected = true;
      log.rejected = true;
      ws.send(JSON.stringify({
        type: 'disconnect', reason: 'too_many_websockets', num_connections: others,
        debug_info: { host: 'applink-fake' }, connection_info: { app_id: this.opts.appId },
      }));
      conn.serverClosing = true;
      ws.close(1008, 'too_many_websockets');
      this._later(1000, () => ws.terminate());
      return;
    }

    ws.send(JSON.stringify({
      type: 'hello',
      num_connections: others + 1,
      debug_info: { host: 'applink-fake', build_number: 14, approximate_connection_time: 18060 },
      connection_info: { app_id: this.opts.appId },
    }));
    conn.pingTimer = setInterval(() => {
      if (!conn.halfOpen && ws.readyState === WebSocket.OPEN) ws.ping('Ping from applink-fake');
    }, this.opts.serverPingIntervalMs);
    conn.pingTimer.unref();
    if (truthy(url.searchParams.get('debug_reconnects'))) {
      // debug_reconnects=true shortens the connection's life (about 360 s on real Slack).
      this._later(this.opts.debugReconnectsLifetimeMs, () => {
        if (this._conns.has(conn)) this.disconnect('refresh_requested', { which: conn.id });
      });
    }
    this.emit('connection', { id, url: req.url, ticket, log });
    this._flushQueue();
  }

  _closeConn(conn, code, reason) {
    if (conn.ws.readyState !== WebSocket.OPEN) return;
    conn.serverClosing = true;
    conn.ws.close(code, reason);
    this._later(1000, () => conn.ws.terminate()); // the client might not complete the close handshake
  }

  _openConns() {
    return [...this._conns].filter((c) => c.ws.readyState === WebSocket.OPEN);
  }

  _liveConns() {
    return this._openConns().filter((c) => !c.halfOpen && !c.draining && !c.rejected);
  }

  /** which: 'all' | 'oldest' | 'newest' | 'random' | connection id | [ids] */
  _select(which, pool) {
    const sorted = [...pool].sort((a, b) => a.id - b.id);
    if (which === 'all' || which == null) return sorted;
    if (which === 'oldest') return sorted.slice(0, 1);
    if (which === 'newest') return sorted.slice(-1);
    if (which === 'random') return sorted.length ? [sorted[Math.floor(this.opts.random() * sorted.length)]] : [];
    const ids = new Set(Array.isArray(which) ? which : [which]);
    return sorted.filter((c) => ids.has(c.id));
  }

  _later(ms, fn) {
    const t = setTimeout(() => {
      this._timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this._timers.add(t);
    return t;
  }

  // =============================================================================================================
  // Internals: HTTP
  // =============================================================================================================

  async _onRequest(req, res) {
    try {
      const url = new URL(req.url, 'http://fake');
      if (url.pathname.startsWith('/api/')) return await this._handleApi(req, res, url);
      if (url.pathname.startsWith('/response/')) return await this._handleResponseUrl(req, res, url);
      this._sendJson(res, 404, { ok: false, error: 'not_found' });
    } catch (e) {
      if (!res.headersSent) this._sendJson(res, 500, { ok: false, error: 'fake_internal_error', detail: String(e && e.stack) });
    }
  }

  _sendJson(res, status, obj, headers = {}) {
    const body = JSON.stringify(obj);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(body);
  }

  _readBody(req) {
    return this._readBodyBytes(req).then((bytes) => bytes.toString('utf8'));
  }

  _readBodyBytes(req) {
    return new Promise((resolve, reject) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }

  async _handleApi(req, res, url) {
    const atMs = nowMs();
    const method = decodeURIComponent(url.pathname.slice('/api/'.length));
    const bytes = await this._readBodyBytes(req);
    const raw = bytes.toString('utf8');
    const contentType = (req.headers['content-type'] || '').toLowerCase();
    const isJson = contentType.startsWith('application/json');
    // Observation only: bodies are decoded as before (ill-formed bytes become U+FFFD), but the call records that
    // the client sent text that was not valid UTF-8, which real Slack would show as garbage or refuse.
    const invalidUtf8 = isJson ? !isUtf8(bytes) : !formIsUtf8(raw);

    const args = {};
    for (const [k, v] of url.searchParams) args[k] = v;
    let bodyError = null;
    if (isJson) {
      if (raw.trim()) {
        try {
          const parsed = JSON.parse(raw);
          if (parsed && typeof parsed === 'object') Object.assign(args, parsed);
        } catch {
          bodyError = 'invalid_json';
        }
      }
    } else {
      for (const [k, v] of new URLSearchParams(raw)) args[k] = v;
    }
    // Nested arguments arrive JSON-stringified (always in forms, sometimes in JSON bodies too).
    for (const k of NESTED_JSON_ARGS) {
      if (typeof args[k] === 'string') {
        try {
          args[k] = JSON.parse(args[k]);
        } catch {
          bodyError = bodyError || (k === 'blocks' ? 'invalid_blocks_format' : 'invalid_arguments');
        }
      }
    }

    // Token: the Authorization header, or (form bodies only, never for apps.connections.open) a token argument.
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization || '');
    const headerToken = m ? m[1] : undefined;
    const bodyToken = args.token;
    delete args.token;
    let token;
    let tokenSource = null;
    if (headerToken) {
      token = headerToken;
      tokenSource = 'header';
    } else if (bodyToken && !isJson && method !== 'apps.connections.open') {
      token = bodyToken;
      tokenSource = 'body';
    }
    const auth = token === undefined ? 'none' : token === this.botToken ? 'bot' : token === this.appToken ? 'app' : 'invalid';

    const call = { method, args, status: 200, ok: false, error: undefined, atMs, auth, tokenSource, contentType, response: undefined, injected: false, invalidUtf8 };
    const finish = (status, body, headers) => {
      // The client hung up (or died) before its answer was ready: the call took effect but the client never learns.
      call.clientGone = req.socket.destroyed;
      call.status = status;
      call.ok = !!body.ok;
      call.error = body.error;
      call.response = body;
      call.durationMs = nowMs() - atMs;
      this.apiCalls.push(call);
      this.emit('api', call);
      this._sendJson(res, status, body, headers);
    };

    // 1. Injected faults.
    const rule = this._matchInjection(method, args);
    if (rule) {
      if (rule.delayMs) await this._hold(rule.delayMs, rule.dropIfGone ? req.socket : null);
      if (rule.dropIfGone && req.socket.destroyed) {
        Object.assign(call, { status: 0, error: 'client_gone', clientGone: true, dropped: true, durationMs: nowMs() - atMs });
        this.apiCalls.push(call);
        this.emit('api', call);
        return;
      }
      if (!rule.latencyOnly) {
        call.injected = true;
        if (rule.reset) {
          call.status = 0;
          call.error = 'connection_reset';
          call.durationMs = nowMs() - atMs;
          this.apiCalls.push(call);
          this.emit('api', call);
          req.socket.destroy();
          return;
        }
        if (rule.status === 429) {
          return finish(429, { ok: false, error: 'ratelimited', ...rule.extra }, { 'Retry-After': String(rule.retryAfter ?? 1) });
        }
        return finish(rule.status, { ok: false, error: rule.error, ...rule.extra });
      }
    }

    // 2. Method, body and auth.
    const handler = this._methods[method];
    if (!handler) return finish(200, { ok: false, error: 'unknown_method', req_method: method });
    if (isJson && !headerToken) return finish(200, { ok: false, error: 'not_authed' }); // JSON requires Bearer
    const needs = method === 'apps.connections.open' ? 'app' : 'bot';
    if (auth === 'none') return finish(200, { ok: false, error: 'not_authed' });
    if (auth !== needs) {
      const wrongType = auth === 'bot' || auth === 'app';
      return finish(200, { ok: false, error: wrongType ? this.opts.wrongTokenTypeError : 'invalid_auth' });
    }
    if (bodyError) return finish(200, { ok: false, error: bodyError });

    // 3. Rate limits.
    const waitMs = this._rateLimitWait(method, args);
    if (waitMs > 0) {
      return finish(429, { ok: false, error: 'ratelimited' }, { 'Retry-After': String(Math.max(1, Math.ceil(waitMs / 1000))) });
    }

    // 4. The method itself.
    const result = handler(args, { auth });
    return finish(200, result);
  }

  /**
   * Waits `ms` before a call is answered; a call still waiting when the fake stops is never answered (its timer does
   * not keep the process alive). With `socket` (dropIfGone), the wait ends as soon as the client hangs up, so a call
   * the client gave up on is recorded when it gave up (durationMs: how long the client waited).
   */
  _hold(ms, socket = null) {
    return new Promise((resolve) => {
      let timer = null;
      const done = () => {
        if (timer) {
          clearTimeout(timer);
          this._timers.delete(timer);
        }
        if (socket) socket.off('close', done);
        resolve();
      };
      timer = this._later(Math.min(ms, 2 ** 31 - 1), done); // setTimeout takes a longer delay as 1 ms
      if (socket) {
        if (socket.destroyed) done();
        else socket.once('close', done);
      }
    });
  }

  _matchInjection(method, args = {}) {
    let hit = null;
    for (const rule of this._injections) {
      if (rule.method !== method && rule.method !== '*') continue;
      if (rule.when && !rule.when(args, method)) continue;
      if (rule.nth != null) {
        rule.seen++; // every call counts towards nth, even one that another rule fails
        if (!hit && rule.seen === rule.nth) hit = rule;
      } else if (!hit && rule.remaining > 0) {
        rule.remaining--;
        hit = rule;
      }
    }
    if (hit) {
      hit.fired++;
      if (hit.nth != null || hit.remaining === 0) this._injections = this._injections.filter((r) => r !== hit);
    }
    return hit;
  }

  _rateLimitWait(method, args) {
    const rl = this._rateLimits;
    if (!rl) return 0;
    const tier = rl.methodTiers[method];
    if (tier === 'special' && method === 'chat.postMessage') {
      const r = this._resolvePostChannel(args.channel);
      const key = `chat.postMessage:${r.id || args.channel}`;
      let b = this._buckets.get(key);
      if (!b) this._buckets.set(key, (b = new TokenBucket(rl.postMessagePerChannel.perSecond / 1000, rl.postMessagePerChannel.burst)));
      return b.take();
    }
    const t = rl.tiers[tier];
    if (!t) return 0;
    let b = this._buckets.get(method);
    if (!b) this._buckets.set(method, (b = new TokenBucket(t.perMinute / 60000, t.burst)));
    return b.take();
  }

  async _handleResponseUrl(req, res, url) {
    const raw = await this._readBody(req);
    const id = decodeURIComponent(url.pathname.slice('/response/'.length));
    const rec = this._responseUrls.get(id);
    if (req.method !== 'POST') return this._sendJson(res, 405, { ok: false, error: 'method_not_allowed' });
    if (!rec) return this._sendJson(res, 404, { ok: false, error: 'not_found' });
    const expired = nowMs() - rec.createdMs > this.opts.responseUrlTtlMs;
    if (expired || rec.uses >= this.opts.responseUrlMaxUses) {
      rec.rejected.push({ atMs: nowMs(), reason: expired ? 'expired' : 'used_up', body: raw });
      return this._sendJson(res, 404, { ok: false, error: expired ? 'expired_url' : 'used_url' });
    }
    let body;
    try {
      const ctype = (req.headers['content-type'] || '').toLowerCase();
      body = ctype.startsWith('application/x-www-form-urlencoded') ? JSON.parse(new URLSearchParams(raw).get('payload')) : JSON.parse(raw);
      if (!body || typeof body !== 'object') throw new Error('not an object');
    } catch {
      return this._sendJson(res, 400, { ok: false, error: 'invalid_payload' });
    }
    if (body.blocks !== undefined) {
      const errs = validateBlocks(body.blocks);
      if (errs.length) return this._sendJson(res, 400, { ok: false, error: 'invalid_blocks', errors: errs });
    }
    if (body.text === undefined && body.blocks === undefined && !truthy(body.delete_original)) {
      return this._sendJson(res, 400, { ok: false, error: 'no_text' });
    }
    rec.uses++;
    const post = { ...body, via: 'response_url', atMs: nowMs() };
    rec.posts.push(post);

    // Effects on stored messages.
    const ctx = rec.ctx;
    if (ctx.kind === 'interactive' && truthy(body.delete_original)) {
      const msg = this.message(ctx.channel, ctx.ts);
      if (msg && !msg.deleted) {
        msg.deleted = true;
        this.emit('message', { kind: 'deleted', channel: msg.channel, message: msg });
      }
    } else if (ctx.kind === 'interactive' && truthy(body.replace_original)) {
      const msg = this.message(ctx.channel, ctx.ts);
      if (msg && !msg.deleted) this._updateMessage(msg, { text: body.text ?? '', blocks: body.blocks ?? [] }, 'response_url');
    } else if (body.response_type === 'in_channel') {
      this._postFromResponse(rec, post);
    }
    this.emit('response', { response_url: rec.url, post });
    this._sendJson(res, 200, { ok: true });
  }

  /** An in_channel response becomes a real channel message (so its buttons can be clicked). */
  _postFromResponse(rec, post) {
    const channel = rec.ctx.channel;
    if (!channel) return;
    const msg = this._storeMessage(channel, { text: post.text ?? '', blocks: post.blocks, thread_ts: post.thread_ts }, 'response_url');
    post.ts = msg.ts;
  }

  // =============================================================================================================
  // Internals: ids, messages
  // =============================================================================================================

  _newTrigger(user) {
    const id = `${++this._seq.trigger}.${this.opts.teamId.replace(/\D/g, '') || '111'}.${crypto.randomBytes(16).toString('hex')}`;
    this._triggers.set(id, { issuedMs: nowMs(), used: false, user });
    return id;
  }

  _newResponseUrl(ctx) {
    const id = crypto.randomBytes(12).toString('hex');
    const url = `${this.baseUrl}/response/${id}`;
    this._responseUrls.set(id, { id, url, createdMs: nowMs(), uses: 0, posts: [], rejected: [], ctx });
    return url;
  }

  _responseId(urlOrId) {
    if (typeof urlOrId !== 'string') return undefined;
    const i = urlOrId.lastIndexOf('/response/');
    return i >= 0 ? urlOrId.slice(i + '/response/'.length) : urlOrId;
  }

  /** Message ts: "<seconds>.<6 digits>", unique and strictly increasing. */
  _nextTs() {
    let us = BigInt(Date.now()) * 1000n;
    if (us <= this._lastTsMicros) us = this._lastTsMicros + 1n;
    this._lastTsMicros = us;
    return `${us / 1000000n}.${String(us % 1000000n).padStart(6, '0')}`;
  }

  _wallTs() {
    const us = BigInt(Date.now()) * 1000n + BigInt(Math.floor(Math.random() * 1000));
    return `${us / 1000000n}.${String(us % 1000000n).padStart(6, '0')}`;
  }

  _userRef(userId) {
    const u = this._users.get(userId);
    const name = u ? u.name : String(userId).toLowerCase();
    return { id: userId, username: name, name, team_id: this.opts.teamId };
  }

  _channelName(id) {
    const c = this._channels.get(id);
    if (c) return c.name;
    if (this._dmIds.has(id) || /^D/.test(id)) return 'directmessage';
    return 'unknown';
  }

  /** Key under which messages of `channel` are stored: channel ids as-is; a user id maps to its DM. */
  _channelKey(channel) {
    if (/^[UW]/.test(channel || '') && this._dms.has(channel)) return this._dms.get(channel);
    if (!this._channels.has(channel) && !this._dmIds.has(channel)) {
      const byName = this._channelByName(channel);
      if (byName) return byName.id;
    }
    return channel;
  }

  _channelByName(name) {
    const n = String(name || '').replace(/^#/, '');
    for (const c of this._channels.values()) if (c.name === n) return c;
    return undefined;
  }

  /** chat.postMessage / postEphemeral channel argument → {id} or {error}. */
  _resolvePostChannel(channel) {
    if (!channel) return { error: 'channel_not_found' };
    const c = this._channels.get(channel) || this._channelByName(channel);
    if (c) {
      if (c.is_archived) return { error: 'is_archived', id: c.id };
      if (!c.is_member) return { error: 'not_in_channel', id: c.id };
      return { id: c.id };
    }
    if (this._dmIds.has(channel)) return { id: channel };
    // Posting to a user id posts to the app's DM with that user.
    if (/^[UW]/.test(channel) && this._users.has(channel)) return { id: this.dmChannel(channel) };
    return { error: 'channel_not_found' };
  }

  _storeMessage(channel, { text, blocks, attachments, thread_ts, reply_broadcast, metadata }, via) {
    const msg = {
      type: 'message',
      channel,
      ts: this._nextTs(),
      text: text ?? '',
      blocks: blocks === undefined ? undefined : assignMissingIds(blocks),
      attachments: clone(attachments),
      thread_ts,
      // A thread reply also shown in the channel (chat.postMessage reply_broadcast: it only means something with
      // thread_ts); Slack gives such a message the subtype thread_broadcast.
      reply_broadcast: Boolean(reply_broadcast && thread_ts !== undefined),
      metadata: clone(metadata),
      user: this.opts.botUserId,
      bot_id: this.opts.botId,
      app_id: this.opts.appId,
      team: this.opts.teamId,
      updates: [],
      deleted: false,
      postedAtMs: nowMs(),
      via,
    };
    if (!this._messages.has(channel)) this._messages.set(channel, []);
    this._messages.get(channel).push(msg);
    this.emit('message', { kind: 'posted', channel, message: msg });
    return msg;
  }

  _updateMessage(msg, { text, blocks, attachments, metadata }, via) {
    msg.updates.push({ text: msg.text, blocks: msg.blocks, attachments: msg.attachments, metadata: msg.metadata, atMs: nowMs(), via: msg.lastVia || msg.via });
    // Omitted fields keep their previous value (Slack retains blocks/attachments not given to chat.update).
    if (text !== undefined) msg.text = text;
    if (blocks !== undefined) msg.blocks = assignMissingIds(blocks);
    if (attachments !== undefined) msg.attachments = clone(attachments);
    if (metadata !== undefined) msg.metadata = clone(metadata);
    msg.edited = { user: this.opts.botUserId, ts: this._wallTs() };
    msg.lastVia = via;
    msg.updatedAtMs = nowMs();
    this.emit('message', { kind: 'updated', channel: msg.channel, message: msg });
  }

  _publicMessage(msg) {
    const out = {
      type: 'message', subtype: msg.reply_broadcast ? 'thread_broadcast' : undefined, text: msg.text, user: msg.user,
      bot_id: msg.bot_id, app_id: msg.app_id,
      blocks: clone(msg.blocks), attachments: clone(msg.attachments), ts: msg.ts, thread_ts: msg.thread_ts,
      team: msg.team, edited: clone(msg.edited), metadata: clone(msg.metadata),
    };
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out;
  }

  /** Shared content checks of chat.postMessage / chat.update / chat.postEphemeral. */
  _checkContent(a, { requireContent = true } = {}) {
    if (requireContent && (a.text === undefined || a.text === '') && a.blocks === undefined && a.attachments === undefined) {
      return { ok: false, error: 'no_text' };
    }
    if (typeof a.text === 'string' && a.text.length > 40000) return { ok: false, error: 'msg_too_long' };
    if (a.blocks !== undefined) {
      const errs = validateBlocks(a.blocks);
      if (errs.length) {
        return { ok: false, error: 'invalid_blocks', errors: errs, response_metadata: { messages: errs.map((e) => `[ERROR] ${e}`) } };
      }
    }
    return null;
  }

  // =============================================================================================================
  // Web API methods
  // =============================================================================================================

  _authTest() {
    return {
      ok: true, url: `https://${this.opts.teamDomain}.slack.com/`, team: this.opts.teamName, user: this.opts.botUserName,
      team_id: this.opts.teamId, user_id: this.opts.botUserId, bot_id: this.opts.botId, is_enterprise_install: false,
    };
  }

  _appsConnectionsOpen() {
    if (this._linkDisabledError) return { ok: false, error: this._linkDisabledError };
    const ticket = String(++this._seq.ticket);
    this._tickets.set(ticket, { issuedMs: nowMs(), used: false });
    return { ok: true, url: `${this.wsBaseUrl}/link/?ticket=${ticket}&app_id=${this.opts.appId}` };
  }

  _chatPostMessage(a) {
    const r = this._resolvePostChannel(a.channel);
    if (r.error) return { ok: false, error: r.error };
    const bad = this._checkContent(a);
    if (bad) return bad;
    const msg = this._storeMessage(r.id, {
      text: a.text, blocks: a.blocks, attachments: a.attachments, metadata: a.metadata,
      thread_ts: a.thread_ts === undefined || a.thread_ts === '' ? undefined : String(a.thread_ts),
      reply_broadcast: truthy(a.reply_broadcast),
    }, 'chat.postMessage');
    return { ok: true, channel: r.id, ts: msg.ts, message: this._publicMessage(msg) };
  }

  _chatUpdate(a) {
    const channel = a.channel;
    if (!channel || (!this._channels.has(channel) && !this._dmIds.has(channel))) return { ok: false, error: 'channel_not_found' };
    const msg = this.message(channel, a.ts === undefined ? undefined : String(a.ts));
    if (!msg || msg.deleted) return { ok: false, error: 'message_not_found' };
    if (msg.user !== this.opts.botUserId) return { ok: false, error: 'cant_update_message' };
    const bad = this._checkContent(a);
    if (bad) return bad;
    this._updateMessage(msg, { text: a.text, blocks: a.blocks, attachments: a.attachments, metadata: a.metadata }, 'chat.update');
    return { ok: true, channel, ts: msg.ts, text: msg.text, message: this._publicMessage(msg) };
  }

  _chatDelete(a) {
    if (!this._channels.has(a.channel) && !this._dmIds.has(a.channel)) return { ok: false, error: 'channel_not_found' };
    const msg = this.message(a.channel, a.ts === undefined ? undefined : String(a.ts));
    if (!msg || msg.deleted) return { ok: false, error: 'message_not_found' };
    msg.deleted = true;
    this.emit('message', { kind: 'deleted', channel: msg.channel, message: msg });
    return { ok: true, channel: a.channel, ts: msg.ts };
  }

  _chatPostEphemeral(a) {
    const r = this._resolvePostChannel(a.channel);
    if (r.error) return { ok: false, error: r.error };
    if (!a.user) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: ['[ERROR] missing required field: user'] } };
    if (!this._users.has(a.user)) return { ok: false, error: 'user_not_found' };
    const c = this._channels.get(r.id);
    if (c && Array.isArray(c.members) && !c.members.includes(a.user)) return { ok: false, error: 'user_not_in_channel' };
    const bad = this._checkContent(a);
    if (bad) return bad;
    const message_ts = this._nextTs();
    const e = { channel: r.id, user: a.user, text: a.text, blocks: clone(a.blocks), thread_ts: a.thread_ts, message_ts, atMs: nowMs() };
    this.ephemerals.push(e);
    this.emit('ephemeral', e);
    return { ok: true, message_ts };
  }

  _conversationsOpen(a) {
    if (a.channel) {
      if (this._dmIds.has(a.channel) || this._channels.has(a.channel)) return { ok: true, channel: { id: a.channel } };
      return { ok: false, error: 'channel_not_found' };
    }
    const users = Array.isArray(a.users) ? a.users : String(a.users || '').split(',').map((s) => s.trim()).filter(Boolean);
    if (users.length === 0) return { ok: false, error: 'users_list_not_supplied' };
    for (const u of users) if (!this._users.has(u)) return { ok: false, error: 'user_not_found' };
    if (users.length > 8) return { ok: false, error: 'too_many_users' };
    if (users.length === 1) {
      const id = this.dmChannel(users[0]);
      const channel = { id };
      if (truthy(a.return_im)) Object.assign(channel, { is_im: true, user: users[0], created: Math.floor(Date.now() / 1000), is_open: true });
      return { ok: true, channel };
    }
    // A group DM: a stable G… id per sorted set of users.
    const key = [...users].sort().join(',');
    let id = this._dms.get(key);
    if (!id) {
      id = `G0${String(++this._seq.dm).padStart(8, '0')}`;
      this._dms.set(key, id);
      this._dmIds.add(id);
    }
    return { ok: true, channel: { id } };
  }

  _userObject(u) {
    return {
      id: u.id, team_id: this.opts.teamId, name: u.name, deleted: !!u.deleted, real_name: u.real_name ?? u.name,
      tz: u.tz ?? 'Europe/London', is_bot: !!u.is_bot, is_admin: !!u.is_admin, is_app_user: false,
      profile: {
        email: u.email, real_name: u.real_name ?? u.name, display_name: u.display_name ?? u.name,
        real_name_normalized: u.real_name ?? u.name, display_name_normalized: u.display_name ?? u.name, team: this.opts.teamId,
      },
    };
  }

  _usersInfo(a) {
    const u = this._users.get(a.user);
    if (!u) return { ok: false, error: 'user_not_found' };
    return { ok: true, user: this._userObject(u) };
  }

  _usersLookupByEmail(a) {
    for (const u of this._users.values()) {
      if (u.email && a.email && u.email.toLowerCase() === String(a.email).toLowerCase()) return { ok: true, user: this._userObject(u) };
    }
    return { ok: false, error: 'users_not_found' };
  }

  _usergroupsUsersList(a) {
    if (!a.usergroup) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: ['[ERROR] missing required field: usergroup'] } };
    const users = this._usergroups.get(a.usergroup);
    if (!users) return { ok: false, error: 'no_such_subteam' };
    return { ok: true, users: [...users] };
  }

  _checkView(view) {
    const messages = [];
    if (!view || typeof view !== 'object') messages.push('[ERROR] missing required field: view');
    else {
      if (view.type !== 'modal') messages.push('[ERROR] must be "modal" [json-pointer:/view/type]');
      const title = view.title && view.title.text;
      if (typeof title !== 'string' || title.length < 1 || title.length > 24) messages.push('[ERROR] must be between 1 and 24 characters [json-pointer:/view/title/text]');
      for (const k of ['submit', 'close']) {
        if (view[k] !== undefined && (!view[k] || typeof view[k].text !== 'string' || view[k].text.length > 24)) messages.push(`[ERROR] must be less than 25 characters [json-pointer:/view/${k}/text]`);
      }
      if (view.private_metadata !== undefined && String(view.private_metadata).length > 3000) messages.push('[ERROR] must be less than 3001 characters [json-pointer:/view/private_metadata]');
      if (view.callback_id !== undefined && String(view.callback_id).length > 255) messages.push('[ERROR] must be less than 256 characters [json-pointer:/view/callback_id]');
      for (const e of validateBlocks(view.blocks || [], { maxBlocks: 100, pointer: '/view/blocks' })) messages.push(`[ERROR] ${e}`);
    }
    return messages.length ? { ok: false, error: 'invalid_arguments', response_metadata: { messages } } : null;
  }

  _checkTrigger(id) {
    const t = this._triggers.get(id);
    if (!t) return { error: 'invalid_trigger_id' };
    if (t.used) return { error: 'exchanged_trigger_id' };
    if (nowMs() - t.issuedMs > this.opts.triggerTtlMs) return { error: 'expired_trigger_id' };
    return { t };
  }

  _createView(viewArg, user, previousId) {
    const id = `V0${String(++this._seq.view).padStart(8, '0')}`;
    const prev = previousId ? this.views.get(previousId) : null;
    const view = {
      id, team_id: this.opts.teamId, type: viewArg.type, callback_id: viewArg.callback_id ?? '',
      private_metadata: viewArg.private_metadata ?? '', external_id: viewArg.external_id ?? '',
      title: clone(viewArg.title), submit: clone(viewArg.submit), close: clone(viewArg.close),
      blocks: assignMissingIds(viewArg.blocks || []), state: { values: {} },
      hash: `${Math.floor(Date.now() / 1000)}.${randomShortId(8)}`, previous_view_id: prev ? prev.id : null,
      root_view_id: prev ? prev.root_view_id : id, app_id: this.opts.appId, app_installed_team_id: this.opts.teamId,
      bot_id: this.opts.botId, clear_on_close: !!viewArg.clear_on_close, notify_on_close: !!viewArg.notify_on_close,
      user,
    };
    this.views.set(id, view);
    this.emit('view', { kind: 'opened', view });
    return view;
  }

  _publicView(v) {
    const out = clone(v);
    delete out.user;
    delete out.state_closed;
    delete out.errors;
    delete out.lastResponse;
    return out;
  }

  _viewsOpen(a, push) {
    const tr = this._checkTrigger(a.trigger_id);
    if (tr.error) return { ok: false, error: tr.error };
    const bad = this._checkView(a.view);
    if (bad) return bad;
    tr.t.used = true;
    let previous = null;
    if (push) {
      // push stacks on the user's most recent open view
      for (const v of this.views.values()) if (v.user === tr.t.user && !v.state_closed) previous = v.id;
    }
    const view = this._createView(a.view, tr.t.user, previous);
    return { ok: true, view: this._publicView(view) };
  }

  /** views.publish: a user's App Home tab. Needs no trigger_id; the view must be type "home" (docs.slack.dev). */
  _viewsPublish(a) {
    if (!a.user_id) return { ok: false, error: 'invalid_arguments', response_metadata: { messages: ['[ERROR] missing required field: user_id'] } };
    if (!this._users.has(a.user_id)) return { ok: false, error: 'user_not_found' };
    const view = a.view;
    const messages = [];
    if (!view || typeof view !== 'object') messages.push('[ERROR] missing required field: view');
    else {
      if (view.type !== 'home') messages.push('[ERROR] must be "home" [json-pointer:/view/type]');
      for (const e of validateBlocks(view.blocks || [], { maxBlocks: 100, pointer: '/view/blocks' })) messages.push(`[ERROR] ${e}`);
    }
    if (messages.length) return { ok: false, error: 'invalid_arguments', response_metadata: { messages } };
    const previous = this.homeViews.get(a.user_id);
    const published = { view: clone(view), publishedMs: nowMs(), count: previous ? previous.count + 1 : 1 };
    this.homeViews.set(a.user_id, published);
    this.emit('view', { kind: 'published', user: a.user_id, view: published.view });
    return { ok: true, view: { id: `V0HOME${a.user_id}`, type: 'home', blocks: clone(view.blocks) } };
  }

  _viewsUpdate(a) {
    let view = a.view_id ? this.views.get(a.view_id) : undefined;
    if (!view && a.external_id) view = [...this.views.values()].find((v) => v.external_id === a.external_id);
    if (!view) return { ok: false, error: 'not_found' };
    if (a.hash && a.hash !== view.hash) return { ok: false, error: 'hash_conflict' };
    const bad = this._checkView(a.view);
    if (bad) return bad;
    Object.assign(view, {
      callback_id: a.view.callback_id ?? view.callback_id, private_metadata: a.view.private_metadata ?? '',
      title: clone(a.view.title), submit: clone(a.view.submit), close: clone(a.view.close),
      blocks: assignMissingIds(a.view.blocks || []), hash: `${Math.floor(Date.now() / 1000)}.${randomShortId(8)}`,
    });
    this.emit('view', { kind: 'updated', view });
    return { ok: true, view: this._publicView(view) };
  }
}

/** Every option, with its default. */
FakeSlack.DEFAULTS = {
  appToken: 'xapp-1-A111-test',
  botToken: 'xoxb-111-test',
  appId: 'A111',
  teamId: 'T111',
  teamDomain: 'acme',
  teamName: 'Acme',
  botUserId: 'UBOT',
  botUserName: 'jitbot',
  botId: 'BBOT',
  verificationToken: 'x', // the deprecated `token` field inside payloads
  listenHost: '127.0.0.1',
  host: null, // host used in the URLs handed out; default 127.0.0.1, or localhost when tls
  tls: null, // {key, cert} PEM strings → https + wss
  ackDeadlineMs: 3000,
  serverPingIntervalMs: 5000,
  maxSockets: 10,
  rateLimits: false,
  warningDropMs: 10000, // disconnect 'warning' → TCP drop this much later
  refreshCloseMs: 10000, // disconnect refresh_requested (etc.) → server closes the socket this much later
  linkDisabledCloseMs: 1000,
  halfOpenTimeoutMs: 30000, // half-open sockets are reaped after this (null = never)
  debugReconnectsLifetimeMs: 360000,
  maxEventRetries: 3,
  eventRetryDelaysMs: [0, 0, 0], // delay before retry 1, 2, 3 after the ack deadline (real HTTP: 0, 1 min, 5 min)
  triggerTtlMs: 3000,
  responseUrlMaxUses: 5,
  responseUrlTtlMs: 30 * 60 * 1000,
  viewSubmissionAcceptsResponsePayload: true,
  wrongTokenTypeError: 'invalid_auth', // real Slack may say not_allowed_token_type for a valid token of the wrong type
  random: Math.random, // used to pick the socket for each envelope
};

module.exports = { FakeSlack, validateBlocks, METHOD_TIERS, DEFAULT_RATE_LIMITS };
