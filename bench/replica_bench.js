#!/usr/bin/env node
// Benchmarks `jitbot run` replicas on PostgreSQL against one SQLite process, with the fake Slack.
//
//   node bench/replica_bench.js [--flows N] [--json FILE] [--only sqlite,pg1,pg2,pg3,failover]
//                               [--pg-env FILE]
//   (from the repository root; bench/replicas.sh wraps it and starts a throwaway PostgreSQL cluster)
//
// PostgreSQL: the env file written by `scripts/pg-cluster.sh start FILE` (JITBOT_TEST_PG_URL, PGPASSWORD), named by
// --pg-env, JITBOT_BENCH_PG_ENV or JITBOT_TEST_PG_ENV. Every configuration gets a fresh database of its own
// (CREATE DATABASE with psql), dropped after it.
//
// Figures (targets are printed beside them, never asserted; a phase that cannot finish, e.g. a timeout waiting for
// a card, is reported as failed, the others still run, and the exit status is 1):
//   1. full flows per second (/jit request -> card -> approve click -> grant by the trivial exec backend -> card
//      "Active until"), as bench/slack_bench.js's flows phase: N flows (default 3000) with 50 in flight after 5
//      warm-up flows, for SQLite with 1 process, and PostgreSQL with 1, 2 and 3 replicas. Each: flows/s, flow
//      latency p50/p99, jitbot CPU per flow summed over every replica (utime+stime of /proc/PID/stat), and the peak
//      RSS (VmHWM of /proc/PID/status) of each replica; on PostgreSQL also the server's own CPU per flow (the
//      postmaster and its processes, from /proc), since it shares the machine's cores with jitbot.
//   2. failover: 2 replicas on PostgreSQL, a backend whose grant takes 3 s; 20 requests approved at once so grants
//      run (and queue) on both; one replica is killed with kill -9 while it runs some; the time from the kill until
//      every card shows "Active until". The backend logs every grant call ("begin"/"grant" REQUEST PID TIME), which
//      shows whether any request was granted twice beyond the one retry a takeover makes of a call the killed
//      replica was making (the exec contract: a grant is idempotent by request ID).
//
// The replicas share one fake Slack (one Slack app): each opens its own Socket Mode connection and the fake hands
// every envelope to one random live socket, so a request's command, its click and its card updates may each be
// handled by a different replica. The fake runs in this Node process, so every figure is "jitbot + the Node fake".
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const crypto = require('node:crypto');
const { execFileSync, spawn } = require('node:child_process');
const { performance } = require('node:perf_hooks');
const { AUDIT_CHANNEL, AUDIT_KEY, APPROVALS, INCIDENTS, SRE_LEADS, USERS, writeConfig } = require('../tests/slack/harness');
const { FakeSlack } = require('../tests/fakes/fake_slack');

const ROOT = path.resolve(__dirname, '..');
const BINARY = process.env.JITBOT_BINARY || path.join(ROOT, 'build', 'bot', 'jitbot');

const SIZES = {
  flows: 3000,
  flowWindow: 50,
  warmup: 5,
  idleMs: 2000,
  failoverRequests: 20,
  failoverSleepS: 3,
  failoverMaxConcurrent: 8, // jitbot's default [[backends]] max_concurrent, set explicitly in that phase
};
const TARGETS = {
  // The single-process targets of docs/benchmarks.md, printed beside every configuration for comparison.
  flowsPerSecond: 300,
  cpuPerFlowMs: 2,
  peakRssMb: 20,
  // Failover with the default 20 s lease (renewed every 5 s).
  failoverS: 30,
};
// Each request gets a reason of its own: jitbot refuses a request identical to one of the same person's that is still
// pending (same role, scope, duration and reason), and points to that one instead.
const requestArgs = (n) => `--provider aws --role prod-infra-admin --scope 123456789012 --duration 1h --reason "bench ${n}"`;
let requestSeq = 0;
/** The trivial exec backend of runs 1-15 of bench/slack_bench.js: reads the JSON on stdin, succeeds, prints an empty object. */
const TRIVIAL_BACKEND = ['/bin/sh', '-c', 'cat >/dev/null; echo "{}"', 'sh'];
const REQ_ID = /req_[0-9A-Z]{26}/;
const STOP_GRACE_MS = 20000;
const CLK_TCK = (() => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isFinite(value) && value > 0) return value;
  } catch {
    // no getconf: Linux's USER_HZ is 100 on every architecture we run on
  }
  return 100;
})();

/** Monotonic ms, the same clock as the fake's timestamps (process.hrtime). */
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;
/** Wall-clock ms with sub-ms resolution, comparable with bash's $EPOCHREALTIME. */
const wallMs = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ------------------------------------------------------------------------------------------------
// Statistics (as bench/slack_bench.js, which exports nothing)
// ------------------------------------------------------------------------------------------------

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}
const median = (values) => percentile(values, 50);
const max = (values) => values.reduce((m, v) => (v > m ? v : m), -Infinity);
const sum = (values) => values.reduce((s, v) => s + v, 0);
const fmt = (v, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : 'n/a');

/** Completions per second over the first and the last 100 completions. */
function segmentRates(t0, doneAt) {
  const n = Math.min(100, Math.floor(doneAt.length / 2));
  const sorted = [...doneAt].sort((a, b) => a - b);
  const rate = (from, to) => n / ((to - from) / 1000);
  return {
    segment: n,
    firstRate: rate(t0, sorted[n - 1]),
    lastRate: rate(sorted[sorted.length - n - 1], sorted[sorted.length - 1]),
  };
}

/** Runs `count` tasks with at most `window` in flight; resolves with their results in order. */
async function pool(count, window, task) {
  const results = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, worker));
  return results;
}

// ------------------------------------------------------------------------------------------------
// PostgreSQL: the throwaway cluster's env file, and a database per configuration
// ------------------------------------------------------------------------------------------------

