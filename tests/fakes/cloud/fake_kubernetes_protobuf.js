// Decodes the Kubernetes protobuf encoding of RoleBinding and ClusterRoleBinding request bodies.
//
// Why: kubectl's typed clients (`kubectl create rolebinding`) POST bodies as
// application/vnd.kubernetes.protobuf and do not fall back to JSON on 415, so a fake API server
// that kubectl can create bindings on must read protobuf. Replies stay JSON, which the client
// also accepts ("Accept: application/vnd.kubernetes.protobuf,application/json").
//
// Layout: the magic "k8s\0", then a runtime.Unknown {1: TypeMeta{1: apiVersion, 2: kind},
// 2: raw, 3: contentEncoding, 4: contentType}; raw is the object's own message (generated.proto).
'use strict';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

function readVarint(buf, offset) {
  let value = 0n;
  let shift = 0n;
  for (;;) {
    if (offset >= buf.length) throw new Error('truncated varint');
    const byte = buf[offset++];
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, offset];
    shift += 7n;
  }
}

/// Splits one message into its fields: [{field, wire, value}] (value: Buffer for length-delimited, BigInt for varint).
function fields(buf) {
  const out = [];
  let offset = 0;
  while (offset < buf.length) {
    let tag;
    [tag, offset] = readVarint(buf, offset);
    const field = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    let value;
    if (wire === 0) [value, offset] = readVarint(buf, offset);
    else if (wire === 1) [value, offset] = [buf.subarray(offset, offset + 8), offset + 8];
    else if (wire === 5) [value, offset] = [buf.subarray(offset, offset + 4), offset + 4];
    else if (wire === 2) {
      let length;
      [length, offset] = readVarint(buf, offset);
      const end = offset + Number(length);
      if (end > buf.length) throw new Error('truncated field');
      [value, offset] = [buf.subarray(offset, end), end];
    } else throw new Error(`unsupported wire type ${wire}`);
    out.push({ field, wire, value });
  }
  return out;
}

/// Reads the string fields named in `names` ({number: jsonName}); empty strings are left out, as
/// the JSON form omits them.
function strings(buf, names) {
  const object = {};
  for (const { field, wire, value } of fields(buf)) {
    if (wire === 2 && names[field] && value.length) object[names[field]] = value.toString('utf8');
  }
  return object;
}

function mapEntry(buf) {
  const entry = strings(buf, { 1: 'key', 2: 'value' });
  return [entry.key || '', entry.value || ''];
}

// ObjectMeta's string fields; labels (11) and annotations (12) are map entries; finalizers (14) repeated.
const OBJECT_META_STRINGS = { 1: 'name', 2: 'generateName', 3: 'namespace', 4: 'selfLink', 5: 'uid', 6: 'resourceVersion' };

function objectMeta(buf) {
  const meta = strings(buf, OBJECT_META_STRINGS);
  for (const { field, value } of fields(buf)) {
    if (field === 11 || field === 12) {
      const key = field === 11 ? 'labels' : 'annotations';
      const [k, v] = mapEntry(value);
      (meta[key] ||= {})[k] = v;
    } else if (field === 14) (meta.finalizers ||= []).push(value.toString('utf8'));
  }
  return meta;
}

/// RoleBinding and ClusterRoleBinding share {1: metadata, 2: subjects, 3: roleRef}.
function binding(buf) {
  const object = { metadata: {} };
  for (const { field, value } of fields(buf)) {
    if (field === 1) object.metadata = objectMeta(value);
    else if (field === 2) (object.subjects ||= []).push(strings(value, { 1: 'kind', 2: 'apiGroup', 3: 'name', 4: 'namespace' }));
    else if (field === 3) object.roleRef = strings(value, { 1: 'apiGroup', 2: 'kind', 3: 'name' });
  }
  return object;
}

/// Decodes a protobuf-encoded binding into its JSON form; throws when the body is not one.
function decodeBinding(body) {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC)) throw new Error('missing the k8s protobuf magic');
  let typeMeta = {};
  let raw = null;
  for (const { field, value } of fields(body.subarray(MAGIC.length))) {
    if (field === 1) typeMeta = strings(value, { 1: 'apiVersion', 2: 'kind' });
    else if (field === 2) raw = value;
  }
  if (!['RoleBinding', 'ClusterRoleBinding'].includes(typeMeta.kind) || !raw) {
    throw new Error(`cannot decode protobuf kind ${JSON.stringify(typeMeta.kind)}`);
  }
  return { kind: typeMeta.kind, apiVersion: typeMeta.apiVersion, ...binding(raw) };
}

module.exports = { decodeBinding };
