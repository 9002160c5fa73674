import { etcdserverpb, mvccpb } from "@etcd-ts/proto";
import { describe, expect, it } from "vitest";
import { httpStatusFromCode, streamErrorChunk } from "./gateway.js";
import { methodSchemas, requestFromJson, requestsFromJson, responseToJson } from "./gateway_json.js";
import { firstJsonValue, goBase64Error, quoteWideIntegers } from "./go_json_scan.js";

const b = (s: string): Buffer => Buffer.from(s);
const range = methodSchemas("etcdserverpb.KV", "Range");
const txn = methodSchemas("etcdserverpb.KV", "Txn");
const watch = methodSchemas("etcdserverpb.Watch", "Watch");

describe("gateway JSON -> request message", () => {
  it("reads .proto and lowerCamel names, base64 bytes, int64 as string or number, enums by name", () => {
    const bin = requestFromJson(range.input, b('{"key":"Zm9v","range_end":"Zm9w","keysOnly":true,"limit":"2","revision":7,"sort_order":"DESCEND"}'));
    const r = etcdserverpb.RangeRequest.decode(bin);
    expect(Buffer.from(r.key).toString()).toBe("foo");
    expect(Buffer.from(r.rangeEnd).toString()).toBe("fop");
    expect(r.keysOnly).toBe(true);
    expect(r.limit).toBe(2n);
    expect(r.revision).toBe(7n);
    expect(r.sortOrder).toBe(etcdserverpb.RangeRequest_SortOrder.DESCEND);
  });

  it("keeps every digit of a bare 64-bit integer (a lease ID), as Go's jsonpb does", () => {
    const put = methodSchemas("etcdserverpb.KV", "Put");
    const p = etcdserverpb.PutRequest.decode(requestFromJson(put.input, b('{"key":"YQ==","value":"Yg==","lease":7587848943239472601}')));
    expect(p.lease).toBe(7587848943239472601n);
    const neg = etcdserverpb.RangeRequest.decode(requestFromJson(range.input, b('{"key":"a2V5IDEyMzQ1Njc4OTAxMjM0NTY3","revision":-1234567890123456789}')));
    expect(neg.revision).toBe(-1234567890123456789n);
    // Digits inside strings (here a base64 key "key 12345678901234567") are left alone.
    expect(Buffer.from(neg.key).toString()).toBe("key 12345678901234567");
    expect(quoteWideIntegers('{"a":"x\\\\"  ,"b":[12345678901234567,1.5e300,123456789012345]}')).toBe('{"a":"x\\\\"  ,"b":["12345678901234567",1.5e300,123456789012345]}');
  });

  it("reads nested messages and oneofs (txn compares and request_op)", () => {
    const body = '{"compare":[{"key":"Zm9v","result":"EQUAL","target":"VALUE","value":"YmFy"}],"success":[{"request_put":{"key":"YQ==","value":"Yg=="}}],"failure":[{"requestRange":{"key":"YQ=="}}]}';
    const t = etcdserverpb.TxnRequest.decode(requestFromJson(txn.input, b(body)));
    expect(t.compare[0]?.target).toBe(etcdserverpb.Compare_CompareTarget.VALUE);
    expect(Buffer.from(t.compare[0]?.value ?? []).toString()).toBe("bar");
    expect(Buffer.from(t.success[0]?.requestPut?.value ?? []).toString()).toBe("b");
    expect(Buffer.from(t.failure[0]?.requestRange?.key ?? []).toString()).toBe("a");
  });

  it("ignores unknown fields and what follows the first value; an empty body or null is an empty request", () => {
    expect(etcdserverpb.RangeRequest.decode(requestFromJson(range.input, b('{"nope":1,"key":"YQ=="} garbage'))).key).toEqual(Buffer.from("a"));
    expect(requestFromJson(range.input, b("  \n"))).toEqual(Buffer.alloc(0));
    expect(requestFromJson(range.input, b("null"))).toEqual(Buffer.alloc(0));
  });

  it("reads every value of a body as one stream message each, stopping at a malformed later one", () => {
    const reqs = requestsFromJson(watch.input, b('{"create_request":{"key":"YQ=="}} {"cancel_request":{"watch_id":"3"}} {bad'));
    expect(reqs.map((x) => etcdserverpb.WatchRequest.decode(x))).toMatchObject([{ createRequest: { key: Buffer.from("a") } }, { cancelRequest: { watchId: 3n } }]);
    expect(requestsFromJson(watch.input, b(""))).toEqual([]);
    expect(() => requestsFromJson(watch.input, b("{bad"))).toThrow("invalid character 'b' looking for beginning of object key string");
  });

  it("words errors as Go's decoder does", () => {
    const err = (body: string): string => {
      try {
        requestFromJson(range.input, b(body));
      } catch (e) {
        return (e as Error).message;
      }
      return "no error";
    };
    expect(err("{bad")).toBe("invalid character 'b' looking for beginning of object key string");
    expect(err("key")).toBe("invalid character 'k' looking for beginning of value");
    expect(err('{"key":"Zm9v"')).toBe("unexpected EOF");
    expect(err('{"key" 1}')).toBe("invalid character '1' after object key");
    expect(err('{"key":"YQ==" "x":1}')).toBe("invalid character '\"' after object key:value pair");
    expect(err('{"key":tru}')).toBe("invalid character '}' in literal true (expecting 'e')");
    expect(err('{"key":1}')).toBe("json: cannot unmarshal number into Go value of type []uint8");
    expect(err('{"key":"Zm8"}')).toBe("illegal base64 data at input byte 0");
    expect(err('{"key":"Zm9v!"}')).toBe("illegal base64 data at input byte 4");
    expect(err('{"key":"YQ==","serializable":"true"}')).toBe("json: cannot unmarshal string into Go value of type bool");
    expect(err('{"key":"YQ==","sort_order":"BAD"}')).toBe('unknown value "BAD" for enum etcdserverpb.RangeRequest_SortOrder');
    expect(err('{"key":"YQ==","limit":"x"}')).toBe("invalid character 'x' looking for beginning of value");
    expect(err("[1]")).toBe("json: cannot unmarshal array into Go value of type map[string]json.RawMessage");
  });
});

