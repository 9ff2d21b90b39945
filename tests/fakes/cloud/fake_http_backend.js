// A reference receiver for jitbot's http backend: POST {base}/grant and {base}/revoke with the exec
// backend's JSON, signed like Slack's requests (X-Jitbot-Timestamp, X-Jitbot-Signature: v0=HMAC).
// It verifies the signature over the raw body in constant time, rejects stale timestamps, grants
// idempotently per request ID and treats a revoke of something unknown as already done: the
// behaviour docs/credential-backends.md asks a real control plane to have.
'use strict';
const crypto = require('node:crypto');
const { FakeServer, sendJson } = require('./fake_server');

const MAX_SKEW_SECONDS = 5 * 60;

/// "v0=" + hex HMAC-SHA256(secret, "v0:" + timestamp + ":" + body): what jitbot must send.
function sign(secret, timestamp, rawBody) {
  return `v0=${crypto.createHmac('sha256', secret).update(`v0:${timestamp}:`).update(rawBody).digest('hex')}`;
}

/// Returns null when the request is authentic, else why not (sent back as {"error": …}).
function verify(secret, headers, rawBody, nowSeconds = Math.floor(Date.now() / 1000)) {
  const timestamp = headers['x-jitbot-timestamp'];
  const signature = headers['x-jitbot-signature'];
  if (!timestamp || !signature) return 'missing X-Jitbot-Timestamp or X-Jitbot-Signature';
  if (!/^\d+$/.test(timestamp)) return 'X-Jitbot-Timestamp is not unix seconds';
  if (Math.abs(nowSeconds - Number(timestamp)) > MAX_SKEW_SECONDS) return 'X-Jitbot-Timestamp is more than 5 minutes off';
  const expected = Buffer.from(sign(secret, timestamp, rawBody));
  const given = Buffer.from(signature);
  // timingSafeEqual needs equal lengths; comparing lengths first leaks only the (public) length.
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) return 'invalid signature';
  return null;
}

const REQUIRED_FIELDS = ['version', 'action', 'request_id', 'provider', 'role', 'scope', 'duration_seconds', 'expires_at', 'requester'];

class FakeHttpBackend {
  /// options.tls: true (make a certificate) or {key, cert[, certFile]}; false for plain HTTP.
  /// options.secret (default random), options.basePath ("/jit"), options.consoleUrl (sent with grants).
  constructor(options = {}) {
    this.tlsOption = options.tls === undefined ? true : options.tls;
    this.secret = options.secret || crypto.randomBytes(24).toString('hex');
    this.basePath = options.basePath ?? '/jit';
    this.consoleUrl = options.consoleUrl || null;
    this.calls = []; // {action, path, status, verified, error, document, headers, at (ms since the epoch, on arrival)}
    this.records = new Map(); // request_id → grant record
    this.faults = [];
    this.nextGrant = 1;
  }

  async start() {
    this.server = new FakeServer((req, body, res) => this.handle(req, body, res), { tls: this.tlsOption });
    await this.server.start();
    if (this.server.caPem) {
      this.caPem = this.server.caPem;
      this.caFile = this.server.caFile;
    }
    this.url = this.server.url;
    this.baseUrl = this.url + this.basePath;
    return this;
  }

  async close() {
    await this.server?.close();
  }

  /// The next call fails with `code`; options {retryAfter, error, afterProcessing, times, action}. By
  /// default it fails before any check; afterProcessing: true carries the call out first, then fails
  /// the reply. times (default 1) is how many calls fail this way, Infinity for a receiver that stays
  /// down; action ('grant' or 'revoke') limits the fault to calls to that endpoint.
  failNext(code, { times = 1, ...options } = {}) {
    this.faults.push({ code, times, ...options });
  }

  /// The first pending fault for a call to `action`, counted as used; null if none applies.
  takeFault(action) {
    const i = this.faults.findIndex((f) => !f.action || f.action === action);
    if (i < 0) return null;
    const fault = this.faults[i];
    if (--fault.times <= 0) this.faults.splice(i, 1);
    return fault;
  }

