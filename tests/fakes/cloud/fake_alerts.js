// Fakes of the services jitbot alerts and asks "who is on call?": its own signed webhooks, the
// PagerDuty Events API v2, the PagerDuty REST API's GET /oncalls and Opsgenie's Who-Is-On-Call API.
// Each checks what the real service checks (credentials, required fields, enumerations, lengths)
// so an end-to-end test fails where production would, keeps the state the real service would
// (incidents, de-duplicated deliveries, schedules) and can be made to fail, throttle or hang.
// Where the real service's exact behaviour is not documented, the choice made is noted in place.
'use strict';
const crypto = require('node:crypto');
const { FakeServer, sendJson } = require('./fake_server');
const { verify } = require('./fake_http_backend');

// Whole seconds, as PagerDuty writes times.
const iso = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const nonEmptyString = (v) => typeof v === 'string' && v.length > 0;
const isJsonContentType = (headers) => /^application\/json\b/i.test(headers['content-type'] || '');
// ISO 8601 date-time as the APIs take it: a date, optionally a time and a zone; Date.parse checks the rest.
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
const parseIso = (text) => (ISO_8601.test(text) && !Number.isNaN(Date.parse(text)) ? Date.parse(text) : null);

/// What every fake here shares: the server, the call log and the faults. A subclass implements
/// handle(req, url, body, call) → [status, value, headers?] and errorBody(status, message).
class AlertServiceFake {
  constructor(options = {}) {
    this.tlsOption = options.tls === undefined ? true : options.tls;
    this.calls = [];
    this.faults = []; // {status, times, afterProcessing, retryAfter, body}
    this.isDown = false;
    this.delayMs = 0;
    this.timers = new Set();
  }

  async start() {
    this.server = new FakeServer((req, body, res) => this.dispatch(req, body, res), { tls: this.tlsOption });
    await this.server.start();
    if (this.server.caPem) {
      this.caPem = this.server.caPem;
      this.caFile = this.server.caFile;
    }
    this.url = this.server.url;
    return this;
  }

  async close() {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.server?.close();
  }

  /// Every request is answered 503 until up(): an outage, not a blip.
  down() {
    this.isDown = true;
  }

  up() {
    this.isDown = false;
  }

  /// The next n requests are answered `status` before any check. options: retryAfter (seconds, sent
  /// as Retry-After), afterProcessing (do the work, then lose the reply: the retry then meets state
  /// the first attempt left), body (the reply instead of the service's usual error shape).
  failNext(n = 1, status = 503, options = {}) {
    this.faults.push({ status, times: n, ...options });
  }

  /// Every request from now on waits ms before it is looked at; Infinity never answers (a hung API,
  /// for a client's timeout to end). delay(0) restores prompt service.
  delay(ms) {
    this.delayMs = ms;
  }

  async dispatch(req, body, res) {
    const url = new URL(req.url, 'http://fake');
    // Logged on arrival, so a test can see a call that is still hanging.
    const call = { method: req.method, path: url.pathname, status: 0, error: null, headers: req.headers, at: Date.now() };
    this.initCall(call);
    this.calls.push(call);
    const reply = (status, value, headers = {}) => {
      call.status = status;
      if (status >= 400) call.error = this.errorText(value);
      sendJson(res, status, value, headers);
    };

    if (this.delayMs === Infinity) return new Promise(() => {}); // the socket dies with close()
    if (this.delayMs > 0) {
      await new Promise((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, this.delayMs);
        this.timers.add(timer);
      });
    }
    if (this.isDown) return reply(503, this.errorBody(503, 'Service Unavailable'));
    const fault = this.takeFault();
    if (fault && !fault.afterProcessing) return this.replyFault(reply, fault);
    const [status, value, headers] = this.handle(req, url, body, call);
    if (fault) return this.replyFault(reply, fault);
    return reply(status, value, headers);
  }

  takeFault() {
    const fault = this.faults[0];
    if (!fault) return null;
    if (--fault.times <= 0) this.faults.shift();
    return fault;
  }

  replyFault(reply, fault) {
    const headers = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
    return reply(fault.status, fault.body || this.errorBody(fault.status, `injected failure ${fault.status}`), headers);
  }

  initCall() {}
}

// --- jitbot's own alert webhook ---------------------------------------------------------------------------------