function pgSettings(file) {
  if (!file) return null;
  if (!fs.existsSync(file)) throw new Error(`bench: the PostgreSQL env file ${file} does not exist (is the cluster running?)`);
  const settings = {};
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match) settings[match[1]] = match[2];
  }
  if (!settings.JITBOT_TEST_PG_URL || !settings.PGPASSWORD) {
    throw new Error(`bench: ${file} lacks JITBOT_TEST_PG_URL or PGPASSWORD`);
  }
  return settings;
}

function psql(pg, url, sql) {
  return execFileSync('psql', [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
    env: { ...process.env, PGPASSWORD: pg.PGPASSWORD },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** Creates a fresh database and returns {name, url, drop()}. */
function freshDatabase(pg, label) {
  const name = `jitbot_bench_${label}_${process.pid}_${crypto.randomBytes(3).toString('hex')}`;
  const base = pg.JITBOT_TEST_PG_URL;
  const url = base.replace(/\/[^/?]*(\?.*)?$/, (_, query) => `/${name}${query || ''}`);
  psql(pg, base, `CREATE DATABASE ${name}`);
  return {
    name,
    url,
    drop: () => {
      try {
        psql(pg, base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } catch (error) {
        process.stderr.write(`bench: could not drop ${name}: ${String(error.stderr || error.message).trim()}\n`);
      }
    },
  };
}

/**
 * CPU seconds used so far by the PostgreSQL server: the postmaster and every process it started (utime+stime of the
 * live ones from /proc/PID/stat, plus the postmaster's cutime+cstime for those that have exited). NaN when the
 * cluster's postmaster.pid cannot be read. The bench's database shares 2 cores with jitbot, so this is part of what
 * a flow costs on PostgreSQL.
 */
function pgServerCpu(pg) {
  try {
    const postmaster = Number(fs.readFileSync(path.join(pg.JITBOT_TEST_PG_DIR, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    const fieldsOf = (pid) => {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    };
    const own = fieldsOf(postmaster);
    let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry) || Number(entry) === postmaster) continue;
      try {
        const fields = fieldsOf(entry);
        if (Number(fields[1]) === postmaster) ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // gone meanwhile
      }
    }
    return ticks / CLK_TCK;
  } catch {
    return NaN;
  }
}

// ------------------------------------------------------------------------------------------------
// Replicas: one fake Slack, one config, N `jitbot run` processes
// ------------------------------------------------------------------------------------------------

/** Keeps the last `limit` characters of a stream. */
class Tail {
  constructor(limit = 256 * 1024) {
    this.limit = limit;
    this.text = '';
  }

  add(chunk) {
    this.text += chunk.toString();
    if (this.text.length > 2 * this.limit) this.text = this.text.slice(-this.limit);
  }

  last(chars) {
    return this.text.slice(-chars);
  }
}

/** Every replica process still running, and every folder made, so that an interrupted run leaves none behind. */
const liveChildren = new Set();
const liveDirs = new Set();

function onSignal(signal, status) {
  process.on(signal, () => {
    process.stderr.write(`bench: ${signal}: stopping ${liveChildren.size} jitbot processes\n`);
    for (const child of liveChildren) child.kill('SIGKILL');
    for (const dir of liveDirs) fs.rmSync(dir, { recursive: true, force: true });
    process.exit(status);
  });
}

class Replicas {
  /**
   * options: count (replicas), database (a PostgreSQL URL; default: a SQLite file in the folder), pgPassword (given
   * to the replicas and the CLI as PGPASSWORD), backendCommand (default: the trivial exec backend), backendTimeout,
   * backendExtra (more keys of its [[backends]] entry), extra (TOML appended), dir, keepDir (close() leaves the folder).
   */
  constructor(options) {
    this.options = options;
    this.dir = options.dir || fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-replica-bench-'));
    liveDirs.add(this.dir);
    this.procs = []; // {index, child, pid, stderr: Tail, exited, exitPromise, spawnedAtMs, startupMs, connectionIds, killed}
    this.connectionOwner = new Map(); // fake connection id -> replica index
    this.launching = -1;
  }

  async start() {
    const slack = new FakeSlack({ ackDeadlineMs: 3000 });
    this.slack = slack;
    await slack.start();
    for (const user of Object.values(USERS)) slack.addUser(user);
    slack.addUsergroup(SRE_LEADS, [USERS.carol.id, USERS.dave.id]);
    for (const id of [APPROVALS, ...INCIDENTS]) slack.addChannel({ id, name: id.toLowerCase() });
    slack.addChannel({ id: 'C0OPS', name: 'ops' });
    slack.addChannel({ id: AUDIT_CHANNEL, name: 'jitbot-audit' });
    // Replicas are started one after the other, each once the previous one is connected, so the connection that
    // opens while replica i starts is its own (a later reconnect stays unattributed).
    slack.on('connection', ({ id }) => {
      if (this.launching >= 0 && !this.connectionOwner.has(id)) {
        this.connectionOwner.set(id, this.launching);
        this.procs[this.launching].connectionIds.push(id);
      }
    });
    this.configFile = writeConfig(this.dir, slack, {
      backendCommand: this.options.backendCommand || TRIVIAL_BACKEND,
      backendTimeout: this.options.backendTimeout,
      database: this.options.database,
      extra: this.options.extra,
      backendExtra: this.options.backendExtra,
    });
    if (this.options.database) {
      // writeConfig may not know options.database (older harness): set the line ourselves in any case.
      const text = fs.readFileSync(this.configFile, 'utf8');
      const fixed = text.replace(/^database = .*$/m, `database = ${JSON.stringify(this.options.database)}`);
      if (!fixed.includes(`database = ${JSON.stringify(this.options.database)}`)) {
        throw new Error(`bench: could not set the database in ${this.configFile}`);
      }
      fs.writeFileSync(this.configFile, fixed);
    }
    if (this.options.backendExtra) {
      // Likewise options.backendExtra (more keys of the backend's [[backends]] entry).
      const text = fs.readFileSync(this.configFile, 'utf8');
      if (!text.includes(this.options.backendExtra)) {
        const fixed = text.replace(/(name = "recorder"\n(?:.*\n)*?timeout = .*\n)/, `$1${this.options.backendExtra}\n`);
        if (!fixed.includes(this.options.backendExtra)) throw new Error(`bench: could not add ${this.options.backendExtra} to ${this.configFile}`);
        fs.writeFileSync(this.configFile, fixed);
      }
    }
    for (let i = 0; i < this.options.count; i++) await this.launch(i);
    this.launching = -1;
    return this;
  }

  async launch(index) {
    const env = {
      ...process.env,
      SLACK_APP_TOKEN: this.slack.appToken,
      SLACK_BOT_TOKEN: this.slack.botToken,
      JITBOT_AUDIT_KEY: AUDIT_KEY,
      ...(this.options.pgPassword ? { PGPASSWORD: this.options.pgPassword } : {}),
    };
    const args = ['--log-level', process.env.JITBOT_LOG_LEVEL || 'info', 'run', '--config', this.configFile];
    const connectionsBefore = this.slack.connectionLog.length;
    this.launching = index;
    const proc = { index, stderr: new Tail(), exited: null, connectionIds: [], killed: false, spawnedAtMs: nowMs() };
    this.procs[index] = proc;
    proc.child = spawn(BINARY, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    proc.pid = proc.child.pid;
    liveChildren.add(proc.child);
    proc.child.stderr.on('data', (chunk) => proc.stderr.add(chunk));
    proc.exitPromise = new Promise((resolve) => {
      proc.child.on('exit', (code, signal) => {
        liveChildren.delete(proc.child);
        proc.exited = { code, signal };
        resolve(proc.exited);
      });
      proc.child.on('error', (error) => {
        liveChildren.delete(proc.child);
        proc.exited = { code: null, signal: null, error: error.message };
        resolve(proc.exited);
      });
    });
    const deadline = nowMs() + 30000;
    while (!proc.exited && this.slack.connectionLog.length === connectionsBefore && nowMs() < deadline) await sleep(5);
    if (proc.exited) throw new Error(`bench: replica ${index} exited at start (${JSON.stringify(proc.exited)}):\n${proc.stderr.last(3000)}`);
    if (this.slack.connectionLog.length === connectionsBefore) {
      throw new Error(`bench: replica ${index} opened no Socket Mode connection within 30 s:\n${proc.stderr.last(3000)}`);
    }
    proc.startupMs = this.slack.connectionLog[connectionsBefore].opened - proc.spawnedAtMs;
  }

  live() {
    return this.procs.filter((p) => p && !p.exited);
  }

  /** CPU seconds of replica `index` (utime+stime, all threads) and of its reaped children (cutime+cstime). */
  cpu(index) {
    const proc = this.procs[index];
    try {
      const stat = fs.readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return {
        self: (Number(fields[11]) + Number(fields[12])) / CLK_TCK,
        children: (Number(fields[13]) + Number(fields[14])) / CLK_TCK,
      };
    } catch {
      return { self: NaN, children: NaN };
    }
  }

  /** Sums, over the replicas still running, and per replica: a meter for a stretch of work. */
  cpuMeter() {
    const indexes = this.live().map((p) => p.index);
    const before = indexes.map((i) => this.cpu(i));
    const node = process.cpuUsage();
    return (count) => {
      const after = indexes.map((i) => this.cpu(i));
      const nodeUsed = process.cpuUsage(node);
      const perReplica = indexes.map((i, k) => after[k].self - before[k].self);
      const botS = sum(perReplica);
      const nodeS = (nodeUsed.user + nodeUsed.system) / 1e6;
      return {
        count,
        botS,
        perReplicaS: perReplica,
        backendS: sum(indexes.map((i, k) => after[k].children - before[k].children)),
        nodeS,
        botMsPer: (botS * 1000) / count,
        nodeMsPer: (nodeS * 1000) / count,
      };
    };
  }

  procStatus(index) {
    const text = fs.readFileSync(`/proc/${this.procs[index].pid}/status`, 'utf8');
    const kb = (key) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    return { vmHwmKb: kb('VmHWM'), vmRssKb: kb('VmRSS'), threads: Number((/^Threads:\s+(\d+)/m.exec(text) || [])[1]) };
  }

  /** kill -9 of replica `index`, as a crash would. */
  async kill9(index) {
    const proc = this.procs[index];
    proc.killed = true;
    proc.child.kill('SIGKILL');
    await proc.exitPromise;
  }

  /** Envelopes (commands and clicks) acked by each replica, by the connection the ack came on. */
  ackedPerReplica() {
    const counts = this.procs.map(() => 0);
    let unattributed = 0;
    for (const ack of this.slack.acks.values()) {
      const owner = this.connectionOwner.get(ack.connectionId);
      if (owner === undefined) unattributed++;
      else counts[owner]++;
    }
    return { counts, unattributed };
  }

  /** Acks the fake saw after Slack's 3 s deadline, or never. */
  lateAcks() {
    return this.slack.timedOut.length + [...this.slack.acks.values()].filter((a) => a.late && !this.slack.timedOut.includes(a.envelope_id)).length;
  }

  /** SIGTERM to every live replica; resolves with the problems (a replica that did not exit 0 in time). */
  async stopAll() {
    const problems = [];
    await Promise.all(this.live().map(async (proc) => {
      const sentAt = nowMs();
      proc.child.kill('SIGTERM');
      let timer;
      const exited = await Promise.race([proc.exitPromise, new Promise((resolve) => { timer = setTimeout(() => resolve(null), STOP_GRACE_MS); })]);
      clearTimeout(timer);
      if (!exited) {
        proc.child.kill('SIGKILL');
        await proc.exitPromise;
        problems.push(`replica ${proc.index} (pid ${proc.pid}) was still running ${STOP_GRACE_MS / 1000} s after SIGTERM (killed with SIGKILL)`);
      } else if (exited.code !== 0) {
        problems.push(`replica ${proc.index} (pid ${proc.pid}) exited with ${JSON.stringify(exited)} after SIGTERM ` +
          `(${fmt(nowMs() - sentAt, 0)} ms); its log ends:\n${proc.stderr.last(1500)}`);
      }
    }));
    return problems;
  }

  async close() {
    const problems = await this.stopAll();
    if (this.slack) await this.slack.stop();
    if (!this.options.keepDir) fs.rmSync(this.dir, { recursive: true, force: true });
    return problems;
  }

  logs(chars = 3000) {
    return this.procs.filter(Boolean).map((p) => `--- replica ${p.index} (pid ${p.pid}${p.killed ? ', killed' : ''}) stderr ---\n${p.stderr.last(chars)}`).join('\n');
  }

  /** `jitbot requests list --state STATE` on this config: the number of requests it lists. */
  countRequests(state) {
    const listed = execFileSync(BINARY, ['requests', 'list', '--state', state, '--limit', '100000', '--config', this.configFile], {
      encoding: 'utf8',
      env: { ...process.env, JITBOT_AUDIT_KEY: AUDIT_KEY, ...(this.options.pgPassword ? { PGPASSWORD: this.options.pgPassword } : {}) },
    });
    return listed.split('\n').filter((l) => REQ_ID.test(l)).length;
  }
}

// ------------------------------------------------------------------------------------------------
// Event-driven observation of the fake (as bench/slack_bench.js's Watch), plus how often each card was posted
// ------------------------------------------------------------------------------------------------

class Watch {
  constructor(slack) {
    this.values = new Map();
    this.waiters = new Map();
    this.cards = new Map(); // request id -> {ts, postedAtMs, activeAtMs}
    this.posts = new Map(); // request id -> how many top-level messages in the approvals channel show it
    slack.on('message', ({ kind, channel, message }) => {
      if (channel !== APPROVALS || !message.blocks || message.thread_ts) return;
      const blocks = JSON.stringify(message.blocks);
      const match = REQ_ID.exec(blocks);
      if (!match) return;
      const id = match[0];
      const t = nowMs();
      if (kind === 'posted') {
        this.posts.set(id, (this.posts.get(id) || 0) + 1);
        if (this.cards.has(id)) return;
        const card = { ts: message.ts, postedAtMs: t, activeAtMs: null };
        this.cards.set(id, card);
        this.fire(`card:${id}`, card);
      } else if (kind === 'updated' && blocks.includes('*Status:* Active until')) {
        const card = this.cards.get(id);
        if (card && card.activeAtMs === null) card.activeAtMs = t;
        this.fire(`active:${id}`, t);
      }
    });
    slack.on('response', ({ response_url, post }) => {
      if (!this.values.has(`answer:${response_url}`)) this.fire(`answer:${response_url}`, { text: post.text, atMs: nowMs() });
    });
  }

  fire(key, value) {
    if (this.values.has(key)) return;
    this.values.set(key, value);
    const waiters = this.waiters.get(key);
    if (waiters) {
      this.waiters.delete(key);
      for (const w of waiters) w(value);
    }
  }

  wait(key, timeoutMs = 60000) {
    if (this.values.has(key)) return Promise.resolve(this.values.get(key));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`bench: timed out after ${timeoutMs} ms waiting for ${key}`)), timeoutMs);
      const list = this.waiters.get(key) || [];
      list.push((value) => {
        clearTimeout(timer);
        resolve(value);
      });
      this.waiters.set(key, list);
    });
  }
}