  /// Grant records (copies): {grant_id, request_id, role, scope, email, active, granted_at, revoked_at, grant_calls}.
  grants() {
    return [...this.records.values()].map((r) => ({ ...r }));
  }

  // --- request handling ----------------------------------------------------------------------------------------

  handle(req, body, res) {
    const url = new URL(req.url, 'http://fake');
    const action = url.pathname === `${this.basePath}/grant` ? 'grant' : url.pathname === `${this.basePath}/revoke` ? 'revoke' : null;
    const call = { action, path: url.pathname, status: 0, verified: false, error: null, document: null, headers: req.headers, at: Date.now() };
    this.calls.push(call);
    const reply = (code, value, headers) => {
      call.status = code;
      if (value.error) call.error = value.error;
      sendJson(res, code, value, headers);
    };

    const fault = this.takeFault(action);
    if (fault && !fault.afterProcessing) return this.replyFault(reply, fault);
    if (!action) return reply(404, { error: `no such endpoint ${url.pathname}` });
    if (req.method !== 'POST') return reply(405, { error: 'use POST' });

    const problem = verify(this.secret, req.headers, body);
    if (problem) return reply(401, { error: problem });
    call.verified = true;

    const [code, value] = this.act(action, req.headers['content-type'], body, call);
    // afterProcessing: the work is done but the answer is lost (a proxy timed out, say).
    if (fault) return this.replyFault(reply, fault);
    return reply(code, value);
  }

  replyFault(reply, fault) {
    const headers = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
    return reply(fault.code, { error: fault.error || `injected failure ${fault.code}` }, headers);
  }

  /// Checks the document and runs the action. Returns [status, body].
  act(action, contentType, body, call) {
    if (!/^application\/json\b/.test(contentType || '')) return [415, { error: 'Content-Type must be application/json' }];
    let document;
    try {
      document = JSON.parse(body.toString('utf8'));
    } catch {
      return [400, { error: 'body is not JSON' }];
    }
    call.document = document;
    const missing = REQUIRED_FIELDS.filter((f) => document[f] === undefined);
    if (missing.length) return [400, { error: `missing fields: ${missing.join(', ')}` }];
    if (document.version !== 1) return [400, { error: `unsupported version ${document.version}` }];
    if (document.action !== action) return [400, { error: `action "${document.action}" posted to /${action}` }];
    return action === 'grant' ? this.grant(document) : this.revoke(document);
  }

  grant(document) {
    let record = this.records.get(document.request_id);
    // Idempotent on the request ID: a repeated grant (jitbot crashed, say) gets the same grant back.
    if (!record || !record.active) {
      record = {
        grant_id: `grant-${String(this.nextGrant++).padStart(4, '0')}`, request_id: document.request_id,
        role: document.role, scope: document.scope, email: document.requester.email, active: true,
        granted_at: new Date().toISOString(), revoked_at: null, grant_calls: 0,
      };
      this.records.set(document.request_id, record);
    }
    record.grant_calls += 1;
    const reply = { grant_id: record.grant_id, message: `Granted ${document.role} on ${document.scope} to ${document.requester.email}.` };
    if (this.consoleUrl) reply.console_url = this.consoleUrl;
    return [200, reply];
  }

  revoke(document) {
    const record = this.records.get(document.request_id);
    if (!record || !record.active) return [200, { message: 'Nothing to revoke: the access is already gone.' }];
    if (document.grant_id && document.grant_id !== record.grant_id) {
      return [409, { error: `grant_id ${document.grant_id} does not match ${record.grant_id} for ${document.request_id}` }];
    }
    record.active = false;
    record.revoked_at = new Date().toISOString();
    return [200, { message: `Revoked ${record.grant_id}.` }];
  }
}

module.exports = { FakeHttpBackend, sign, verify };
