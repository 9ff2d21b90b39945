// Runs a scripted `jitbot shell --manual-clock` session against a config with one native backend,
// so an end-to-end test can drive request → approve → grant → expiry → revoke against a fake cloud.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { scratchDir } = require('../fakes/scratch');

const SOURCE_DIR = path.resolve(__dirname, '..', '..');
const BINARY = process.env.JITBOT_BINARY || path.join(SOURCE_DIR, 'build', 'bot', 'jitbot');

// The people in the terminal's directory: Alice asks, Bob approves.
const USERS = {
  alice: { id: 'U0ALICE', name: 'Alice Liddell', email: 'alice@example.com' },
  bob: { id: 'U0BOB', name: 'Bob Stone', email: 'bob@example.com' },
};

const toml = (value) => JSON.stringify(value);

/// Writes jitbot.toml into a new temp folder. `backend` is the TOML of one [[backends]] entry
/// (with its sub-tables) named "cloud"; `role` is {provider, name, scopes, extra}: `scopes` defaults
/// to ["*"] and `scopes: null` leaves the key out (a cluster_wide or admin role); `extra` is more
/// TOML lines for the [[roles]] entry, e.g. ['cluster_wide = true'].
function writeConfig({ backend, role, dir }) {
  dir = dir || scratchDir('jitbot-backend-e2e-');
  const lines = [
    '[bot]',
    `database = ${toml(path.join(dir, 'jitbot.db'))}`,
    'pending_timeout = "30m"',
    '',
    '[slack]',
    'approvals_channel = "C0APPROVALS"',
    'incident_channels = ["C0INCIDENT"]',
    '',
    '[[roles]]',
    `provider = ${toml(role.provider)}`,
    `name = ${toml(role.name)}`,
    ...(role.scopes === null ? [] : [`scopes = ${toml(role.scopes || ['*'])}`]),
    ...(role.extra || []),
    'backend = "cloud"',
    'requesters = ["*"]',
    `approvers = [${toml(USERS.bob.id)}]`,
    'max_duration = "8h"',
    `break_glass_requesters = [${toml(USERS.alice.id)}]`,
    '',
    '[directory.users]',
    ...Object.values(USERS).map((u) => `${u.id} = { name = ${toml(u.name)}, email = ${toml(u.email)} }`),
    '',
    backend.trim(),
    '',
  ];
  const file = path.join(dir, 'jitbot.toml');
  fs.writeFileSync(file, lines.join('\n'));
  return { dir, file };
}

/// Runs `jitbot shell --manual-clock --config FILE` with `lines` on stdin (async: a fake in this
/// process keeps answering). Resolves {code, stdout, stderr}.
function runShell(configFile, lines, { env = {}, timeoutMs = 120000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(BINARY, ['shell', '--manual-clock', '--config', configFile], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // A shell that exits before reading its stdin (a config error) must not crash the test with EPIPE.
    child.stdin.on('error', () => {});
    child.stdin.end(lines.join('\n') + '\n');
  });
}

/// The usual story: Alice requests, Bob approves (click 1 is Approve on the first card), the
/// grant runs, then `wait` later (default 2h) the access expires and is revoked.
function approvalStory({ provider, role, scope, duration = '2h', reason = 'INC-4421', wait = duration }) {
  return [
    `/as ${USERS.alice.id}`,
    `/jit request --provider ${provider} --role ${role} --scope ${scope} --duration ${duration} --reason ${toml(reason)}`,
    `/as ${USERS.bob.id}`,
    'click 1',
    `/wait ${wait}`,
    '/jit list --mine',
  ];
}

/// "· backend cloud grant req_…: ok — message" lines the shell prints for each backend call.
function backendLines(stdout, action) {
  return stdout.split('\n').filter((l) => l.startsWith(`· backend cloud ${action} `));
}

const REQUEST_ID = /req_[0-9A-HJKMNP-TV-Z]{26}/;

/// The first request ID the shell printed (fails the test when there is none).
function requestIdIn(stdout) {
  const match = REQUEST_ID.exec(stdout);
  if (!match) throw new Error(`no request ID in the shell output:\n${stdout}`);
  return match[0];
}

