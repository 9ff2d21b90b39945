'use strict';
/**
 * Self-tests of the ticket fakes: each must refuse what the real service refuses (wrong or missing
 * credentials, GitHub without a User-Agent or with an Accept it cannot serve), hide what the real
 * service hides (private repositories, unknown issues) and answer in the real service's shapes
 * (Jira's requested fields only, GitHub's state and state_reason).
 *
 * Run: cd tests/fakes/cloud && node --test fake_tickets.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const https = require('node:https');
const { FakeJira, FakeGitHub } = require('./fake_tickets');

/// One request to a fake, trusting its CA. Resolves {status, headers, body (parsed JSON, else the
/// text)}; rejects on a network error or when `timeout` ms pass without an answer.
function request(fake, method, path, { headers = {}, timeout } = {}) {
  const url = new URL(path, fake.url);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method, headers, ca: fake.caPem, timeout }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body = text;
        try {
          body = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode, headers: res.headers, body });
      });
    });
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function withFake(Fake, options, fn) {
  const fake = await new Fake(options).start();
  try {
    await fn(fake);
  } finally {
    await fake.close();
  }
}

// --- FakeJira ---------------------------------------------------------------------------------------------------

const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const cloudAuth = (fake) => ({ authorization: basic(fake.email, fake.token), accept: 'application/json' });
const dcAuth = (fake) => ({ authorization: `Bearer ${fake.token}`, accept: 'application/json' });
const jiraIssue = (fake, keyAndQuery, headers) => request(fake, 'GET', `${fake.basePath}/rest/api/2/issue/${keyAndQuery}`, { headers });
const UNAUTHENTICATED = { errorMessages: ['You are not authenticated. Authentication required to perform this operation.'], errors: {} };
const NO_ISSUE = { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} };

test('jira cloud: status and summary over TLS with Basic email:token', async () => {
  await withFake(FakeJira, { email: 'bot@example.com', token: 'api-token' }, async (fake) => {
    assert.match(fake.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(fake.caFile && fake.caPem);
    fake.addIssue('INC-7', { summary: 'Database on fire', status: 'In Progress' });
    const reply = await jiraIssue(fake, 'INC-7?fields=status,summary', cloudAuth(fake));
    assert.equal(reply.status, 200);
    assert.match(reply.headers['content-type'], /^application\/json/);
    assert.deepEqual(Object.keys(reply.body.fields).sort(), ['status', 'summary']);
    assert.deepEqual([reply.body.id, reply.body.key, reply.body.self], ['10001', 'INC-7', `${fake.url}/rest/api/2/issue/10001`]);
    assert.equal(reply.body.fields.summary, 'Database on fire');
    assert.equal(reply.body.fields.status.name, 'In Progress');
    assert.deepEqual(reply.body.fields.status.statusCategory, {
      self: `${fake.url}/rest/api/2/statuscategory/4`, id: 4, key: 'indeterminate', colorName: 'yellow', name: 'In Progress',
    });
    assert.deepEqual(fake.calls[0].fields, ['status', 'summary']);
    assert.deepEqual([fake.calls[0].key, fake.calls[0].auth, fake.calls[0].status], ['INC-7', 'basic', 200]);
  });
});

test('jira cloud: wrong email, wrong token, Bearer and no credentials → 401 in Jira\'s shape', async () => {
  await withFake(FakeJira, { email: 'bot@example.com', token: 'api-token' }, async (fake) => {
    fake.addIssue('INC-7', { summary: 's' });
    for (const authorization of [undefined, basic('other@example.com', 'api-token'), basic('bot@example.com', 'wrong'),
      'Bearer api-token', basic('bot@example.com', 'api-token').replace('Basic', 'Token'), 'Basic not-base64!']) {
      const reply = await jiraIssue(fake, 'INC-7', authorization ? { authorization } : {});
      assert.deepEqual([reply.status, reply.body], [401, UNAUTHENTICATED], String(authorization));
    }
    assert.equal((await jiraIssue(fake, 'INC-7', { authorization: basic('bot@example.com', 'api-token').replace('Basic', 'basic') })).status, 200,
      'the scheme is case-insensitive');
    assert.ok(fake.calls.slice(0, -1).every((c) => c.status === 401 && c.key === null && c.error === UNAUTHENTICATED.errorMessages[0]));
  });
});

test('jira data center: a personal access token is Bearer; Basic with it is refused', async () => {
  await withFake(FakeJira, { token: 'pat-123' }, async (fake) => {
    fake.addIssue('OPS-42', { summary: 'Rotate keys', status: 'Done' });
    const ok = await jiraIssue(fake, 'OPS-42?fields=status', dcAuth(fake));
    assert.equal(ok.status, 200);
    assert.equal(fake.calls[0].auth, 'bearer');
    for (const authorization of ['Bearer wrong', basic('admin', 'pat-123'), 'pat-123', 'Bearer']) {
      assert.deepEqual((await jiraIssue(fake, 'OPS-42', { authorization })).body, UNAUTHENTICATED, authorization);
    }
  });
});

test('jira: unknown key → 404; a key is found whatever its case, and by numeric id', async () => {
  await withFake(FakeJira, { tls: false }, async (fake) => {
    fake.addIssue('INC-7', { summary: 's' });
    for (const key of ['INC-8', 'NOPE-1', '99999']) {
      const reply = await jiraIssue(fake, key, dcAuth(fake));
      assert.deepEqual([reply.status, reply.body], [404, NO_ISSUE], key);
    }
    assert.equal((await jiraIssue(fake, 'inc-7', dcAuth(fake))).body.key, 'INC-7');
    assert.equal((await jiraIssue(fake, '10001', dcAuth(fake))).body.key, 'INC-7');
    fake.deleteIssue('INC-7');
    assert.equal((await jiraIssue(fake, 'INC-7', dcAuth(fake))).status, 404);
    assert.equal((await request(fake, 'GET', '/rest/api/2/myself', { headers: dcAuth(fake) })).status, 404);
    assert.equal((await request(fake, 'DELETE', '/rest/api/2/issue/INC-7', { headers: dcAuth(fake) })).status, 405);
    assert.throws(() => fake.addIssue('inc-1'), /not an issue key/);
    assert.throws(() => fake.addIssue('INC-1', { statusCategory: 'closed' }), /statusCategory/);
  });
});

test('jira: fields selects what comes back: a list, repeated, *all, -x; unknown ids ignored; absent → all', async () => {
  await withFake(FakeJira, {}, async (fake) => {
    fake.addIssue('INC-7', { summary: 'Sum', fields: { resolution: null } });
    const keys = async (query) => Object.keys((await jiraIssue(fake, `INC-7${query}`, dcAuth(fake))).body.fields).sort();
    assert.deepEqual(await keys('?fields=summary'), ['summary']);
    assert.deepEqual(await keys('?fields=status'), ['status']);
    assert.deepEqual(await keys('?fields=summary&fields=status'), ['status', 'summary']);
    assert.deepEqual(await keys('?fields=summary,nosuchfield'), ['summary']);
    assert.deepEqual(await keys('?fields=nosuchfield'), []);
    const all = await keys('');
    assert.ok(['summary', 'status', 'resolution'].every((f) => all.includes(f)), all.join());
    assert.deepEqual(await keys('?fields=*all'), all);
    assert.deepEqual(await keys('?fields=-summary'), all.filter((f) => f !== 'summary'));
    assert.deepEqual(await keys('?fields=*navigable,-status'), all.filter((f) => f !== 'status'));
    assert.deepEqual(fake.calls[2].fields, ['summary', 'status']);
    assert.equal(fake.calls[5].fields, null, 'no fields parameter');
  });
});

test('jira: status categories; transitions with updateIssue; a context path', async () => {
  await withFake(FakeJira, { basePath: '/jira' }, async (fake) => {
    assert.equal(fake.baseUrl, `${fake.url}/jira`);
    fake.addIssue('INC-1');
    fake.addIssue('INC-2', { status: 'Closed' });
    fake.addIssue('INC-3', { status: 'Awaiting Approval', statusCategory: 'new' });
    fake.addIssue('INC-4', { status: 'Deploying' });
    const category = async (key) => (await jiraIssue(fake, `${key}?fields=status`, dcAuth(fake))).body.fields.status.statusCategory;
    assert.deepEqual([(await category('INC-1')).key, (await category('INC-1')).name], ['new', 'To Do']);
    assert.deepEqual([(await category('INC-2')).key, (await category('INC-2')).name, (await category('INC-2')).id], ['done', 'Done', 3]);
    assert.equal((await category('INC-3')).key, 'new');
    assert.equal((await category('INC-4')).key, 'indeterminate');
    fake.updateIssue('INC-1', { status: 'Done' });
    const done = await jiraIssue(fake, 'INC-1?fields=status', dcAuth(fake));
    assert.deepEqual([done.body.fields.status.name, done.body.fields.status.statusCategory.key], ['Done', 'done']);
    assert.equal(done.body.self, `${fake.url}/jira/rest/api/2/issue/10001`);
    assert.equal((await request(fake, 'GET', '/rest/api/2/issue/INC-1', { headers: dcAuth(fake) })).status, 404, 'outside the context path');
  });
});

test('jira faults: down/up, failNext (with Retry-After), afterProcessing, delay', async () => {
  await withFake(FakeJira, {}, async (fake) => {
    fake.addIssue('INC-7');
    fake.down();
    const down = await jiraIssue(fake, 'INC-7', dcAuth(fake));
    assert.deepEqual([down.status, down.body.errorMessages.length, down.body.errors], [503, 1, {}]);
    fake.up();
    fake.failNext(2, 429, { retryAfter: 3 });
    const limited = await jiraIssue(fake, 'INC-7', dcAuth(fake));
    assert.deepEqual([limited.status, limited.headers['retry-after']], [429, '3']);
    assert.equal((await jiraIssue(fake, 'INC-7', dcAuth(fake))).status, 429);
    assert.equal((await jiraIssue(fake, 'INC-7', dcAuth(fake))).status, 200);
    fake.failNext(1, 500, { afterProcessing: true });
    assert.equal((await jiraIssue(fake, 'INC-7?fields=status', dcAuth(fake))).status, 500);
    assert.deepEqual([fake.calls.at(-1).key, fake.calls.at(-1).fields], ['INC-7', ['status']], 'looked up, then the reply was lost');
    fake.delay(2000);
    await assert.rejects(request(fake, 'GET', '/rest/api/2/issue/INC-7', { headers: dcAuth(fake), timeout: 200 }), /client timeout/);
    fake.delay(Infinity);
    await assert.rejects(request(fake, 'GET', '/rest/api/2/issue/INC-7', { headers: dcAuth(fake), timeout: 200 }), /client timeout/);
    assert.equal(fake.calls.at(-1).status, 0, 'a hung call is logged, unanswered');
    fake.delay(0);
    assert.equal((await jiraIssue(fake, 'INC-7', dcAuth(fake))).status, 200);
  });
});

// --- FakeGitHub -------------------------------------------------------------------------------------------------

const GH_HEADERS = (fake) => ({
  authorization: `Bearer ${fake.token}`, accept: 'application/vnd.github+json', 'user-agent': 'jitbot-test', 'x-github-api-version': '2022-11-28',
});
const ghIssue = (fake, path, headers = GH_HEADERS(fake), options = {}) => request(fake, 'GET', `${fake.basePath}/repos/${path}`, { headers, ...options });
const NOT_FOUND = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/issues/issues#get-an-issue', status: '404' };

test('github: an open issue over TLS with a Bearer token; the call is recorded', async () => {
  await withFake(FakeGitHub, { token: 'ghp_test' }, async (fake) => {
    assert.match(fake.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(fake.caFile && fake.caPem);
    fake.addIssue('acme/infra', 12, { title: 'Grant prod access for migration' });
    const reply = await ghIssue(fake, 'acme/infra/issues/12');
    assert.equal(reply.status, 200);
    assert.match(reply.headers['content-type'], /^application\/json/);
    assert.equal(reply.headers['x-github-api-version-selected'], '2022-11-28');
    const b = reply.body;
    assert.deepEqual([b.number, b.title, b.state, b.state_reason, b.closed_at], [12, 'Grant prod access for migration', 'open', null, null]);
    assert.equal(typeof b.id, 'number');
    assert.equal(b.html_url, 'https://github.com/acme/infra/issues/12');
    assert.equal(b.url, `${fake.url}/repos/acme/infra/issues/12`);
    assert.equal('pull_request' in b, false);
    const call = fake.calls[0];
    assert.deepEqual([call.repo, call.number, call.auth, call.apiVersion, call.accept, call.userAgent, call.status],
      ['acme/infra', 12, 'bearer', '2022-11-28', 'application/vnd.github+json', 'jitbot-test', 200]);
  });
});

test('github: "token <t>" also works; a wrong token is 401 Bad credentials, even on a public repo', async () => {
  await withFake(FakeGitHub, { token: 'ghp_test' }, async (fake) => {
    fake.addIssue('acme/infra', 1);
    fake.setRepo('acme/public', { private: false });
    fake.addIssue('acme/public', 1);
    assert.equal((await ghIssue(fake, 'acme/infra/issues/1', { ...GH_HEADERS(fake), authorization: 'token ghp_test' })).status, 200);
    assert.equal(fake.calls[0].auth, 'token');
    for (const authorization of ['Bearer ghp_wrong', 'token ghp_wrong', 'ghp_test', 'Basic Z2hwX3Rlc3Q=', 'Bearer']) {
      for (const repo of ['acme/infra', 'acme/public']) {
        const reply = await ghIssue(fake, `${repo}/issues/1`, { ...GH_HEADERS(fake), authorization });
        assert.deepEqual([reply.status, reply.body], [401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' }],
          `${authorization} on ${repo}`);
      }
    }
  });
});

test('github: no credentials → 404 on a private repo (hidden), 200 on a public one; an out-of-scope token → 404', async () => {
  await withFake(FakeGitHub, {}, async (fake) => {
    fake.addIssue('acme/infra', 3);
    const anonymous = { 'user-agent': 'jitbot-test', accept: 'application/vnd.github+json' };
    assert.deepEqual((await ghIssue(fake, 'acme/infra/issues/3', anonymous)).body, NOT_FOUND);
    assert.deepEqual((await ghIssue(fake, 'acme/infra/issues/999', anonymous)).body, NOT_FOUND, 'same answer as for a missing issue');
    fake.setRepo('acme/infra', { private: false });
    assert.equal((await ghIssue(fake, 'acme/infra/issues/3', anonymous)).status, 200);
    assert.equal(fake.calls.at(-1).auth, null);
    fake.setRepo('acme/infra', { private: true, accessible: false });
    assert.equal((await ghIssue(fake, 'acme/infra/issues/3')).status, 404);
  });
});

test('github: unknown repo or issue, and a non-number → 404; owner and repo match whatever the case', async () => {
  await withFake(FakeGitHub, { tls: false }, async (fake) => {
    fake.addIssue('Acme/Infra', 5, { title: 't' });
    for (const path of ['acme/nope/issues/5', 'other/infra/issues/5', 'acme/infra/issues/6', 'acme/infra/issues/abc', 'acme/infra/issues/0']) {
      const reply = await ghIssue(fake, path);
      assert.deepEqual([reply.status, reply.body], [404, NOT_FOUND], path);
    }
    const cased = await ghIssue(fake, 'acme/infra/issues/5');
    assert.equal(cased.status, 200);
    assert.equal(cased.body.html_url, 'https://github.com/Acme/Infra/issues/5', 'the canonical name comes back');
    assert.equal((await ghIssue(fake, 'acme/infra/pulls/5')).status, 404);
    assert.equal((await request(fake, 'GET', '/user', { headers: GH_HEADERS(fake) })).body.message, 'Not Found');
    fake.deleteIssue('Acme/Infra', 5);
    const gone = await ghIssue(fake, 'acme/infra/issues/5');
    assert.deepEqual([gone.status, gone.body.message], [410, 'This issue was deleted']);
    assert.throws(() => fake.addIssue('acme', 1), /owner\/repo/);
    assert.throws(() => fake.addIssue('acme/infra', 0), /positive integer/);
    assert.throws(() => fake.addIssue('acme/infra', 1, { state: 'merged' }), /open or closed/);
  });
});

test('github: a User-Agent is required (403 text/html from the edge); checked before credentials', async () => {
  await withFake(FakeGitHub, {}, async (fake) => {
    fake.addIssue('acme/infra', 1);
    for (const userAgent of [undefined, '', '  ']) {
      const headers = { ...GH_HEADERS(fake) };
      delete headers['user-agent'];
      if (userAgent !== undefined) headers['user-agent'] = userAgent;
      const reply = await ghIssue(fake, 'acme/infra/issues/1', headers);
      assert.equal(reply.status, 403, JSON.stringify(userAgent));
      assert.match(reply.headers['content-type'], /^text\/html/);
      assert.match(reply.body, /Request forbidden by administrative rules\. Please make sure your request has a User-Agent header/);
    }
    // Node's http client sends no User-Agent of its own: a bare request is refused too.
    const bare = await ghIssue(fake, 'acme/infra/issues/1', { authorization: 'Bearer wrong' });
    assert.equal(bare.status, 403, 'before the wrong token is looked at');
    assert.match(fake.calls[0].error, /User-Agent header/);
  });
});

test('github: Accept may be missing, application/json or GitHub\'s own; anything else is 415', async () => {
  await withFake(FakeGitHub, {}, async (fake) => {
    fake.addIssue('acme/infra', 1);
    const withAccept = (accept) => {
      const headers = { ...GH_HEADERS(fake), accept };
      if (accept === undefined) delete headers.accept;
      return ghIssue(fake, 'acme/infra/issues/1', headers);
    };
    for (const accept of [undefined, 'application/json', 'application/vnd.github+json', 'application/vnd.github.v3+json', '*/*']) {
      assert.equal((await withAccept(accept)).status, 200, String(accept));
    }
    const refused = await withAccept('text/html');
    assert.equal(refused.status, 415);
    assert.match(refused.body.message, /^Unsupported 'Accept' header: .*Must accept 'application\/json'\.$/);
    assert.deepEqual(fake.calls.map((c) => c.accept), [null, 'application/json', 'application/vnd.github+json', 'application/vnd.github.v3+json', '*/*', 'text/html']);
  });
});