/// A receiver of jitbot's alert webhooks: signed like the http backend (X-Jitbot-Timestamp,
/// X-Jitbot-Signature: v0=HMAC over the raw body, 5 minutes' skew), a JSON object with string
/// event, request_id and delivery_id. A delivery_id seen before is answered 200 again (so the sender
/// stops retrying) but kept apart in `duplicates`: what a receiver that de-duplicates does.
class FakeWebhookReceiver extends AlertServiceFake {
  /// options: tls, secret (default random), path ("/hook").
  constructor(options = {}) {
    super(options);
    this.secret = options.secret || hex(24);
    this.path = options.path || '/hook';
    this.events = []; // accepted documents, one per delivery_id, in arrival order
    this.duplicates = []; // documents whose delivery_id was already in events
    this.deliveryIds = new Set();
  }

  async start() {
    await super.start();
    this.hookUrl = this.url + this.path;
    return this;
  }

  initCall(call) {
    Object.assign(call, { verified: false, document: null, duplicate: false });
  }

  errorBody(status, message) {
    return { error: message };
  }

  errorText(value) {
    return value.error;
  }

  handle(req, url, body, call) {
    if (url.pathname !== this.path) return [404, { error: `no such endpoint ${url.pathname}` }];
    if (req.method !== 'POST') return [405, { error: 'use POST' }];
    const problem = verify(this.secret, req.headers, body);
    if (problem) return [401, { error: problem }];
    call.verified = true;
    // 415 for the media type, as FakeHttpBackend does; everything wrong inside the body is 400.
    if (!isJsonContentType(req.headers)) return [415, { error: 'Content-Type must be application/json' }];
    let document;
    try {
      document = JSON.parse(body.toString('utf8'));
    } catch {
      return [400, { error: 'body is not JSON' }];
    }
    if (!isObject(document)) return [400, { error: 'body is not a JSON object' }];
    call.document = document;
    const missing = ['event', 'request_id', 'delivery_id'].filter((f) => !nonEmptyString(document[f]));
    if (missing.length) return [400, { error: `missing or non-string fields: ${missing.join(', ')}` }];
    if (this.deliveryIds.has(document.delivery_id)) {
      call.duplicate = true;
      this.duplicates.push(document);
      return [200, { ok: true, duplicate: true }];
    }
    this.deliveryIds.add(document.delivery_id);
    this.events.push(document);
    return [200, { ok: true }];
  }
}

// --- PagerDuty Events API v2 ------------------------------------------------------------------------------------