function slash(slack, user, text) {
  return slack.slashCommand({ user: user.id, text, channel: 'C0OPS', command: '/jit' });
}

async function submitRequest(slack, watch, user = USERS.alice) {
  const sent = slash(slack, user, `request ${requestArgs(++requestSeq)}`);
  const answer = await watch.wait(`answer:${sent.response_url}`);
  const match = REQ_ID.exec(answer.text || '');
  if (!match) throw new Error(`bench: no request ID in the answer: ${answer.text}`);
  return match[0];
}

async function oneFlow(slack, watch) {
  const id = await submitRequest(slack, watch);
  const card = await watch.wait(`card:${id}`);
  slack.clickButton({ user: USERS.bob.id, channel: APPROVALS, ts: card.ts, action_id: 'jit_approve' });
  await watch.wait(`active:${id}`);
  return id;
}

/** Starts `set` (Replicas), runs `body(set)`, stops them after and records problems in `result.stopProblems`. */
async function withReplicas(set, result, body) {
  let failure = null;
  try {
    await set.start();
    result.startupMs = set.procs.map((p) => p.startupMs);
    await body(set);
  } catch (error) {
    failure = error;
  }
  const problems = await set.close().catch((error) => [String(error.message)]);
  result.stopProblems = problems;
  for (const p of problems) process.stderr.write(`bench: ${p}\n`);
  if (failure) {
    failure.message += `\n${set.logs()}`;
    throw failure;
  }
}

