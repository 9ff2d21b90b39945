// A Kubernetes API server subset for jitbot's kubernetes backend and for kubectl: legacy discovery,
// namespaces (read only), RoleBindings and ClusterRoleBindings (create, get, list, replace, delete),
// with the API server's Status objects, its RBAC validation rules and Bearer token authentication.
//
// What it copies from the real server, and why it matters to jitbot:
// - errors are metav1.Status objects with the real reasons and messages (AlreadyExists, NotFound,
//   Invalid, Unauthorized, Conflict), so the backend's error handling is tested against real shapes;
// - RBAC object names are validated as path segments (ValidateRBACName), not DNS-1123 subdomains,
//   which is why "jitbot-req_01…" (with an underscore) is accepted; labels are validated strictly;
// - list items carry no kind/apiVersion, exactly as the real server sends them;
// - DELETE honours DeleteOptions preconditions (uid, resourceVersion) with 409 Conflict;
// - PUT (replace, `kubectl replace`) is optimistic: a stale metadata.resourceVersion or another
//   object's metadata.uid is a 409 Conflict, roleRef is immutable (422), and the server keeps uid
//   and creationTimestamp. Like the real RBAC registry (AllowCreateOnUpdate), a PUT to a name that
//   does not exist creates the binding, unless the body names a uid (a precondition nothing meets).
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { FakeServer, sendJson } = require('./fake_server');
const { decodeBinding } = require('./fake_kubernetes_protobuf');

const RBAC_GROUP = 'rbac.authorization.k8s.io';
const RBAC_VERSION = `${RBAC_GROUP}/v1`;

// The resources the fake serves: URL plural → what the API server says about it.
const RESOURCES = {
  namespaces: { group: '', kind: 'Namespace', singular: 'namespace', namespaced: false, shortNames: ['ns'] },
  rolebindings: { group: RBAC_GROUP, kind: 'RoleBinding', singular: 'rolebinding', namespaced: true },
  clusterrolebindings: { group: RBAC_GROUP, kind: 'ClusterRoleBinding', singular: 'clusterrolebinding', namespaced: false },
};
const BINDING_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

// ---------------------------------------------------------------------------------------------------------------
// Status objects
// ---------------------------------------------------------------------------------------------------------------

function status(code, reason, message, details) {
  const value = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason };
  if (details) value.details = details;
  value.code = code;
  return value;
}

/// "rolebindings.rbac.authorization.k8s.io" (core resources have no group suffix).
const qualified = (resource) => (RESOURCES[resource].group ? `${resource}.${RESOURCES[resource].group}` : resource);

function details(resource, name, extra = {}) {
  const value = { name };
  if (RESOURCES[resource]?.group) value.group = RESOURCES[resource].group;
  return { ...value, kind: resource, ...extra };
}

const notFound = (resource, name) => status(404, 'NotFound', `${qualified(resource)} "${name}" not found`, details(resource, name));
const alreadyExists = (resource, name) =>
  status(409, 'AlreadyExists', `${qualified(resource)} "${name}" already exists`, details(resource, name));