const SEVERITIES = ['critical', 'error', 'warning', 'info'];
const EVENT_ACTIONS = ['trigger', 'acknowledge', 'resolve'];
const THROTTLE_BODY = { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' };

/// POST /v2/enqueue as developer.pagerduty.com documents "Send an Alert Event". Error texts follow
/// the shape PagerDuty sends ({"status":"invalid event","message":"Event object is invalid",
/// "errors":[…]}, all problems listed at once); their exact wording is PagerDuty-like, not copied.
class FakePagerDutyEvents extends AlertServiceFake {
  /// options: tls, routingKey (default 32 random hex characters: an integration key's length).
  constructor(options = {}) {
    super(options);
    this.routingKey = options.routingKey || hex(16);
    // dedup_key → {dedup_key, status: 'triggered'|'acknowledged'|'resolved', triggers, summary,
    // severity, source, custom_details, history: ['trigger', 'acknowledge', …]}
    this.incidents = new Map();
    this.closedIncidents = []; // a resolved incident a later trigger replaced in `incidents`
    this.events = []; // every accepted (202) event document, in order
  }

  /// The next n events are answered 429 "throttle event", as PagerDuty does past its rate limit.
  throttleNext(n = 1) {
    this.failNext(n, 429, { body: THROTTLE_BODY });
  }

  initCall(call) {
    Object.assign(call, { document: null, action: null, dedup_key: null, dropped: false });
  }

  errorBody(status, message) {
    return { status: 'error', message };
  }

  errorText(value) {
    return value.errors ? value.errors.join('; ') : value.message;
  }

  handle(req, url, body, call) {
    if (url.pathname !== '/v2/enqueue') return [404, { status: 'error', message: 'Not Found' }];
    if (req.method !== 'POST') return [405, { status: 'error', message: 'Method Not Allowed' }];
    const invalid = (errors) => [400, { status: 'invalid event', message: 'Event object is invalid', errors }];
    // PagerDuty documents JSON only; a fake stricter than the service here only catches a client bug.
    if (!isJsonContentType(req.headers)) return invalid(['Content-Type must be application/json']);
    let event;
    try {
      event = JSON.parse(body.toString('utf8'));
    } catch {
      return invalid(['Could not parse the request body as JSON']);
    }
    if (!isObject(event)) return invalid(['The event must be a JSON object']);
    call.document = event;
    call.action = event.event_action ?? null;
    call.dedup_key = event.dedup_key ?? null;
    const errors = this.validate(event);
    if (errors.length) return invalid(errors);
    return [202, this.apply(event, call)];
  }

  validate(event) {
    const errors = [];
    const key = event.routing_key;
    if (!nonEmptyString(key)) errors.push("'routing_key' is missing or blank");
    else if (key.length !== 32) errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");
    // A well-formed but unknown integration key is refused too (400 "Invalid routing key"), not queued.
    else if (key !== this.routingKey) errors.push('Invalid routing key');

    const action = event.event_action;
    if (!nonEmptyString(action)) errors.push("'event_action' is missing or blank");
    else if (!EVENT_ACTIONS.includes(action)) errors.push(`'event_action' is invalid (must be one of ${EVENT_ACTIONS.join(', ')})`);

    const dedupKey = event.dedup_key;
    if (dedupKey !== undefined && typeof dedupKey !== 'string') errors.push("'dedup_key' must be a string");
    else if (dedupKey?.length > 255) errors.push("'dedup_key' is too long (maximum is 255 characters)");
    else if ((action === 'acknowledge' || action === 'resolve') && !nonEmptyString(dedupKey)) {
      errors.push("'dedup_key' is missing or blank (required to acknowledge or resolve)");
    }

    // The payload and the context fields only matter for a trigger; PagerDuty ignores them otherwise.
    if (action === 'trigger') errors.push(...this.validateTrigger(event));
    return errors;
  }

  validateTrigger(event) {
    const errors = [];
    const payload = event.payload;
    if (!isObject(payload)) return ["'payload' is missing or blank"];
    if (!nonEmptyString(payload.summary)) errors.push("'payload.summary' is missing or blank");
    else if (payload.summary.length > 1024) errors.push("'payload.summary' is too long (maximum is 1024 characters)");
    if (!nonEmptyString(payload.source)) errors.push("'payload.source' is missing or blank");
    if (!nonEmptyString(payload.severity)) errors.push("'payload.severity' is missing or blank");
    else if (!SEVERITIES.includes(payload.severity)) errors.push(`'payload.severity' is invalid (must be one of ${SEVERITIES.join(', ')})`);
    if (payload.timestamp !== undefined && (typeof payload.timestamp !== 'string' || parseIso(payload.timestamp) === null)) {
      errors.push("'payload.timestamp' is not a valid ISO 8601 timestamp");
    }
    for (const field of ['component', 'group', 'class']) {
      if (payload[field] !== undefined && typeof payload[field] !== 'string') errors.push(`'payload.${field}' must be a string`);
    }
    if (payload.custom_details !== undefined && !isObject(payload.custom_details)) errors.push("'payload.custom_details' must be an object");
    for (const field of ['client', 'client_url']) {
      if (event[field] !== undefined && typeof event[field] !== 'string') errors.push(`'${field}' must be a string`);
    }
    for (const [field, required] of [['links', 'href'], ['images', 'src']]) {
      const list = event[field];
      if (list === undefined) continue;
      const complete = Array.isArray(list) && list.every((item) => isObject(item) && nonEmptyString(item[required]));
      if (!Array.isArray(list)) errors.push(`'${field}' must be an array`);
      else if (!complete) errors.push(`every entry of '${field}' needs '${required}'`);
    }
    return errors;
  }

  /// Applies an accepted event to the incidents, the way PagerDuty's alert de-duplication does.
  apply(event, call) {
    this.events.push(event);
    const action = event.event_action;
    // A trigger without a dedup_key always opens a new alert under a fresh key.
    const dedupKey = nonEmptyString(event.dedup_key) ? event.dedup_key : hex(16);
    call.dedup_key = dedupKey;
    let incident = this.incidents.get(dedupKey);
    if (action === 'trigger') {
      // A trigger on a resolved key opens a new incident; it does not re-open the old one.
      if (incident && incident.status === 'resolved') {
        this.closedIncidents.push(incident);
        incident = null;
      }
      if (!incident) {
        incident = { dedup_key: dedupKey, status: 'triggered', triggers: 0, history: [] };
        this.incidents.set(dedupKey, incident);
      }
      // Later triggers update what the alert shows; an acknowledged incident stays acknowledged.
      const { summary, severity, source, custom_details: details } = event.payload;
      Object.assign(incident, { summary, severity, source, custom_details: details ?? null });
      incident.triggers += 1;
      incident.history.push('trigger');
    } else if (!incident || incident.status === 'resolved') {
      // Acknowledging or resolving nothing open is accepted (202) and dropped, as PagerDuty does.
      call.dropped = true;
    } else {
      if (action === 'resolve') incident.status = 'resolved';
      else if (incident.status === 'triggered') incident.status = 'acknowledged';
      incident.history.push(action);
    }
    return { status: 'success', message: 'Event processed', dedup_key: dedupKey };
  }
}

// --- PagerDuty REST API v2: GET /oncalls ------------------------------------------------------------------------

const PD_API = 'https://api.pagerduty.com';
const PD_WEB = 'https://example.pagerduty.com';
const PD_ACCEPT = 'application/vnd.pagerduty+json';
const ONCALL_PARAMS = ['schedule_ids[]', 'user_ids[]', 'escalation_policy_ids[]', 'include[]', 'since', 'until',
  'earliest', 'limit', 'offset', 'total', 'time_zone'];

/// A stable PagerDuty-style ID ("P" + 6 upper-case letters and digits) from a seed.
function pagerDutyId(seed) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const digest = crypto.createHash('sha256').update(seed).digest();
  return `P${Array.from(digest.subarray(0, 6), (b) => alphabet[b % alphabet.length]).join('')}`;
}

