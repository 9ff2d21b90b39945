// FakeAws: IAM Identity Center (sso-admin), Identity Store, STS, IAM role inline policies and the
// console sign-in federation endpoint on one server, as jitbot's aws backend and the real AWS CLI
// see them.
//
// Wire formats follow botocore's service models (sso-admin 2020-07-20 and identitystore 2020-06-15:
// JSON 1.1 with X-Amz-Target; sts 2011-06-15 and iam 2010-05-08: the Query protocol with XML
// answers; IAM is signed for us-east-1 whatever the region). Every signed
// request is checked with an independent SigV4 verifier (sigv4_aws.js). Assignment operations are
// asynchronous as in AWS: IN_PROGRESS for `pollsUntilDone` status reads, then SUCCEEDED (or FAILED).
'use strict';
const crypto = require('node:crypto');
const { FakeServer, sendText } = require('./fake_server');
const { verifyRequest, AuthError } = require('./sigv4_aws');

const DEFAULTS = {
  region: 'us-east-1',
  accountId: '111111111111', // the account the caller's own keys belong to
  instanceArn: 'arn:aws:sso:::instance/ssoins-1111111111111111',
  identityStoreId: 'd-1111111111',
  permissionSets: ['arn:aws:sso:::permissionSet/ssoins-1111111111111111/ps-2222222222222222'],
  users: [
    { UserId: '9067e1a2b3-5f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f', UserName: 'alice@example.com' },
    { UserId: '9067e1a2b3-6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d', UserName: 'bob@example.com' },
  ],
  pollsUntilDone: 2,
  maxSessionDuration: 43200, // the console role's MaxSessionDuration (AWS's own default is 3600)
  errorStyle: 'plain',
};

const SIGNIN_TOKEN_LIFETIME_MS = 15 * 60 * 1000;

// Patterns from botocore's models (sso-admin 2020-07-20, identitystore 2020-06-15, sts 2011-06-15).
const PATTERNS = {
  instanceArn: /^arn:aws(-[a-z]{1,5}){0,3}:sso:::instance\/(sso)?ins-[a-zA-Z0-9-.]{16}$/,
  permissionSetArn: /^arn:aws(-[a-z]{1,5}){0,3}:sso:::permissionSet\/(sso)?ins-[a-zA-Z0-9-.]{16}\/ps-[a-zA-Z0-9-./]{16}$/,
  accountId: /^\d{12}$/,
  principalId: /^([0-9a-f]{10}-|)[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$/,
  uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
  identityStoreId: /^(d-[0-9a-f]{10}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/,
  roleArn: /^arn:aws(-[a-z]{1,5}){0,3}:iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]+)$/,
  roleSessionName: /^[\w+=,.@-]*$/,
  roleName: /^[\w+=,.@-]{1,64}$/,
  policyName: /^[\w+=,.@-]{1,128}$/,
};

// IAM's limit on the inline policies of one role, in bytes (whitespace not counted).
const ROLE_POLICY_SIZE_LIMIT = 10240;

