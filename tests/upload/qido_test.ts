/** The QIDO-RS answer parser and paging rules of verification by query (pure). */
import { assert, assertEquals, assertStringIncludes } from "../support/assert.ts";
import {
  instancesQueryUrl,
  interpretQidoAnswer,
  nextPageOffset,
  type QidoHttpResponse,
  recheckAt,
} from "../../src/upload/qido.ts";

const WHERE = "https://pacs.example.org/dicom-web";

function answer(status: number, body: string, headers: Record<string, string> = {}): QidoHttpResponse {
  const h = new Headers(headers);
  return { status, statusText: "", headers: h, body };
}

const json = { "content-type": "application/dicom+json" };
const item = (uid: string) => ({
  "00080018": { vr: "UI", Value: [uid] },
  "00080016": { vr: "UI", Value: ["1.2"] },
});

Deno.test("qido: the series instances URL (PS3.18 §10.6.1) with includefield, limit and offset", () => {
  assertEquals(
    instancesQueryUrl(`${WHERE}/`, { studyInstanceUid: "1.2.3", seriesInstanceUid: "1.2.3.4" }, {
      limit: 100,
      offset: 200,
    }),
    `${WHERE}/studies/1.2.3/series/1.2.3.4/instances?includefield=00080018&limit=100&offset=200`,
  );
});

Deno.test("qido: a DICOM JSON array lists the SOP Instance UIDs exactly as written", () => {
  const a = interpretQidoAnswer(
    answer(200, JSON.stringify([item("1.2.3.1"), item("1.2.3.2 "), { "00080016": { vr: "UI" } }]), json),
    { where: WHERE, now: 0 },
  );
  assertEquals(a, { kind: "listed", sopInstanceUids: ["1.2.3.1", "1.2.3.2 "], count: 3, more: false });
  // application/json (some servers), an empty array and 204 are answers too
  assertEquals(
    interpretQidoAnswer(answer(200, "[]", { "content-type": "application/json" }), { where: WHERE, now: 0 }),
    { kind: "listed", sopInstanceUids: [], count: 0, more: false },
  );
  assertEquals(interpretQidoAnswer(answer(204, ""), { where: WHERE, now: 0 }).kind, "listed");
  const more = interpretQidoAnswer(
    answer(200, JSON.stringify([item("1.2.3.1")]), {
      ...json,
      warning: '299 pacs: "There are additional results that can be requested"',
    }),
    { where: WHERE, now: 0 },
  );
  assert(more.kind === "listed" && more.more);
});

Deno.test("qido: answers that prove nothing are problems in plain words naming the address", () => {
  const cases: [QidoHttpResponse, string, string][] = [
    [
      answer(200, "<!doctype html><html>Sign in</html>", { "content-type": "text/html" }),
      "not-dicomweb",
      "web page",
    ],
    [answer(200, "<html><body>portal</body></html>"), "not-dicomweb", "web page"],
    [
      answer(303, "", { location: "https://sso.example.org/login" }),
      "redirect",
      "https://sso.example.org/login",
    ],
    [answer(401, ""), "credentials", "credentials"],
    [answer(403, ""), "credentials", "credentials"],
    [answer(404, "not found"), "not-found", 'verify = "response"'],
    [answer(400, "bad query"), "not-dicomweb", "HTTP 400"],
    [answer(503, "", { "retry-after": "7" }), "server", "HTTP 503"],
    [answer(200, "{}", json), "not-dicomweb", "list of DICOM JSON objects"],
    [answer(200, "not json", json), "not-dicomweb", "list of DICOM JSON objects"],
    [answer(200, "[1,2]", json), "not-dicomweb", "list of DICOM JSON objects"],
    [answer(200, "[]", { "content-type": "application/xml" }), "not-dicomweb", "application/xml"],
    [
      answer(200, JSON.stringify([{ "00080016": { vr: "UI", Value: ["1.2"] } }]), json),
      "not-dicomweb",
      "0008,0018",
    ],
  ];
  for (const [response, kind, words] of cases) {
    const a = interpretQidoAnswer(response, { where: WHERE, now: 0 });
    assert(a.kind === "problem", `${response.status} ${response.body}: ${JSON.stringify(a)}`);
    assertEquals(a.problem, kind, a.reason);
    assertStringIncludes(a.reason, words);
    assertStringIncludes(a.reason, WHERE);
  }
  const busy = interpretQidoAnswer(answer(503, "", { "retry-after": "7" }), { where: WHERE, now: 0 });
  assert(busy.kind === "problem" && busy.retryAfterMs === 7000);
});

Deno.test("qido: paging stops at a short page, an empty page, or a page with nothing new", () => {
  const request = { limit: 2, offset: 4 };
  assertEquals(nextPageOffset({ count: 2, more: false, newUids: 2 }, request), 6);
  assertEquals(nextPageOffset({ count: 1, more: false, newUids: 1 }, request), null);
  // a server that caps below our limit says so with the Warning: keep going
  assertEquals(nextPageOffset({ count: 1, more: true, newUids: 1 }, request), 5);
  assertEquals(nextPageOffset({ count: 0, more: true, newUids: 0 }, request), null);
  // a server that ignores offset repeats itself: stop
  assertEquals(nextPageOffset({ count: 2, more: false, newUids: 0 }, request), null);
});

Deno.test("qido: an instance not listed is asked about again after 2 s, 10 s, 60 s, then sent again", () => {
  assertEquals([0, 1, 2, 3].map((misses) => recheckAt(misses, 1000)), [3000, 11_000, 61_000, null]);
  assertEquals(recheckAt(0, 0, []), null);
});
