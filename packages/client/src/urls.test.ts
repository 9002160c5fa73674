import { describe, expect, it } from "vitest";
import { checkPeerURLs } from "./urls.js";

describe("checkPeerURLs", () => {
  it("accepts host:port URLs of the four schemes, trimmed, with a query", () => {
    expect(
      checkPeerURLs(["http://127.0.0.1:2380", " https://h:1", "unix://a:1", "unixs://b:2", "http://[::1]:5", "http://h:1?x=1"]),
    ).toBeUndefined();
  });

  // The texts are what etcdctl 3.4.23 prints for these --peer-urls values.
  it.each([
    ["127.0.0.1:2380", 'parse "127.0.0.1:2380": first path segment in URL cannot contain colon'],
    [":foo", 'parse ":foo": missing protocol scheme'],
    ["http://a b:1", 'parse "http://a b:1": invalid character " " in host name'],
    ["http://h:port", 'parse "http://h:port": invalid port ":port" after host'],
    ["foo", "URL scheme must be http, https, unix, or unixs: foo"],
    ["localhost:2380", "URL scheme must be http, https, unix, or unixs: localhost:2380"],
    ["", "URL scheme must be http, https, unix, or unixs: "],
    ["http://127.0.0.1", 'URL address does not have the form "host:port": http://127.0.0.1'],
    ["http:foo", 'URL address does not have the form "host:port": http:foo'],
    ["http://h:1/", "URL must not contain a path: http://h:1/"],
    ["http://h:1/x", "URL must not contain a path: http://h:1/x"],
  ])("refuses %j", (url, msg) => {
    expect(checkPeerURLs(["http://ok:1", url])).toBe(msg);
  });

  it("refuses an empty list", () => {
    expect(checkPeerURLs([])).toBe("no valid URLs given");
  });
});