const unauthorized = () => status(401, 'Unauthorized', 'Unauthorized');
const badRequest = (message) => status(400, 'BadRequest', message);
const noSuchPath = () => status(404, 'NotFound', 'the server could not find the requested resource', {});
const methodNotAllowed = () => status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
/// 409 Conflict as the generic registry words it: "Operation cannot be fulfilled on KIND "NAME": WHY".
const conflict = (resource, name, why) =>
  status(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(resource)} "${name}": ${why}`, details(resource, name));
// registry.OptimisticLockErrorMsg: what a PUT carrying a stale resourceVersion is told.
const OPTIMISTIC_LOCK = 'the object has been modified; please apply your changes to the latest version and try again';

// Default messages for injected faults, worded as the API server words them.
const FAULT_MESSAGES = {
  TooManyRequests: 'the server has received too many requests and has asked us to try again later',
  InternalError: 'an error on the server ("") has prevented the request from succeeding',
  ServiceUnavailable: 'the server is currently unable to handle the request',
  Forbidden: 'forbidden: the fake was told to refuse this request',
  Unauthorized: 'Unauthorized',
  Conflict: 'the object has been modified; please apply your changes to the latest version and try again',
};

// ---------------------------------------------------------------------------------------------------------------
// Validation (k8s.io/apimachinery validation and pkg/apis/rbac/validation, the parts bindings use)
// ---------------------------------------------------------------------------------------------------------------

const NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_PART_MESSAGE = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an " +
  "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is " +
  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const LABEL_VALUE_MESSAGE = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and " +
  "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for " +
  "validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

const q = (value) => JSON.stringify(typeof value === 'string' ? value : String(value));
const fieldError = {
  required: (field, detail = '') => ({ reason: 'FieldValueRequired', field, message: `Required value${detail ? `: ${detail}` : ''}` }),
  invalid: (field, value, detail) => ({ reason: 'FieldValueInvalid', field, message: `Invalid value: ${q(value)}: ${detail}` }),
  notSupported: (field, value, allowed) => ({
    reason: 'FieldValueNotSupported', field,
    message: `Unsupported value: ${q(value)}: supported values: ${allowed.map(q).join(', ')}`,
  }),
  tooLong: (field, max) => ({ reason: 'FieldValueTooLong', field, message: `Too long: must have at most ${max} bytes` }),
};

/// path.IsValidPathSegmentName: what RBAC accepts as a role or binding name.
function pathSegmentProblems(name) {
  if (name === '.' || name === '..') return [`may not be '${name}'`];
  const problems = [];
  for (const bad of ['/', '%']) if (name.includes(bad)) problems.push(`may not contain '${bad}'`);
  return problems;
}

/// validation.IsQualifiedName: "[prefix/]name", prefix a DNS-1123 subdomain.
function qualifiedNameProblems(key) {
  const parts = key.split('/');
  if (parts.length > 2) return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"];
  const [prefix, name] = parts.length === 2 ? parts : [null, parts[0]];
  const problems = [];
  if (prefix !== null) {
    if (prefix.length === 0) problems.push('prefix part must be non-empty');
    else if (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix)) {
      problems.push("prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')");
    }
  }
  if (name.length === 0) problems.push('name part must be non-empty');
  else if (name.length > 63) problems.push('name part must be no more than 63 characters');
  else if (!NAME_PART.test(name)) problems.push(NAME_PART_MESSAGE);
  return problems;
}

function labelProblems(labels) {
  const errors = [];
  for (const [key, value] of Object.entries(labels || {})) {
    for (const problem of qualifiedNameProblems(key)) errors.push(fieldError.invalid('metadata.labels', key, problem));
    if (typeof value !== 'string') continue; // a non-string is a decoding error, caught earlier
    if (value.length > 63) errors.push(fieldError.invalid('metadata.labels', value, 'must be no more than 63 characters'));
    else if (!LABEL_VALUE.test(value)) errors.push(fieldError.invalid('metadata.labels', value, LABEL_VALUE_MESSAGE));
  }
  return errors;
}

function annotationProblems(annotations) {
  const errors = [];
  let size = 0;
  for (const [key, value] of Object.entries(annotations || {})) {
    for (const problem of qualifiedNameProblems(key.toLowerCase())) errors.push(fieldError.invalid('metadata.annotations', key, problem));
    size += key.length + String(value).length;
  }
  if (size > MAX_ANNOTATIONS_BYTES) errors.push(fieldError.tooLong('metadata.annotations', MAX_ANNOTATIONS_BYTES));
  return errors;
}

function subjectProblems(subject, index, namespaced) {
  const field = `subjects[${index}]`;
  const errors = [];
  if (!subject.name) errors.push(fieldError.required(`${field}.name`));
  switch (subject.kind) {
    case 'ServiceAccount':
      if (subject.apiGroup) errors.push(fieldError.notSupported(`${field}.apiGroup`, subject.apiGroup, ['']));
      if (!namespaced && !subject.namespace) errors.push(fieldError.required(`${field}.namespace`));
      break;
    case 'User':
    case 'Group':
      if (subject.apiGroup !== RBAC_GROUP) errors.push(fieldError.notSupported(`${field}.apiGroup`, subject.apiGroup ?? '', [RBAC_GROUP]));
      break;
    default:
      errors.push(fieldError.notSupported(`${field}.kind`, subject.kind ?? '', ['ServiceAccount', 'User', 'Group']));
  }
  return errors;
}

/// ValidateRoleBinding / ValidateClusterRoleBinding: returns field errors (empty when valid).
function bindingProblems(resource, object) {
  const namespaced = resource === 'rolebindings';
  const meta = object.metadata || {};
  const errors = [];
  if (!meta.name) errors.push(fieldError.required('metadata.name', 'name or generateName is required'));
  else for (const problem of pathSegmentProblems(meta.name)) errors.push(fieldError.invalid('metadata.name', meta.name, problem));
  errors.push(...labelProblems(meta.labels), ...annotationProblems(meta.annotations));
  const roleRef = object.roleRef || {};
  if (roleRef.apiGroup !== RBAC_GROUP) errors.push(fieldError.notSupported('roleRef.apiGroup', roleRef.apiGroup ?? '', [RBAC_GROUP]));
  const kinds = namespaced ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!kinds.includes(roleRef.kind)) errors.push(fieldError.notSupported('roleRef.kind', roleRef.kind ?? '', kinds));
  if (!roleRef.name) errors.push(fieldError.required('roleRef.name'));
  else for (const problem of pathSegmentProblems(roleRef.name)) errors.push(fieldError.invalid('roleRef.name', roleRef.name, problem));
  (object.subjects || []).forEach((subject, i) => errors.push(...subjectProblems(subject || {}, i, namespaced)));
  return errors;
}

function invalid(resource, name, errors) {
  const kind = RESOURCES[resource].kind;
  const summary = errors.map((e) => `${e.field}: ${e.message}`);
  const message = `${kind}.${RESOURCES[resource].group} ${q(name || '')} is invalid: ` +
    (summary.length === 1 ? summary[0] : `[${summary.join(', ')}]`);
  return status(422, 'Invalid', message, { name: name || '', group: RESOURCES[resource].group, kind, causes: errors.map(({ reason, message: m, field }) => ({ reason, message: m, field })) });
}

// The fields a binding may carry; anything else is an "unknown field" (strict decoding).
const KNOWN_FIELDS = {
  '': ['kind', 'apiVersion', 'metadata', 'subjects', 'roleRef'],
  metadata: ['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
    'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields', 'selfLink'],
  roleRef: ['apiGroup', 'kind', 'name'],
  subjects: ['kind', 'apiGroup', 'name', 'namespace'],
};

function unknownFields(object) {
  const unknown = [];
  const check = (value, known, prefix) => {
    if (!value || typeof value !== 'object') return;
    for (const key of Object.keys(value)) if (!known.includes(key)) unknown.push(prefix + key);
  };
  check(object, KNOWN_FIELDS[''], '');
  check(object.metadata, KNOWN_FIELDS.metadata, 'metadata.');
  check(object.roleRef, KNOWN_FIELDS.roleRef, 'roleRef.');
  (Array.isArray(object.subjects) ? object.subjects : []).forEach((s, i) => check(s, KNOWN_FIELDS.subjects, `subjects[${i}].`));
  return unknown;
}

// ---------------------------------------------------------------------------------------------------------------
// Selectors
// ---------------------------------------------------------------------------------------------------------------

/// Splits "a=b,c in (x,y)" at the commas outside parentheses.
function splitRequirements(selector) {
  const parts = [];
  let depth = 0;
  let current = '';
  for (const ch of selector) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth -= 1;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else current += ch;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter(Boolean);
}

/// Parses a label selector into predicates over a labels object; throws on syntax the server refuses.
function parseLabelSelector(selector) {
  return splitRequirements(selector || '').map((requirement) => {
    let m;
    if ((m = requirement.match(/^([^\s=!]+)\s*(==|=|!=)\s*(\S*)$/))) {
      const [, key, op, value] = m;
      return op === '!=' ? (labels) => labels[key] !== value : (labels) => labels[key] === value;
    }
    if ((m = requirement.match(/^(\S+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, key, op, list] = m;
      const values = list.split(',').map((v) => v.trim());
      return op === 'in' ? (labels) => values.includes(labels[key]) : (labels) => !values.includes(labels[key]);
    }
    if ((m = requirement.match(/^!\s*(\S+)$/))) return (labels) => !(m[1] in labels);
    if ((m = requirement.match(/^[A-Za-z0-9./_-]+$/))) return (labels) => requirement in labels;
    throw new Error(`unable to parse requirement: ${requirement}`);
  });
}

/// Field selectors on bindings: only metadata.name and metadata.namespace, as on the real server.
function parseFieldSelector(selector) {
  return splitRequirements(selector || '').map((requirement) => {
    const m = requirement.match(/^([^=!]+?)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new Error(`invalid selector: '${selector}'; can't understand '${requirement}'`);
    const [, field, op, value] = m;
    if (!['metadata.name', 'metadata.namespace'].includes(field)) {
      throw new Error(`"${field}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    }
    const key = field.slice('metadata.'.length);
    return op === '!=' ? (meta) => (meta[key] || '') !== value : (meta) => (meta[key] || '') === value;
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Discovery documents
// ---------------------------------------------------------------------------------------------------------------

function resourceEntry(name) {
  const r = RESOURCES[name];
  const entry = { name, singularName: r.singular, namespaced: r.namespaced, kind: r.kind,
    verbs: name === 'namespaces' ? ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] : BINDING_VERBS };
  if (r.shortNames) entry.shortNames = r.shortNames;
  return entry;
}

const discovery = {
  '/api': (port) => ({ kind: 'APIVersions', versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${port}` }] }),
  '/apis': () => ({ kind: 'APIGroupList', apiVersion: 'v1', groups: [rbacGroup()] }),
  [`/apis/${RBAC_GROUP}`]: () => ({ kind: 'APIGroup', apiVersion: 'v1', ...rbacGroup() }),
  '/api/v1': () => ({ kind: 'APIResourceList', groupVersion: 'v1', resources: [resourceEntry('namespaces')] }),
  [`/apis/${RBAC_VERSION}`]: () => ({ kind: 'APIResourceList', apiVersion: 'v1', groupVersion: RBAC_VERSION,
    resources: [resourceEntry('clusterrolebindings'), resourceEntry('rolebindings')] }),
  '/version': () => ({ major: '1', minor: '32', gitVersion: 'v1.32.0-fake', gitCommit: 'fake', gitTreeState: 'clean',
    buildDate: '2025-01-01T00:00:00Z', goVersion: 'go1.23.4', compiler: 'gc', platform: 'linux/amd64' }),
};

