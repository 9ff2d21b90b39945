// AWS Signature Version 4, written from the spec (docs.aws.amazon.com, "Create a signed AWS API
// request"), independently of any AWS SDK: the fake verifies with it and the self-tests sign with
// it. The real AWS CLI (fake_aws.test.js) is the outside check that both halves are right.
'use strict';
const crypto = require('node:crypto');

const ALGORITHM = 'AWS4-HMAC-SHA256';
const MAX_SKEW_MS = 15 * 60 * 1000;

const sha256Hex = (data) => crypto.createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

/// RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - _ . ~ (encodeURIComponent also spares !'()*).
function uriEncode(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeComponent(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a stray '%': AWS canonicalises what it can; so does this
  }
}

/// The path with dot segments and empty segments removed, each segment encoded once more. For every
/// service but S3 the already-encoded path is encoded again ("double encoding"), as botocore does.
function canonicalUri(rawPath) {
  const segments = [];
  for (const segment of rawPath.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && rawPath.endsWith('/') ? '/' : '';
  return '/' + segments.map(uriEncode).join('/') + trailing;
}

/// Query parameters decoded, re-encoded strictly, and sorted by name then value.
function canonicalQuery(rawQuery) {
  if (!rawQuery) return '';
  return rawQuery
    .split('&')
    .filter((pair) => pair !== '')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      const value = eq < 0 ? '' : pair.slice(eq + 1);
      return [uriEncode(decodeComponent(name)), uriEncode(decodeComponent(value))];
    })
    .sort(([an, av], [bn, bv]) => (an === bn ? compare(av, bv) : compare(an, bn)))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

const compare = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

/// A header's canonical value: every occurrence trimmed, runs of spaces collapsed, joined by commas.
function canonicalHeaderValue(rawHeaders, name) {
  const values = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].toLowerCase() === name) values.push(rawHeaders[i + 1].trim().replace(/\s+/g, ' '));
  }
  return values.join(',');
}

function canonicalRequest({ method, path, query, rawHeaders, signedHeaders, payloadHash }) {
  const headerBlock = signedHeaders.map((name) => `${name}:${canonicalHeaderValue(rawHeaders, name)}\n`).join('');
  return [method, canonicalUri(path), canonicalQuery(query), headerBlock, signedHeaders.join(';'), payloadHash].join('\n');
}

function signingKey(secret, date, region, service) {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

function stringToSign(amzDate, scope, canonical) {
  return [ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

/// "20240102T030405Z" for a Date.
const amzDateOf = (date) => date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');

function parseAmzDate(text) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text || '');
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : null;
}

/// Why a request failed authentication. `kind` is protocol-neutral; each protocol maps it to its code.
class AuthError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind; // missing | incomplete | unknownKey | badToken | expiredToken | signature
  }
}

/// "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…" → its parts.
function parseAuthorization(header) {
  if (!header) throw new AuthError('missing', 'Missing Authentication Token');
  const space = header.indexOf(' ');
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== ALGORITHM) {
    throw new AuthError('incomplete', `Unsupported AWS 'algorithm': '${algorithm}'.`);
  }
  const fields = {};
  for (const part of header.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const missing = ['Credential', 'Signature', 'SignedHeaders'].filter((k) => !fields[k]);
  if (missing.length) {
    throw new AuthError('incomplete', missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' ') +
      ` Authorization=${header.split(/[ ,]/)[0]}`);
  }
  const scope = fields.Credential.split('/');
  if (scope.length !== 5) {
    throw new AuthError('incomplete', `Credential should be scoped to a valid region, service and terminator; got '${fields.Credential}'.`);
  }
  if (scope[4] !== 'aws4_request') {
    throw new AuthError('incomplete', `Credential should be scoped with a valid terminator: 'aws4_request', not '${scope[4]}'.`);
  }
  const [accessKeyId, date, region, service] = scope;
  return { accessKeyId, date, region, service, signedHeaders: fields.SignedHeaders.split(';'), signature: fields.Signature };
}

