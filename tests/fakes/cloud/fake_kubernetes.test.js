'use strict';
/**
 * Proves FakeKubernetes faithful with the real kubectl on this machine (it speaks legacy discovery,
 * protobuf request bodies, Status errors and Bearer tokens the way kubectl expects), then checks the
 * API server behaviour jitbot's kubernetes backend relies on with plain HTTPS requests.
 *
 * Run: cd tests/fakes/cloud && node --test fake_kubernetes.test.js
 */
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const https = require('node:https');
const { execFile } = require('node:child_process');
const { FakeKubernetes, writeKubeconfig, RBAC_VERSION } = require('./fake_kubernetes');

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

/// kubectl must be there: these tests are the proof that the fake is faithful, so they never skip.
function kubectlPath() {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const candidate = path.join(dir, 'kubectl');
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error('kubectl is not on PATH. These tests prove FakeKubernetes against the real kubectl (v1.32) and never ' +
    'skip: install kubectl (the machine image ships it; Debian\'s kubernetes-client is too old) and run them again.');
}

/// Runs kubectl asynchronously (the fake answers from this same process) with its own HOME and
/// discovery cache, so nothing leaks from or into ~/.kube. Resolves {code, stdout, stderr}.
function kubectl(kubeconfig, args, home) {
  const env = { PATH: process.env.PATH, HOME: home, KUBECACHEDIR: path.join(home, 'cache'), KUBECONFIG: '' };
  return new Promise((resolve) => {
    execFile(kubectlPath(), ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args], { env, timeout: 60000 },
      (error, stdout, stderr) => resolve({ code: error ? error.code ?? 1 : 0, stdout, stderr }));
  });
}

/// One HTTPS request to the fake, trusting its certificate. Resolves {status, headers, body (parsed JSON)}.
function api(fake, method, urlPath, { body, token = fake.token, contentType = 'application/json' } = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    if (token) headers.authorization = `Bearer ${token}`;
    const payload = body === undefined ? null : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    if (payload) Object.assign(headers, { 'content-type': contentType, 'content-length': payload.length });
    const req = https.request(fake.url + urlPath, { method, headers, ca: fake.caPem }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, body: text ? JSON.parse(text) : null });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/// Starts a fake with namespace team-a, writes a kubeconfig for it and runs fn; cleans up after.
