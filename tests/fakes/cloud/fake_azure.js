// FakeAzure: Azure Resource Manager's PIM role assignment schedule requests, answering as ARM does,
// so jitbot's azure backend can be run against it.
//
//   PUT|GET {scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{name}?api-version=…
//   POST    {scope}/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/{name}/cancel?api-version=…
//   scope = /subscriptions/{guid}[/resourceGroups/{rg}[/providers/…]]
//
// What it enforces, and where the behaviour comes from:
// - Bearer token (401 AuthenticationFailed without a header, InvalidAuthenticationToken with a
//   wrong one), then api-version (400 MissingApiVersionParameter / InvalidApiVersionParameter),
//   as every ARM endpoint does.
// - Schedule requests are immutable: a second PUT of an existing name is refused with
//   400 RoleAssignmentRequestExists "A role assignment request with Id: … already exists." (seen by
//   ARM clients, e.g. Azure/azure-quickstart-templates#12838 and the azure-pim-cli client, which
//   treats it as "already done"). A client that re-sends after a lost answer must read it that way.
// - AdminAssign when the (scope, principal, role) assignment exists: 400 RoleAssignmentExists
//   "The Role assignment already exists."; AdminRemove when it does not: 400
//   RoleAssignmentDoesNotExist. Unknown role definitions: 400 RoleDefinitionDoesNotExist.
// - Enum values that do not parse (requestType, expiration type) are 400 InvalidRequestContent,
//   the .NET deserialiser's complaint. Codes marked "fake's own" below are this fake's naming for
//   checks whose real code is not documented.
// - A request's properties.status is one of ARM's RequestStatus values (Accepted, PendingEvaluation,
//   Granted, Denied, PendingProvisioning, Provisioned, PendingRevocation, Revoked, Canceled, Failed,
//   PendingApprovalProvisioning, PendingApproval, FailedAsResourceIsLocked, PendingAdminDecision,
//   AdminApproved, AdminDenied, TimedOut, ProvisioningStarted, Invalid, …). A request carried out is
//   Provisioned (assign) or Revoked (remove). A request can also be answered 201 and still end without
//   doing anything: endNextRequestAs(status) makes the next one end so (Denied, Failed, …), and
//   holdNextRequest() leaves the next one PendingApproval until the Cancel operation (POST …/cancel,
//   200 with no body) ends it Canceled; cancelling a request that is not pending is 400
//   RequestCannotBeCancelled "Request is not in cancellable state." (as EasyPIM, kayasax/EasyPIM#79,
//   met it). A re-sent PUT of such a request's name still gets RoleAssignmentRequestExists, and a GET
//   shows how it ended.
'use strict';
const crypto = require('node:crypto');
const { FakeServer, sendJson } = require('./fake_server');

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SUPPORTED_API_VERSIONS = ['2020-10-01', '2020-10-01-preview', '2022-04-01-preview', '2024-02-01-preview', '2024-09-01-preview'];
const REQUEST_TYPES = ['AdminAssign', 'AdminRemove', 'AdminUpdate', 'AdminExtend', 'AdminRenew',
  'SelfActivate', 'SelfDeactivate', 'SelfExtend', 'SelfRenew'];
const ASSIGNS = ['AdminAssign', 'SelfActivate'];
const REMOVES = ['AdminRemove', 'SelfDeactivate'];
const RESOURCE_TYPE = 'Microsoft.Authorization/RoleAssignmentScheduleRequests';
const ROUTE = /^(\/subscriptions\/([^/]+)(?:\/resourceGroups\/[^/]+(?:\/providers\/.+?)?)?)\/providers\/Microsoft\.Authorization\/roleAssignmentScheduleRequests\/([^/]+)(\/cancel)?$/i;
const ROLE_DEFINITION_ID = /^(.*)\/providers\/Microsoft\.Authorization\/roleDefinitions\/([^/]+)$/i;
// RequestStatus values of a request that ended without doing what it asked (endNextRequestAs).
const UNDONE_STATUSES = ['Denied', 'Failed', 'FailedAsResourceIsLocked', 'Canceled', 'AdminDenied', 'TimedOut', 'Invalid'];
// A request waiting for someone's decision: nothing is assigned or removed yet, and it may be cancelled.
const PENDING_STATUSES = ['PendingApproval', 'PendingAdminDecision', 'PendingEvaluation'];
const ISO_DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