/// GET /oncalls of the PagerDuty REST API v2, for schedules set with setOnCall/addOnCall. Supports
/// schedule_ids[], user_ids[], escalation_policy_ids[], since/until (overlap), include[]=users,
/// earliest, limit/offset/total; time_zone is accepted and ignored (times are always UTC).
class FakePagerDutyOncalls extends AlertServiceFake {
  /// options: tls, token (default random; sent as "Authorization: Token token=<token>").
  constructor(options = {}) {
    super(options);
    this.token = options.token || `u+${hex(10)}`;
    // id → {id, name, escalationPolicy: {id, name}, shifts: [{user, start, end, level}]}
    this.schedules = new Map();
  }

  /// Replaces who is on call on schedule `scheduleId`: each user ({email, name?, id?}) is on call
  /// from `start` to `end` (ISO strings or ms; default one hour ago to one week ahead). options also:
  /// name (schedule name), escalationPolicyId/Name, escalationLevel (1).
  setOnCall(scheduleId, users, options = {}) {
    this.schedules.delete(scheduleId);
    this.addOnCall(scheduleId, users, options);
  }

  /// Adds shifts to a schedule (a later or overlapping rotation) without clearing the earlier ones.
  addOnCall(scheduleId, users, options = {}) {
    let schedule = this.schedules.get(scheduleId);
    if (!schedule) {
      schedule = {
        id: scheduleId, name: options.name || `Schedule ${scheduleId}`, shifts: [],
        escalationPolicy: {
          id: options.escalationPolicyId || pagerDutyId(`ep:${scheduleId}`),
          name: options.escalationPolicyName || `Escalation policy for ${scheduleId}`,
        },
      };
      this.schedules.set(scheduleId, schedule);
    }
    const nowSeconds = Math.floor(Date.now() / 1000) * 1000;
    const start = options.start === undefined ? nowSeconds - 3600e3 : new Date(options.start).getTime();
    const end = options.end === undefined ? nowSeconds + 7 * 86400e3 : new Date(options.end).getTime();
    for (const u of users) {
      const user = { id: u.id || pagerDutyId(`user:${u.email}`), name: u.name || u.email.split('@')[0], email: u.email };
      schedule.shifts.push({ user, start, end, level: options.escalationLevel || 1 });
    }
  }

  initCall(call) {
    call.query = null;
  }

  errorBody(status, message) {
    return { error: { message } };
  }

  errorText(value) {
    return value.error?.message;
  }