// ------------------------------------------------------------------------------------------------
// 1. Full flows per second, per configuration
// ------------------------------------------------------------------------------------------------

async function phaseFlows(results, config, pg) {
  const db = config.postgres ? freshDatabase(pg, config.key) : null;
  const result = { key: config.key, label: config.label, replicas: config.replicas, database: config.postgres ? 'postgresql' : 'sqlite' };
  results.flows.push(result);
  let set = null;
  try {
    const options = {
      count: config.replicas,
      database: db ? db.url : undefined,
      pgPassword: db ? pg.PGPASSWORD : undefined,
      keepDir: true, // the SQLite file is counted with the CLI after the stop
    };
    set = new Replicas(options);
    await withReplicas(set, result, async () => {
      const { slack } = set;
      const watch = new Watch(slack);
      // Idle CPU first: what the replicas burn doing nothing (lease renewal, polling) is in every per-flow figure.
      const idleMeter = set.cpuMeter();
      const serverIdle = db ? pgServerCpu(pg) : NaN;
      await sleep(SIZES.idleMs);
      result.idle = idleMeter(SIZES.idleMs / 1000); // ms of CPU per second, summed over the replicas
      result.pgServerIdleMsPerS = ((pgServerCpu(pg) - serverIdle) * 1000) / (SIZES.idleMs / 1000);
      for (let i = 0; i < SIZES.warmup; i++) await oneFlow(slack, watch);
      await sleep(200);
      const apiCallsBefore = slack.apiCalls.length;
      const acksBefore = set.ackedPerReplica().counts;
      const meter = set.cpuMeter();
      const serverBefore = db ? pgServerCpu(pg) : NaN;
      const t0 = nowMs();
      const done = [];
      const durations = await pool(SIZES.flows, SIZES.flowWindow, async () => {
        const start = nowMs();
        await oneFlow(slack, watch);
        const end = nowMs();
        done.push(end);
        return end - start;
      });
      const elapsedMs = nowMs() - t0;
      const cpu = meter(durations.length);
      const serverS = db ? pgServerCpu(pg) - serverBefore : NaN;
      const status = set.procs.map((p) => set.procStatus(p.index));
      const acksAfter = set.ackedPerReplica();
      Object.assign(result, {
        count: durations.length,
        window: SIZES.flowWindow,
        elapsedMs,
        perSecond: durations.length / (elapsedMs / 1000),
        p50: median(durations),
        p99: percentile(durations, 99),
        cpu,
        botCpuMsPerFlow: cpu.botMsPer,
        pgServerCpuS: serverS,
        pgServerCpuMsPerFlow: (serverS * 1000) / durations.length,
        peakRssMb: status.map((s) => s.vmHwmKb / 1024),
        rssMb: status.map((s) => s.vmRssKb / 1024),
        threads: status.map((s) => s.threads),
        apiCalls: slack.apiCalls.length - apiCallsBefore,
        ackedPerReplica: acksAfter.counts.map((c, i) => c - acksBefore[i]),
        unattributedAcks: acksAfter.unattributed,
        lateAcks: set.lateAcks(),
        duplicateCards: [...watch.posts.values()].filter((n) => n > 1).length,
        ...segmentRates(t0, done),
      });
    });
    // Everything the flows did is in the database: count ACTIVE requests with the CLI (after the stop).
    try {
      result.persistedActive = set.countRequests('ACTIVE'); // includes the warm-up flows
    } catch (error) {
      result.persistedActive = NaN;
      result.listError = String(error.stderr || error.message).trim().split('\n')[0];
    }
  } finally {
    if (set) fs.rmSync(set.dir, { recursive: true, force: true });
    if (db) db.drop();
  }
}