/// A modelled error: code (e.g. "ConflictException"), HTTP status, message.
class ApiError extends Error {
  constructor(code, status, message) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const validationError = (problems) =>
  new ApiError('ValidationException', 400,
    `${problems.length} validation error${problems.length > 1 ? 's' : ''} detected: ${problems.join('; ')}`);

/// AWS's wording for each failed member constraint: "Value 'x' at 'targetId' failed to satisfy constraint: …".
function checkMembers(body, rules) {
  const problems = [];
  for (const [member, rule] of Object.entries(rules)) {
    const value = body[member];
    const at = member[0].toLowerCase() + member.slice(1);
    if (value === undefined || value === null) {
      if (rule.required) problems.push(`Value null at '${at}' failed to satisfy constraint: Member must not be null`);
    } else if (rule.enum && !rule.enum.includes(value)) {
      problems.push(`Value '${value}' at '${at}' failed to satisfy constraint: Member must satisfy enum value set: [${rule.enum.join(', ')}]`);
    } else if (rule.pattern && (typeof value !== 'string' || !rule.pattern.test(value))) {
      problems.push(`Value '${value}' at '${at}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${rule.pattern.source.replace(/^\^|\$$/g, '')}`);
    }
  }
  if (problems.length) throw validationError(problems);
}

const ASSIGNMENT_RULES = {
  InstanceArn: { required: true, pattern: PATTERNS.instanceArn },
  TargetId: { required: true, pattern: PATTERNS.accountId },
  TargetType: { required: true, enum: ['AWS_ACCOUNT'] },
  PermissionSetArn: { required: true, pattern: PATTERNS.permissionSetArn },
  PrincipalType: { required: true, enum: ['USER', 'GROUP'] },
  PrincipalId: { required: true, pattern: PATTERNS.principalId },
};

const randomId = (alphabet, length) =>
  Array.from(crypto.randomBytes(length), (b) => alphabet[b % alphabet.length]).join('');
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const XML_ENTITIES = { '<': '&lt;', '>': '&gt;', '&': '&amp;' };
const escapeXml = (text) => String(text).replace(/[<>&]/g, (c) => XML_ENTITIES[c]); // element text only
const isoSeconds = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/// The JSON services on this server: X-Amz-Target prefix → signing name, error namespace and operations.
const JSON_SERVICES = {
  SWBExternalService: { signingName: 'sso', namespace: 'com.amazonaws.swbexternalservice' },
  AWSIdentityStore: { signingName: 'identitystore', namespace: 'com.amazonaws.identitystore' },
};

class FakeAws {
  /// options: {tls, region, accountId, credentials: [{accessKeyId, secretAccessKey, sessionToken?, arn?}],
  /// instanceArn, identityStoreId, users: [{UserId, UserName}], permissionSets: [arn], pollsUntilDone,
  /// maxSessionDuration, errorStyle: 'plain' | 'coral', missingDelete: 'not-found' | 'failed-status',
  /// now: () => ms}.
  ///
  /// errorStyle 'plain' answers JSON errors as {"__type": "Code", "message": …} with x-amzn-ErrorType: Code
  /// and a status per error (404 not found, 409 conflict, 403 denied). 'coral' answers the other way AWS
  /// JSON services are seen to: a namespaced __type ("com.amazonaws.swbexternalservice#Code"), "Message",
  /// x-amzn-ErrorType "Code:http://internal.amazon.com/coral/…/" and HTTP 400 for every client error.
  /// Clients must key on the code, not the status or the exact shape.
  constructor(options = {}) {
    const o = { ...DEFAULTS, ...options };
    this.region = o.region;
    this.accountId = o.accountId;
    this.instanceArn = o.instanceArn;
    this.identityStoreId = o.identityStoreId;
    this.permissionSets = new Set(o.permissionSets);
    this.users = o.users.map((u) => ({ ...u }));
    this.pollsUntilDone = o.pollsUntilDone;
    this.maxSessionDuration = o.maxSessionDuration;
    this.errorStyle = o.errorStyle;
    this.missingDelete = o.missingDelete || 'not-found';
    this.now = o.now || (() => Date.now());
    this.credentials = (o.credentials || [FakeAws.newCredentials()]).map((c) => ({ ...c }));

    this.calls = []; // {service, operation, body (parsed), accessKeyId} for every authenticated call
    this.rejected = []; // {service, code, message} for every request refused before reaching an operation
    this.history = []; // {event: 'created' | 'deleted', assignment} in the order assignments changed
    this.assumedRoles = []; // every AssumeRole that issued credentials: {RoleArn, RoleSessionName, DurationSeconds, accessKeyId}
    this.issuedSigninTokens = new Map(); // SigninToken → {accessKeyId, roleArn, sessionName, expiresAt}

    this._assignments = new Map(); // key(target, permission set, principal) → assignment
    this._operations = new Map(); // request ID → {kind, key, assignment, reads, status, failureReason, createdDate, failWith}
    this._issued = new Map(); // access key ID → credentials from AssumeRole
    this._rolePolicies = new Map(); // "account|role|policy" → policy document (JSON text)
    this._faults = []; // {operation, code, status, message, headers}
    this._statusFaults = []; // {operation, reason}: the next such operation ends FAILED

    this.server = new FakeServer((req, body, res) => this._route(req, body, res), { tls: o.tls });
  }

  /// Long-term-looking keys for a test: {accessKeyId: "AKIA…", secretAccessKey}.
  static newCredentials() {
    return { accessKeyId: `AKIA${randomId(UPPER_ALNUM, 16)}`, secretAccessKey: crypto.randomBytes(30).toString('base64') };
  }

  async start() {
    await this.server.start();
    return this;
  }

  async stop() {
    await this.server.close();
  }

  get url() {
    return this.server.url;
  }

  get signinUrl() {
    return `${this.server.url}/federation`;
  }

  // -------------------------------------------------------------------------------------------------
  // Test controls
  // -------------------------------------------------------------------------------------------------

  /// The next `times` calls to `operation` (e.g. 'CreateAccountAssignment', 'AssumeRole', 'ListUsers')
  /// fail with this error after authentication: failNext('DeleteAccountAssignment', 'ConflictException', 409).
  failNext(operation, code, status = 400, { message, times = 1, headers = {} } = {}) {
    for (let i = 0; i < times; i++) {
      this._faults.push({ operation, code, status, message: message || `Injected ${code} for ${operation}.`, headers });
    }
  }

  /// The next Create/DeleteAccountAssignment is accepted but ends FAILED with this FailureReason.
  failNextOperation(operation, reason) {
    this._statusFaults.push({ operation, reason });
  }

  /// Current assignments: [{TargetId, TargetType, PermissionSetArn, PrincipalType, PrincipalId}].
  assignments() {
    return [...this._assignments.values()].map((a) => ({ ...a }));
  }

  /// Puts an assignment in place (as if made in the console), or takes one away.
  addAssignment(assignment) {
    const a = { TargetType: 'AWS_ACCOUNT', PrincipalType: 'USER', ...assignment };
    this._assignments.set(assignmentKey(a), a);
  }

  removeAssignment(assignment) {
    this._assignments.delete(assignmentKey(assignment));
  }

  /// An inline policy of a role, parsed, or null: rolePolicy('123456789012', 'JitbotConsole', 'JitbotRevokedSessions').
  rolePolicy(account, roleName, policyName) {
    const text = this._rolePolicies.get(`${account}|${roleName}|${policyName}`);
    return text === undefined ? null : JSON.parse(text);
  }