  handle(req, url, body, call) {
    // PagerDuty authenticates before anything else, whatever the path.
    if (req.headers.authorization !== `Token token=${this.token}`) {
      return [401, { error: { message: 'Authentication failed', code: 2006 } }];
    }
    if (!this.acceptable(req.headers.accept)) {
      return [406, { error: { message: 'Not Acceptable', code: 2001, errors: [`Accept ${req.headers.accept} is not supported`] } }];
    }
    if (url.pathname !== '/oncalls') return [404, { error: { message: 'Not Found', code: 2100 } }];
    if (req.method !== 'GET') return [405, { error: { message: 'Method Not Allowed', code: 2001 } }];

    const q = url.searchParams;
    const query = {
      schedule_ids: q.getAll('schedule_ids[]'), user_ids: q.getAll('user_ids[]'),
      escalation_policy_ids: q.getAll('escalation_policy_ids[]'), include: q.getAll('include[]'),
      since: q.get('since'), until: q.get('until'), earliest: q.get('earliest') === 'true',
      limit: q.get('limit'), offset: q.get('offset'), total: q.get('total') === 'true', time_zone: q.get('time_zone'),
      // PagerDuty silently ignores what it does not know, e.g. "schedule_ids" without "[]": kept
      // here so a test can see a filter jitbot meant to send was not one.
      ignored: [...new Set([...q.keys()].filter((k) => !ONCALL_PARAMS.includes(k)))],
    };
    call.query = query;

    const invalid = (message) => [400, { error: { message: 'Invalid Input Provided', code: 2001, errors: [message] } }];
    const now = Date.now();
    const since = query.since === null ? now : parseIso(query.since);
    const until = query.until === null ? now : parseIso(query.until);
    if (since === null) return invalid('since is not a valid ISO 8601 date');
    if (until === null) return invalid('until is not a valid ISO 8601 date');
    if (until < since) return invalid('The until time cannot be before the since time');
    const limit = query.limit === null ? 25 : Number(query.limit);
    const offset = query.offset === null ? 0 : Number(query.offset);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100) return invalid('limit must be an integer from 1 to 100');
    if (!Number.isInteger(offset) || offset < 0) return invalid('offset must be a non-negative integer');

    // An unknown schedule ID in schedule_ids[] just matches nothing: it is a filter, and we know
    // of no documented error for it (PagerDuty might answer 400 or 404 instead; unverified).
    let entries = [];
    for (const schedule of this.schedules.values()) {
      if (query.schedule_ids.length && !query.schedule_ids.includes(schedule.id)) continue;
      if (query.escalation_policy_ids.length && !query.escalation_policy_ids.includes(schedule.escalationPolicy.id)) continue;
      for (const shift of schedule.shifts) {
        if (query.user_ids.length && !query.user_ids.includes(shift.user.id)) continue;
        // An on-call [start, end) is listed when it overlaps [since, until] at all.
        if (shift.start <= until && shift.end > since) entries.push({ schedule, shift });
      }
    }
    entries.sort((a, b) => a.shift.start - b.shift.start || a.shift.level - b.shift.level);
    if (query.earliest) {
      // Only the earliest on-call per escalation policy, level and user: "who is next".
      const seen = new Set();
      entries = entries.filter(({ schedule, shift }) => {
        const key = `${schedule.escalationPolicy.id}/${shift.level}/${shift.user.id}`;
        return !seen.has(key) && seen.add(key);
      });
    }
    const withUsers = query.include.includes('users');
    const oncalls = entries.slice(offset, offset + limit).map(({ schedule, shift }) => this.oncall(schedule, shift, withUsers));
    return [200, { oncalls, limit, offset, more: offset + limit < entries.length, total: query.total ? entries.length : null }];
  }

  /// Missing, */*, application/json and PagerDuty's own v2 type are fine; anything else is 406.
  acceptable(accept) {
    if (!accept) return true;
    return accept.split(',').some((part) => {
      const [type, ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      if (type === PD_ACCEPT) return params.every((p) => !p.startsWith('version=') || p === 'version=2');
      return ['*/*', 'application/*', 'application/json'].includes(type);
    });
  }

  oncall(schedule, shift, withUsers) {
    const reference = (type, id, summary, collection) => ({
      id, type, summary, self: `${PD_API}/${collection}/${id}`, html_url: `${PD_WEB}/${collection}/${id}`,
    });
    const { user } = shift;
    const userRef = reference('user_reference', user.id, user.name, 'users');
    return {
      escalation_policy: reference('escalation_policy_reference', schedule.escalationPolicy.id, schedule.escalationPolicy.name,
        'escalation_policies'),
      escalation_level: shift.level,
      schedule: reference('schedule_reference', schedule.id, schedule.name, 'schedules'),
      // Only include[]=users brings the full user, and with it the email.
      user: withUsers
        ? { ...userRef, type: 'user', name: user.name, email: user.email, time_zone: 'Etc/UTC', role: 'user', color: 'purple',
          description: null, job_title: null, invitation_sent: false, teams: [], contact_methods: [], notification_rules: [] }
        : userRef,
      start: iso(shift.start),
      end: iso(shift.end),
    };
  }
}