// ------------------------------------------------------------------------------------------------
// 2. Failover: kill -9 of one of two replicas while grants run on both
// ------------------------------------------------------------------------------------------------

/** Backend calls logged by the slow backend: [{word: begin|grant, id, pid, wallMs}]. */
function readBackendLog(log) {
  if (!fs.existsSync(log)) return [];
  return fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).map((line) => {
    const [word, id, pid, at] = line.split(' ');
    return { word, id, pid: Number(pid), wallMs: Number(at) * 1000 };
  });
}

async function phaseFailover(results, pg) {
  const db = freshDatabase(pg, 'failover');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jitbot-replica-bench-'));
  const log = path.join(dir, 'grants.log');
  // A grant logs "begin REQUEST PID TIME", sleeps, then logs "grant REQUEST PID TIME" (PID: the jitbot that ran it,
  // bash's $PPID, read at the start); bash builtins only besides cat and sleep. A revoke is instant.
  const script =
    `input=$(cat); id=none; [[ $input =~ (req_[0-9A-Z]{26}) ]] && id=\${BASH_REMATCH[1]}; ` +
    `if [ "$1" = grant ]; then printf 'begin %s %s %s\\n' "$id" "$PPID" "$EPOCHREALTIME" >> '${log}'; ` +
    `sleep ${SIZES.failoverSleepS}; printf 'grant %s %s %s\\n' "$id" "$PPID" "$EPOCHREALTIME" >> '${log}'; fi; echo "{}"`;
  const result = { requests: SIZES.failoverRequests, sleepS: SIZES.failoverSleepS, replicas: 2 };
  results.failover = result;
  const set = new Replicas({
    count: 2,
    dir,
    keepDir: true, // the config is used by the CLI after the stop; the folder is removed below
    database: db.url,
    pgPassword: pg.PGPASSWORD,
    backendCommand: ['/bin/bash', '-c', script, 'bash'],
    backendTimeout: '60s',
    backendExtra: `max_concurrent = ${SIZES.failoverMaxConcurrent}`,
  });
  try {
    await withReplicas(set, result, async () => {
      const { slack } = set;
      const watch = new Watch(slack);
      const pids = set.procs.map((p) => p.pid);
      const ids = await pool(SIZES.failoverRequests, SIZES.failoverRequests, () => submitRequest(slack, watch));
      const cards = await Promise.all(ids.map((id) => watch.wait(`card:${id}`)));
      // Approve all at once, and wait until every click is acked (a click lost with the killed replica, never acked,
      // would leave its request pending: that is a person seeing an error, not a failover).
      const clicks = cards.map((card) => slack.clickButton({ user: USERS.bob.id, channel: APPROVALS, ts: card.ts, action_id: 'jit_approve' }));
      const clickAcks = await Promise.all(clicks.map((c) => slack.waitForAck(c.envelope_id, 10000)));
      result.clicksAckedPerReplica = pids.map((_, i) => clickAcks.filter((a) => set.connectionOwner.get(a.connectionId) === i).length);
      // Wait until grants run on both replicas and the rest queue: every replica runs at least one, and together they
      // run as many as they may (max_concurrent, 8 each), or 2.5 s have passed (the first grants end at 3 s); then
      // kill the replica running the most.
      const clickedAt = nowMs();
      const inFlight = (pid, calls = readBackendLog(log)) => {
        const mine = calls.filter((c) => c.pid === pid);
        const ended = new Set(mine.filter((c) => c.word === 'grant').map((c) => c.id));
        return mine.filter((c) => c.word === 'begin' && !ended.has(c.id)).map((c) => c.id);
      };
      const full = Math.min(ids.length, 2 * SIZES.failoverMaxConcurrent);
      for (;;) {
        const calls = readBackendLog(log);
        const running = pids.map((pid) => inFlight(pid, calls).length);
        const elapsed = nowMs() - clickedAt;
        const both = running.every((n) => n > 0);
        if ((both && (sum(running) >= full || elapsed >= 2500)) || elapsed >= 10000) break;
        await sleep(10);
      }
      const running = pids.map((pid) => inFlight(pid).length);
      const victim = running[1] >= running[0] ? 1 : 0;
      const survivor = 1 - victim;
      const survivorMeter = (() => {
        const before = set.cpu(survivor);
        return () => set.cpu(survivor).self - before.self;
      })();
      const killWall = wallMs();
      const killedAt = nowMs();
      await set.kill9(victim);
      result.victim = victim;
      result.killedAfterClicksMs = killedAt - clickedAt;
      result.runningAtKill = running; // per replica: grant calls begun and not ended, just before the kill
      await sleep(200); // a backend process the victim started just before it died may log its start a little later
      // A dead process starts nothing: every grant call logged with the victim's PID was started before the kill.
      const victimCalls = readBackendLog(log).filter((c) => c.pid === pids[victim]);
      const victimInFlight = victimCalls.filter((c) => c.word === 'begin' &&
        !victimCalls.some((e) => e.word === 'grant' && e.id === c.id && e.wallMs <= killWall)).map((c) => c.id);
      result.victimInFlight = victimInFlight.length;
      const atKill = readBackendLog(log);
      result.notStartedAtKill = ids.filter((id) => !atKill.some((c) => c.id === id && c.word === 'begin' &&
        (c.wallMs <= killWall || c.pid === pids[victim]))).length;
      result.activeAtKill = ids.filter((id) => watch.cards.get(id).activeAtMs !== null && watch.cards.get(id).activeAtMs <= killedAt).length;

      // From the kill until every card shows "Active until" (the survivor does the killed replica's share).
      const activeAt = await Promise.all(ids.map((id) => watch.wait(`active:${id}`, 180000)));
      result.failoverMs = max(activeAt) - killedAt;
      result.survivorCpuS = survivorMeter();
      await sleep(2000); // time for a second grant call or card to show
      const calls = readBackendLog(log);
      const takeover = victimInFlight.map((id) => calls.find((c) => c.word === 'begin' && c.id === id && c.pid === pids[survivor]))
        .filter(Boolean).map((c) => c.wallMs - killWall);
      result.takeoverFirstS = takeover.length ? Math.min(...takeover) / 1000 : NaN;
      result.takeoverLastS = takeover.length ? max(takeover) / 1000 : NaN;
      result.victimWorkActiveS = victimInFlight.length
        ? (max(victimInFlight.map((id) => watch.cards.get(id).activeAtMs)) - killedAt) / 1000 : NaN;
      // Grant calls per request. One call is the rule. Two are expected only for a call the killed replica had
      // started (necessarily before it died) that the survivor made again after the kill, once the lease ran out:
      // the exec contract makes a grant idempotent by request ID. Anything else is a request granted twice.
      const problems = [];
      let retried = 0;
      let retriedAfterBackendDone = 0;
      for (const id of ids) {
        const begins = calls.filter((c) => c.word === 'begin' && c.id === id);
        const byVictim = begins.filter((c) => c.pid === pids[victim]);
        const bySurvivor = begins.filter((c) => c.pid === pids[survivor]);
        const others = begins.filter((c) => !pids.includes(c.pid));
        if (others.length) problems.push(`${id}: ${others.length} grant calls by an unknown process`);
        if (bySurvivor.length > 1) problems.push(`${id}: the surviving replica called grant ${bySurvivor.length} times`);
        if (byVictim.length > 1) problems.push(`${id}: the killed replica called grant ${byVictim.length} times`);
        if (begins.length === 0) problems.push(`${id}: no grant call at all, yet the card shows "Active until"`);
        if (byVictim.length === 1 && bySurvivor.length === 1) {
          if (bySurvivor[0].wallMs < killWall) {
            problems.push(`${id}: granted by both replicas while both ran`);
          } else {
            retried++;
            // The victim's call had finished in the backend before the kill, but its outcome may not have been
            // recorded yet: still a legitimate retry, counted apart.
            if (calls.some((c) => c.word === 'grant' && c.id === id && c.pid === pids[victim] && c.wallMs <= killWall)) retriedAfterBackendDone++;
          }
        }
      }
      result.grantCalls = calls.filter((c) => c.word === 'begin').length;
      result.grantCallsPerReplica = pids.map((pid) => calls.filter((c) => c.word === 'begin' && c.pid === pid).length);
      result.grantsLogged = calls.filter((c) => c.word === 'grant').length; // includes the killed replica's orphans
      result.retriedAfterTakeover = retried;
      result.retriedAfterBackendDone = retriedAfterBackendDone;
      result.doubleGrants = problems;
      result.duplicateCards = [...watch.posts.values()].filter((n) => n > 1).length;
    });
    try {
      result.persistedActive = set.countRequests('ACTIVE');
    } catch (error) {
      result.persistedActive = NaN;
      result.listError = String(error.stderr || error.message).trim().split('\n')[0];
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    db.drop();
  }
}

// ------------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------------

function table(rows) {
  const widths = rows[0].map((_, c) => max(rows.map((r) => String(r[c]).length)));
  const line = (r) => `| ${r.map((cell, c) => String(cell).padEnd(widths[c])).join(' | ')} |`;
  const out = [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`];
  for (const r of rows.slice(1)) out.push(line(r));
  return out.join('\n');
}

const CONFIGS = [
  { key: 'sqlite', label: 'SQLite, 1 process', replicas: 1, postgres: false },
  { key: 'pg1', label: 'PostgreSQL, 1 replica', replicas: 1, postgres: true },
  { key: 'pg2', label: 'PostgreSQL, 2 replicas', replicas: 2, postgres: true },
  { key: 'pg3', label: 'PostgreSQL, 3 replicas', replicas: 3, postgres: true },
];

function report(r) {
  const configs = CONFIGS.filter((c) => r.flows.some((f) => f.key === c.key) || (c.key === 'pg2' && r.failover));
  const flowOf = (key) => r.flows.find((f) => f.key === key && Number.isFinite(f.perSecond));
  const cell = (key, render) => {
    const f = flowOf(key);
    return f ? render(f) : r.flows.some((x) => x.key === key) ? 'FAILED' : '-';
  };
  const rows = [['Figure', ...configs.map((c) => c.label), 'Target']];
  const details = [];
  if (r.flows.length) {
    rows.push([`Full flows per second (${SIZES.flows}, ${SIZES.flowWindow} in flight)`,
      ...configs.map((c) => cell(c.key, (f) => `${fmt(f.perSecond, 1)}/s`)), `>= ${TARGETS.flowsPerSecond}/s (1 process)`]);
    rows.push(['Flow latency p50 / p99',
      ...configs.map((c) => cell(c.key, (f) => `${fmt(f.p50, 0)} / ${fmt(f.p99, 0)} ms`)), '-']);
    rows.push(['jitbot CPU per flow, all replicas',
      ...configs.map((c) => cell(c.key, (f) => `${fmt(f.botCpuMsPerFlow, 2)} ms`)), `<= ${TARGETS.cpuPerFlowMs} ms (1 process)`]);
    rows.push(['PostgreSQL server CPU per flow',
      ...configs.map((c) => cell(c.key, (f) => (c.key === 'sqlite' ? '-' : `${fmt(f.pgServerCpuMsPerFlow, 2)} ms`))), '-']);
    rows.push(['Peak RSS (VmHWM) per replica',
      ...configs.map((c) => cell(c.key, (f) => `${f.peakRssMb.map((m) => fmt(m, 1)).join(' / ')} MB`)), `< ${TARGETS.peakRssMb} MB`]);
    rows.push(['Idle CPU, all replicas',
      ...configs.map((c) => cell(c.key, (f) => `${fmt(f.idle.botMsPer, 0)} ms/s`)), '-']);
  }
  const fo = r.failover;
  if (fo) {
    const at = (value) => configs.map((c) => (c.key === 'pg2' ? value : '-'));
    rows.push([`Failover: kill -9 -> all ${fo.requests} cards "Active until"`,
      ...at(Number.isFinite(fo.failoverMs) ? `${fmt(fo.failoverMs / 1000, 1)} s` : 'FAILED'), `< ${TARGETS.failoverS} s`]);
    rows.push(['  requests granted twice (beyond the takeover retry)',
      ...at(fo.doubleGrants ? String(fo.doubleGrants.length) : 'n/a'), '0']);
  }

  for (const f of r.flows) {
    if (!Number.isFinite(f.perSecond)) continue;
    const c = f.cpu;
    details.push(`${f.label}: ${f.count} flows in ${fmt(f.elapsedMs / 1000)} s; ${fmt(f.firstRate, 1)} flows/s over the first ${f.segment}, ` +
      `${fmt(f.lastRate, 1)} over the last ${f.segment}; jitbot CPU ${fmt(c.botS)} s (per replica ${c.perReplicaS.map((s) => fmt(s)).join(' / ')} s), ` +
      `backend processes ${fmt(c.backendS)} s, ${f.database === 'postgresql' ? `PostgreSQL server ${fmt(f.pgServerCpuS)} s, ` : ''}Node (driver + fake) ${fmt(c.nodeS)} s = ${fmt(c.nodeMsPer)} ms per flow; ` +
      `idle before: ${fmt(f.idle.botMsPer, 0)} ms of CPU per second over ${SIZES.idleMs / 1000} s (resolution ±${fmt(1000 / CLK_TCK / (SIZES.idleMs / 1000), 0)} ms/s per replica)` +
      `${f.database === 'postgresql' ? `, PostgreSQL server ${fmt(f.pgServerIdleMsPerS, 0)} ms/s` : ''}; ` +
      `commands and clicks acked per replica ${f.ackedPerReplica.join(' / ')}${f.unattributedAcks ? ` (+${f.unattributedAcks} on unattributed sockets)` : ''}; ` +
      `${f.apiCalls} Web API calls; ${f.lateAcks} acks late or missing; ${f.duplicateCards} requests with more than one card; ` +
      `VmRSS at the end ${f.rssMb.map((m) => fmt(m, 1)).join(' / ')} MB, threads ${f.threads.join(' / ')}; ` +
      `start-up ${f.startupMs.map((s) => fmt(s, 0)).join(' / ')} ms; ` +
      `${Number.isFinite(f.persistedActive) ? f.persistedActive : `? (${f.listError})`} ACTIVE in the database after the stop ` +
      `(jitbot requests list; ${f.count + SIZES.warmup} expected with the warm-up)` +
      `${f.stopProblems && f.stopProblems.length ? `; STOP PROBLEMS: ${f.stopProblems.join('; ')}` : ''}`);
  }
  if (fo && Number.isFinite(fo.failoverMs)) {
    details.push(`failover: 2 replicas, backend grant sleeps ${fo.sleepS} s (max_concurrent ${SIZES.failoverMaxConcurrent} per replica); ${fo.requests} approve clicks ` +
      `acked per replica ${fo.clicksAckedPerReplica.join(' / ')}; replica ${fo.victim} killed ${fmt(fo.killedAfterClicksMs, 0)} ms after the clicks ` +
      `with grant calls running per replica ${fo.runningAtKill.join(' / ')} (${fo.victimInFlight} on the killed one), ${fo.notStartedAtKill} not yet started, ` +
      `${fo.activeAtKill} already active; the survivor re-ran the killed replica's grants ${fmt(fo.takeoverFirstS, 1)}–${fmt(fo.takeoverLastS, 1)} s ` +
      `after the kill (lease takeover), and their cards were all active ${fmt(fo.victimWorkActiveS, 1)} s after it; every card active ` +
      `${fmt(fo.failoverMs / 1000, 1)} s after the kill; survivor CPU meanwhile ${fmt(fo.survivorCpuS)} s` +
      `${fo.victimInFlight ? '' : '; NOTE: the killed replica ran no grant when it was killed, so no lease had to run out'}`);
    details.push(`failover grant calls: ${fo.grantCalls} in all (per replica ${fo.grantCallsPerReplica.join(' / ')}), ` +
      `${fo.retriedAfterTakeover} of them the survivor's retry of a call the killed replica was making (expected: same request ID, ` +
      `idempotent; ${fo.retriedAfterBackendDone} of those had finished in the backend just before the kill); ${fo.grantsLogged} "grant" lines logged (the killed replica's orphaned backend processes finish too); ` +
      `${fo.doubleGrants.length} requests granted twice otherwise${fo.doubleGrants.length ? `: ${fo.doubleGrants.slice(0, 10).join('; ')}` : ''}; ` +
      `${fo.duplicateCards} requests with more than one card; ${Number.isFinite(fo.persistedActive) ? fo.persistedActive : '?'} ACTIVE in the database` +
      `${fo.stopProblems && fo.stopProblems.length ? `; STOP PROBLEMS: ${fo.stopProblems.join('; ')}` : ''}`);
  }
  for (const f of r.failures || []) details.push(`PHASE FAILED: ${f.phase}: ${f.message} (no figures from it)`);
  details.push(`binary ${r.binary.path}: modified ${r.binary.mtime}, sha256 ${r.binary.sha256}…; ${os.cpus().length} CPUs, CLK_TCK ${CLK_TCK}`);
  details.push(`load average at start / end: ${r.loadStart.map((v) => v.toFixed(2)).join(' ')} / ${r.loadEnd.map((v) => v.toFixed(2)).join(' ')}; ` +
    `total run ${fmt(r.totalS, 1)} s`);
  return ['', table(rows), '', 'Details:', ...details.map((d) => `  ${d}`)].join('\n');
}