function rbacGroup() {
  const version = { groupVersion: RBAC_VERSION, version: 'v1' };
  return { name: RBAC_GROUP, versions: [version], preferredVersion: version };
}

// ---------------------------------------------------------------------------------------------------------------
// The fake
// ---------------------------------------------------------------------------------------------------------------

/// Matches /api/v1/namespaces[/ns], /apis/rbac…/v1/[namespaces/ns/]rolebindings[/name] and clusterrolebindings.
function parseResourcePath(pathname) {
  const segments = pathname.split('/').slice(1).map(decodeURIComponent);
  if (segments[0] === 'api' && segments[1] === 'v1' && segments[2] === 'namespaces' && segments.length <= 4) {
    return { resource: 'namespaces', name: segments[3] };
  }
  if (segments[0] !== 'apis' || `${segments[1]}/${segments[2]}` !== RBAC_VERSION) return null;
  const rest = segments.slice(3);
  if (rest[0] === 'namespaces' && rest[2] === 'rolebindings' && rest.length <= 4) {
    return { resource: 'rolebindings', namespace: rest[1], name: rest[3] };
  }
  if ((rest[0] === 'rolebindings' || rest[0] === 'clusterrolebindings') && rest.length <= 2) {
    // /apis/rbac…/v1/rolebindings lists across namespaces; a name there is not a real route.
    if (rest[0] === 'rolebindings' && rest.length === 2) return null;
    return { resource: rest[0], name: rest[1] };
  }
  return null;
}