describe("response message -> gateway JSON", () => {
  it("uses .proto names, int64 as strings, base64 bytes, enums by name, and leaves out defaults", () => {
    const res = etcdserverpb.RangeResponse.fromPartial({
      header: { clusterId: 18446744073709551615n, memberId: 1n, revision: 3n, raftTerm: 2n },
      kvs: [mvccpb.KeyValue.fromPartial({ key: Buffer.from("foo"), createRevision: 2n, modRevision: 3n, version: 2n, value: Buffer.from("baz") })],
      count: 1n,
    });
    const json = responseToJson(range.output, etcdserverpb.RangeResponse.encode(res).finish());
    expect(JSON.stringify(json)).toBe(
      '{"header":{"cluster_id":"18446744073709551615","member_id":"1","revision":"3","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}],"count":"1"}',
    );
    const ev = etcdserverpb.WatchResponse.fromPartial({ watchId: 0n, created: true, events: [{ type: mvccpb.Event_EventType.DELETE, kv: { key: Buffer.from("a") } }] });
    expect(JSON.stringify(responseToJson(watch.output, etcdserverpb.WatchResponse.encode(ev).finish()))).toBe(
      '{"created":true,"events":[{"type":"DELETE","kv":{"key":"YQ=="}}]}',
    );
    const hash = methodSchemas("etcdserverpb.Maintenance", "Hash");
    expect(responseToJson(hash.output, etcdserverpb.HashResponse.encode(etcdserverpb.HashResponse.fromPartial({ hash: 4294967295 })).finish())).toEqual({ hash: 4294967295 });
    const grant = methodSchemas("etcdserverpb.Lease", "LeaseGrant");
    expect(responseToJson(grant.output, etcdserverpb.LeaseGrantResponse.encode(etcdserverpb.LeaseGrantResponse.fromPartial({ ID: 5n, TTL: 60n })).finish())).toEqual({
      ID: "5",
      TTL: "60",
    });
  });
});

describe("grpc-gateway v1's error mapping", () => {
  it("maps gRPC codes to HTTP statuses and words stream errors", () => {
    expect([0, 1, 2, 3, 4, 5, 9, 11, 12, 14, 16].map(httpStatusFromCode)).toEqual([200, 408, 500, 400, 504, 404, 412, 400, 501, 503, 401]);
    expect(streamErrorChunk(11, "etcdserver: mvcc: required revision has been compacted")).toBe(
      '{"error":{"grpc_code":11,"http_code":400,"message":"etcdserver: mvcc: required revision has been compacted","http_status":"Bad Request"}}',
    );
  });
});

describe("Go scanner helpers", () => {
  it("finds the end of the first value and checks base64 strictly", () => {
    expect(firstJsonValue(b(' {"a":[1,2.5e3,"x\\u0041"]} {"b":2}'))).toEqual({ text: '{"a":[1,2.5e3,"x\\u0041"]}', end: 26 });
    expect(goBase64Error("YQ==")).toBeUndefined();
    expect(goBase64Error("YQ")).toBe("illegal base64 data at input byte 0");
    expect(goBase64Error("YQ=x")).toBe("illegal base64 data at input byte 3");
    expect(goBase64Error("Y-==")).toBe("illegal base64 data at input byte 1");
  });
});
