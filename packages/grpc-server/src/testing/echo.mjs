// echo.mjs: the test service of the conformance suite (plain JS so a child process can load
// it from the built package without a TypeScript loader). Messages are JSON objects.
const enc = (v) => Buffer.from(JSON.stringify(v));
const dec = (b) => JSON.parse(b.toString("utf8"));
const m = (name, requestStream, responseStream) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: enc,
  requestDeserialize: dec,
  responseSerialize: enc,
  responseDeserialize: dec,
});

/** EchoService: one method of each call kind, plus Rss (the serving process's RSS in bytes). */
export const EchoService = {
  unary: m("Unary", false, false),
  serverStream: m("ServerStream", false, true),
  clientStream: m("ClientStream", true, false),
  bidi: m("Bidi", true, true),
  rss: m("Rss", false, false),
  never: m("Never", true, false),
};