// --- Opsgenie Who-Is-On-Call API --------------------------------------------------------------------------------

/// A stable UUID-shaped ID from a seed, like Opsgenie's IDs.
function opsgenieId(seed) {
  const h = crypto.createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/// GET /v2/schedules/{identifier}/on-calls of Opsgenie's API (docs.opsgenie.com, "Who is On Call
/// API"): scheduleIdentifierType id (default) or name, flat, date. Every answer carries `took` and
/// `requestId`, as Opsgenie's do.
class FakeOpsgenieOncalls extends AlertServiceFake {
  /// options: tls, key (default random; sent as "Authorization: GenieKey <key>").
  constructor(options = {}) {
    super(options);
    this.key = options.key || crypto.randomUUID();
    this.schedules = new Map(); // name → {id, name, enabled, emails, start, end}
  }

  /// Replaces who is on call on the schedule called `scheduleName`. options: id (default derived
  /// from the name), enabled (true), start/end (ISO or ms: outside them, for the `date` asked
  /// about, nobody is on call; default unbounded).
  setOnCall(scheduleName, emails, options = {}) {
    const previous = this.schedules.get(scheduleName);
    this.schedules.set(scheduleName, {
      id: options.id || previous?.id || opsgenieId(`schedule:${scheduleName}`), name: scheduleName,
      enabled: options.enabled ?? true, emails: [...emails],
      start: options.start === undefined ? -Infinity : new Date(options.start).getTime(),
      end: options.end === undefined ? Infinity : new Date(options.end).getTime(),
    });
  }

  initCall(call) {
    Object.assign(call, { identifier: null, query: null });
  }

  errorBody(status, message) {
    return this.envelope({ message });
  }

  errorText(value) {
    return value.message;
  }

  envelope(value) {
    return { ...value, took: Number((Math.random() * 0.05 + 0.001).toFixed(3)), requestId: crypto.randomUUID() };
  }

  handle(req, url, body, call) {
    if (req.headers.authorization !== `GenieKey ${this.key}`) return [401, this.envelope({ message: 'Could not authenticate' })];
    const match = /^\/v2\/schedules\/([^/]+)\/on-calls$/.exec(url.pathname);
    if (!match) return [404, this.envelope({ message: 'Could not find the requested resource' })];
    if (req.method !== 'GET') return [405, this.envelope({ message: 'Method Not Allowed' })];
    const identifier = decodeURIComponent(match[1]);
    const q = url.searchParams;
    const query = { scheduleIdentifierType: q.get('scheduleIdentifierType') ?? 'id', flat: q.get('flat') === 'true', date: q.get('date') };
    Object.assign(call, { identifier, query });

    // Opsgenie reports request validation failures as 422; the exact wording here is ours.
    if (!['id', 'name'].includes(query.scheduleIdentifierType)) {
      return [422, this.envelope({ message: `Invalid scheduleIdentifierType [${query.scheduleIdentifierType}]; use id or name` })];
    }
    const date = query.date === null ? Date.now() : parseIso(query.date);
    if (date === null) return [422, this.envelope({ message: `Invalid date [${query.date}]; use yyyy-MM-dd'T'HH:mm:ssZ` })];

    // By id (the default) a schedule's name does not match, nor the other way round.
    const schedule = query.scheduleIdentifierType === 'name'
      ? this.schedules.get(identifier)
      : [...this.schedules.values()].find((s) => s.id === identifier);
    if (!schedule) return [404, this.envelope({ message: `Schedule with identifier [${identifier}] does not exist` })];

    const emails = date >= schedule.start && date < schedule.end ? schedule.emails : [];
    const data = { _parent: { id: schedule.id, name: schedule.name, enabled: schedule.enabled } };
    if (query.flat) data.onCallRecipients = [...emails];
    else data.onCallParticipants = emails.map((email) => ({ id: opsgenieId(`user:${email}`), name: email, type: 'user' }));
    return [200, this.envelope({ data })];
  }
}

module.exports = { FakeWebhookReceiver, FakePagerDutyEvents, FakePagerDutyOncalls, FakeOpsgenieOncalls };