/// The text of each DM the shell printed for a user (the lines under "── DM to USER …").
function dmsTo(stdout, userId) {
  const dms = [];
  const lines = stdout.split('\n');
  lines.forEach((line, i) => {
    if (!line.startsWith(`── DM to ${userId}`)) return;
    const body = [];
    for (let j = i + 1; j < lines.length && lines[j].startsWith('  ') && !/^ {2}[→✗]/.test(lines[j]); j++) body.push(lines[j].trim());
    dms.push(body.join('\n'));
  });
  return dms;
}

/// Every byte jitbot keeps: the database and its WAL/journal files (to prove a secret is not there).
function databaseBytes(dir) {
  return fs.readdirSync(dir).filter((f) => f.startsWith('jitbot.db')).map((f) => fs.readFileSync(path.join(dir, f)).toString('latin1')).join('');
}

/// Fails the test unless the shell exited 0 (its stderr explains why not).
function assertShellOk(result) {
  if (result.code !== 0) throw new Error(`jitbot shell exited ${result.code}\n${result.stderr}`);
}

/// The last grant (or revoke) line for the request, e.g. "· backend cloud grant req_…: ok".
function backendLine(result, action, id) {
  const lines = backendLines(result.stdout, action).filter((l) => l.includes(id));
  if (lines.length === 0) throw new Error(`no ${action} line for ${id}:\n${result.stdout}\n${result.stderr}`);
  return lines[lines.length - 1];
}

// --- extending active access ----------------------------------------------------------------------------------

/// [[roles]] lines (role.extra) that let the requester extend their own access at once, no approvers
/// asked, up to 12h in all (max_duration is 8h).
const SELF_EXTEND = ['self_extend = true', 'max_extended_duration = "12h"'];

/// Alice asks for `by` more on request `id` (`/jit extend ID DURATION`).
const extendLines = (id, by = '1h') => [`/as ${USERS.alice.id}`, `/jit extend ${id} ${by}`];

/// What the shell printed in answer to one input line: from its echo ("USER> LINE") to the next
/// echo (the first such line when it was typed more than once).
function outputOf(stdout, line) {
  const echo = stdout.indexOf(`> ${line}\n`);
  if (echo < 0) throw new Error(`"${line}" was not typed in this session:\n${stdout}`);
  const start = stdout.indexOf('\n', echo) + 1;
  const next = stdout.slice(start).search(/\n[^\s>]+> /);
  return next < 0 ? stdout.slice(start) : stdout.slice(start, start + next);
}

/// The shell clock after a `/wait` line ("→ it is now TIME"), in ms since the epoch.
function clockAfter(stdout, waitLine) {
  const now = /→ it is now (\S+)/.exec(outputOf(stdout, waitLine))?.[1];
  if (!now) throw new Error(`"${waitLine}" printed no time:\n${stdout}`);
  return Date.parse(now);
}

/// An RFC 3339 time `seconds` later, written as jitbot writes times (whole seconds, Z).
const later = (time, seconds) => new Date(Date.parse(time) + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * A secret cut short still leaks: a truncated error message can carry the start of a session token.
 * So a secret counts as shown when any LEAK_WINDOW consecutive characters of it are (all of it, if shorter).
 */
const LEAK_WINDOW = 12;

/** Where the first piece of `secret` (LEAK_WINDOW characters, or all of a shorter one) shows in `text`; -1 if none does. */
function leakOffset(text, secret) {
  if (secret.length <= LEAK_WINDOW) return text.indexOf(secret);
  const pieces = new Set();
  for (let i = 0; i + LEAK_WINDOW <= secret.length; i++) pieces.add(secret.slice(i, i + LEAK_WINDOW));
  for (const piece of pieces) {
    const at = text.indexOf(piece);
    if (at >= 0) return at;
  }
  return -1;
}

module.exports = {
  LEAK_WINDOW, leakOffset,
  BINARY, USERS, REQUEST_ID, writeConfig, runShell, approvalStory, backendLines, toml, requestIdIn, dmsTo, databaseBytes,
  assertShellOk, backendLine, SELF_EXTEND, extendLines, outputOf, clockAfter, later,
};
