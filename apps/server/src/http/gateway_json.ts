import { createFileRegistry, fromBinary, fromJson, toBinary, toJson, type DescField, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { FILE_DESCRIPTOR_SET } from "@etcd-ts/proto";
import { firstJsonValue, goBase64Error, GoJsonError, quoteChar, quoteWideIntegers } from "./go_json_scan.js";

/**
 * gateway_json.ts converts between grpc-gateway v1's JSON (jsonpb with OrigName: proto3 JSON
 * with the .proto field names, 64-bit integers as strings, bytes as base64, enums by name,
 * default values left out) and the binary encoding the gRPC services take, using the
 * descriptors of ../../proto (FILE_DESCRIPTOR_SET) — no per-message code.
 */

const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(FILE_DESCRIPTOR_SET, "base64")));

/** MethodSchemas are the request and response message types of one gRPC method. */
export interface MethodSchemas {
  input: DescMessage;
  output: DescMessage;
}

/** methodSchemas finds a method's message types by its service's full name and its name; throws if absent. */
export function methodSchemas(service: string, method: string): MethodSchemas {
  const s = registry.getService(service);
  const m = s?.methods.find((x) => x.name === method);
  if (m === undefined) throw new Error(`gateway: no method ${service}.${method} in the descriptors`);
  return { input: m.input, output: m.output };
}

/**
 * requestFromJson turns a request body into the binary request message, as grpc-gateway v1
 * decodes it: the first JSON value only (an empty body is an empty message; null too),
 * unknown fields ignored, fields by .proto or lowerCamel name. It throws GoJsonError with the
 * text Go's decoder gives for the common mistakes (syntax, a wrong JSON type for bytes or
 * bool, bad base64, an unknown enum name).
 */
export function requestFromJson(schema: DescMessage, body: Uint8Array): Buffer {
  return messageFromJson(schema, firstJsonValue(body).text);
}

/**
 * requestsFromJson reads every JSON value of a body as one request each, as grpc-gateway v1
 * feeds a client stream: a malformed first value throws (GoJsonError); a malformed later one
 * ends the requests there.
 */
export function requestsFromJson(schema: DescMessage, body: Uint8Array): Buffer[] {
  const out: Buffer[] = [];
  let rest = body;
  for (;;) {
    let text: string | undefined;
    try {
      const v = firstJsonValue(rest);
      text = v.text;
      rest = rest.subarray(v.end);
      if (text === undefined) return out;
      out.push(messageFromJson(schema, text));
    } catch (err) {
      if (out.length === 0) throw err;
      return out;
    }
  }
}

function messageFromJson(schema: DescMessage, text: string | undefined): Buffer {
  if (text === undefined) return Buffer.alloc(0);
  const json = JSON.parse(quoteWideIntegers(text)) as JsonValue;
  if (json === null) return Buffer.alloc(0);
  if (typeof json !== "object" || Array.isArray(json)) {
    throw new GoJsonError(`json: cannot unmarshal ${jsonKind(json)} into Go value of type map[string]json.RawMessage`);
  }
  checkGoTypes(schema, json);
  try {
    return Buffer.from(toBinary(schema, fromJson(schema, json, { ignoreUnknownFields: true })));
  } catch (err) {
    throw new GoJsonError((err as Error).message);
  }
}

/** responseToJson turns a binary response message into its gateway JSON object. */
export function responseToJson(schema: DescMessage, payload: Uint8Array): JsonValue {
  return toJson(schema, fromBinary(schema, payload), { useProtoFieldName: true });
}

/** jsonKind names a JSON value's kind as Go's UnmarshalTypeError does. */
function jsonKind(v: JsonValue): string {
  if (Array.isArray(v)) return "array";
  if (v === null) return "null";
  if (typeof v === "object") return "object";
  if (typeof v === "boolean") return "bool";
  return typeof v; // "number" | "string"
}

/**
 * checkGoTypes walks a request object against its message type and throws Go's error for a
 * value Go's jsonpb refuses where protobuf-es would accept it or word it differently.
 */
function checkGoTypes(schema: DescMessage, obj: { [k: string]: JsonValue }): void {
  for (const [name, v] of Object.entries(obj)) {
    const f = schema.fields.find((x) => x.name === name || x.jsonName === name);
    if (f === undefined || v === null) continue;
    if (f.fieldKind === "list" && Array.isArray(v)) {
      for (const e of v) if (e !== null) checkValue(f, e);
    } else {
      checkValue(f, v);
    }
  }
}

/** INT64_SCALARS are the 64-bit integer scalar types (INT64, UINT64, FIXED64, SFIXED64, SINT64). */
const INT64_SCALARS = new Set([3, 4, 6, 16, 18]);

function checkValue(f: DescField, v: JsonValue): void {
  if (f.fieldKind === "message") {
    if (typeof v === "object" && v !== null && !Array.isArray(v)) checkGoTypes(f.message, v);
    return;
  }
  if (f.fieldKind === "list" && f.listKind === "message") {
    if (typeof v === "object" && v !== null && !Array.isArray(v)) checkGoTypes(f.message, v);
    return;
  }
  const scalar = f.fieldKind === "scalar" || (f.fieldKind === "list" && f.listKind === "scalar") ? f.scalar : undefined;
  if (scalar === 12 /* BYTES */) {
    if (typeof v !== "string") throw new GoJsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type []uint8`);
    const e = goBase64Error(v);
    if (e !== undefined) throw new GoJsonError(e);
    return;
  }
  if (scalar !== undefined && INT64_SCALARS.has(scalar) && typeof v === "string" && !/^-?[0-9]/.test(v)) {
    // Go's jsonpb reads a quoted 64-bit integer by parsing what is inside the quotes as JSON.
    const c = v.length === 0 ? undefined : v.charCodeAt(0);
    throw new GoJsonError(c === undefined ? "unexpected end of JSON input" : `invalid character ${quoteChar(c)} looking for beginning of value`);
  }
  if (scalar === 8 /* BOOL */ && typeof v !== "boolean") {
    throw new GoJsonError(`json: cannot unmarshal ${jsonKind(v)} into Go value of type bool`);
  }
  const en = f.fieldKind === "enum" ? f.enum : f.fieldKind === "list" && f.listKind === "enum" ? f.enum : undefined;
  if (en !== undefined && typeof v === "string" && en.values.find((x) => x.name === v) === undefined) {
    // Go names a nested enum Outer_Inner in its package.
    const goName = `${en.file.proto.package}.${en.typeName.slice(en.file.proto.package.length + 1).replace(/\./g, "_")}`;
    throw new GoJsonError(`unknown value ${JSON.stringify(v)} for enum ${goName}`);
  }
}

export { GoJsonError };