function checkTime(amzDate, now) {
  const at = parseAmzDate(amzDate);
  if (at === null) {
    throw new AuthError('incomplete', "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  }
  const fmt = (ms) => amzDateOf(new Date(ms));
  if (at < now - MAX_SKEW_MS) {
    throw new AuthError('signature', `Signature expired: ${amzDate} is now earlier than ${fmt(now - MAX_SKEW_MS)} (${fmt(now)} - 15 min.)`);
  }
  if (at > now + MAX_SKEW_MS) {
    throw new AuthError('signature', `Signature not yet current: ${amzDate} is still later than ${fmt(now + MAX_SKEW_MS)} (${fmt(now)} + 15 min.)`);
  }
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

/// Verifies a received request. `lookup(accessKeyId)` → {secretAccessKey, sessionToken?, expired?} or
/// null. Returns {credential, accessKeyId}; throws AuthError with AWS's wording otherwise.
function verifyRequest({ method, url, rawHeaders, headers, body, service, region, lookup, now = Date.now() }) {
  const auth = parseAuthorization(headers.authorization);
  if (!auth.signedHeaders.includes('host')) {
    throw new AuthError('incomplete', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (!auth.signedHeaders.includes('x-amz-date')) {
    throw new AuthError('incomplete', "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
  }
  const amzDate = headers['x-amz-date'];
  checkTime(amzDate, now);

  const credential = lookup(auth.accessKeyId);
  if (!credential) throw new AuthError('unknownKey', 'The security token included in the request is invalid.');
  if ((credential.sessionToken || headers['x-amz-security-token']) && credential.sessionToken !== headers['x-amz-security-token']) {
    throw new AuthError('badToken', 'The security token included in the request is invalid.');
  }
  if (credential.expired) throw new AuthError('expiredToken', 'The security token included in the request is expired');

  if (auth.date !== amzDate.slice(0, 8)) {
    throw new AuthError('signature', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`);
  }
  if (auth.region !== region) {
    throw new AuthError('signature', `Credential should be scoped to a valid region, not '${auth.region}'. `);
  }
  if (auth.service !== service) {
    throw new AuthError('signature', `Credential should be scoped to correct service: '${service}'. `);
  }

  const bodyHash = sha256Hex(body);
  const declared = headers['x-amz-content-sha256'];
  if (declared && declared !== 'UNSIGNED-PAYLOAD' && declared !== bodyHash) {
    throw new AuthError('signature', "The provided 'x-amz-content-sha256' header does not match what was computed.");
  }
  const [path, query = ''] = splitUrl(url);
  const canonical = canonicalRequest({ method, path, query, rawHeaders, signedHeaders: auth.signedHeaders, payloadHash: declared || bodyHash });
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const toSign = stringToSign(amzDate, scope, canonical);
  const expected = hmac(signingKey(credential.secretAccessKey, auth.date, auth.region, auth.service), toSign);
  const given = Buffer.from(auth.signature, 'hex');
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, expected)) {
    // Real AWS appends what it computed, which is how people debug a signer. Note that the canonical
    // string includes every signed header's value — X-Amz-Security-Token too — so clients must not
    // pass this message on verbatim.
    throw new AuthError('signature', `${SIGNATURE_MISMATCH}\n\nThe Canonical String for this request should have been\n'${canonical}'\n\nThe String-to-Sign should have been\n'${toSign}'\n`);
  }
  return { credential, accessKeyId: auth.accessKeyId };
}

function splitUrl(url) {
  const q = url.indexOf('?');
  return q < 0 ? [url, ''] : [url.slice(0, q), url.slice(q + 1)];
}

/// Signs a request the way an SDK does (for self-tests that need a client without the AWS CLI).
/// Returns the headers to send: the given ones plus host, x-amz-date, authorization (and the token).
function signRequest({ method, url, headers = {}, body = '', service, region, credentials, date = new Date() }) {
  const { host } = new URL(url);
  const amzDate = amzDateOf(date);
  const all = { ...headers, host, 'x-amz-date': amzDate };
  if (credentials.sessionToken) all['x-amz-security-token'] = credentials.sessionToken;
  const rawHeaders = Object.entries(all).flat();
  const signedHeaders = Object.keys(all).map((k) => k.toLowerCase()).sort();
  const { pathname, search } = new URL(url);
  const canonical = canonicalRequest({ method, path: pathname, query: search.slice(1), rawHeaders, signedHeaders, payloadHash: sha256Hex(body) });
  const scope = `${amzDate.slice(0, 8)}/${region}/${service}/aws4_request`;
  const signature = hmac(signingKey(credentials.secretAccessKey, amzDate.slice(0, 8), region, service), stringToSign(amzDate, scope, canonical)).toString('hex');
  all.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders.join(';')}, Signature=${signature}`;
  return all;
}

module.exports = { verifyRequest, signRequest, AuthError, uriEncode, canonicalUri, canonicalQuery, amzDateOf, SIGNATURE_MISMATCH };
