// FakeGcp: the IAM half of Cloud Resource Manager v1 for projects, answering as Google does, so
// jitbot's gcp backend (and the real gcloud, in the self-tests) can be run against it.
//
//   POST /v1/projects/{id}:getIamPolicy   {"options":{"requestedPolicyVersion":N}}
//   POST /v1/projects/{id}:setIamPolicy   {"policy":{version, etag, bindings}, "updateMask"?}
//
// What it enforces, and where the behaviour comes from:
// - Bearer token, else 401 UNAUTHENTICATED; a project it does not hold, 403 PERMISSION_DENIED
//   (Google does not reveal whether a project exists to a caller without access).
// - Unknown JSON fields are refused, as Google's JSON→proto parser does ("Unknown name …").
// - Policy versions 0, 1 and 3 only; conditional bindings need version 3. Reading a policy that has
//   conditions with version < 3 does not fail: Google answers a version 1 policy whose conditional
//   roles are renamed `ROLE_withcond_<hash>` with the condition hidden
//   (https://cloud.google.com/iam/docs/troubleshooting-withcond). Writing such a role back fails.
// - etag: a set with a stale etag is 409 ABORTED; a set without one is accepted (Google allows it,
//   and the conditions it overwrites are lost) but recorded, so tests can insist jitbot sends one.
// - Conditions need a title (≤ 100 chars) and an expression, may not sit on the basic roles, and
//   every timestamp("…") literal in the expression must be RFC 3339.
// Status codes and `status` strings are Google's; the messages of 400s are this fake's own wording
// (Google's are often just "Request contains an invalid argument.").
'use strict';
const crypto = require('node:crypto');
const { FakeServer, sendJson } = require('./fake_server');

const BASIC_ROLES = new Set(['roles/owner', 'roles/editor', 'roles/viewer']);
const ROLE_NAME = /^(roles\/[A-Za-z0-9_.]+|(projects|organizations)\/[^/]+\/roles\/[A-Za-z0-9_.]+)$/;
const EMAIL = /^[^@\s:]+@[^@\s:]+\.[^@\s:]+$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const ROUTE = /^\/v1\/projects\/([^/:]+):(getIamPolicy|setIamPolicy)$/;
const CONCURRENT_MESSAGE =
  'There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.';
const AUTH_HELP = 'Expected OAuth 2 access token, login cookie or other valid authentication credential. ' +
  'See https://developers.google.com/identity/sign-in/web/devconsole-project.';

// The fields Google's parser knows, per message: anything else is "Unknown name".
const KNOWN_FIELDS = {
  getIamPolicyRequest: ['options'],
  options: ['requestedPolicyVersion'],
  setIamPolicyRequest: ['policy', 'updateMask'],
  policy: ['version', 'etag', 'bindings', 'auditConfigs'],
  binding: ['role', 'members', 'condition'],
  condition: ['title', 'description', 'expression', 'location'],
};

class GoogleError extends Error {
  constructor(code, status, message) {
    super(message);
    this.code = code;
    this.status = status;
  }
}
const invalid = (message) => new GoogleError(400, 'INVALID_ARGUMENT', message);

const clone = (value) => JSON.parse(JSON.stringify(value));
/// 8 bytes like Google's ("BwWWja0YfJA="), always spelled with a '+' or '/', the characters the
/// standard and URL-safe base64 alphabets disagree on, so a client that re-encodes is always seen.
function newEtag() {
  for (;;) {
    const etag = Buffer.concat([Buffer.from([0x07]), crypto.randomBytes(7)]).toString('base64');
    if (/[+/]/.test(etag)) return etag;
  }
}
const hasConditions = (bindings) => bindings.some((b) => b.condition);