  /// Whether IAM would now deny every action to the session behind these temporary credentials:
  /// an inline Deny of "*" on its role whose conditions all hold (StringLike/StringEquals on
  /// aws:userid, DateLessThan/DateGreaterThan on aws:TokenIssueTime), as AWS evaluates them.
  sessionDenied(accessKeyId) {
    const issued = this._issued.get(accessKeyId);
    if (!issued) return false;
    const roleName = PATTERNS.roleArn.exec(issued.roleArn)[3];
    const context = { 'aws:userid': issued.assumedRoleId, 'aws:tokenissuetime': issued.issuedAt };
    for (const [key, text] of this._rolePolicies) {
      const [account, role] = key.split('|');
      if (account !== issued.account || role !== roleName) continue;
      const statements = [JSON.parse(text).Statement].flat();
      if (statements.some((st) => st.Effect === 'Deny' && [st.Action].flat().includes('*') && conditionsHold(st.Condition, context))) {
        return true;
      }
    }
    return false;
  }

  /// A console login URL's session as the console would see it now: null if the link is not a
  /// live sign-in token of this fake, else {…record, denied} (denied: every action refused).
  consoleSession(url) {
    const record = this.validSigninUrl(url);
    return record && { ...record, denied: this.sessionDenied(record.accessKeyId) };
  }

  callsTo(operation) {
    return this.calls.filter((c) => c.operation === operation);
  }

  /// Every credential AssumeRole handed out: [{accessKeyId, secretAccessKey, sessionToken, roleArn, sessionName}].
  issuedCredentials() {
    return [...this._issued.values()].map(({ accessKeyId, secretAccessKey, sessionToken, roleArn, sessionName }) =>
      ({ accessKeyId, secretAccessKey, sessionToken, roleArn, sessionName }));
  }

  /// Raw requests as received (method, url, headers, body), authenticated or not.
  get requests() {
    return this.server.requests;
  }

  userId(userName) {
    return this.users.find((u) => u.UserName === userName)?.UserId;
  }

  /// The sign-in token record behind a console login URL (…/federation?Action=login&Destination=…
  /// &SigninToken=…) if this fake issued that token and it is still valid; null otherwise.
  validSigninUrl(url) {
    let parsed;
    try {
      parsed = new URL(url);
    } catch {
      return null;
    }
    if (parsed.origin !== this.url || parsed.pathname !== '/federation') return null;
    const params = parsed.searchParams;
    if (params.get('Action') !== 'login' || !isHttpsUrl(params.get('Destination'))) return null;
    return this._liveSigninToken(params.get('SigninToken'));
  }

  // -------------------------------------------------------------------------------------------------
  // Routing and authentication
  // -------------------------------------------------------------------------------------------------

  async _route(req, body, res) {
    const path = req.url.split('?')[0];
    if (path === '/federation') return this._federation(req, res);
    // One endpoint serves all: JSON calls name their operation in X-Amz-Target; STS posts a form.
    const target = req.headers['x-amz-target'];
    const json = /^application\/x-amz-json/.test(req.headers['content-type'] || '');
    if (target || json) return this._jsonService(req, body, res, target || '');
    const params = req.method === 'POST' ? new URLSearchParams(body.toString('utf8')) : new URL(req.url, 'http://x').searchParams;
    if (params.get('Version') === '2010-05-08') return this._iam(req, body, params, res);
    return this._sts(req, body, res);
  }

  _lookupCredential(accessKeyId) {
    const own = this.credentials.find((c) => c.accessKeyId === accessKeyId);
    if (own) return own;
    const issued = this._issued.get(accessKeyId);
    if (!issued) return null;
    return { ...issued, expired: issued.expiresAt <= this.now() };
  }

  /// Verifies the signature for `service`; returns the access key ID, or null after answering the error.
  _authenticate(req, body, service, answerError, region = this.region) {
    try {
      const { accessKeyId } = verifyRequest({
        method: req.method, url: req.url, rawHeaders: req.rawHeaders, headers: req.headers, body,
        service, region, lookup: (id) => this._lookupCredential(id), now: this.now(),
      });
      return accessKeyId;
    } catch (error) {
      if (!(error instanceof AuthError)) throw error;
      answerError(error);
      return null;
    }
  }

  _takeFault(operation) {
    const i = this._faults.findIndex((f) => f.operation === operation);
    return i < 0 ? null : this._faults.splice(i, 1)[0];
  }

  // -------------------------------------------------------------------------------------------------
  // JSON 1.1 services: sso-admin and identitystore
  // -------------------------------------------------------------------------------------------------