async function withCluster(fn, options = {}) {
  const fake = await new FakeKubernetes({ namespaces: ['default', 'team-a'], ...options }).start();
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-kubectl-'));
  const kubeconfig = writeKubeconfig(home, { server: fake.url, caPem: fake.caPem, token: fake.token });
  try {
    await fn({ fake, home, kubeconfig, run: (...args) => kubectl(kubeconfig, args, home) });
  } finally {
    await fake.close();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

const NS_PATH = `/apis/${RBAC_VERSION}/namespaces/team-a/rolebindings`;
const CRB_PATH = `/apis/${RBAC_VERSION}/clusterrolebindings`;

/// A binding as jitbot's backend sends it (the request ID has an underscore and upper case).
function jitbotBinding(overrides = {}) {
  return {
    apiVersion: RBAC_VERSION,
    kind: 'RoleBinding',
    metadata: {
      name: 'jitbot-req_01jabcdefghjkmnpqrstvwxyz0',
      labels: { 'app.kubernetes.io/managed-by': 'jitbot', 'jitbot.dev/request-id': 'req_01JABCDEFGHJKMNPQRSTVWXYZ0' },
      annotations: { 'jitbot.dev/expires-at': '2030-01-01T00:00:00Z', 'jitbot.dev/reason': 'INC-1: "quotes", ümlauts' },
    },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice@example.com' }],
    ...overrides,
  };
}

const sortedKeys = (value) => Object.keys(value).sort();

// ---------------------------------------------------------------------------------------------------------------
// The real kubectl
// ---------------------------------------------------------------------------------------------------------------

test('kubectl is installed (the proof below needs the real client)', () => {
  assert.ok(kubectlPath());
});

test('kubectl: discovery, list, create, AlreadyExists, get, delete, NotFound', async () => {
  await withCluster(async ({ fake, run }) => {
    const empty = await run('get', 'rolebindings', '-n', 'team-a', '-o', 'json');
    assert.equal(empty.code, 0, empty.stderr);
    assert.deepEqual(JSON.parse(empty.stdout).items, []);
    // kubectl found the resource through legacy discovery.
    const discovered = fake.calls.filter((c) => c.resource === 'discovery').map((c) => c.path);
    assert.ok(discovered.includes('/apis') && discovered.includes(`/apis/${RBAC_VERSION}`), discovered.join(' '));

    const created = await run('create', 'rolebinding', 'jit-alice', '--clusterrole=view', '--user=alice@example.com', '-n', 'team-a');
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /rolebinding\.rbac\.authorization\.k8s\.io\/jit-alice created/);
    const [stored] = fake.bindings({ name: 'jit-alice' });
    assert.equal(stored.metadata.namespace, 'team-a');
    assert.match(stored.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.deepEqual(stored.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' });
    assert.deepEqual(stored.subjects, [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice@example.com' }]);

    const again = await run('create', 'rolebinding', 'jit-alice', '--clusterrole=view', '--user=alice@example.com', '-n', 'team-a');
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /rolebindings\.rbac\.authorization\.k8s\.io "jit-alice" already exists/);

    const got = await run('get', 'rolebinding', 'jit-alice', '-n', 'team-a', '-o', 'json');
    assert.equal(got.code, 0, got.stderr);
    const object = JSON.parse(got.stdout);
    assert.equal(object.kind, 'RoleBinding');
    assert.equal(object.metadata.uid, stored.metadata.uid);
    assert.equal(object.subjects[0].name, 'alice@example.com');

    const deleted = await run('delete', 'rolebinding', 'jit-alice', '-n', 'team-a');
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /rolebinding\.rbac\.authorization\.k8s\.io "jit-alice" deleted/);
    assert.deepEqual(fake.bindings(), []);

    const gone = await run('delete', 'rolebinding', 'jit-alice', '-n', 'team-a');
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /Error from server \(NotFound\): rolebindings\.rbac\.authorization\.k8s\.io "jit-alice" not found/);
  });
});

test('kubectl: clusterrolebindings filtered by label selector; create in a missing namespace', async () => {
  await withCluster(async ({ fake, run }) => {
    fake.addBinding({ ...jitbotBinding(), kind: 'ClusterRoleBinding' });
    fake.addBinding({ ...jitbotBinding(), kind: 'ClusterRoleBinding', metadata: { name: 'someone-elses', labels: { team: 'ops' } } });
    const listed = await run('get', 'clusterrolebindings', '-l', 'app.kubernetes.io/managed-by=jitbot', '-o', 'json');
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(JSON.parse(listed.stdout).items.map((i) => i.metadata.name), ['jitbot-req_01jabcdefghjkmnpqrstvwxyz0']);
    const call = fake.apiCalls().find((c) => c.path === CRB_PATH);
    assert.equal(call.query.labelSelector, 'app.kubernetes.io/managed-by=jitbot');

    const negated = await run('get', 'clusterrolebindings', '-l', 'app.kubernetes.io/managed-by!=jitbot', '-o', 'name');
    assert.equal(negated.stdout.trim(), 'clusterrolebinding.rbac.authorization.k8s.io/someone-elses');

    const crb = await run('create', 'clusterrolebinding', 'jit-ops', '--clusterrole=admin', '--group=ops');
    assert.equal(crb.code, 0, crb.stderr);
    assert.equal(fake.bindings({ kind: 'ClusterRoleBinding', name: 'jit-ops' })[0].subjects[0].kind, 'Group');

    const missing = await run('create', 'rolebinding', 'x', '--clusterrole=view', '--user=a@example.com', '-n', 'no-such-ns');
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /namespaces "no-such-ns" not found/);
  });
});

test('kubectl: a wrong token is Unauthorized; tokenFile, a second context and quoted YAML work', async () => {
  await withCluster(async ({ fake, home }) => {
    const tokenFile = path.join(home, 'token');
    fs.writeFileSync(tokenFile, `${fake.token}\n`);
    const kubeconfig = writeKubeconfig(home, [
      { name: 'wrong', server: fake.url, caPem: fake.caPem, token: 'not-the-token' },
      { name: 'right', server: fake.url, caPem: fake.caPem, tokenFile },
    ], { file: 'two-contexts', quoted: true });

    const denied = await kubectl(kubeconfig, ['get', 'rolebindings', '-n', 'team-a'], home);
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /Unauthorized|provide credentials/);
    assert.ok(fake.calls.some((c) => c.status === 401));

    const allowed = await kubectl(kubeconfig, ['--context', 'right', 'get', 'namespace', 'team-a', '-o', 'json'], home);
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(JSON.parse(allowed.stdout).status.phase, 'Active');
  });
});

