// Fakes of the two ticket APIs jitbot asks "does this ticket exist, and is it still open?": Jira's
// REST API v2 GET /rest/api/2/issue/{issueIdOrKey} (Cloud with email + API token, or Data Center
// with a personal access token) and GitHub's REST GET /repos/{owner}/{repo}/issues/{number}.
// Each checks what the real service checks (credentials, headers GitHub insists on, which issues
// exist and who may see them), answers in the real service's shapes, keeps a log of calls and can
// be made to fail, go down or hang. Where the real behaviour is not documented, the choice made is
// noted in place.
'use strict';
const crypto = require('node:crypto');
const { FakeServer, sendJson, sendText } = require('./fake_server');

const hex = (bytes) => crypto.randomBytes(bytes).toString('hex');
// Whole seconds, as GitHub writes times; Jira writes milliseconds and a numeric zone.
const isoSeconds = (ms) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const jiraTime = (ms) => new Date(ms).toISOString().replace(/Z$/, '+0000');

/// A reply that is not JSON (GitHub's edge answers some refusals in text/html).
class RawText {
  constructor(text, contentType = 'text/plain') {
    this.text = text;
    this.contentType = contentType;
  }
}

/// What both fakes share: the server, the call log and the faults (the same pattern as
/// fake_alerts.js). A subclass implements handle(req, url, body, call) → [status, value, headers?],
/// errorBody(status, message) and errorText(value).
class TicketServiceFake {
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
  /// as Retry-After), afterProcessing (look the issue up, then lose the reply), body (the reply
  /// instead of the service's usual error shape).
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
    const call = { method: req.method, path: url.pathname, query: url.search, status: 0, error: null, headers: req.headers, at: Date.now() };
    this.initCall(call);
    this.calls.push(call);
    const reply = (status, value, headers = {}) => {
      call.status = status;
      if (value instanceof RawText) {
        if (status >= 400) call.error = value.text;
        return sendText(res, status, value.text, value.contentType, headers);
      }
      if (status >= 400) call.error = this.errorText(value);
      return sendJson(res, status, value, { 'content-type': this.contentType, ...headers });
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

// --- Jira REST API v2 -------------------------------------------------------------------------------------------

// The three status categories every Jira has (plus "undefined", id 1, which no workflow status uses).
const STATUS_CATEGORIES = {
  new: { id: 2, key: 'new', colorName: 'blue-gray', name: 'To Do' },
  indeterminate: { id: 4, key: 'indeterminate', colorName: 'yellow', name: 'In Progress' },
  done: { id: 3, key: 'done', colorName: 'green', name: 'Done' },
};
// Statuses whose category is known without being told (a workflow can say otherwise: pass statusCategory).
const KNOWN_STATUS_CATEGORIES = {
  'to do': 'new', open: 'new', backlog: 'new', reopened: 'new', 'selected for development': 'new',
  'in progress': 'indeterminate', 'in review': 'indeterminate',
  done: 'done', closed: 'done', resolved: 'done', "won't do": 'done', cancelled: 'done', canceled: 'done',
};
// Project keys: a letter, then upper-case letters, digits or underscores (Jira's default pattern).
const JIRA_KEY = /^[A-Z][A-Z0-9_]+-[1-9]\d*$/;
const JIRA_FIELDS = ['summary', 'status']; // all navigable; what an issue here has besides extra fields
const JIRA_UNAUTHENTICATED = 'You are not authenticated. Authentication required to perform this operation.';
const JIRA_NO_ISSUE = 'Issue does not exist or you do not have permission to see it.';

/// GET {basePath}/rest/api/2/issue/{issueIdOrKey}?fields=… as Jira Cloud and Data Center answer it.
/// `fields` is comma-separated and may be repeated; it takes field ids, *all, *navigable and -id to
/// leave one out; unknown field ids are ignored, as Jira ignores them. Absent, every field comes back.
class FakeJira extends TicketServiceFake {
  /// options: tls, token (default random), email (set: Jira Cloud, "Authorization: Basic
  /// base64(email:token)"; null: Data Center, "Authorization: Bearer <token>"), basePath ('' — a Data
  /// Center context path such as '/jira').
  constructor(options = {}) {
    super(options);
    this.token = options.token || `ATATT${hex(24)}`;
    this.email = options.email || null;
    this.basePath = (options.basePath || '').replace(/\/+$/, '');
    this.contentType = 'application/json;charset=UTF-8';
    this.issues = new Map(); // KEY → {id, key, summary, status, statusCategory, extraFields, created, updated}
    this.statusIds = new Map(); // status name → id, stable for the fake's life
    this.nextId = 10001;
  }

  async start() {
    await super.start();
    this.baseUrl = this.url + this.basePath; // what jitbot is configured with
    return this;
  }

  /// Adds (or replaces) issue `key` (PROJ-123). options: summary, status ('To Do'), statusCategory
  /// ('new' | 'indeterminate' | 'done'; default from well-known status names such as 'Done' or
  /// 'In Progress', else 'indeterminate'), id (default the next of 10001, 10002, …), fields (more
  /// fields to return, e.g. {resolution: null}). Returns the stored issue.
  addIssue(key, options = {}) {
    if (!JIRA_KEY.test(key)) throw new Error(`FakeJira: ${key} is not an issue key like PROJ-123`);
    const previous = this.issues.get(key);
    const issue = {
      id: String(options.id || previous?.id || this.nextId++), key, summary: options.summary ?? `Issue ${key}`,
      status: 'To Do', statusCategory: 'new', extraFields: { ...(options.fields || {}) }, created: Date.now(), updated: Date.now(),
    };
    this.issues.set(key, issue);
    this.applyChanges(issue, options);
    return issue;
  }

  /// Changes an existing issue as a workflow transition or an edit would: summary, status,
  /// statusCategory, fields. Returns the stored issue.
  updateIssue(key, changes) {
    const issue = this.issues.get(key);
    if (!issue) throw new Error(`FakeJira: no issue ${key}`);
    this.applyChanges(issue, changes);
    issue.updated = Date.now();
    return issue;
  }

  /// Removes an issue: later lookups are 404, as for one that never existed.
  deleteIssue(key) {
    this.issues.delete(key);
  }

  applyChanges(issue, changes) {
    if (changes.summary !== undefined) issue.summary = changes.summary;
    if (changes.status !== undefined) {
      issue.status = changes.status;
      if (changes.statusCategory === undefined) issue.statusCategory = KNOWN_STATUS_CATEGORIES[changes.status.toLowerCase()] || 'indeterminate';
    }
    if (changes.statusCategory !== undefined) {
      if (!STATUS_CATEGORIES[changes.statusCategory]) {
        throw new Error(`FakeJira: statusCategory must be one of ${Object.keys(STATUS_CATEGORIES).join(', ')}`);
      }
      issue.statusCategory = changes.statusCategory;
    }
    if (changes.fields) Object.assign(issue.extraFields, changes.fields);
  }

  initCall(call) {
    Object.assign(call, { key: null, fields: null, auth: null });
  }

  errorBody(status, message) {
    return { errorMessages: [message], errors: {} };
  }

  errorText(value) {
    return value.errorMessages?.join('; ') || JSON.stringify(value);
  }

  /// 'basic' or 'bearer' when the credentials are the ones this fake was made with, else null.
  authenticate(header) {
    const match = /^(\S+)\s+(\S+)$/.exec(header || '');
    if (!match) return null;
    const scheme = match[1].toLowerCase(); // auth schemes are case-insensitive (RFC 9110)
    if (this.email) {
      // Jira Cloud: an API token is only good with the account's email in Basic auth; as a Bearer
      // token it is refused (Cloud's Bearer tokens are OAuth 2.0 access tokens, not API tokens).
      return scheme === 'basic' && Buffer.from(match[2], 'base64').toString('utf8') === `${this.email}:${this.token}` ? 'basic' : null;
    }
    // Data Center: a personal access token is a Bearer token. (Data Center also takes Basic with
    // username:password, which this fake has no user for.)
    return scheme === 'bearer' && match[2] === this.token ? 'bearer' : null;
  }

  handle(req, url, body, call) {
    // Bad or missing credentials are refused before anything is looked up. (Real Jira lets an
    // anonymous request through to an issue anonymous users may browse, and answers 404 for one
    // they may not; this fake's projects never allow anonymous access and it answers 401, as asked.)
    call.auth = this.authenticate(req.headers.authorization);
    if (!call.auth) return [401, this.errorBody(401, JIRA_UNAUTHENTICATED)];
    const prefix = `${this.basePath}/rest/api/2/issue/`;
    if (!url.pathname.startsWith(prefix)) return [404, this.errorBody(404, 'null for uri: ' + url.href.replace('http://fake', this.url))];
    const idOrKey = decodeURIComponent(url.pathname.slice(prefix.length));
    if (!idOrKey || idOrKey.includes('/')) return [404, this.errorBody(404, 'null for uri: ' + url.href.replace('http://fake', this.url))];
    if (req.method !== 'GET') return [405, this.errorBody(405, `${req.method} is not supported by this fake`)];
    const tokens = url.searchParams.getAll('fields').flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
    call.key = idOrKey;
    call.fields = url.searchParams.has('fields') ? tokens : null;

    // Jira finds an issue by its numeric id or by its key, whatever the key's case.
    const issue = /^\d+$/.test(idOrKey)
      ? [...this.issues.values()].find((i) => i.id === idOrKey)
      : this.issues.get(idOrKey.toUpperCase());
    if (!issue) return [404, this.errorBody(404, JIRA_NO_ISSUE)];
    return [200, this.render(issue, tokens)];
  }

  /// Which fields `tokens` (from `fields`) select, in the order Jira's navigable/all logic gives.
  selectFields(tokens, available) {
    const included = new Set();
    const excluded = new Set();
    let onlyExclusions = true;
    for (const token of tokens) {
      if (token === '*all' || token === '*navigable') {
        onlyExclusions = false;
        available.forEach((f) => included.add(f));
      } else if (token.startsWith('-')) {
        excluded.add(token.slice(1));
      } else {
        onlyExclusions = false;
        if (available.includes(token)) included.add(token); // an unknown field is ignored
      }
    }
    // No fields at all, or only "-x": every field (the default) less the excluded ones.
    if (onlyExclusions) available.forEach((f) => included.add(f));
    return available.filter((f) => included.has(f) && !excluded.has(f));
  }

  render(issue, tokens) {
    const api = `${this.baseUrl}/rest/api/2`;
    const category = STATUS_CATEGORIES[issue.statusCategory];
    if (!this.statusIds.has(issue.status)) this.statusIds.set(issue.status, String(10000 + this.statusIds.size));
    const statusId = this.statusIds.get(issue.status);
    const all = {
      summary: issue.summary,
      status: {
        self: `${api}/status/${statusId}`, description: '', iconUrl: `${this.baseUrl}/images/icons/statuses/generic.png`,
        name: issue.status, id: statusId,
        statusCategory: { self: `${api}/statuscategory/${category.id}`, id: category.id, key: category.key, colorName: category.colorName, name: category.name },
      },
      created: jiraTime(issue.created), updated: jiraTime(issue.updated),
      ...issue.extraFields,
    };
    const fields = {};
    for (const name of this.selectFields(tokens, Object.keys(all))) fields[name] = all[name];
    return {
      expand: 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations',
      id: issue.id, self: `${api}/issue/${issue.id}`, key: issue.key, fields,
    };
  }
}

// --- GitHub REST API --------------------------------------------------------------------------------------------

const GITHUB_DOCS = 'https://docs.github.com/rest';
const GET_AN_ISSUE_DOCS = 'https://docs.github.com/rest/issues/issues#get-an-issue';
const STATES = ['open', 'closed'];
const STATE_REASONS = [null, 'completed', 'reopened', 'not_planned', 'duplicate'];
const REPO_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/;
// GitHub's edge refuses a request without a User-Agent before the API sees it, in text/html.
const NO_USER_AGENT = 'Request forbidden by administrative rules. Please make sure your request has a User-Agent header '
  + '(https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). '
  + 'Check https://developer.github.com for other possible causes.\n';

/// GET {basePath}/repos/{owner}/{repo}/issues/{number} as api.github.com answers it. Repositories
/// are private unless setRepo says otherwise: without credentials a private one is 404, as GitHub
/// hides what you may not see. Owner and repository names match whatever their case, as on GitHub.
class FakeGitHub extends TicketServiceFake {
  /// options: tls, token (default random "ghp_…"; sent as "Authorization: Bearer <token>" or "token
  /// <token>"), basePath ('' — GitHub Enterprise Server's is '/api/v3'), htmlBase
  /// ('https://github.com', for html_url), apiVersions (the X-GitHub-Api-Version values taken:
  /// ['2022-11-28', '2026-03-10']).
  constructor(options = {}) {
    super(options);
    this.token = options.token || `ghp_${hex(18)}`;
    this.basePath = (options.basePath || '').replace(/\/+$/, '');
    this.htmlBase = (options.htmlBase || 'https://github.com').replace(/\/+$/, '');
    this.apiVersions = options.apiVersions || ['2022-11-28', '2026-03-10'];
    this.contentType = 'application/json; charset=utf-8';
    this.repos = new Map(); // lower-case "owner/repo" → {fullName, private, accessible, issues: Map(number → issue)}
    this.nextId = 1000000001;
  }

  async start() {
    await super.start();
    this.baseUrl = this.url + this.basePath; // what jitbot is configured with (api.github.com's stand-in)
    return this;
  }

  /// Creates or changes repository `fullName` ("owner/repo"). options: private (true: anonymous
  /// callers get 404), accessible (true: false makes the fake's token one that cannot see it, e.g. a
  /// fine-grained token scoped to other repositories — 404 even with it). Returns the repository.
  setRepo(fullName, options = {}) {
    if (!REPO_NAME.test(fullName)) throw new Error(`FakeGitHub: ${fullName} is not "owner/repo"`);
    let repo = this.repos.get(fullName.toLowerCase());
    if (!repo) {
      repo = { fullName, private: true, accessible: true, issues: new Map() };
      this.repos.set(fullName.toLowerCase(), repo);
    }
    if (options.private !== undefined) repo.private = Boolean(options.private);
    if (options.accessible !== undefined) repo.accessible = Boolean(options.accessible);
    return repo;
  }

  /// Adds (or replaces) issue `number` in `fullName` (created private if new). options: title, state
  /// ('open' | 'closed'), state_reason (null | 'completed' | 'reopened' | 'not_planned' |
  /// 'duplicate'), body (null), user ('octocat'), pull_request (false; true or {merged_at} makes it a
  /// pull request, which GitHub also serves on this endpoint). Returns the stored issue.
  addIssue(fullName, number, options = {}) {
    if (!Number.isInteger(number) || number < 1) throw new Error(`FakeGitHub: issue number ${number} is not a positive integer`);
    const repo = this.setRepo(fullName);
    const now = Date.now();
    const issue = {
      id: this.nextId++, number, title: options.title ?? `Issue ${number}`, state: 'open', state_reason: null,
      body: options.body ?? null, user: options.user || 'octocat', pull_request: null, deleted: false,
      created_at: now, updated_at: now, closed_at: null,
    };
    repo.issues.set(number, issue);
    this.applyChanges(issue, { state: 'open', ...options });
    return issue;
  }

  /// Changes an existing issue (title, state, state_reason, body): closing it sets closed_at,
  /// reopening clears it. Returns the stored issue.
  updateIssue(fullName, number, changes) {
    const issue = this.repos.get(fullName.toLowerCase())?.issues.get(number);
    if (!issue) throw new Error(`FakeGitHub: no issue ${fullName}#${number}`);
    this.applyChanges(issue, changes);
    issue.updated_at = Date.now();
    return issue;
  }

  /// Deletes an issue as a repository admin can: GitHub then answers 410 Gone for it.
  deleteIssue(fullName, number) {
    const issue = this.repos.get(fullName.toLowerCase())?.issues.get(number);
    if (!issue) throw new Error(`FakeGitHub: no issue ${fullName}#${number}`);
    issue.deleted = true;
  }

  applyChanges(issue, changes) {
    if (changes.title !== undefined) issue.title = changes.title;
    if (changes.body !== undefined) issue.body = changes.body;
    if (changes.state !== undefined) {
      if (!STATES.includes(changes.state)) throw new Error(`FakeGitHub: state must be open or closed, not ${changes.state}`);
      if (changes.state === 'closed' && issue.state !== 'closed') issue.closed_at = Date.now();
      if (changes.state === 'open') issue.closed_at = null;
      issue.state = changes.state;
    }
    if (changes.state_reason !== undefined) {
      if (!STATE_REASONS.includes(changes.state_reason)) throw new Error(`FakeGitHub: state_reason ${changes.state_reason} is not one GitHub has`);
      issue.state_reason = changes.state_reason;
    }
    if (changes.pull_request !== undefined && changes.pull_request !== false) {
      issue.pull_request = { merged_at: changes.pull_request?.merged_at ?? null };
    }
  }

  initCall(call) {
    Object.assign(call, { repo: null, number: null, auth: null, accept: null, apiVersion: null, userAgent: null });
  }

  errorBody(status, message, documentationUrl = GITHUB_DOCS) {
    // GitHub's error bodies have carried the status, as a string, since 2024.
    return { message, documentation_url: documentationUrl, status: String(status) };
  }

  errorText(value) {
    return value.message || JSON.stringify(value);
  }

  /// Missing, */*, application/json and GitHub's own media types (application/vnd.github+json,
  /// application/vnd.github.v3+json, …raw+json and the like) are fine; anything else is 415.
  acceptable(accept) {
    if (!accept) return true;
    return accept.split(',').some((part) => {
      const type = part.split(';')[0].trim().toLowerCase();
      return ['*/*', 'application/*', 'application/json'].includes(type) || /^application\/vnd\.github(\.[a-z0-9-]+)*(\+json)?$/.test(type);
    });
  }

  handle(req, url, body, call) {
    const headers = req.headers;
    call.userAgent = headers['user-agent'] ?? null;
    call.accept = headers.accept ?? null;
    call.apiVersion = headers['x-github-api-version'] ?? null;
    if (!headers['user-agent']?.trim()) return [403, new RawText(NO_USER_AGENT, 'text/html')];
    if (!this.acceptable(headers.accept)) {
      return [415, this.errorBody(415, `Unsupported 'Accept' header: ${JSON.stringify([headers.accept])}. Must accept 'application/json'.`,
        'https://docs.github.com/v3/media')];
    }

    // Credentials that are sent must be right, whatever the repository (even a public one).
    const authorization = headers.authorization;
    if (authorization !== undefined) {
      const match = /^(bearer|token)\s+(\S+)$/i.exec(authorization.trim());
      if (!match || match[2] !== this.token) return [401, this.errorBody(401, 'Bad credentials')];
      call.auth = match[1].toLowerCase();
    }
    // An unsupported version is refused (400, as GitHub documents); the wording is ours.
    if (call.apiVersion !== null && !this.apiVersions.includes(call.apiVersion)) {
      return [400, this.errorBody(400, `API version ${call.apiVersion} is not supported.`, 'https://docs.github.com/rest/about-the-rest-api/api-versions')];
    }
    const version = call.apiVersion || '2022-11-28';
    const answer = (status, value) => [status, value, { 'x-github-media-type': 'github.v3; format=json', 'x-github-api-version-selected': version }];

    const prefix = `${this.basePath}/repos/`;
    const match = url.pathname.startsWith(prefix) && /^([^/]+)\/([^/]+)\/issues\/([^/]+)$/.exec(url.pathname.slice(prefix.length));
    if (!match) return answer(404, this.errorBody(404, 'Not Found'));
    // GitHub routes other verbs elsewhere (PATCH edits an issue); none of them is faked here.
    if (req.method !== 'GET' && req.method !== 'HEAD') return answer(404, this.errorBody(404, 'Not Found'));
    const fullName = `${decodeURIComponent(match[1])}/${decodeURIComponent(match[2])}`;
    call.repo = fullName;
    call.number = /^\d+$/.test(match[3]) ? Number(match[3]) : match[3];
    const notFound = answer(404, this.errorBody(404, 'Not Found', GET_AN_ISSUE_DOCS));

    const repo = this.repos.get(fullName.toLowerCase());
    // A private repository is indistinguishable from a missing one to whoever may not see it.
    if (!repo || (repo.private && !call.auth) || (call.auth && !repo.accessible)) return notFound;
    const issue = typeof call.number === 'number' ? repo.issues.get(call.number) : undefined;
    if (!issue) return notFound;
    if (issue.deleted) return answer(410, this.errorBody(410, 'This issue was deleted', GET_AN_ISSUE_DOCS));
    return answer(200, this.render(repo, issue));
  }

  render(repo, issue) {
    const [owner, name] = repo.fullName.split('/');
    const api = `${this.baseUrl}/repos/${owner}/${name}`;
    const kind = issue.pull_request ? 'pull' : 'issues';
    const htmlUrl = `${this.htmlBase}/${owner}/${name}/${kind}/${issue.number}`;
    const userId = parseInt(crypto.createHash('sha256').update(issue.user).digest('hex').slice(0, 7), 16);
    const user = {
      login: issue.user, id: userId, node_id: `U_${Buffer.from(`user:${issue.user}`).toString('base64url')}`,
      url: `${this.baseUrl}/users/${issue.user}`, html_url: `${this.htmlBase}/${issue.user}`, type: 'User', site_admin: false,
    };
    const value = {
      url: `${api}/issues/${issue.number}`, repository_url: api, labels_url: `${api}/issues/${issue.number}/labels{/name}`,
      comments_url: `${api}/issues/${issue.number}/comments`, events_url: `${api}/issues/${issue.number}/events`,
      html_url: htmlUrl, id: issue.id, node_id: `I_${Buffer.from(`issue:${issue.id}`).toString('base64url')}`,
      number: issue.number, title: issue.title, user, labels: [], state: issue.state, locked: false, assignee: null,
      assignees: [], milestone: null, comments: 0, created_at: isoSeconds(issue.created_at), updated_at: isoSeconds(issue.updated_at),
      closed_at: issue.closed_at === null ? null : isoSeconds(issue.closed_at), author_association: 'MEMBER',
      active_lock_reason: null, body: issue.body, closed_by: null, state_reason: issue.state_reason,
    };
    if (issue.pull_request) {
      value.draft = false;
      value.pull_request = {
        url: `${api}/pulls/${issue.number}`, html_url: htmlUrl, diff_url: `${htmlUrl}.diff`, patch_url: `${htmlUrl}.patch`,
        merged_at: issue.pull_request.merged_at,
      };
    }
    return value;
  }
}

module.exports = { FakeJira, FakeGitHub };