class FakeGcp {
  /// options: {tls: {key, cert}, token, projects: {projectId: initial policy {bindings, …}}}
  constructor({ tls = null, token = 'gcp-test-token', projects = {} } = {}) {
    this.server = new FakeServer((req, body, res) => this.handle(req, body, res), { tls });
    this.token = token;
    this.projects = new Map();
    for (const [id, policy] of Object.entries(projects)) this.setPolicy(id, policy);
    this.calls = []; // {op, project, auth, at (ms), body, status, errorStatus?, etagSent?, versionSent?, etagCurrent?}
    this.faults = []; // {status, errorStatus, message}, answered once the token has been checked
    this.pendingConcurrentChange = null; // a mutate function, or true for a bare etag bump
    this.dropAfterNextSet = false;
    this.listeners = [];
  }

  async start() {
    await this.server.start();
    this.url = this.server.url;
    return this;
  }

  stop() {
    return this.server.close();
  }

  // ---- test controls ------------------------------------------------------------------------

  /// The stored policy, as a version 3 read would show it.
  policy(project) {
    const stored = this.projects.get(project);
    return stored ? clone(stored) : undefined;
  }

  /// Another writer replaces the policy (new etag), as if someone used the console meanwhile.
  setPolicy(project, { bindings = [], auditConfigs } = {}) {
    const stored = { version: hasConditions(bindings) ? 3 : 1, etag: newEtag(), bindings: clone(bindings) };
    if (auditConfigs) stored.auditConfigs = clone(auditConfigs);
    this.projects.set(project, stored);
  }

  setToken(token) {
    this.token = token;
  }

  /// On the next setIamPolicy another writer gets in first: the policy changes underneath (mutate
  /// receives the stored bindings array; without it only the etag moves), so the set gets 409.
  concurrentChangeOnNextSet(mutate = null) {
    this.pendingConcurrentChange = mutate || true;
  }

  /// The next request (of any kind) fails with Google's error shape.
  failNext(status, errorStatus, message = `injected ${errorStatus}`) {
    this.faults.push({ status, errorStatus, message });
  }

  /// The next setIamPolicy is applied but its connection is dropped before the answer: the client
  /// cannot know whether it worked and must find out by reading again.
  dropResponseAfterNextSet() {
    this.dropAfterNextSet = true;
  }

  /// fn(call, fake) runs after each call is answered (e.g. to rotate the token after the grant).
  onCall(fn) {
    this.listeners.push(fn);
  }

  callsTo(op) {
    return this.calls.filter((c) => c.op === op);
  }