// The fake serves no OpenAPI documents, so kubectl is told not to validate against them
// (--validate=false; it then sends fieldValidation=Ignore). Everything else is kubectl's own replace:
// a GET for the resourceVersion when the file has none, then a PUT of the whole object.
test('kubectl replace -f: replaced, uid kept; a stale resourceVersion is a Conflict; roleRef cannot change; a missing binding is created', async () => {
  await withCluster(async ({ fake, home, run }) => {
    const file = path.join(home, 'binding.json');
    const write = (object) => fs.writeFileSync(file, JSON.stringify(object));
    const binding = jitbotBinding({ metadata: { ...jitbotBinding().metadata, namespace: 'team-a' } });
    const name = binding.metadata.name;

    const created = await run('create', 'rolebinding', name, '--clusterrole=view', '--user=alice@example.com', '-n', 'team-a');
    assert.equal(created.code, 0, created.stderr);
    const [before] = fake.bindings({ name });

    write(binding);
    const replaced = await run('replace', '--validate=false', '-f', file);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.equal(replaced.stdout.trim(), `rolebinding.rbac.authorization.k8s.io/${name} replaced`);
    const put = fake.apiCalls().filter((c) => c.method === 'PUT');
    assert.deepEqual(put.map((c) => [c.path, c.status]), [[`${NS_PATH}/${name}`, 200]]);
    assert.equal(put[0].body.metadata.resourceVersion, before.metadata.resourceVersion, 'kubectl sent the resourceVersion it read');
    const [after] = fake.bindings({ name });
    assert.equal(after.metadata.uid, before.metadata.uid, 'the same object');
    assert.equal(after.metadata.creationTimestamp, before.metadata.creationTimestamp);
    assert.ok(Number(after.metadata.resourceVersion) > Number(before.metadata.resourceVersion), 'a new resourceVersion');
    assert.deepEqual(after.metadata.annotations, binding.metadata.annotations, 'the annotations are the file\'s');
    assert.deepEqual(after.metadata.labels, binding.metadata.labels);

    // The file names the resourceVersion kubectl read before the replace: stale now.
    write({ ...binding, metadata: { ...binding.metadata, resourceVersion: before.metadata.resourceVersion } });
    const stale = await run('replace', '--validate=false', '-f', file);
    assert.notEqual(stale.code, 0);
    assert.match(stale.stderr, new RegExp(`Error from server \\(Conflict\\): error when replacing ".*": Operation cannot be fulfilled on ` +
      `rolebindings\\.rbac\\.authorization\\.k8s\\.io "${name}": the object has been modified; please apply your changes to the latest ` +
      'version and try again'));

    write({ ...binding, roleRef: { ...binding.roleRef, name: 'admin' } });
    const repointed = await run('replace', '--validate=false', '-f', file);
    assert.notEqual(repointed.code, 0);
    assert.match(repointed.stderr, new RegExp(`The RoleBinding "${name}" is invalid: roleRef: Invalid value: ` +
      'rbac\\.RoleRef\\{APIGroup:"rbac\\.authorization\\.k8s\\.io", Kind:"ClusterRole", Name:"admin"\\}: cannot change roleRef'));
    assert.equal(fake.bindings({ name })[0].roleRef.name, 'view');
    assert.equal(fake.bindings({ name })[0].metadata.resourceVersion, after.metadata.resourceVersion, 'refused replaces stored nothing');

    // RBAC bindings are AllowCreateOnUpdate: replacing one that is not there creates it.
    write({ ...binding, metadata: { ...binding.metadata, name: 'jit-new' } });
    const fresh = await run('replace', '--validate=false', '-f', file);
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.equal(fresh.stdout.trim(), 'rolebinding.rbac.authorization.k8s.io/jit-new replaced');
    assert.equal(fake.apiCalls().filter((c) => c.method === 'PUT').pop().status, 201);
    assert.match(fake.bindings({ name: 'jit-new' })[0]?.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// The API server behaviour jitbot relies on
// ---------------------------------------------------------------------------------------------------------------

test('create answers 201 with server metadata; a second create is a 409 AlreadyExists Status', async () => {
  await withCluster(async ({ fake }) => {
    const sent = jitbotBinding();
    sent.metadata.creationTimestamp = null; // clients send it; the server replaces it
    const created = await api(fake, 'POST', NS_PATH, { body: sent });
    assert.equal(created.status, 201);
    assert.equal(created.body.kind, 'RoleBinding');
    assert.equal(created.body.apiVersion, RBAC_VERSION);
    assert.deepEqual(sortedKeys(created.body.metadata),
      ['annotations', 'creationTimestamp', 'labels', 'name', 'namespace', 'resourceVersion', 'uid']);
    assert.match(created.body.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(created.body.metadata.annotations['jitbot.dev/reason'], 'INC-1: "quotes", ümlauts');

    const again = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    assert.equal(again.status, 409);
    const name = sent.metadata.name;
    assert.deepEqual(again.body, {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `rolebindings.rbac.authorization.k8s.io "${name}" already exists`, reason: 'AlreadyExists',
      details: { name, group: 'rbac.authorization.k8s.io', kind: 'rolebindings' }, code: 409,
    });
  });
});

test('get, list items without kind, delete → Success Status, delete again → 404 NotFound Status', async () => {
  await withCluster(async ({ fake }) => {
    const { body: created } = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    const name = created.metadata.name;
    const got = await api(fake, 'GET', `${NS_PATH}/${name}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.metadata.labels['jitbot.dev/request-id'], 'req_01JABCDEFGHJKMNPQRSTVWXYZ0');

    const list = await api(fake, 'GET', `${NS_PATH}?labelSelector=${encodeURIComponent('jitbot.dev/request-id=req_01JABCDEFGHJKMNPQRSTVWXYZ0')}`);
    assert.equal(list.body.kind, 'RoleBindingList');
    assert.equal(list.body.items.length, 1);
    assert.equal(list.body.items[0].kind, undefined, 'the real server leaves kind off list items');
    const none = await api(fake, 'GET', `${NS_PATH}?labelSelector=${encodeURIComponent('jitbot.dev/request-id=other')}`);
    assert.deepEqual(none.body.items, []);

    const deleted = await api(fake, 'DELETE', `${NS_PATH}/${name}`);
    assert.equal(deleted.status, 200);
    assert.deepEqual(deleted.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
      details: { name, group: 'rbac.authorization.k8s.io', kind: 'rolebindings', uid: created.metadata.uid } });

    const gone = await api(fake, 'DELETE', `${NS_PATH}/${name}`);
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `rolebindings.rbac.authorization.k8s.io "${name}" not found`, reason: 'NotFound',
      details: { name, group: 'rbac.authorization.k8s.io', kind: 'rolebindings' }, code: 404 });
    assert.equal((await api(fake, 'GET', `${NS_PATH}/${name}`)).status, 404);
  });
});

test('delete honours a uid precondition: a binding recreated by someone else is not deleted', async () => {
  await withCluster(async ({ fake }) => {
    const { body: created } = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    const name = created.metadata.name;
    const conflict = await api(fake, 'DELETE', `${NS_PATH}/${name}`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'other-uid' } } });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.reason, 'Conflict');
    assert.match(conflict.body.message, /Precondition failed: UID in precondition: other-uid, UID in object meta: /);
    assert.equal(fake.bindings().length, 1);
    const ok = await api(fake, 'DELETE', `${NS_PATH}/${name}`, { body: { preconditions: { uid: created.metadata.uid } } });
    assert.equal(ok.status, 200);
    assert.equal(fake.bindings().length, 0);
  });
});

test('replaceBinding: someone else re-creates the name with a new uid; a delete carrying the old uid is 409 Conflict and leaves it; onCall sees each answered call', async () => {
  await withCluster(async ({ fake }) => {
    const seen = [];
    fake.onCall((call) => seen.push(`${call.method} ${call.status}`));
    const { body: created } = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    const name = created.metadata.name;
    const replacement = fake.replaceBinding({
      kind: 'RoleBinding',
      metadata: { name, namespace: 'team-a', labels: { team: 'platform' } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
      subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'platform-admins' }],
    });
    assert.notEqual(replacement.metadata.uid, created.metadata.uid, 'a re-created binding has a new uid');
    assert.notEqual(replacement.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.equal((await api(fake, 'GET', `${NS_PATH}/${name}`)).body.metadata.uid, replacement.metadata.uid);

    const conflict = await api(fake, 'DELETE', `${NS_PATH}/${name}`,
      { body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: created.metadata.uid } } });
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.reason, 'Conflict');
    assert.equal(conflict.body.message, `Operation cannot be fulfilled on rolebindings.rbac.authorization.k8s.io "${name}": ` +
      `Precondition failed: UID in precondition: ${created.metadata.uid}, UID in object meta: ${replacement.metadata.uid}`);
    assert.deepEqual(fake.bindings({ name }).map((b) => b.metadata.uid), [replacement.metadata.uid], 'the replacement survives');
    const deleteCall = fake.apiCalls().find((c) => c.method === 'DELETE');
    assert.deepEqual(deleteCall.body.preconditions, { uid: created.metadata.uid }, 'the call log keeps the DeleteOptions sent');
    assert.deepEqual(seen, ['POST 201', 'GET 200', 'DELETE 409']);
  });
});

test('PUT replaces the binding: 200 with the stored object, uid and creationTimestamp kept, resourceVersion bumped', async () => {
  await withCluster(async ({ fake }) => {
    const { body: created } = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    const name = created.metadata.name;
    // What jitbot's extend sends: the object as read, one annotation changed.
    const read = (await api(fake, 'GET', `${NS_PATH}/${name}`)).body;
    read.metadata.annotations['jitbot.dev/expires-at'] = '2030-01-01T01:00:00Z';
    const put = await api(fake, 'PUT', `${NS_PATH}/${name}`, { body: read });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.kind, 'RoleBinding');
    assert.equal(put.body.apiVersion, RBAC_VERSION);
    assert.equal(put.body.metadata.uid, created.metadata.uid);
    assert.equal(put.body.metadata.creationTimestamp, created.metadata.creationTimestamp);
    assert.ok(Number(put.body.metadata.resourceVersion) > Number(created.metadata.resourceVersion), 'the resourceVersion moves on');
    assert.equal(put.body.metadata.annotations['jitbot.dev/expires-at'], '2030-01-01T01:00:00Z');
    assert.deepEqual(fake.bindings({ name }), [put.body], 'the answer is what is stored');
    assert.deepEqual((await api(fake, 'GET', `${NS_PATH}/${name}`)).body, put.body);

    // A replace is whole: what the body leaves out is gone; the server's own fields stay its own.
    const bare = { apiVersion: RBAC_VERSION, kind: 'RoleBinding',
      metadata: { name, namespace: 'team-a', creationTimestamp: '2001-01-01T00:00:00Z', labels: { team: 'a' } },
      roleRef: created.roleRef, subjects: [{ kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'oncall' }] };
    const unconditional = await api(fake, 'PUT', `${NS_PATH}/${name}`, { body: bare });
    assert.equal(unconditional.status, 200, 'no resourceVersion: an unconditional update');
    assert.equal(unconditional.body.metadata.uid, created.metadata.uid, 'uid kept when the body has none');
    assert.equal(unconditional.body.metadata.creationTimestamp, created.metadata.creationTimestamp, 'creationTimestamp is not the client\'s');
    assert.equal(unconditional.body.metadata.annotations, undefined);
    assert.deepEqual(unconditional.body.metadata.labels, { team: 'a' });
    assert.deepEqual(unconditional.body.subjects, bare.subjects);

    // Sending back what is stored changes nothing, so nothing is written: same resourceVersion.
    const same = await api(fake, 'PUT', `${NS_PATH}/${name}`, { body: unconditional.body });
    assert.equal(same.status, 200);
    assert.equal(same.body.metadata.resourceVersion, unconditional.body.metadata.resourceVersion);

    // ClusterRoleBindings too.
    const crb = (await api(fake, 'POST', CRB_PATH, { body: { ...jitbotBinding(), kind: 'ClusterRoleBinding' } })).body;
    crb.metadata.annotations['jitbot.dev/expires-at'] = '2031-01-01T00:00:00Z';
    const crbPut = await api(fake, 'PUT', `${CRB_PATH}/${crb.metadata.name}`, { body: crb });
    assert.equal(crbPut.status, 200);
    assert.equal(fake.bindings({ kind: 'ClusterRoleBinding' })[0].metadata.annotations['jitbot.dev/expires-at'], '2031-01-01T00:00:00Z');
  });
});

test('PUT refusals: a name unlike the URL is 400, a stale resourceVersion or another uid is 409 Conflict, a new roleRef is 422', async () => {
  await withCluster(async ({ fake }) => {
    const { body: created } = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    const name = created.metadata.name;
    const url = `${NS_PATH}/${name}`;
    const edit = (change) => {
      const body = JSON.parse(JSON.stringify(created));
      change(body);
      return body;
    };

    const renamed = await api(fake, 'PUT', url, { body: edit((b) => (b.metadata.name = 'jitbot-other')) });
    assert.deepEqual(renamed.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `the name of the object (jitbot-other) does not match the name on the URL (${name})`, reason: 'BadRequest', code: 400 });
    const elsewhere = await api(fake, 'PUT', url, { body: edit((b) => (b.metadata.namespace = 'default')) });
    assert.equal(elsewhere.status, 400);

    // Someone else changed it since it was read.
    const theirs = await api(fake, 'PUT', url, { body: edit((b) => (b.metadata.labels.team = 'platform')) });
    assert.equal(theirs.status, 200);
    const stale = await api(fake, 'PUT', url, { body: edit((b) => (b.metadata.annotations['jitbot.dev/expires-at'] = '2030-02-01T00:00:00Z')) });
    assert.deepEqual(stale.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `Operation cannot be fulfilled on rolebindings.rbac.authorization.k8s.io "${name}": the object has been modified; ` +
        'please apply your changes to the latest version and try again',
      reason: 'Conflict', details: { name, group: 'rbac.authorization.k8s.io', kind: 'rolebindings' }, code: 409 });
    assert.equal(fake.bindings({ name })[0].metadata.annotations['jitbot.dev/expires-at'], '2030-01-01T00:00:00Z', 'the stale write was not stored');

    const otherUid = await api(fake, 'PUT', url, { body: edit((b) => {
      b.metadata.uid = '00000000-0000-0000-0000-000000000000';
      delete b.metadata.resourceVersion;
    }) });
    assert.equal(otherUid.status, 409);
    assert.equal(otherUid.body.message, `Operation cannot be fulfilled on rolebindings.rbac.authorization.k8s.io "${name}": ` +
      `Precondition failed: UID in precondition: 00000000-0000-0000-0000-000000000000, UID in object meta: ${created.metadata.uid}`);

    const current = fake.bindings({ name })[0];
    const repointed = await api(fake, 'PUT', url, { body: { ...current, roleRef: { ...current.roleRef, name: 'admin' } } });
    assert.equal(repointed.status, 422);
    assert.deepEqual(repointed.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: `RoleBinding.rbac.authorization.k8s.io "${name}" is invalid: roleRef: Invalid value: ` +
        'rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"admin"}: cannot change roleRef',
      reason: 'Invalid',
      details: { name, group: 'rbac.authorization.k8s.io', kind: 'RoleBinding', causes: [{ reason: 'FieldValueInvalid',
        message: 'Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"admin"}: cannot change roleRef',
        field: 'roleRef' }] },
      code: 422 });
    const badLabel = await api(fake, 'PUT', url, { body: { ...current, metadata: { ...current.metadata, labels: { 'jitbot.dev/request-id': 'x-' } } } });
    assert.equal(badLabel.status, 422, 'an update is validated like a create');
    assert.deepEqual(fake.bindings({ name }), [current], 'no refused PUT stored anything');
    assert.equal((await api(fake, 'PUT', NS_PATH, { body: current })).status, 405, 'PUT needs a name');
  });
});

test('PUT to a binding that is gone: with the uid it was read with, 409 Conflict; without one, RBAC creates it (AllowCreateOnUpdate)', async () => {
  await withCluster(async ({ fake }) => {
    const { body: created } = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    const name = created.metadata.name;
    assert.ok(fake.removeBinding('RoleBinding', 'team-a', name));

    // jitbot's extend sends back the object it read, uid and all: a precondition no object meets.
    const vanished = await api(fake, 'PUT', `${NS_PATH}/${name}`, { body: created });
    assert.equal(vanished.status, 409);
    assert.equal(vanished.body.reason, 'Conflict');
    assert.equal(vanished.body.message, `Operation cannot be fulfilled on rolebindings.rbac.authorization.k8s.io "${name}": ` +
      `Precondition failed: UID in precondition: ${created.metadata.uid}, UID in object meta: `);
    assert.deepEqual(fake.bindings(), [], 'nothing was re-created');

    const { uid, ...withoutUid } = created.metadata;
    const recreated = await api(fake, 'PUT', `${NS_PATH}/${name}`, { body: { ...created, metadata: withoutUid } });
    assert.equal(recreated.status, 201);
    assert.notEqual(recreated.body.metadata.uid, uid, 'a new object');
    assert.equal(fake.bindings({ name }).length, 1);

    const missingNamespace = await api(fake, 'PUT', `/apis/${RBAC_VERSION}/namespaces/nope/rolebindings/${name}`,
      { body: { ...created, metadata: { ...withoutUid, namespace: 'nope' } } });
    assert.equal(missingNamespace.status, 404);
    assert.equal(missingNamespace.body.message, 'namespaces "nope" not found');
  });
});

test('editBinding: someone else\'s edit keeps the uid and moves the resourceVersion, so a PUT of the copy read before is 409', async () => {
  await withCluster(async ({ fake }) => {
    const { body: read } = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    const name = read.metadata.name;
    const edited = fake.editBinding('RoleBinding', 'team-a', name, (b) => (b.metadata.labels.team = 'platform'));
    assert.equal(edited.metadata.uid, read.metadata.uid);
    assert.notEqual(edited.metadata.resourceVersion, read.metadata.resourceVersion);
    assert.deepEqual((await api(fake, 'GET', `${NS_PATH}/${name}`)).body, edited);
    read.metadata.annotations['jitbot.dev/expires-at'] = '2030-01-01T01:00:00Z';
    assert.equal((await api(fake, 'PUT', `${NS_PATH}/${name}`, { body: read })).status, 409);
    assert.equal(fake.bindings({ name })[0].metadata.labels.team, 'platform', 'the edit was not overwritten');
    assert.throws(() => fake.editBinding('RoleBinding', 'team-a', 'nope', () => {}), /no RoleBinding nope/);
  });
});

test('failNext(…, {method: "PUT"}) fails the next PUT only; a replace after it goes through', async () => {
  await withCluster(async ({ fake }) => {
    const { body: created } = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    const url = `${NS_PATH}/${created.metadata.name}`;
    fake.failNext(409, 'Conflict', { method: 'PUT' });
    assert.equal((await api(fake, 'GET', url)).status, 200, 'the PUT fault waits for a PUT');
    const refused = await api(fake, 'PUT', url, { body: created });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.message, 'the object has been modified; please apply your changes to the latest version and try again');
    assert.equal(fake.bindings()[0].metadata.resourceVersion, created.metadata.resourceVersion, 'the faulted PUT stored nothing');
    created.metadata.annotations['jitbot.dev/expires-at'] = '2030-01-01T02:00:00Z';
    assert.equal((await api(fake, 'PUT', url, { body: created })).status, 200);
    assert.deepEqual(fake.apiCalls().map((c) => `${c.method} ${c.status}`), ['POST 201', 'GET 200', 'PUT 409', 'PUT 200']);
  });
});

test('validation: 422 Invalid like the API server; RBAC names are path segments, not DNS names', async () => {
  await withCluster(async ({ fake }) => {
    const invalid = async (mutate) => {
      const body = jitbotBinding();
      mutate(body);
      const r = await api(fake, 'POST', NS_PATH, { body });
      assert.equal(r.status, 422, JSON.stringify(r.body));
      assert.equal(r.body.reason, 'Invalid');
      assert.equal(r.body.details.kind, 'RoleBinding');
      return r.body;
    };
    let s = await invalid((b) => (b.roleRef.apiGroup = 'example.com'));
    assert.match(s.message, /^RoleBinding\.rbac\.authorization\.k8s\.io "jitbot-req_01jabcdefghjkmnpqrstvwxyz0" is invalid: roleRef\.apiGroup: Unsupported value: "example\.com": supported values: "rbac\.authorization\.k8s\.io"$/);
    assert.deepEqual(s.details.causes, [{ reason: 'FieldValueNotSupported', field: 'roleRef.apiGroup',
      message: 'Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io"' }]);
    s = await invalid((b) => (b.roleRef.kind = 'Policy'));
    assert.equal(s.details.causes[0].field, 'roleRef.kind');
    s = await invalid((b) => (b.subjects[0].kind = 'Person'));
    assert.equal(s.details.causes[0].field, 'subjects[0].kind');
    s = await invalid((b) => delete b.subjects[0].apiGroup);
    assert.equal(s.details.causes[0].field, 'subjects[0].apiGroup');
    s = await invalid((b) => (b.metadata.labels['jitbot.dev/request-id'] = 'x'.repeat(64)));
    assert.match(s.message, /metadata\.labels: Invalid value: "x{64}": must be no more than 63 characters/);
    s = await invalid((b) => (b.metadata.labels['jitbot.dev/request-id'] = 'ends-with-dash-'));
    assert.match(s.message, /a valid label must be an empty string or consist of alphanumeric characters/);
    s = await invalid((b) => (b.metadata.labels['Bad Key'] = 'v'));
    assert.equal(s.details.causes[0].field, 'metadata.labels');
    s = await invalid((b) => (b.metadata.name = 'a/b'));
    assert.match(s.message, /metadata\.name: Invalid value: "a\/b": may not contain '\/'/);
    s = await invalid((b) => {
      b.roleRef.kind = 'Policy';
      b.roleRef.apiGroup = '';
    });
    assert.match(s.message, /is invalid: \[roleRef\.apiGroup: .*, roleRef\.kind: .*\]$/, 'several errors are listed in brackets');
    // A ClusterRoleBinding cannot point at a Role.
    const crb = await api(fake, 'POST', CRB_PATH, { body: { ...jitbotBinding(), kind: 'ClusterRoleBinding', roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'x' } } });
    assert.equal(crb.status, 422);
    assert.equal(crb.body.details.causes[0].field, 'roleRef.kind');

    // Valid although not DNS-1123: upper case and underscores (ValidateRBACName is IsValidPathSegmentName).
    const odd = jitbotBinding();
    odd.metadata.name = 'Jitbot_REQ_Upper';
    assert.equal((await api(fake, 'POST', NS_PATH, { body: odd })).status, 201);
    assert.equal(fake.bindings().length, 1, 'invalid bindings were never stored');
  });
});

test('namespace must exist for a create; bad JSON and mismatched namespace are 400', async () => {
  await withCluster(async ({ fake }) => {
    const r = await api(fake, 'POST', `/apis/${RBAC_VERSION}/namespaces/nope/rolebindings`, { body: jitbotBinding() });
    assert.equal(r.status, 404);
    assert.equal(r.body.message, 'namespaces "nope" not found');
    assert.deepEqual(r.body.details, { name: 'nope', kind: 'namespaces' });
    assert.equal((await api(fake, 'POST', NS_PATH, { body: '{nope' })).status, 400);
    const other = jitbotBinding();
    other.metadata.namespace = 'default';
    assert.equal((await api(fake, 'POST', NS_PATH, { body: other })).body.reason, 'BadRequest');
    assert.equal((await api(fake, 'POST', NS_PATH, { body: jitbotBinding(), contentType: 'text/plain' })).status, 415);
    assert.equal((await api(fake, 'GET', '/api/v1/namespaces/team-a')).body.metadata.name, 'team-a');
    assert.equal((await api(fake, 'GET', '/api/v1/namespaces/nope')).body.message, 'namespaces "nope" not found');
  });
});

test('Bearer token: missing or wrong → 401 Unauthorized Status', async () => {
  await withCluster(async ({ fake }) => {
    const expected = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };
    for (const token of [null, 'wrong']) {
      const r = await api(fake, 'POST', NS_PATH, { body: jitbotBinding(), token });
      assert.equal(r.status, 401);
      assert.deepEqual(r.body, expected);
    }
    assert.deepEqual(fake.bindings(), []);
  });
});

test('failNext injects one fault (with Retry-After), then the API answers normally', async () => {
  await withCluster(async ({ fake }) => {
    fake.failNext(429, 'TooManyRequests', { retryAfter: 1 });
    const throttled = await api(fake, 'POST', NS_PATH, { body: jitbotBinding() });
    assert.equal(throttled.status, 429);
    assert.equal(throttled.headers['retry-after'], '1');
    assert.equal(throttled.body.reason, 'TooManyRequests');
    assert.equal(fake.bindings().length, 0);
    fake.failNext(500, 'InternalError', { method: 'DELETE' });
    assert.equal((await api(fake, 'POST', NS_PATH, { body: jitbotBinding() })).status, 201, 'the DELETE fault waits for a DELETE');
    assert.equal((await api(fake, 'DELETE', `${NS_PATH}/${jitbotBinding().metadata.name}`)).status, 500);
    assert.equal((await api(fake, 'DELETE', `${NS_PATH}/${jitbotBinding().metadata.name}`)).status, 200);
    assert.deepEqual(fake.apiCalls().map((c) => `${c.method} ${c.status}`), ['POST 429', 'POST 201', 'DELETE 500', 'DELETE 200']);
  });
});

test('the protobuf decoder reads labels, annotations, subjects and roleRef (kubectl sends protobuf)', () => {
  const { decodeBinding } = require('./fake_kubernetes_protobuf');
  // A minimal protobuf writer: strings and nested messages only (wire type 2).
  const varint = (n) => {
    const bytes = [];
    for (; n > 0x7f; n >>>= 7) bytes.push((n & 0x7f) | 0x80);
    return Buffer.from([...bytes, n]);
  };
  const field = (number, bytes) => {
    const body = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
    return Buffer.concat([varint((number << 3) | 2), varint(body.length), body]);
  };
  const message = (...parts) => Buffer.concat(parts);
  const meta = message(field(1, 'jit-x'), field(2, ''), field(3, 'team-a'),
    field(11, message(field(1, 'app.kubernetes.io/managed-by'), field(2, 'jitbot'))),
    field(12, message(field(1, 'jitbot.dev/reason'), field(2, 'INC-1'))));
  const raw = message(field(1, meta),
    field(2, message(field(1, 'User'), field(2, 'rbac.authorization.k8s.io'), field(3, 'alice@example.com'), field(4, ''))),
    field(3, message(field(1, 'rbac.authorization.k8s.io'), field(2, 'ClusterRole'), field(3, 'view'))));
  const unknown = message(field(1, message(field(1, RBAC_VERSION), field(2, 'RoleBinding'))), field(2, raw));
  assert.deepEqual(decodeBinding(Buffer.concat([Buffer.from('k8s\0', 'latin1'), unknown])), {
    kind: 'RoleBinding', apiVersion: RBAC_VERSION,
    metadata: { name: 'jit-x', namespace: 'team-a', labels: { 'app.kubernetes.io/managed-by': 'jitbot' }, annotations: { 'jitbot.dev/reason': 'INC-1' } },
    subjects: [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice@example.com' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
  });
  assert.throws(() => decodeBinding(Buffer.from('{}')), /magic/);
});