function parseArgs(argv) {
  const args = { json: null, only: null, pgEnv: process.env.JITBOT_BENCH_PG_ENV || process.env.JITBOT_TEST_PG_ENV || null };
  for (let i = 0; i < argv.length; i++) {
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`bench: ${argv[i]} needs a value`);
      return argv[++i];
    };
    switch (argv[i]) {
      case '--json': args.json = value(); break;
      case '--only': args.only = value().split(','); break;
      case '--pg-env': args.pgEnv = value(); break;
      case '--flows': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 2) throw new Error('bench: --flows takes a whole number of at least 2');
        SIZES.flows = n;
        break;
      }
      default: throw new Error(`bench: unknown argument ${argv[i]} (known: --flows N, --json FILE, --only ${[...CONFIGS.map((c) => c.key), 'failover'].join(',')}, --pg-env FILE)`);
    }
  }
  return args;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(error.message);
    process.exit(2);
  }
  if (!fs.existsSync(BINARY)) {
    console.error(`bench: no jitbot binary at ${BINARY}; build it first with: bash scripts/build.sh`);
    process.exit(2);
  }
  const known = [...CONFIGS.map((c) => c.key), 'failover'];
  const unknown = (args.only || []).filter((k) => !known.includes(k));
  if (unknown.length) {
    console.error(`bench: unknown phase ${unknown.join(', ')}; known: ${known.join(', ')}`);
    process.exit(2);
  }
  const wanted = (key) => !args.only || args.only.includes(key);
  const needsPg = known.filter((k) => k !== 'sqlite').some(wanted);
  let pg = null;
  try {
    pg = pgSettings(args.pgEnv);
  } catch (error) {
    console.error(error.message);
    process.exit(2);
  }
  if (needsPg && !pg) {
    console.error('bench: the PostgreSQL phases need a cluster: run bash bench/replicas.sh, or name the env file of ' +
      '`scripts/pg-cluster.sh start FILE` with --pg-env FILE');
    process.exit(2);
  }

  const results = {
    startedAt: new Date().toISOString(),
    loadStart: os.loadavg(),
    sizes: SIZES,
    targets: TARGETS,
    clkTck: CLK_TCK,
    flows: [],
    failures: [],
  };
  const stat = fs.statSync(BINARY);
  results.binary = {
    path: path.relative(ROOT, BINARY).startsWith('..') ? BINARY : path.relative(ROOT, BINARY),
    bytes: stat.size,
    mtime: stat.mtime.toISOString(),
    sha256: crypto.createHash('sha256').update(fs.readFileSync(BINARY)).digest('hex').slice(0, 12),
  };
  const t0 = nowMs();
  const step = (name) => process.stderr.write(`bench: ${name} (${fmt((nowMs() - t0) / 1000, 1)} s)\n`);
  const phases = [
    ...CONFIGS.map((c) => [c.key, `full flows, ${c.label}`, (r) => phaseFlows(r, c, pg)]),
    ['failover', 'failover: kill -9 of one of 2 replicas', (r) => phaseFailover(r, pg)],
  ];
  for (const [key, name, run] of phases) {
    if (!wanted(key)) continue;
    step(name);
    try {
      await run(results);
    } catch (error) {
      const message = String(error && error.message ? error.message : error).split('\n')[0];
      process.stderr.write(`bench: ${name} failed: ${error && error.stack ? error.stack : error}\n`);
      results.failures.push({ phase: key, message });
    }
  }
  results.loadEnd = os.loadavg();
  results.totalS = (nowMs() - t0) / 1000;
  console.log(report(results));
  if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(results, null, 2)}\n`);
  if (results.failures.length) process.exitCode = 1;
}

if (require.main === module) {
  onSignal('SIGINT', 130);
  onSignal('SIGTERM', 143);
  main().catch((error) => {
    console.error(error && error.stack ? error.stack : error);
    process.exit(1);
  });
}

module.exports = { Replicas, Watch, freshDatabase, pgSettings, pgServerCpu, submitRequest, oneFlow, percentile, median };