  _jsonService(req, body, res, target) {
    const [prefix, operation] = target.split('.');
    const service = JSON_SERVICES[prefix];
    const fail = (error) => this._sendJsonError(res, service, error);
    if (!service || req.method !== 'POST') return fail(new ApiError('UnknownOperationException', 400, ''));
    const accessKeyId = this._authenticate(req, body, service.signingName, (e) => {
      this.rejected.push({ service: service.signingName, operation, code: jsonAuthCode(e.kind), message: e.message });
      fail(jsonAuthError(e));
    });
    if (!accessKeyId) return;
    // A strict fake: real AWS's answer to a wrong Content-Type varies, but it is always a client bug.
    if (!/^application\/x-amz-json-1\.1\b/.test(req.headers['content-type'] || '')) {
      return fail(new ApiError('SerializationException', 400, `Expected Content-Type application/x-amz-json-1.1, got '${req.headers['content-type'] || ''}'.`));
    }
    let input;
    try {
      input = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch {
      return fail(new ApiError('SerializationException', 400, 'Start of structure or map found where not expected.'));
    }
    const handler = this._jsonOperations()[`${prefix}.${operation}`];
    if (!handler) return fail(new ApiError('UnknownOperationException', 400, ''));
    this.calls.push({ service: service.signingName, operation, body: input, accessKeyId });
    const fault = this._takeFault(operation);
    if (fault) return this._sendJsonError(res, service, new ApiError(fault.code, fault.status, fault.message), fault.headers);
    try {
      this._sendJson(res, 200, handler(input));
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fail(error);
    }
  }

  _jsonOperations() {
    return {
      'SWBExternalService.CreateAccountAssignment': (b) => this._startOperation('create', b),
      'SWBExternalService.DeleteAccountAssignment': (b) => this._startOperation('delete', b),
      'SWBExternalService.DescribeAccountAssignmentCreationStatus': (b) => this._describeOperation('create', b),
      'SWBExternalService.DescribeAccountAssignmentDeletionStatus': (b) => this._describeOperation('delete', b),
      'SWBExternalService.ListAccountAssignments': (b) => this._listAssignments(b),
      'AWSIdentityStore.ListUsers': (b) => this._listUsers(b),
      'AWSIdentityStore.GetUserId': (b) => this._getUserId(b),
    };
  }

  _sendJson(res, status, value, headers = {}) {
    sendText(res, status, JSON.stringify(value), 'application/x-amz-json-1.1', { 'x-amzn-RequestId': crypto.randomUUID(), ...headers });
  }

  _sendJsonError(res, service, error, headers = {}) {
    const coral = this.errorStyle === 'coral';
    const namespace = error.authLayer ? 'com.amazon.coral.service' : service?.namespace || 'com.amazon.coral.service';
    const status = coral && error.status < 500 && !error.authLayer ? 400 : error.status;
    const body = coral
      ? { __type: `${namespace}#${error.code}`, Message: error.message }
      : { __type: error.code, message: error.message };
    const errorType = coral ? `${error.code}:http://internal.amazon.com/coral/${namespace}/` : error.code;
    this._sendJson(res, status, body, { 'x-amzn-ErrorType': errorType, ...headers });
  }

  // --- sso-admin: account assignments ---

  _checkAssignmentInput(input) {
    checkMembers(input, ASSIGNMENT_RULES);
    this._checkInstance(input.InstanceArn);
    if (!this.permissionSets.has(input.PermissionSetArn)) {
      throw new ApiError('ResourceNotFoundException', 404, `Could not find PermissionSet with PermissionSetArn: ${input.PermissionSetArn}`);
    }
    if (input.PrincipalType === 'USER' && !this.users.some((u) => u.UserId === input.PrincipalId)) {
      throw new ApiError('ResourceNotFoundException', 404, `Could not find User with PrincipalId: ${input.PrincipalId} in IdentityStore: ${this.identityStoreId}`);
    }
  }

  _checkInstance(instanceArn) {
    if (instanceArn !== this.instanceArn) {
      throw new ApiError('ResourceNotFoundException', 404, `Could not find Instance with InstanceArn: ${instanceArn}`);
    }
  }

  /// CreateAccountAssignment / DeleteAccountAssignment: checked now, done after `pollsUntilDone` status reads.
  _startOperation(kind, input) {
    this._checkAssignmentInput(input);
    const assignment = pick(input, ['TargetId', 'TargetType', 'PermissionSetArn', 'PrincipalType', 'PrincipalId']);
    const key = assignmentKey(assignment);
    if ([...this._operations.values()].some((op) => op.key === key && op.status === 'IN_PROGRESS')) {
      throw new ApiError('ConflictException', 409,
        'There is an ongoing operation on this account assignment. Wait for it to complete and try again.');
    }
    if (kind === 'delete' && !this._assignments.has(key) && this.missingDelete === 'not-found') {
      throw new ApiError('ResourceNotFoundException', 404, 'Could not find the account assignment to delete.');
    }
    const operation = kind === 'create' ? 'CreateAccountAssignment' : 'DeleteAccountAssignment';
    const faultAt = this._statusFaults.findIndex((f) => f.operation === operation);
    const failWith = faultAt < 0 ? null : this._statusFaults.splice(faultAt, 1)[0].reason;
    const op = { kind, key, assignment, reads: 0, status: 'IN_PROGRESS', requestId: crypto.randomUUID(), createdDate: this.now() / 1000, failWith };
    this._operations.set(op.requestId, op);
    return { [statusMember(kind)]: operationStatus(op) };
  }

  _describeOperation(kind, input) {
    const idMember = kind === 'create' ? 'AccountAssignmentCreationRequestId' : 'AccountAssignmentDeletionRequestId';
    checkMembers(input, { InstanceArn: { required: true, pattern: PATTERNS.instanceArn }, [idMember]: { required: true, pattern: PATTERNS.uuid } });
    this._checkInstance(input.InstanceArn);
    const op = this._operations.get(input[idMember]);
    if (!op || op.kind !== kind) {
      throw new ApiError('ResourceNotFoundException', 404, `Could not find ${idMember.replace(/Id$/, '')} with ID: ${input[idMember]}`);
    }
    op.reads += 1;
    if (op.status === 'IN_PROGRESS' && op.reads > this.pollsUntilDone) this._finish(op);
    return { [statusMember(kind)]: operationStatus(op) };
  }

  _finish(op) {
    if (op.failWith) {
      op.status = 'FAILED';
      op.failureReason = op.failWith;
      return;
    }
    if (op.kind === 'delete' && !this._assignments.has(op.key)) {
      // Only reachable with missingDelete 'failed-status': AWS's asynchronous 404.
      op.status = 'FAILED';
      op.failureReason = 'Received a 404 status error: Assignment not found.';
      return;
    }
    op.status = 'SUCCEEDED';
    if (op.kind === 'create' && !this._assignments.has(op.key)) {
      this._assignments.set(op.key, op.assignment);
      this.history.push({ event: 'created', assignment: { ...op.assignment } });
    } else if (op.kind === 'delete') {
      this._assignments.delete(op.key);
      this.history.push({ event: 'deleted', assignment: { ...op.assignment } });
    }
  }

  _listAssignments(input) {
    checkMembers(input, {
      InstanceArn: { required: true, pattern: PATTERNS.instanceArn },
      AccountId: { required: true, pattern: PATTERNS.accountId },
      PermissionSetArn: { required: true, pattern: PATTERNS.permissionSetArn },
    });
    this._checkInstance(input.InstanceArn);
    const matching = this.assignments()
      .filter((a) => a.TargetId === input.AccountId && a.PermissionSetArn === input.PermissionSetArn)
      .map((a) => ({ AccountId: a.TargetId, PermissionSetArn: a.PermissionSetArn, PrincipalType: a.PrincipalType, PrincipalId: a.PrincipalId }));
    return paginate(matching, 'AccountAssignments', input);
  }

  // --- identitystore ---

  _checkIdentityStore(input) {
    checkMembers(input, { IdentityStoreId: { required: true, pattern: PATTERNS.identityStoreId } });
    if (input.IdentityStoreId !== this.identityStoreId) {
      throw new ApiError('ResourceNotFoundException', 404, `Identity store ${input.IdentityStoreId} not found.`);
    }
  }

  /// ListUsers with the (deprecated, still served) Filters: [{AttributePath: "UserName", AttributeValue}].
  _listUsers(input) {
    this._checkIdentityStore(input);
    const filters = input.Filters || [];
    if (filters.length > 1) throw validationError([`Value '${JSON.stringify(filters)}' at 'filters' failed to satisfy constraint: Member must have length less than or equal to 1`]);
    let users = this.users;
    for (const filter of filters) {
      if (filter.AttributePath !== 'UserName' && filter.AttributePath !== 'DisplayName') {
        throw validationError([`Invalid AttributePath ${filter.AttributePath}`]);
      }
      users = users.filter((u) => u[filter.AttributePath] === filter.AttributeValue);
    }
    const listed = users.map((u) => ({ ...u, IdentityStoreId: this.identityStoreId }));
    return paginate(listed, 'Users', input);
  }

  /// GetUserId: AWS's replacement for the UserName filter.
  _getUserId(input) {
    this._checkIdentityStore(input);
    const unique = input.AlternateIdentifier?.UniqueAttribute;
    if (!unique || unique.AttributePath?.toLowerCase() !== 'username') {
      throw validationError(['Value null at \'alternateIdentifier\' failed to satisfy constraint: Member must not be null']);
    }
    const user = this.users.find((u) => u.UserName === unique.AttributeValue);
    if (!user) throw new ApiError('ResourceNotFoundException', 404, 'USER not found.');
    return { UserId: user.UserId, IdentityStoreId: this.identityStoreId };
  }

  // -------------------------------------------------------------------------------------------------
  // STS: the Query protocol (form POST or GET), XML answers
  // -------------------------------------------------------------------------------------------------

  _sts(req, body, res) {
    const params = req.method === 'POST' ? new URLSearchParams(body.toString('utf8')) : new URL(req.url, 'http://x').searchParams;
    const action = params.get('Action');
    const fail = (code, status, message) => this._sendStsError(res, code, status, message);
    const accessKeyId = this._authenticate(req, body, 'sts', (e) => {
      const [code, status] = STS_AUTH_CODES[e.kind];
      this.rejected.push({ service: 'sts', operation: action, code, message: e.message });
      fail(code, status, e.message);
    });
    if (!accessKeyId) return;
    const handlers = { AssumeRole: () => this._assumeRole(params, accessKeyId), GetCallerIdentity: () => this._callerIdentity(accessKeyId) };
    if (!handlers[action] || params.get('Version') !== '2011-06-15') {
      return fail('InvalidAction', 400, `Could not find operation ${action} for version ${params.get('Version')}`);
    }
    this.calls.push({ service: 'sts', operation: action, body: Object.fromEntries(params), accessKeyId });
    const fault = this._takeFault(action);
    if (fault) return this._sendStsError(res, fault.code, fault.status, fault.message, fault.headers);
    try {
      const result = handlers[action]();
      sendText(res, 200, stsResponse(action, result), 'text/xml', { 'x-amzn-RequestId': crypto.randomUUID() });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fail(error.code, error.status, error.message);
    }
  }

  _sendStsError(res, code, status, message, headers = {}) {
    this._sendQueryError(res, 'https://sts.amazonaws.com/doc/2011-06-15/', code, status, message, headers);
  }

  _sendQueryError(res, namespace, code, status, message, headers = {}) {
    const requestId = crypto.randomUUID();
    const xml = `<ErrorResponse xmlns="${namespace}">\n` +
      `  <Error>\n    <Type>${status >= 500 ? 'Receiver' : 'Sender'}</Type>\n    <Code>${escapeXml(code)}</Code>\n` +
      `    <Message>${escapeXml(message)}</Message>\n  </Error>\n  <RequestId>${requestId}</RequestId>\n</ErrorResponse>\n`;
    sendText(res, status, xml, 'text/xml', { 'x-amzn-RequestId': requestId, ...headers });
  }

  _assumeRole(params, callerKeyId) {
    const roleArn = params.get('RoleArn');
    const sessionName = params.get('RoleSessionName');
    const duration = params.has('DurationSeconds') ? Number(params.get('DurationSeconds')) : 3600;
    checkAssumeRoleInput(roleArn, sessionName, duration, params.get('DurationSeconds'));
    if (duration > this.maxSessionDuration) {
      throw new ApiError('ValidationError', 400, 'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    }
    const [, , account, roleName] = PATTERNS.roleArn.exec(roleArn);
    const roleId = `AROA${randomId(UPPER_ALNUM, 17)}`;
    const issued = {
      accessKeyId: `ASIA${randomId(UPPER_ALNUM, 16)}`,
      secretAccessKey: crypto.randomBytes(30).toString('base64'),
      // Real tokens are long base64 with '+', '/' and '=', which is what tests URL-encoding.
      sessionToken: `IQoJb3JpZ2luX2VjE${crypto.randomBytes(360).toString('base64')}`,
      expiresAt: this.now() + duration * 1000,
      issuedAt: this.now(),
      roleArn, sessionName, account,
      assumedRoleId: `${roleId}:${sessionName}`,
      arn: `arn:aws:sts::${account}:assumed-role/${roleName}/${sessionName}`,
    };
    this._issued.set(issued.accessKeyId, issued);
    this.assumedRoles.push({ RoleArn: roleArn, RoleSessionName: sessionName, DurationSeconds: duration, accessKeyId: issued.accessKeyId, callerKeyId });
    return issued;
  }

  _callerIdentity(accessKeyId) {
    const issued = this._issued.get(accessKeyId);
    if (issued) return { UserId: issued.assumedRoleId, Account: issued.account, Arn: issued.arn };
    const own = this.credentials.find((c) => c.accessKeyId === accessKeyId);
    return { UserId: `AIDA${accessKeyId.slice(4)}`, Account: this.accountId, Arn: own.arn || `arn:aws:iam::${this.accountId}:user/jitbot` };
  }

  // -------------------------------------------------------------------------------------------------
  // IAM: role inline policies (Query protocol, global, signed for us-east-1)
  // -------------------------------------------------------------------------------------------------

  _iam(req, body, params, res) {
    const action = params.get('Action');
    const fail = (code, status, message) => this._sendQueryError(res, IAM_NAMESPACE, code, status, message);
    const accessKeyId = this._authenticate(req, body, 'iam', (e) => {
      const [code, status] = STS_AUTH_CODES[e.kind];
      this.rejected.push({ service: 'iam', operation: action, code, message: e.message });
      fail(code, status, e.message);
    }, 'us-east-1');
    if (!accessKeyId) return;
    const handlers = {
      GetRolePolicy: () => this._getRolePolicy(params, accessKeyId),
      PutRolePolicy: () => this._putRolePolicy(params, accessKeyId),
      DeleteRolePolicy: () => this._deleteRolePolicy(params, accessKeyId),
    };
    if (!handlers[action]) return fail('InvalidAction', 400, `Could not find operation ${action} for version 2010-05-08`);
    this.calls.push({ service: 'iam', operation: action, body: Object.fromEntries(params), accessKeyId });
    const fault = this._takeFault(action);
    if (fault) return this._sendQueryError(res, IAM_NAMESPACE, fault.code, fault.status, fault.message, fault.headers);
    try {
      const result = handlers[action]();
      sendText(res, 200, iamResponse(action, result), 'text/xml', { 'x-amzn-RequestId': crypto.randomUUID() });
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      fail(error.code, error.status, error.message);
    }
  }

  /// The caller's account: the fake's own for its keys, the role's for assumed-role credentials.
  _callerAccount(accessKeyId) {
    return this._issued.get(accessKeyId)?.account || this.accountId;
  }

  _rolePolicyKey(params, accessKeyId) {
    const roleName = params.get('RoleName');
    const policyName = params.get('PolicyName');
    const problems = [];
    if (roleName === null) problems.push("Value null at 'roleName' failed to satisfy constraint: Member must not be null");
    else if (!PATTERNS.roleName.test(roleName)) problems.push(`Value '${roleName}' at 'roleName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`);
    if (policyName === null) problems.push("Value null at 'policyName' failed to satisfy constraint: Member must not be null");
    else if (!PATTERNS.policyName.test(policyName)) problems.push(`Value '${policyName}' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`);
    if (problems.length) throw new ApiError('ValidationError', 400, `${problems.length} validation error${problems.length > 1 ? 's' : ''} detected: ${problems.join('; ')}`);
    return { key: `${this._callerAccount(accessKeyId)}|${roleName}|${policyName}`, roleName, policyName };
  }

  _getRolePolicy(params, accessKeyId) {
    const { key, roleName, policyName } = this._rolePolicyKey(params, accessKeyId);
    const document = this._rolePolicies.get(key);
    if (document === undefined) throw new ApiError('NoSuchEntity', 404, `The role policy with name ${policyName} cannot be found.`);
    return { RoleName: roleName, PolicyName: policyName, PolicyDocument: document };
  }

  _putRolePolicy(params, accessKeyId) {
    const { key, roleName } = this._rolePolicyKey(params, accessKeyId);
    const text = params.get('PolicyDocument');
    if (text === null) throw new ApiError('ValidationError', 400, "1 validation error detected: Value null at 'policyDocument' failed to satisfy constraint: Member must not be null");
    let document;
    try {
      document = JSON.parse(text);
    } catch {
      throw new ApiError('MalformedPolicyDocument', 400, 'Syntax errors in policy.');
    }
    const problem = policyProblem(document);
    if (problem) throw new ApiError('MalformedPolicyDocument', 400, problem);
    const others = [...this._rolePolicies].filter(([k]) => k !== key && k.startsWith(key.slice(0, key.lastIndexOf('|') + 1)));
    const size = [text, ...others.map(([, t]) => t)].reduce((sum, t) => sum + t.replace(/\s/g, '').length, 0);
    if (size > ROLE_POLICY_SIZE_LIMIT) {
      throw new ApiError('LimitExceeded', 409, `Maximum policy size of ${ROLE_POLICY_SIZE_LIMIT} bytes exceeded for role ${roleName}`);
    }
    this._rolePolicies.set(key, text);
    return {};
  }

  _deleteRolePolicy(params, accessKeyId) {
    const { key, policyName } = this._rolePolicyKey(params, accessKeyId);
    if (!this._rolePolicies.delete(key)) throw new ApiError('NoSuchEntity', 404, `The role policy with name ${policyName} cannot be found.`);
    return {};
  }

  // -------------------------------------------------------------------------------------------------
  // The sign-in federation endpoint (unsigned GETs, as at https://signin.aws.amazon.com/federation)
  // -------------------------------------------------------------------------------------------------

  _federation(req, res) {
    const params = new URL(req.url, 'http://x').searchParams;
    const action = params.get('Action');
    this.calls.push({ service: 'signin', operation: action, body: Object.fromEntries(params), accessKeyId: null });
    if (req.method !== 'GET') return sendText(res, 405, 'Method Not Allowed');
    const fault = this._takeFault(action);
    if (fault) return sendText(res, fault.status, fault.message, 'text/plain', fault.headers);
    if (action === 'getSigninToken') return this._getSigninToken(params, res);
    if (action === 'login') return this._login(params, res);
    return sendText(res, 400, `Unsupported Action: ${action}`);
  }

  /// Session = URL-encoded JSON {sessionId, sessionKey, sessionToken} of credentials from AssumeRole.
  _getSigninToken(params, res) {
    let session;
    try {
      session = JSON.parse(params.get('Session') || '');
    } catch {
      return sendText(res, 400, 'Invalid Session parameter: not JSON.');
    }
    const issued = this._issued.get(session?.sessionId);
    const valid = issued && issued.secretAccessKey === session.sessionKey && issued.sessionToken === session.sessionToken &&
      issued.expiresAt > this.now();
    if (!valid) return sendText(res, 400, 'Invalid session credentials: the federation endpoint accepts only valid temporary credentials.');
    if (params.has('SessionDuration')) {
      const seconds = Number(params.get('SessionDuration'));
      if (!Number.isInteger(seconds) || seconds < 900 || seconds > 43200) return sendText(res, 400, 'SessionDuration must be between 900 and 43200 seconds.');
    }
    const token = crypto.randomBytes(192).toString('base64url');
    this.issuedSigninTokens.set(token, {
      accessKeyId: issued.accessKeyId, roleArn: issued.roleArn, sessionName: issued.sessionName,
      expiresAt: this.now() + SIGNIN_TOKEN_LIFETIME_MS,
    });
    const text = JSON.stringify({ SigninToken: token });
    sendText(res, 200, text, 'application/json');
  }

  _login(params, res) {
    const destination = params.get('Destination');
    if (!isHttpsUrl(destination)) return sendText(res, 400, 'Destination must be an https URL.');
    if (!this._liveSigninToken(params.get('SigninToken'))) return sendText(res, 400, 'Invalid or expired SigninToken.');
    res.writeHead(302, { location: destination, 'content-length': 0 });
    res.end();
  }

  _liveSigninToken(token) {
    const record = token ? this.issuedSigninTokens.get(token) : null;
    return record && record.expiresAt > this.now() ? { ...record } : null;
  }
}

// ---------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------

const assignmentKey = (a) => `${a.TargetId}|${a.PermissionSetArn}|${a.PrincipalType}|${a.PrincipalId}`;
const statusMember = (kind) => (kind === 'create' ? 'AccountAssignmentCreationStatus' : 'AccountAssignmentDeletionStatus');
const pick = (object, keys) => Object.fromEntries(keys.map((k) => [k, object[k]]));

function operationStatus(op) {
  return {
    Status: op.status,
    RequestId: op.requestId,
    ...(op.failureReason ? { FailureReason: op.failureReason } : {}),
    ...op.assignment,
    CreatedDate: op.createdDate, // JSON protocol timestamps are epoch seconds
  };
}

/// MaxResults / NextToken paging; the token is an opaque offset.
function paginate(items, member, input) {
  const start = input.NextToken ? Number(Buffer.from(input.NextToken, 'base64').toString()) || 0 : 0;
  const size = Math.min(Math.max(Number(input.MaxResults) || 100, 1), 100);
  const page = items.slice(start, start + size);
  const out = { [member]: page };
  if (start + size < items.length) out.NextToken = Buffer.from(String(start + size)).toString('base64');
  return out;
}

function isHttpsUrl(text) {
  try {
    return new URL(text).protocol === 'https:';
  } catch {
    return false;
  }
}

/// AssumeRole's member constraints, in STS's words (roleDurationSecondsType 900–43200, roleSessionNameType 2–64).
function checkAssumeRoleInput(roleArn, sessionName, duration, rawDuration) {
  const problems = [];
  if (!roleArn) problems.push("Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
  if (sessionName === null) problems.push("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
  else if (sessionName.length < 2) problems.push(`Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2`);
  else if (sessionName.length > 64) problems.push(`Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64`);
  else if (!PATTERNS.roleSessionName.test(sessionName)) problems.push(`Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`);
  if (!Number.isInteger(duration)) problems.push(`Value '${rawDuration}' at 'durationSeconds' failed to satisfy constraint: Member must be an integer`);
  else if (duration < 900) problems.push(`Value '${duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900`);
  else if (duration > 43200) problems.push(`Value '${duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200`);
  if (problems.length) {
    throw new ApiError('ValidationError', 400, `${problems.length} validation error${problems.length > 1 ? 's' : ''} detected: ${problems.join('; ')}`);
  }
  if (!PATTERNS.roleArn.test(roleArn)) throw new ApiError('ValidationError', 400, `${roleArn} is invalid`);
}

function stsResponse(action, result) {
  const body = action === 'AssumeRole'
    ? '    <AssumedRoleUser>\n' +
      `      <AssumedRoleId>${escapeXml(result.assumedRoleId)}</AssumedRoleId>\n      <Arn>${escapeXml(result.arn)}</Arn>\n` +
      '    </AssumedRoleUser>\n    <Credentials>\n' +
      `      <AccessKeyId>${result.accessKeyId}</AccessKeyId>\n      <SecretAccessKey>${escapeXml(result.secretAccessKey)}</SecretAccessKey>\n` +
      `      <SessionToken>${escapeXml(result.sessionToken)}</SessionToken>\n      <Expiration>${isoSeconds(result.expiresAt)}</Expiration>\n` +
      '    </Credentials>\n'
    : `    <Arn>${escapeXml(result.Arn)}</Arn>\n    <UserId>${escapeXml(result.UserId)}</UserId>\n    <Account>${result.Account}</Account>\n`;
  return `<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n  <${action}Result>\n${body}  </${action}Result>\n` +
    `  <ResponseMetadata>\n    <RequestId>${crypto.randomUUID()}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`;
}

const IAM_NAMESPACE = 'https://iam.amazonaws.com/doc/2010-05-08/';

function iamResponse(action, result) {
  const body = action === 'GetRolePolicy'
    ? `  <${action}Result>\n    <PolicyName>${escapeXml(result.PolicyName)}</PolicyName>\n    <RoleName>${escapeXml(result.RoleName)}</RoleName>\n` +
      `    <PolicyDocument>${encodeURIComponent(result.PolicyDocument)}</PolicyDocument>\n  </${action}Result>\n`
    : '';
  return `<${action}Response xmlns="${IAM_NAMESPACE}">\n${body}` +
    `  <ResponseMetadata>\n    <RequestId>${crypto.randomUUID()}</RequestId>\n  </ResponseMetadata>\n</${action}Response>\n`;
}

/// What IAM's grammar check would say about a policy document, or null.
function policyProblem(document) {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) return 'Syntax errors in policy.';
  if (document.Version !== '2012-10-17' && document.Version !== '2008-10-17') return 'The policy must contain a valid version string';
  const statements = [document.Statement].flat();
  if (document.Statement === undefined || statements.length === 0) return 'Policy document should not be empty.';
  const sids = new Set();
  for (const st of statements) {
    if (typeof st !== 'object' || st === null) return 'Syntax errors in policy.';
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny') return 'Policy statement must contain a valid Effect.';
    if (st.Action === undefined && st.NotAction === undefined) return 'Policy statement must contain actions.';
    if (st.Resource === undefined && st.NotResource === undefined) return 'Policy statement must contain resources.';
    if (st.Sid !== undefined) {
      if (!/^[A-Za-z0-9]*$/.test(st.Sid)) return 'Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*';
      if (sids.has(st.Sid)) return 'Statement IDs (SID) in a single policy must be unique.';
      sids.add(st.Sid);
    }
  }
  return null;
}

/// IAM condition evaluation for the operators and keys the fake models: every operator's every
/// key must hold; a key absent from the context makes its condition false.
function conditionsHold(condition, context) {
  if (!condition) return true;
  const compare = {
    StringEquals: (actual, wanted) => actual === wanted,
    StringLike: (actual, pattern) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(actual),
    DateLessThan: (actual, limit) => actual < Date.parse(limit),
    DateGreaterThan: (actual, limit) => actual > Date.parse(limit),
  };
  return Object.entries(condition).every(([operator, pairs]) => {
    if (!compare[operator]) return false;
    return Object.entries(pairs).every(([key, values]) => {
      const actual = context[key.toLowerCase()];
      return actual !== undefined && [values].flat().some((v) => compare[operator](actual, v));
    });
  });
}

// Authentication failures, per protocol: [code, HTTP status].
const JSON_AUTH_CODES = {
  missing: ['MissingAuthenticationTokenException', 400],
  incomplete: ['IncompleteSignatureException', 400],
  unknownKey: ['UnrecognizedClientException', 400],
  badToken: ['UnrecognizedClientException', 400],
  expiredToken: ['ExpiredTokenException', 400],
  signature: ['InvalidSignatureException', 403],
};
const STS_AUTH_CODES = {
  missing: ['MissingAuthenticationToken', 403],
  incomplete: ['IncompleteSignature', 400],
  unknownKey: ['InvalidClientTokenId', 403],
  badToken: ['InvalidClientTokenId', 403],
  expiredToken: ['ExpiredToken', 400],
  signature: ['SignatureDoesNotMatch', 403],
};

const jsonAuthCode = (kind) => JSON_AUTH_CODES[kind][0];

function jsonAuthError(error) {
  const [code, status] = JSON_AUTH_CODES[error.kind];
  return Object.assign(new ApiError(code, status, error.message), { authLayer: true });
}

module.exports = { FakeAws, PATTERNS };