const UNKNOWN_FORMAT = 'the body of the request was in an unknown format - accepted media types include: ' +
  'application/json, application/yaml, application/vnd.kubernetes.protobuf';

/// Reads a request body as the API server would: JSON or protobuf (kubectl's typed clients send
/// protobuf). Returns {value} or {error: Status}.
function decodeBody(contentType = '', body) {
  const media = contentType.split(';')[0].trim().toLowerCase();
  try {
    if (media === 'application/vnd.kubernetes.protobuf') return { value: decodeBinding(body) };
    if (media === 'application/json' || media === '') return { value: JSON.parse(body.toString('utf8')) };
  } catch (error) {
    return { error: badRequest(`${UNKNOWN_FORMAT} (${error.message})`) };
  }
  return { error: status(415, 'UnsupportedMediaType', UNKNOWN_FORMAT) };
}

const rfc3339 = (date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');
const clone = (value) => JSON.parse(JSON.stringify(value));
/// JSON with object keys sorted: two objects with the same content give the same text.
const canonical = (value) => JSON.stringify(value, (key, v) =>
  (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v));

class FakeKubernetes {
  /// options.tls: true (make a certificate) or {key, cert[, certFile]}; kubectl needs TLS for tokens.
  /// options.token: the Bearer token to accept (default: random). options.namespaces: names that exist.
  constructor(options = {}) {
    this.tlsOption = options.tls === undefined ? true : options.tls;
    this.token = options.token || `fake-k8s-${crypto.randomBytes(12).toString('hex')}`;
    this.namespaceNames = [...(options.namespaces || ['default', 'kube-system'])];
    this.calls = []; // {method, path, query, resource, status, body}
    this.objects = new Map(); // "resource/namespace/name" → stored object
    this.faults = [];
    this.listeners = [];
    this.resourceVersion = 1000;
    this.server = null;
  }

  async start() {
    this.server = new FakeServer((req, body, res) => this.handle(req, body, res), { tls: this.tlsOption });
    await this.server.start();
    if (this.server.caPem) {
      this.caPem = this.server.caPem;
      this.caFile = this.server.caFile;
    }
    this.url = this.server.url;
    for (const name of this.namespaceNames) this.addNamespace(name);
    return this;
  }

  async close() {
    await this.server?.close();
  }

  // --- test controls -------------------------------------------------------------------------------------------

  /// The next API call (discovery excluded) fails with this status; options {message, retryAfter, method}.
  failNext(code, reason, options = {}) {
    this.faults.push({ code, reason: reason || 'InternalError', ...options });
  }

  addNamespace(name) {
    const key = this.key('namespaces', '', name);
    if (this.objects.has(key)) return;
    this.objects.set(key, {
      kind: 'Namespace', apiVersion: 'v1',
      metadata: { ...this.newMeta(name), labels: { 'kubernetes.io/metadata.name': name } },
      spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' },
    });
  }

  /// Stores a binding as if someone else had created it; returns the stored copy.
  addBinding(object) {
    const resource = object.kind === 'ClusterRoleBinding' ? 'clusterrolebindings' : 'rolebindings';
    const meta = object.metadata;
    const stored = { kind: RESOURCES[resource].kind, apiVersion: RBAC_VERSION, ...clone(object),
      metadata: { ...clone(meta), ...this.newMeta(meta.name) } };
    if (resource === 'clusterrolebindings') delete stored.metadata.namespace;
    this.objects.set(this.key(resource, stored.metadata.namespace, meta.name), stored);
    return clone(stored);
  }

  /// Someone else deletes the binding and creates `object` under the same name (kubectl delete, then
  /// kubectl create; or kubectl replace --force): the stored object is new, with a new uid and
  /// resourceVersion. Returns the stored copy.
  replaceBinding(object) {
    this.removeBinding(object.kind, object.metadata.namespace, object.metadata.name);
    return this.addBinding(object);
  }

  /// Someone else edits the binding in place (kubectl edit, kubectl label): change(object) mutates
  /// the stored binding, which keeps its uid and gets a new resourceVersion, so a PUT of what was
  /// read before is a 409 Conflict. Returns the stored copy.
  editBinding(kind, namespace, name, change) {
    const resource = kind === 'ClusterRoleBinding' ? 'clusterrolebindings' : 'rolebindings';
    const stored = this.objects.get(this.key(resource, namespace || '', name));
    if (!stored) throw new Error(`no ${kind} ${name} to edit`);
    change(stored);
    this.resourceVersion += 1;
    stored.metadata.resourceVersion = String(this.resourceVersion);
    return clone(stored);
  }

  /// fn(call, fake) runs after each call is answered (call.status set), before the next is read.
  onCall(fn) {
    this.listeners.push(fn);
  }

  /// Deletes a binding behind jitbot's back; true when there was one.
  removeBinding(kind, namespace, name) {
    const resource = kind === 'ClusterRoleBinding' ? 'clusterrolebindings' : 'rolebindings';
    return this.objects.delete(this.key(resource, namespace || '', name));
  }

  /// Stored bindings (copies, with kind), optionally filtered: {kind, namespace, name}.
  bindings(filter = {}) {
    return [...this.objects.entries()]
      .filter(([key]) => !key.startsWith('namespaces/'))
      .map(([, object]) => clone(object))
      .filter((o) => (!filter.kind || o.kind === filter.kind) && (!filter.namespace || o.metadata.namespace === filter.namespace) &&
        (!filter.name || o.metadata.name === filter.name));
  }

  /// Calls other than discovery.
  apiCalls() {
    return this.calls.filter((c) => c.resource !== 'discovery');
  }

  // --- request handling ----------------------------------------------------------------------------------------

  key(resource, namespace, name) {
    return `${resource}/${namespace || ''}/${name}`;
  }

  newMeta(name) {
    this.resourceVersion += 1;
    return { name, uid: crypto.randomUUID(), resourceVersion: String(this.resourceVersion), creationTimestamp: rfc3339(new Date()) };
  }

  respond(res, call, code, value, headers) {
    call.status = code;
    sendJson(res, code, value, headers);
    for (const fn of this.listeners) fn(call, this);
  }

  async handle(req, body, res) {
    const url = new URL(req.url, 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const doc = discovery[url.pathname.replace(/\/$/, '')];
    const target = doc ? null : parseResourcePath(url.pathname);
    const call = { method: req.method, path: url.pathname, query, resource: target ? target.resource : 'discovery', status: 0, body: null };
    this.calls.push(call);
    if (req.headers.authorization !== `Bearer ${this.token}`) return this.respond(res, call, 401, unauthorized());

    if (doc && req.method === 'GET') return this.respond(res, call, 200, doc(this.server.port));
    if (!target) return this.respond(res, call, 404, noSuchPath());
    if (body.length) {
      const decoded = decodeBody(req.headers['content-type'], body);
      if (decoded.error) return this.respond(res, call, decoded.error.code, decoded.error);
      call.body = decoded.value;
    }
    const fault = this.takeFault(req.method);
    if (fault) {
      const headers = fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
      return this.respond(res, call, fault.code, status(fault.code, fault.reason, fault.message || FAULT_MESSAGES[fault.reason] || fault.reason, fault.details), headers);
    }
    const [code, value, headers] = this.route(req.method, target, query, call.body);
    return this.respond(res, call, code, value, headers);
  }

  takeFault(method) {
    const index = this.faults.findIndex((f) => !f.method || f.method === method);
    return index < 0 ? null : this.faults.splice(index, 1)[0];
  }

  /// Returns [status, body, headers?].
  route(method, target, query, body) {
    const { resource, namespace, name } = target;
    if (resource === 'namespaces') {
      if (method !== 'GET') return [405, methodNotAllowed()];
      return name ? this.getObject(resource, '', name) : this.list(resource, '', query);
    }
    // Like NamespaceLifecycle admission: only creating in a missing namespace names the namespace.
    if (method === 'POST' && namespace !== undefined && !this.objects.has(this.key('namespaces', '', namespace))) {
      return [404, notFound('namespaces', namespace)];
    }
    if (method === 'GET') return name ? this.getObject(resource, namespace, name) : this.list(resource, namespace, query);
    if (method === 'POST' && !name) return this.create(resource, namespace, query, body);
    if (method === 'PUT' && name) return this.replace(resource, namespace, name, query, body);
    if (method === 'DELETE' && name) return this.remove(resource, namespace, name, query, body);
    return [405, methodNotAllowed()];
  }

  getObject(resource, namespace, name) {
    const object = this.objects.get(this.key(resource, namespace, name));
    return object ? [200, object] : [404, notFound(resource, name)];
  }

  list(resource, namespace, query) {
    let labelMatchers;
    let fieldMatchers;
    try {
      labelMatchers = parseLabelSelector(query.labelSelector);
      fieldMatchers = parseFieldSelector(query.fieldSelector);
    } catch (error) {
      return [400, badRequest(error.message)];
    }
    const prefix = namespace === undefined ? `${resource}/` : `${resource}/${namespace}/`;
    const items = [...this.objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, object]) => object)
      .filter((o) => labelMatchers.every((m) => m(o.metadata.labels || {})) && fieldMatchers.every((m) => m(o.metadata)))
      // The real server leaves kind and apiVersion off list items: clients must not rely on them.
      .map(({ kind, apiVersion, ...rest }) => rest);
    const apiVersion = RESOURCES[resource].group ? RBAC_VERSION : 'v1';
    return [200, { kind: `${RESOURCES[resource].kind}List`, apiVersion, metadata: { resourceVersion: String(this.resourceVersion) }, items }];
  }

  /// What create and replace both check of a body: its kind and apiVersion, its namespace against
  /// the URL's, and unknown fields (refused under fieldValidation=Strict, else a Warning header).
  /// Returns {error: [status, Status]} or {meta (a copy, namespace filled in), headers}.
  readBody(resource, namespace, query, body) {
    const kind = RESOURCES[resource].kind;
    if (!body || typeof body !== 'object' || Array.isArray(body)) return { error: [400, badRequest(UNKNOWN_FORMAT)] };
    if ((body.kind && body.kind !== kind) || (body.apiVersion && body.apiVersion !== RBAC_VERSION)) {
      return { error: [400, badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${RBAC_VERSION})`)] };
    }
    const meta = { ...(body.metadata || {}) };
    if (namespace !== undefined) {
      if (meta.namespace && meta.namespace !== namespace) {
        return { error: [400, badRequest('the namespace of the provided object does not match the namespace sent on the request')] };
      }
      meta.namespace = namespace;
    }
    const unknown = unknownFields(body);
    const headers = {};
    if (unknown.length && query.fieldValidation === 'Strict') {
      return { error: [400, badRequest(`strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`)] };
    }
    if (unknown.length && query.fieldValidation !== 'Ignore') headers.warning = unknown.map((f) => `299 - "unknown field \\"${f}\\""`).join(', ');
    return { meta, headers };
  }

  create(resource, namespace, query, body) {
    const kind = RESOURCES[resource].kind;
    const read = this.readBody(resource, namespace, query, body);
    if (read.error) return read.error;
    const { meta, headers } = read;
    if (!meta.name && meta.generateName) meta.name = meta.generateName + crypto.randomBytes(3).toString('hex').slice(0, 5);

    const object = { kind, apiVersion: RBAC_VERSION, metadata: meta, subjects: body.subjects, roleRef: body.roleRef };
    const errors = bindingProblems(resource, object);
    if (errors.length) return [422, invalid(resource, meta.name, errors)];
    const key = this.key(resource, namespace, meta.name);
    if (this.objects.has(key)) return [409, alreadyExists(resource, meta.name)];
    if (object.subjects === undefined) delete object.subjects;

    // Server-owned metadata replaces whatever the client sent (creationTimestamp: null, say).
    delete meta.generateName;
    Object.assign(meta, this.newMeta(meta.name));
    if (query.dryRun !== 'All') this.objects.set(key, object);
    return [201, object, headers];
  }

  /// PUT: replaces the whole binding (metadata.labels and annotations, subjects) with the body, the
  /// way the generic registry's Update does for RoleBindings and ClusterRoleBindings.
  replace(resource, namespace, name, query, body) {
    const kind = RESOURCES[resource].kind;
    const read = this.readBody(resource, namespace, query, body);
    if (read.error) return read.error;
    const { meta, headers } = read;
    // The handler's checkName, before the registry sees the object.
    if ((meta.name || '') !== name) {
      return [400, badRequest(`the name of the object (${meta.name || ''}) does not match the name on the URL (${name})`)];
    }
    const key = this.key(resource, namespace, name);
    const existing = this.objects.get(key);
    const dryRun = query.dryRun === 'All';
    // A uid in the body is a storage precondition (defaultUpdatedObjectInfo.Preconditions), checked
    // before anything else: the object must be that very object, and a missing one never is.
    if (meta.uid && meta.uid !== existing?.metadata.uid) {
      return [409, conflict(resource, name, `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${existing?.metadata.uid || ''}`)];
    }
    const object = { kind, apiVersion: RBAC_VERSION, metadata: meta, subjects: body.subjects, roleRef: body.roleRef };
    if (object.subjects === undefined) delete object.subjects;

    if (!existing) {
      // RBAC bindings are AllowCreateOnUpdate: the PUT creates it (a CREATE for admission, so the
      // namespace must exist), with server metadata; a resourceVersion sent is not looked at.
      if (namespace !== undefined && !this.objects.has(this.key('namespaces', '', namespace))) return [404, notFound('namespaces', namespace)];
      const errors = bindingProblems(resource, object);
      if (errors.length) return [422, invalid(resource, name, errors)];
      Object.assign(meta, this.newMeta(name));
      if (!dryRun) this.objects.set(key, object);
      return [201, object, headers];
    }
    // Optimistic concurrency: a resourceVersion must be the stored one; none means "whatever is
    // there" (RBAC bindings AllowUnconditionalUpdate).
    if (meta.resourceVersion && meta.resourceVersion !== existing.metadata.resourceVersion) {
      return [409, conflict(resource, name, OPTIMISTIC_LOCK)];
    }
    // BeforeUpdate: the server's own fields come from the stored object, whatever was sent.
    meta.uid = existing.metadata.uid;
    meta.creationTimestamp = existing.metadata.creationTimestamp;
    meta.resourceVersion = existing.metadata.resourceVersion;
    const errors = bindingProblems(resource, object);
    // ValidateRoleBindingUpdate: a binding cannot be re-pointed at another role (delete and create it).
    const was = existing.roleRef || {};
    const now = object.roleRef || {};
    if (was.apiGroup !== now.apiGroup || was.kind !== now.kind || was.name !== now.name) {
      const value = `rbac.RoleRef{APIGroup:${q(now.apiGroup ?? '')}, Kind:${q(now.kind ?? '')}, Name:${q(now.name ?? '')}}`;
      errors.push({ reason: 'FieldValueInvalid', field: 'roleRef', message: `Invalid value: ${value}: cannot change roleRef` });
    }
    if (errors.length) return [422, invalid(resource, name, errors)];
    // An update that changes nothing is not written: the resourceVersion stays (etcd3's GuaranteedUpdate).
    if (canonical(object) === canonical(existing)) return [200, existing, headers];
    this.resourceVersion += 1;
    meta.resourceVersion = String(this.resourceVersion);
    if (!dryRun) this.objects.set(key, object);
    return [200, object, headers];
  }

  remove(resource, namespace, name, query, body) {
    const key = this.key(resource, namespace, name);
    const object = this.objects.get(key);
    if (!object) return [404, notFound(resource, name)];
    const preconditions = (body && typeof body === 'object' && body.preconditions) || {};
    for (const [field, label] of [['uid', 'UID'], ['resourceVersion', 'ResourceVersion']]) {
      if (preconditions[field] && preconditions[field] !== object.metadata[field]) {
        return [409, conflict(resource, name, 'Precondition failed: ' +
          `${label} in precondition: ${preconditions[field]}, ${label} in object meta: ${object.metadata[field]}`)];
      }
    }
    const dryRun = query.dryRun === 'All' || (Array.isArray(body?.dryRun) && body.dryRun.includes('All'));
    if (!dryRun) this.objects.delete(key);
    // The generic registry answers a finished delete with a Success Status naming the resource.
    return [200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
      details: details(resource, name, { uid: object.metadata.uid }) }];
  }
}

// ---------------------------------------------------------------------------------------------------------------
// kubeconfig
// ---------------------------------------------------------------------------------------------------------------

/// A YAML scalar as kubectl writes it (plain unless it must be quoted), or always double-quoted
/// (JSON strings are valid YAML double-quoted scalars) for readers that must cope with both.
function scalar(value, quoted) {
  const plainSafe = /^[A-Za-z0-9/._+=@-][A-Za-z0-9/._+=@:-]*$/.test(value) && !/^(true|false|null|yes|no|on|off|~|[-+.\d][\d.eE+-]*)$/i.test(value);
  return quoted || !plainSafe ? JSON.stringify(value) : value;
}

/// Writes a kubeconfig into dir and returns its path. `clusters` is one entry or an array of
/// {name?, server, caPem?, caFile?, token?, tokenFile?, namespace?}; each becomes a cluster, a user
/// ("NAME-user") and a context of that name (default "fake", then "fake-1", …). The layout is
/// kubectl's own (`kubectl config set-*`: keys sorted, so "- cluster:" comes before "name:"), so
/// jitbot reads what real tools write. options: {currentContext (default the first), file
/// ("kubeconfig"), quoted (double-quote every scalar)}.
function writeKubeconfig(dir, clusters, options = {}) {
  const entries = (Array.isArray(clusters) ? clusters : [clusters]).map((c, i) => ({ name: i === 0 ? 'fake' : `fake-${i}`, ...c }));
  const v = (value) => scalar(String(value), options.quoted);
  const lines = ['apiVersion: v1', 'clusters:'];
  for (const e of entries) {
    lines.push('- cluster:');
    if (e.caPem) lines.push(`    certificate-authority-data: ${v(Buffer.from(e.caPem).toString('base64'))}`);
    if (e.caFile) lines.push(`    certificate-authority: ${v(e.caFile)}`);
    lines.push(`    server: ${v(e.server)}`, `  name: ${v(e.name)}`);
  }
  lines.push('contexts:');
  for (const e of entries) {
    lines.push('- context:', `    cluster: ${v(e.name)}`);
    if (e.namespace) lines.push(`    namespace: ${v(e.namespace)}`);
    lines.push(`    user: ${v(`${e.name}-user`)}`, `  name: ${v(e.name)}`);
  }
  lines.push(`current-context: ${v(options.currentContext || entries[0].name)}`, 'kind: Config', 'preferences: {}', 'users:');
  for (const e of entries) {
    lines.push(`- name: ${v(`${e.name}-user`)}`);
    if (e.token) lines.push('  user:', `    token: ${v(e.token)}`);
    else if (e.tokenFile) lines.push('  user:', `    tokenFile: ${v(e.tokenFile)}`);
    else lines.push('  user: {}');
  }
  const file = path.join(dir, options.file || 'kubeconfig');
  fs.writeFileSync(file, `${lines.join('\n')}\n`, { mode: 0o600 });
  return file;
}

module.exports = { FakeKubernetes, writeKubeconfig, parseLabelSelector, bindingProblems, RBAC_GROUP, RBAC_VERSION };