// Built-in roles every tenant has (IDs are Azure's).
const BUILT_IN_ROLES = {
  '8e3af657-a8ff-443c-a75c-2fe8c4bcb635': 'Owner',
  'b24988ac-6180-42a0-ab88-20f7382dd24c': 'Contributor',
  'acdd72a7-3385-48ef-bd42-f606fba81ae7': 'Reader',
};

class ArmError extends Error {
  constructor(status, code, message, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}
const badRequest = (code, message) => new ArmError(400, code, message);

const clone = (value) => JSON.parse(JSON.stringify(value));
const assignmentKey = (scope, principalId, roleGuid) => [scope, principalId, roleGuid].map((s) => s.toLowerCase()).join('|');

class FakeAzure {
  /// options: {tls, token, roleDefinitions: {guid: name} (default: the built-ins),
  /// principals: [object IDs] (default: any GUID is a principal), callerId: the token's object ID}
  constructor({ tls = null, token = 'azure-test-token', roleDefinitions = BUILT_IN_ROLES, principals = null, callerId } = {}) {
    this.server = new FakeServer((req, body, res) => this.handle(req, body, res), { tls });
    this.token = token;
    this.roleDefinitions = new Map(Object.entries(roleDefinitions).map(([id, name]) => [id.toLowerCase(), name]));
    this.principals = principals && new Set(principals.map((p) => p.toLowerCase()));
    this.callerId = callerId || crypto.randomUUID();
    this.requests = new Map(); // lower-case resource id → the stored ARM resource
    this.assignments = new Map(); // assignmentKey → {scope, principalId, roleDefinitionId, …}
    this.calls = []; // {method, path, scope, name, apiVersion, auth, at (ms), body, status, code?}
    this.faults = []; // ArmErrors, answered once the token and api-version have been checked
    this.dropAfterNextPut = false;
    this.outcomes = []; // statuses the next valid PUTs end in instead of being carried out
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

  activeAssignments() {
    return [...this.assignments.values()].map(clone);
  }

  /// An assignment made outside jitbot (e.g. in the portal).
  addAssignment({ scope, principalId, roleDefinitionId, endDateTime = null }) {
    const roleGuid = ROLE_DEFINITION_ID.exec(roleDefinitionId)?.[2] || roleDefinitionId;
    this.assignments.set(assignmentKey(scope, principalId, roleGuid), { scope, principalId, roleDefinitionId, endDateTime, requestName: null });
  }

  removeAssignments() {
    this.assignments.clear();
  }

  setToken(token) {
    this.token = token;
  }

  /// The next request is throttled: 429 with Retry-After.
  throttleNext(retryAfterSeconds) {
    this.faults.push(new ArmError(429, 'TooManyRequests',
      'The request is being throttled as the limit has been reached for operation type - Write.',
      { 'retry-after': String(retryAfterSeconds) }));
  }

  /// The next request fails with ARM's error shape.
  failNext(status, code, message = `injected ${code}`) {
    this.faults.push(new ArmError(status, code, message));
  }

  /// The next PUT is carried out but its connection is dropped before the answer, as when a
  /// response is lost: the client must re-send (getting RoleAssignmentRequestExists) or GET.
  dropResponseAfterNextPut() {
    this.dropAfterNextPut = true;
  }

  /// The next valid PUT (one that passes every check) ends with `status`, one of UNDONE_STATUSES
  /// (Denied, Failed, Canceled, …), instead of being carried out: it is stored and answered 201 with
  /// that status, and no assignment is made or removed.
  endNextRequestAs(status) {
    if (!UNDONE_STATUSES.includes(status)) throw new Error(`not a status of a request that did nothing: ${status}`);
    this.outcomes.push(status);
  }

  /// The next valid PUT waits for a decision: stored and answered 201 with status PendingApproval,
  /// nothing assigned or removed, until cancelRequest (or POST …/cancel) ends it Canceled.
  holdNextRequest() {
    this.outcomes.push('PendingApproval');
  }

  /// Cancels the pending request named `name` (at any scope) as ARM's Cancel operation would.
  cancelRequest(name) {
    const stored = [...this.requests.values()].find((r) => r.name.toLowerCase() === name.toLowerCase());
    if (!stored) throw new Error(`no request named ${name}`);
    this.cancel(stored.id);
  }

  /// The stored request resource named `name` (a copy), or undefined.
  request(name) {
    const stored = [...this.requests.values()].find((r) => r.name.toLowerCase() === name.toLowerCase());
    return stored && clone(stored);
  }

  /// fn(call, fake) runs after each call is answered.
  onCall(fn) {
    this.listeners.push(fn);
  }

  puts() {
    return this.calls.filter((c) => c.method === 'PUT');
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  async handle(req, rawBody, res) {
    const url = new URL(req.url, 'http://fake');
    const path = decodeURIComponent(url.pathname);
    const route = ROUTE.exec(path);
    const call = {
      method: req.method, path, scope: route?.[1], name: route?.[3], operation: route?.[4] ? 'cancel' : undefined,
      apiVersion: url.searchParams.get('api-version'), auth: this.authOf(req), at: Date.now(),
    };
    this.calls.push(call);
    try {
      const [status, resource] = this.answer(req, route, rawBody, call);
      call.status = status;
      if (req.method === 'PUT' && this.dropAfterNextPut) {
        this.dropAfterNextPut = false;
        call.status = 'dropped';
        res.destroy();
      } else if (resource === undefined) {
        res.writeHead(status, { 'content-length': 0, 'x-ms-request-id': crypto.randomUUID() });
        res.end();
      } else {
        sendJson(res, status, resource, { 'x-ms-request-id': crypto.randomUUID() });
      }
    } catch (error) {
      if (!(error instanceof ArmError)) throw error;
      call.status = error.status;
      call.code = error.code;
      sendJson(res, error.status, { error: { code: error.code, message: error.message } }, error.headers);
    }
    for (const fn of this.listeners) fn(call, this);
  }

  authOf(req) {
    const header = req.headers.authorization;
    if (!header) return 'none';
    return header === `Bearer ${this.token}` ? 'valid' : 'invalid';
  }

  answer(req, route, rawBody, call) {
    this.checkAuth(call.auth);
    checkApiVersion(call.apiVersion);
    const fault = this.faults.shift();
    if (fault) throw fault;
    if (!route) throw new ArmError(404, 'NotFound', `No route for ${req.method} ${call.path}.`);
    if (!GUID.test(route[2])) throw badRequest('InvalidSubscriptionId', `The provided subscription identifier '${route[2]}' is malformed or invalid.`);
    const id = `${call.scope}/providers/${RESOURCE_TYPE}/${call.name}`;
    if (call.operation === 'cancel') {
      if (req.method !== 'POST') throw new ArmError(405, 'MethodNotAllowed', `The requested resource does not support http method '${req.method}'.`);
      this.cancel(id);
      return [200, undefined];
    }
    if (req.method === 'GET') return [200, this.read(id)];
    if (req.method !== 'PUT') throw new ArmError(405, 'MethodNotAllowed', `The requested resource does not support http method '${req.method}'.`);
    const body = parseBody(rawBody);
    call.body = body;
    return [201, this.create(id, call, body)];
  }

  checkAuth(auth) {
    if (auth === 'none') throw new ArmError(401, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    if (auth === 'invalid') {
      throw new ArmError(401, 'InvalidAuthenticationToken', 'The access token is invalid.',
        { 'www-authenticate': 'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", error_description="The access token is invalid."' });
    }
  }

  read(id) {
    const stored = this.requests.get(id.toLowerCase());
    if (!stored) throw new ArmError(404, 'RoleAssignmentScheduleRequestNotFound', `The role assignment schedule request '${id}' was not found.`);
    return clone(stored);
  }

  create(id, call, body) {
    if (!GUID.test(call.name)) {
      // fake's own code: ARM requires a GUID name here, the exact code is undocumented
      throw badRequest('InvalidRoleAssignmentScheduleRequestName', `The role assignment schedule request name '${call.name}' is not valid: it must be a GUID.`);
    }
    if (this.requests.has(id.toLowerCase())) {
      throw badRequest('RoleAssignmentRequestExists', `A role assignment request with Id: ${call.name} already exists.`);
    }
    const properties = this.checkProperties(call.scope, body);
    const outcome = this.outcomes.shift();
    // A request that ends undone (or waits) assigns and removes nothing.
    const resource = outcome ? this.resource(id, call, properties, outcome) : this.apply(id, call, properties);
    this.requests.set(id.toLowerCase(), resource);
    return clone(resource);
  }

  /// ARM's Cancel operation: a pending request ends Canceled; any other is not cancellable.
  cancel(id) {
    const stored = this.requests.get(id.toLowerCase());
    if (!stored) throw new ArmError(404, 'RoleAssignmentScheduleRequestNotFound', `The role assignment schedule request '${id}' was not found.`);
    if (!PENDING_STATUSES.includes(stored.properties.status)) throw badRequest('RequestCannotBeCancelled', 'Request is not in cancellable state.');
    stored.properties.status = 'Canceled';
  }

  checkProperties(scope, body) {
    const p = body.properties;
    if (!p || typeof p !== 'object') throw badRequest('InvalidRequestContent', 'The request content was invalid and could not be deserialized: properties are required.');
    if (!REQUEST_TYPES.includes(p.requestType)) {
      throw badRequest('InvalidRequestContent', `The request content was invalid and could not be deserialized: Error converting value ${JSON.stringify(p.requestType)} to type 'RequestType'. Path 'properties.requestType'.`);
    }
    if (typeof p.principalId !== 'string' || !GUID.test(p.principalId)) {
      throw badRequest('InvalidPrincipalId', `The principal ID '${p.principalId}' is not valid: it must be a GUID.`); // fake's own code
    }
    if (this.principals && !this.principals.has(p.principalId.toLowerCase())) {
      throw badRequest('PrincipalNotFound', `Principal ${p.principalId.replace(/-/g, '')} does not exist in the directory.`);
    }
    this.checkRoleDefinition(scope, p.roleDefinitionId);
    if (p.justification !== undefined && typeof p.justification !== 'string') {
      throw badRequest('InvalidRequestContent', 'The request content was invalid and could not be deserialized: justification must be a string.');
    }
    if (ASSIGNS.includes(p.requestType) || p.scheduleInfo !== undefined) checkScheduleInfo(p.scheduleInfo);
    return p;
  }

  /// roleDefinitionId = {the scope, one of its ancestors, or nothing (tenant)}/providers/
  /// Microsoft.Authorization/roleDefinitions/{guid}, naming a role the fake knows.
  checkRoleDefinition(scope, roleDefinitionId) {
    const match = typeof roleDefinitionId === 'string' && ROLE_DEFINITION_ID.exec(roleDefinitionId);
    const prefix = match ? match[1].toLowerCase() : null;
    const scopeLower = scope.toLowerCase();
    const prefixFits = match && (prefix === '' || scopeLower === prefix || scopeLower.startsWith(`${prefix}/`));
    if (!prefixFits || !GUID.test(match[2])) {
      throw badRequest('InvalidRoleDefinitionId', `The role definition ID '${roleDefinitionId}' is not valid.`);
    }
    if (!this.roleDefinitions.has(match[2].toLowerCase())) {
      throw badRequest('RoleDefinitionDoesNotExist', `The specified role definition with ID '${match[2]}' does not exist.`);
    }
  }

  /// Carries a valid request out against the assignments and returns the stored resource.
  apply(id, call, p) {
    const roleGuid = ROLE_DEFINITION_ID.exec(p.roleDefinitionId)[2];
    const key = assignmentKey(call.scope, p.principalId, roleGuid);
    const existing = this.assignments.get(key);
    const start = p.scheduleInfo?.startDateTime || new Date().toISOString();
    if (ASSIGNS.includes(p.requestType)) {
      if (existing) throw badRequest('RoleAssignmentExists', 'The Role assignment already exists.');
      this.assignments.set(key, {
        scope: call.scope, principalId: p.principalId, roleDefinitionId: p.roleDefinitionId,
        endDateTime: endOf(start, p.scheduleInfo.expiration), requestName: call.name,
      });
    } else if (!existing) {
      throw badRequest('RoleAssignmentDoesNotExist', 'The Role assignment does not exist.');
    } else if (REMOVES.includes(p.requestType)) {
      this.assignments.delete(key);
    } else if (p.scheduleInfo) {
      existing.endDateTime = endOf(start, p.scheduleInfo.expiration);
    }
    return this.resource(id, call, p, REMOVES.includes(p.requestType) ? 'Revoked' : 'Provisioned');
  }

  resource(id, call, p, status) {
    const scheduleId = crypto.randomUUID();
    return {
      id,
      name: call.name,
      type: RESOURCE_TYPE,
      properties: {
        targetRoleAssignmentScheduleId: `${call.scope}/providers/Microsoft.Authorization/roleAssignmentSchedules/${scheduleId}`,
        scope: call.scope,
        roleDefinitionId: p.roleDefinitionId,
        principalId: p.principalId,
        principalType: 'User',
        requestType: p.requestType,
        status,
        scheduleInfo: p.scheduleInfo ? clone(p.scheduleInfo) : null,
        justification: p.justification ?? null,
        ticketInfo: p.ticketInfo ? clone(p.ticketInfo) : null,
        requestorId: this.callerId,
        createdOn: new Date().toISOString(),
        condition: p.condition ?? null,
        conditionVersion: p.conditionVersion ?? null,
      },
    };
  }
}

// ---- request checks ---------------------------------------------------------------------------

function checkApiVersion(apiVersion) {
  if (!apiVersion) {
    throw badRequest('MissingApiVersionParameter', "The api-version query parameter (?api-version=) is required for all requests.");
  }
  if (!SUPPORTED_API_VERSIONS.includes(apiVersion)) {
    throw badRequest('InvalidApiVersionParameter',
      `The api-version '${apiVersion}' is invalid. The supported versions are '${SUPPORTED_API_VERSIONS.join(',')}'.`);
  }
}

function parseBody(rawBody) {
  try {
    const value = JSON.parse(rawBody.toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value;
  } catch {
    // fall through
  }
  throw badRequest('InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
}

/// scheduleInfo: {startDateTime?, expiration: {type: AfterDuration (duration, ISO 8601) |
/// AfterDateTime (endDateTime) | NoExpiration}}.
function checkScheduleInfo(info) {
  const invalidSchedule = (why) => badRequest('InvalidScheduleInfo', `The schedule info is not valid: ${why}`); // fake's own code
  if (!info || typeof info !== 'object') throw invalidSchedule('scheduleInfo is required for this request type.');
  if (info.startDateTime !== undefined && Number.isNaN(Date.parse(info.startDateTime))) {
    throw invalidSchedule(`startDateTime '${info.startDateTime}' is not a date-time.`);
  }
  const expiration = info.expiration;
  if (!expiration || typeof expiration !== 'object') throw invalidSchedule('expiration is required.');
  if (expiration.type === 'AfterDuration') {
    if (typeof expiration.duration !== 'string' || !ISO_DURATION.test(expiration.duration)) {
      throw invalidSchedule(`duration '${expiration.duration}' is not an ISO 8601 duration such as PT2H.`);
    }
  } else if (expiration.type === 'AfterDateTime') {
    const end = Date.parse(expiration.endDateTime);
    if (Number.isNaN(end)) throw invalidSchedule(`endDateTime '${expiration.endDateTime}' is not a date-time.`);
    if (info.startDateTime && end <= Date.parse(info.startDateTime)) throw invalidSchedule('endDateTime is not after startDateTime.');
  } else if (expiration.type !== 'NoExpiration') {
    throw badRequest('InvalidRequestContent', `The request content was invalid and could not be deserialized: Error converting value ${JSON.stringify(expiration.type)} to type 'Type'. Path 'properties.scheduleInfo.expiration.type'.`);
  }
}

/// Seconds in an ISO 8601 duration of days, hours, minutes and seconds (years, months and weeks
/// count as 365, 30 and 7 days, which is all a test needs).
function durationSeconds(duration) {
  const m = ISO_DURATION.exec(duration);
  if (!m) return NaN;
  const n = (part) => (part ? parseFloat(part) : 0);
  return ((n(m[1]) * 365 + n(m[2]) * 30 + n(m[3]) * 7 + n(m[4])) * 24 + n(m[6])) * 3600 + n(m[7]) * 60 + n(m[8]);
}

function endOf(start, expiration) {
  if (expiration.type === 'AfterDuration') return new Date(Date.parse(start) + durationSeconds(expiration.duration) * 1000).toISOString();
  if (expiration.type === 'AfterDateTime') return new Date(Date.parse(expiration.endDateTime)).toISOString();
  return null;
}

module.exports = { FakeAzure, durationSeconds, GUID, BUILT_IN_ROLES, SUPPORTED_API_VERSIONS, UNDONE_STATUSES };