test('github: X-GitHub-Api-Version is recorded; absent means 2022-11-28; an unsupported one is 400', async () => {
  await withFake(FakeGitHub, {}, async (fake) => {
    fake.addIssue('acme/infra', 1);
    const headers = { ...GH_HEADERS(fake) };
    delete headers['x-github-api-version'];
    const plain = await ghIssue(fake, 'acme/infra/issues/1', headers);
    assert.deepEqual([plain.status, plain.headers['x-github-api-version-selected'], fake.calls[0].apiVersion], [200, '2022-11-28', null]);
    const old = await ghIssue(fake, 'acme/infra/issues/1', { ...headers, 'x-github-api-version': '2021-01-01' });
    assert.deepEqual([old.status, old.body.status, fake.calls[1].apiVersion], [400, '400', '2021-01-01']);
    assert.match(old.body.message, /2021-01-01/);
  });
});

test('github: closed issues carry closed_at and state_reason; pull requests carry pull_request', async () => {
  await withFake(FakeGitHub, {}, async (fake) => {
    fake.addIssue('acme/infra', 7, { title: 'Done thing', state: 'closed', state_reason: 'completed' });
    fake.addIssue('acme/infra', 8, { title: 'Wontfix', state: 'closed', state_reason: 'not_planned' });
    fake.addIssue('acme/infra', 9, { title: 'Old close' , state: 'closed' });
    fake.addIssue('acme/infra', 10, { title: 'A PR', pull_request: { merged_at: '2030-01-01T00:00:00Z' }, state: 'closed', state_reason: 'completed' });
    const get = async (n) => (await ghIssue(fake, `acme/infra/issues/${n}`)).body;
    const seven = await get(7);
    assert.deepEqual([seven.state, seven.state_reason], ['closed', 'completed']);
    assert.match(seven.closed_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    assert.equal((await get(8)).state_reason, 'not_planned');
    assert.deepEqual([(await get(9)).state, (await get(9)).state_reason], ['closed', null]);
    const pr = await get(10);
    assert.equal(pr.html_url, 'https://github.com/acme/infra/pull/10');
    assert.deepEqual(pr.pull_request, {
      url: `${fake.url}/repos/acme/infra/pulls/10`, html_url: 'https://github.com/acme/infra/pull/10',
      diff_url: 'https://github.com/acme/infra/pull/10.diff', patch_url: 'https://github.com/acme/infra/pull/10.patch', merged_at: '2030-01-01T00:00:00Z',
    });
    fake.updateIssue('acme/infra', 7, { state: 'open', state_reason: 'reopened' });
    const reopened = await get(7);
    assert.deepEqual([reopened.state, reopened.state_reason, reopened.closed_at], ['open', 'reopened', null]);
    fake.addIssue('acme/infra', 11);
    fake.updateIssue('acme/infra', 11, { state: 'closed', state_reason: 'completed' });
    assert.deepEqual([(await get(11)).state, (await get(11)).state_reason], ['closed', 'completed']);
    assert.throws(() => fake.updateIssue('acme/infra', 11, { state_reason: 'fixed' }), /state_reason/);
  });
});

test('github enterprise server: a /api/v3 base path and its own html host', async () => {
  await withFake(FakeGitHub, { basePath: '/api/v3', htmlBase: 'https://ghe.example.com' }, async (fake) => {
    fake.addIssue('acme/infra', 2);
    const reply = await ghIssue(fake, 'acme/infra/issues/2');
    assert.equal(reply.status, 200);
    assert.equal(fake.baseUrl, `${fake.url}/api/v3`);
    assert.deepEqual([reply.body.url, reply.body.html_url], [`${fake.url}/api/v3/repos/acme/infra/issues/2`, 'https://ghe.example.com/acme/infra/issues/2']);
    assert.equal((await request(fake, 'GET', '/repos/acme/infra/issues/2', { headers: GH_HEADERS(fake) })).status, 404);
  });
});

test('github faults: down/up, failNext, delay', async () => {
  await withFake(FakeGitHub, {}, async (fake) => {
    fake.addIssue('acme/infra', 1);
    fake.down();
    const down = await ghIssue(fake, 'acme/infra/issues/1');
    assert.deepEqual([down.status, down.body.message], [503, 'Service Unavailable']);
    fake.up();
    fake.failNext(1, 403, { retryAfter: 60, body: { message: 'API rate limit exceeded for user ID 1.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api' } });
    const limited = await ghIssue(fake, 'acme/infra/issues/1');
    assert.deepEqual([limited.status, limited.headers['retry-after'], limited.body.message], [403, '60', 'API rate limit exceeded for user ID 1.']);
    fake.failNext(2, 502);
    assert.equal((await ghIssue(fake, 'acme/infra/issues/1')).status, 502);
    assert.equal((await ghIssue(fake, 'acme/infra/issues/1')).status, 502);
    assert.equal((await ghIssue(fake, 'acme/infra/issues/1')).status, 200);
    fake.delay(150);
    const started = Date.now();
    assert.equal((await ghIssue(fake, 'acme/infra/issues/1')).status, 200);
    assert.ok(Date.now() - started >= 140, 'the answer waited for the delay');
    fake.delay(Infinity);
    await assert.rejects(ghIssue(fake, 'acme/infra/issues/1', GH_HEADERS(fake), { timeout: 200 }), /client timeout/);
    assert.equal(fake.calls.at(-1).status, 0);
    fake.delay(0);
    assert.deepEqual(fake.calls.slice(0, 5).map((c) => c.status), [503, 403, 502, 502, 200]);
  });
});