  get setsWithoutEtag() {
    return this.callsTo('setIamPolicy').filter((c) => c.etagSent === undefined);
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  async handle(req, rawBody, res) {
    const path = decodeURIComponent(req.url.split('?')[0]);
    const route = ROUTE.exec(path);
    const call = { op: route ? route[2] : `${req.method} ${path}`, project: route?.[1], auth: this.authOf(req), at: Date.now() };
    this.calls.push(call);
    try {
      const answer = this.answer(req, route, rawBody, call);
      call.status = 200;
      if (call.op === 'setIamPolicy' && this.dropAfterNextSet) {
        this.dropAfterNextSet = false;
        call.status = 'dropped';
        res.destroy();
      } else {
        sendJson(res, 200, answer);
      }
    } catch (error) {
      if (!(error instanceof GoogleError)) throw error;
      call.status = error.code;
      call.errorStatus = error.status;
      sendJson(res, error.code, { error: { code: error.code, message: error.message, status: error.status } },
        error.code === 401 ? { 'www-authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' } : {});
    }
    for (const fn of this.listeners) fn(call, this);
  }

  authOf(req) {
    const header = req.headers.authorization;
    if (!header) return 'none';
    return header === `Bearer ${this.token}` ? 'valid' : 'invalid';
  }

  answer(req, route, rawBody, call) {
    if (call.auth === 'none') throw new GoogleError(401, 'UNAUTHENTICATED', `Request is missing required authentication credential. ${AUTH_HELP}`);
    if (call.auth === 'invalid') throw new GoogleError(401, 'UNAUTHENTICATED', `Request had invalid authentication credentials. ${AUTH_HELP}`);
    const fault = this.faults.shift();
    if (fault) throw new GoogleError(fault.status, fault.errorStatus, fault.message);
    if (!route || req.method !== 'POST') throw new GoogleError(404, 'NOT_FOUND', `Method not found: ${req.method} ${call.op}`);
    const body = parseBody(rawBody);
    call.body = body;
    const stored = this.projects.get(call.project);
    if (!stored) throw new GoogleError(403, 'PERMISSION_DENIED', 'The caller does not have permission');
    return call.op === 'getIamPolicy' ? this.getIamPolicy(stored, body) : this.setIamPolicy(call, stored, body);
  }

  getIamPolicy(stored, body) {
    checkFields(body, 'getIamPolicyRequest');
    if (body.options !== undefined) checkFields(body.options, 'options');
    const requested = checkVersion(body.options?.requestedPolicyVersion, 'requested policy version');
    return render(stored, requested);
  }

  setIamPolicy(call, stored, body) {
    checkFields(body, 'setIamPolicyRequest');
    if (!body.policy || typeof body.policy !== 'object') throw invalid('policy is required.');
    const policy = body.policy;
    checkFields(policy, 'policy');
    const version = checkVersion(policy.version, 'policy version');
    const bindings = checkBindings(policy.bindings ?? [], version);
    call.etagSent = policy.etag;
    call.versionSent = policy.version;
    this.applyConcurrentChange(stored);
    call.etagCurrent = stored.etag;
    if (policy.etag !== undefined && !sameBytes(decodeEtag(policy.etag), decodeEtag(stored.etag))) {
      throw new GoogleError(409, 'ABORTED', CONCURRENT_MESSAGE);
    }
    // With an etag the caller claims to have read the whole policy; at version < 3 it cannot have
    // seen the conditions it would be dropping.
    if (policy.etag !== undefined && version < 3 && hasConditions(stored.bindings)) {
      throw invalid('The policy has conditional role bindings: setIamPolicy must use policy version 3.');
    }
    stored.bindings = bindings;
    stored.version = hasConditions(bindings) ? 3 : 1;
    if (String(body.updateMask || '').split(',').includes('auditConfigs')) stored.auditConfigs = clone(policy.auditConfigs || []);
    stored.etag = newEtag();
    return render(stored, 3);
  }

  applyConcurrentChange(stored) {
    const change = this.pendingConcurrentChange;
    if (!change) return;
    this.pendingConcurrentChange = null;
    if (typeof change === 'function') change(stored.bindings);
    stored.version = hasConditions(stored.bindings) ? 3 : 1;
    stored.etag = newEtag();
  }
}

// ---- request checks ---------------------------------------------------------------------------

function parseBody(rawBody) {
  const text = rawBody.toString('utf8');
  if (text.trim() === '') return {};
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch {
    // fall through to Google's complaint
  }
  throw invalid(`Invalid JSON payload received. Unexpected token.\n${text.slice(0, 40)}`);
}

function checkFields(object, message) {
  if (!object || typeof object !== 'object' || Array.isArray(object)) {
    throw invalid(`Invalid JSON payload received. Expected an object for ${message}.`);
  }
  for (const key of Object.keys(object)) {
    if (!KNOWN_FIELDS[message].includes(key)) throw invalid(`Invalid JSON payload received. Unknown name "${key}": Cannot find field.`);
  }
}

/// The etag is a proto `bytes` field: JSON carries it as base64, standard or URL-safe (gcloud sends
/// back the URL-safe form of what it read), and anything else is Google's TYPE_BYTES complaint.
function decodeEtag(etag) {
  if (typeof etag !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(etag)) {
    throw invalid(`Invalid value at 'policy.etag' (TYPE_BYTES), Base64 decoding failed for ${JSON.stringify(etag)}`);
  }
  return Buffer.from(etag.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

const sameBytes = (a, b) => a.length === b.length && a.equals(b);

/// Returns the version as a number. Proto3 JSON takes an int32 as a number or a decimal string.
function checkVersion(value, what) {
  const version = value === undefined ? 0 : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (![0, 1, 3].includes(version)) throw invalid(`Invalid ${what} ${JSON.stringify(value)}: valid values are 0, 1 and 3.`);
  return version;
}

/// Validates the bindings of a set and returns them as they are stored: members de-duplicated,
/// bindings without members dropped (Google does both).
function checkBindings(bindings, version) {
  if (!Array.isArray(bindings)) throw invalid('Invalid JSON payload received. "bindings" must be a list.');
  const stored = [];
  for (const binding of bindings) {
    checkFields(binding, 'binding');
    checkRole(binding.role);
    const members = [...new Set(binding.members || [])];
    members.forEach(checkMember);
    if (binding.condition !== undefined) checkCondition(binding, version);
    if (members.length > 0) stored.push({ ...clone(binding), members });
  }
  return stored;
}

function checkRole(role) {
  if (typeof role !== 'string' || role === '') throw invalid('A binding has no role.');
  // A `_withcond_` name is what a version 1 read shows for a conditional binding; it is no role.
  if (!ROLE_NAME.test(role) || role.includes('_withcond_')) {
    throw invalid(`Role (${role}) does not exist in the resource's hierarchy.`);
  }
}

function checkMember(member) {
  if (typeof member !== 'string') throw invalid(`Invalid member: ${JSON.stringify(member)}`);
  const [kind, ...rest] = member.split(':');
  const value = rest.join(':');
  const ok = (['user', 'group', 'serviceAccount'].includes(kind) && EMAIL.test(value)) ||
    (kind === 'domain' && /^[a-z0-9.-]+\.[a-z]{2,}$/i.test(value)) ||
    (kind === 'deleted' && value !== '') ||
    ['allUsers', 'allAuthenticatedUsers'].includes(member) ||
    /^principal(Set)?:\/\/.+/.test(member);
  if (!ok) throw invalid(`Invalid member: '${member}'. Members look like user:EMAIL, group:EMAIL, serviceAccount:EMAIL or domain:DOMAIN.`);
}

function checkCondition({ role, condition }, version) {
  checkFields(condition, 'condition');
  if (version < 3) throw invalid(`Conditional role bindings need policy version 3; the policy has version ${version}.`);
  if (BASIC_ROLES.has(role)) throw invalid(`Conditions cannot be added to the basic role ${role}.`);
  if (typeof condition.title !== 'string' || condition.title === '') throw invalid('A condition needs a title.');
  if (condition.title.length > 100) throw invalid('A condition title may be at most 100 characters.');
  if (condition.description !== undefined && String(condition.description).length > 256) {
    throw invalid('A condition description may be at most 256 characters.');
  }
  if (typeof condition.expression !== 'string' || condition.expression.trim() === '') throw invalid('A condition needs an expression.');
  for (const [, literal] of condition.expression.matchAll(/timestamp\(\s*["']([^"']*)["']\s*\)/g)) {
    if (!RFC3339.test(literal) || Number.isNaN(Date.parse(literal))) {
      throw invalid(`Condition expression: timestamp("${literal}") is not an RFC 3339 time.`);
    }
  }
}

// ---- answers ----------------------------------------------------------------------------------

/// The policy as a read at `requested` version shows it. Below 3, conditional bindings appear as
/// `ROLE_withcond_<hash>` without their condition, as Google shows them.
function render(stored, requested) {
  const conditional = hasConditions(stored.bindings);
  const legacy = conditional && requested < 3;
  const bindings = stored.bindings.map((binding) => (legacy && binding.condition ? withcond(binding) : clone(binding)));
  const answer = { version: conditional && !legacy ? 3 : 1, etag: stored.etag };
  if (bindings.length > 0) answer.bindings = bindings;
  if (stored.auditConfigs?.length) answer.auditConfigs = clone(stored.auditConfigs);
  return answer;
}

function withcond({ role, members, condition }) {
  const hash = crypto.createHash('sha256').update(JSON.stringify(condition)).digest('hex').slice(0, 20);
  return { role: `${role}_withcond_${hash}`, members: [...members] };
}

module.exports = { FakeGcp, CONCURRENT_MESSAGE, BASIC_ROLES };
