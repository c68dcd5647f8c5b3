import { assert, assertEquals } from "../support/assert.ts";
import {
  describeFailureReason,
  interpretStowResponse,
  isAlreadyStored,
  parseStoreInstancesResponse,
  type StowHttpResponse,
} from "../../src/upload/response.ts";

const CT = "1.2.840.10008.5.1.4.1.1.2";
const WHERE = "https://archive.example/dicom-web";

/** The instances sent, as the queue index holds them (CT). */
function sent(...uids: string[]): { sopInstanceUid: string; sopClassUid: string }[] {
  return uids.map((sopInstanceUid) => ({ sopInstanceUid, sopClassUid: CT }));
}

const at0 = { now: 0, where: WHERE };

function response(status: number, body: string, headers: Record<string, string> = {}): StowHttpResponse {
  const h = new Headers({ "content-type": "application/dicom+json", ...headers });
  return { status, statusText: "", headers: h, body };
}

function referencedItem(uid: string, warning?: number): Record<string, unknown> {
  return {
    "00081150": { vr: "UI", Value: [CT] },
    "00081155": { vr: "UI", Value: [uid] },
    "00081190": { vr: "UR", Value: [`http://x/studies/1/series/2/instances/${uid}`] },
    ...(warning === undefined ? {} : { "00081196": { vr: "US", Value: [warning] } }),
  };
}

function failedItem(
  uid: string,
  reason: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    "00081150": { vr: "UI", Value: [CT] },
    "00081155": { vr: "UI", Value: [uid] },
    "00081197": { vr: "US", Value: [reason] },
    ...extra,
  };
}

function module(referenced: Record<string, unknown>[], failed: Record<string, unknown>[]): string {
  return JSON.stringify({
    "00081190": { vr: "UR", Value: ["http://x/studies/1"] },
    ...(failed.length ? { "00081198": { vr: "SQ", Value: failed } } : { "00081198": { vr: "SQ" } }),
    ...(referenced.length ? { "00081199": { vr: "SQ", Value: referenced } } : {}),
  });
}

Deno.test("response: Orthanc-like 200 (tabs and newlines, empty FailedSOPSequence)", () => {
  const body =
    `{\n\t"00080005" : \n\t{\n\t\t"Value" : [ "ISO_IR 100" ], "vr" : "CS"\n\t},\n\t"00081198" : { "vr" : "SQ" },\n` +
    `\t"00081199" : { "Value" : [ { "00081150" : { "Value" : [ "${CT}" ], "vr" : "UI" }, ` +
    `"00081155" : { "Value" : [ "1.2.3.1" ], "vr" : "UI" } } ], "vr" : "SQ" }\n}`;
  const parsed = parseStoreInstancesResponse(body, "application/dicom+json");
  assertEquals(parsed, {
    referenced: [{ sopInstanceUid: "1.2.3.1", sopClassUid: CT, warningReason: null }],
    failed: [],
  });
  const outcome = interpretStowResponse(response(200, body), sent("1.2.3.1"), at0);
  assertEquals(outcome, {
    kind: "settle",
    delivered: [{ sopInstanceUid: "1.2.3.1", note: null }],
    failed: [],
    isolate: [],
    unproven: [],
    unprovenReason: null,
  });
});

Deno.test("response: dcm4chee-like 202 with warnings and failures", () => {
  const body = module(
    [referencedItem("1.1", 0xB000), referencedItem("1.2")],
    [failedItem("1.3", 0xA900), failedItem("1.4", 0xC122)],
  );
  const outcome = interpretStowResponse(response(202, body), sent("1.1", "1.2", "1.3", "1.4"), at0);
  assert(outcome.kind === "settle");
  assertEquals(outcome.delivered.map((d) => d.sopInstanceUid).sort(), ["1.1", "1.2"]);
  assertEquals(
    outcome.delivered.find((d) => d.sopInstanceUid === "1.1")?.note,
    "stored with a warning: coercion of data elements (0xB000)",
  );
  assertEquals(outcome.failed.map((f) => f.sopInstanceUid), ["1.3", "1.4"]);
  assert(
    outcome.failed[0]!.reason.includes("data set does not match SOP class (0xA900)"),
    outcome.failed[0]!.reason,
  );
  assert(outcome.failed[1]!.reason.includes("transfer syntax not supported (0xC122)"));
  assertEquals(outcome.isolate, []);
});

Deno.test("response: Google-like 409 with a private FailureDetail; duplicate vs checksum mismatch", () => {
  const detail = (text: string) => ({ "00090097": { vr: "LT", Value: [text] } });
  const body = module([], [
    failedItem("2.1", 272, detail("An instance already exists in this DICOM Store with the same UIDs")),
    failedItem("2.2", 272, detail("instance already exists but the DICOM files differ (checksum mismatch)")),
    failedItem("2.3", 272, detail("Invalid DICOM: missing StudyInstanceUID")),
  ]);
  const outcome = interpretStowResponse(response(409, body), sent("2.1", "2.2", "2.3"), at0);
  assert(outcome.kind === "settle");
  assertEquals(outcome.delivered, [{ sopInstanceUid: "2.1", note: "the server already held this instance" }]);
  assertEquals(outcome.failed.map((f) => f.sopInstanceUid), ["2.2", "2.3"]);
  assert(
    outcome.failed[0]!.reason.startsWith("HTTP 409, processing failure (0x0110): instance already exists"),
  );
  assert(outcome.failed[1]!.reason.includes("missing StudyInstanceUID"));
});

Deno.test("response: duplicate SOP instance 0x0111 and Azure 45070 count as delivered", () => {
  assert(isAlreadyStored({ sopInstanceUid: "x", sopClassUid: null, failureReason: 0x0111, detail: null }));
  assert(isAlreadyStored({ sopInstanceUid: "x", sopClassUid: null, failureReason: 45070, detail: null }));
  assert(!isAlreadyStored({ sopInstanceUid: "x", sopClassUid: null, failureReason: 0xA700, detail: null }));
  const body = module([], [failedItem("3.1", 0x0111), failedItem("3.2", 45070)]);
  const outcome = interpretStowResponse(response(409, body), sent("3.1", "3.2"), at0);
  assertEquals(outcome.kind === "settle" && outcome.delivered.length, 2);
});

Deno.test("response: a 200/202 proves only what it lists — empty body, unlisted and partial lists", () => {
  assertEquals(parseStoreInstancesResponse("", null), null);
  // Empty 200: was "all delivered"; now nothing is proven and the batch is retried.
  const empty = interpretStowResponse(response(200, ""), sent("a", "b"), at0);
  assert(empty.kind === "retry", JSON.stringify(empty));
  assert(empty.reason.includes(`The server at ${WHERE}`), empty.reason);
  assert(empty.reason.includes("empty body"), empty.reason);
  // Orthanc's answer to a body it could not read: 200 with empty lists.
  const emptyLists = interpretStowResponse(response(200, module([], [])), sent("a", "b"), at0);
  assert(emptyLists.kind === "retry", JSON.stringify(emptyLists));
  assert(
    emptyLists.reason.includes("does not list 2 of the 2 instances sent, neither as stored nor as failed"),
  );
  // A partial list: the listed one is delivered, the failed one fails, the unlisted one stays queued.
  const partial = interpretStowResponse(
    response(202, module([referencedItem("a")], [failedItem("b", 0xA700)])),
    sent("a", "b", "c"),
    at0,
  );
  assert(partial.kind === "settle");
  assertEquals(partial.delivered.map((d) => d.sopInstanceUid), ["a"]);
  assertEquals(partial.failed.map((f) => f.sopInstanceUid), ["b"]);
  assertEquals(partial.unproven, ["c"]);
  assert(
    partial.unprovenReason?.includes("does not list 1 of the 3 instances sent"),
    partial.unprovenReason ?? "",
  );
});

Deno.test("response: HTML, 204, other media types and other 2xx statuses are not delivery", () => {
  const html = interpretStowResponse(
    response(200, "<!DOCTYPE html><html><body>Sign in</body></html>", { "content-type": "text/html" }),
    sent("a"),
    at0,
  );
  assertEquals(html, {
    kind: "retry",
    reason: `The server at ${WHERE} answered the upload with a web page (HTTP 200), not a DICOMweb ` +
      "response: check the DICOMweb address",
    retryAfterMs: null,
  });
  // An HTML body sent with a DICOM JSON content type is still a web page.
  const disguised = interpretStowResponse(response(200, "<html><body>portal</body></html>"), sent("a"), at0);
  assert(disguised.kind === "retry" && disguised.reason.includes("web page"));
  const noContent = interpretStowResponse(response(204, ""), sent("a"), at0);
  assert(noContent.kind === "retry" && noContent.reason.includes("HTTP 204"), JSON.stringify(noContent));
  // A perfect Store Instances Response under application/json is not the STOW-RS media type.
  const json = interpretStowResponse(
    response(200, module([referencedItem("a")], []), { "content-type": "application/json" }),
    sent("a"),
    at0,
  );
  assert(json.kind === "retry" && json.reason.includes("of type application/json"), JSON.stringify(json));
  const created = interpretStowResponse(response(201, module([referencedItem("a")], [])), sent("a"), at0);
  assert(created.kind === "retry" && created.reason.includes("HTTP 201"), JSON.stringify(created));
  const garbage = interpretStowResponse(response(202, "garbage"), sent("a"), at0);
  assert(garbage.kind === "retry" && garbage.reason.includes("cannot be read"), JSON.stringify(garbage));
});

Deno.test("response: the Referenced SOP Class UID must be the one received", () => {
  const item = referencedItem("a");
  item["00081150"] = { vr: "UI", Value: ["1.2.840.10008.5.1.4.1.1.4"] };
  const other = interpretStowResponse(response(200, module([item], [])), sent("a"), at0);
  assert(other.kind === "retry" && other.reason.includes("another SOP Class UID"), JSON.stringify(other));
  const missingClass = { "00081155": { vr: "UI", Value: ["a"] } };
  assertEquals(
    interpretStowResponse(response(200, module([missingClass], [])), sent("a"), at0).kind,
    "retry",
  );
  // Compared with the stored UID as received: a server's "cleaned" copy is not the same instance.
  const cleaned = interpretStowResponse(
    response(200, module([referencedItem("1.2.3")], [])),
    [{ sopInstanceUid: "1.2.3x", sopClassUid: CT }],
    at0,
  );
  assertEquals(cleaned.kind, "retry");
});

Deno.test("response: any redirect is a set-up problem naming its Location; nothing is delivered", () => {
  for (const status of [301, 302, 303, 307, 308]) {
    const outcome = interpretStowResponse(
      response(status, "", { location: "https://sso.example/login" }),
      sent("a"),
      at0,
    );
    assert(outcome.kind === "retry", JSON.stringify(outcome));
    assert(outcome.reason.includes(`The server at ${WHERE}`), outcome.reason);
    assert(outcome.reason.includes(`HTTP ${status}) to https://sso.example/login`), outcome.reason);
  }
});

Deno.test("response: 202 with an unreadable body proves nothing, whatever the batch size", () => {
  const outcome = interpretStowResponse(
    response(202, "<html>oops</html>", { "content-type": "text/html" }),
    sent("a", "b"),
    at0,
  );
  assert(outcome.kind === "retry" && outcome.reason.includes("web page"), JSON.stringify(outcome));
});

Deno.test("response: a 400 listing instances is no proof; the rest is isolated or failed when alone", () => {
  const body = module([referencedItem("ok")], []);
  const several = interpretStowResponse(response(400, body), sent("ok", "bad1", "bad2"), at0);
  assertEquals(several, {
    kind: "settle",
    delivered: [],
    failed: [],
    isolate: ["ok", "bad1", "bad2"],
    unproven: [],
    unprovenReason: null,
  });
  const alone = interpretStowResponse(response(400, module([], [])), sent("bad"), at0);
  assert(alone.kind === "settle");
  assertEquals(alone.failed.map((f) => f.sopInstanceUid), ["bad"]);
  assert(alone.failed[0]!.reason.includes("HTTP 400"), alone.failed[0]!.reason);
  const text = interpretStowResponse(
    response(400, "Bad file: not DICOM", { "content-type": "text/plain" }),
    sent("bad"),
    at0,
  );
  assert(text.kind === "settle" && text.failed[0]!.reason.includes("Bad file: not DICOM"));
});

Deno.test("response: garbage JSON, wrong shapes and foreign UIDs are tolerated", () => {
  assertEquals(parseStoreInstancesResponse("{not json", "application/dicom+json"), null);
  assertEquals(parseStoreInstancesResponse("42", "application/dicom+json"), null);
  assertEquals(
    parseStoreInstancesResponse('{"00081199": {"vr": "SQ", "Value": [1, null, {"00081155": {}}]}}', null),
    {
      referenced: [],
      failed: [],
    },
  );
  // an array of one dataset, lower-case tags, a UID we did not send
  const body = JSON.stringify([{
    "00081199": { vr: "SQ", Value: [referencedItem("mine"), referencedItem("theirs")] },
  }]);
  const outcome = interpretStowResponse(
    response(200, body.replace(/00081155/g, "00081155")),
    sent("mine"),
    at0,
  );
  assertEquals(outcome, {
    kind: "settle",
    delivered: [{ sopInstanceUid: "mine", note: null }],
    failed: [],
    isolate: [],
    unproven: [],
    unprovenReason: null,
  });
});

Deno.test("response: XML (Native DICOM Model) body", () => {
  const xml = `<?xml version="1.0"?><NativeDicomModel>
    <DicomAttribute tag="00081198" vr="SQ" keyword="FailedSOPSequence"><Item number="1">
      <DicomAttribute tag="00081150" vr="UI"><Value number="1">${CT}</Value></DicomAttribute>
      <DicomAttribute tag="00081155" vr="UI"><Value number="1">9.1</Value></DicomAttribute>
      <DicomAttribute tag="00081197" vr="US"><Value number="1">272</Value></DicomAttribute>
      <DicomAttribute tag="00090097" vr="LT" privateCreator="GOOGLE"><Value number="1">bad &amp; broken</Value></DicomAttribute>
    </Item></DicomAttribute>
    <DicomAttribute tag="00081199" vr="SQ"><Item number="1">
      <DicomAttribute tag="00081155" vr="UI"><Value number="1">9.2</Value></DicomAttribute>
    </Item></DicomAttribute></NativeDicomModel>`;
  const parsed = parseStoreInstancesResponse(xml, "application/dicom+xml");
  assertEquals(parsed?.referenced.map((r) => r.sopInstanceUid), ["9.2"]);
  assertEquals(parsed?.failed, [{
    sopInstanceUid: "9.1",
    sopClassUid: CT,
    failureReason: 272,
    detail: "bad & broken",
  }]);
});

Deno.test("response: status classes — retry, credentials, too-large, configuration", () => {
  const retry = interpretStowResponse(response(503, "busy", { "retry-after": "7" }), sent("a"), at0);
  assertEquals(retry, { kind: "retry", reason: "the server answered HTTP 503: busy", retryAfterMs: 7000 });
  assertEquals(interpretStowResponse(response(500, ""), sent("a"), at0).kind, "retry");
  assertEquals(interpretStowResponse(response(408, ""), sent("a"), at0).kind, "retry");
  assertEquals(interpretStowResponse(response(429, ""), sent("a"), at0).kind, "retry");
  assertEquals(interpretStowResponse(response(401, ""), sent("a"), at0), {
    kind: "credentials",
    status: 401,
    reason: "the server rejected the credentials (HTTP 401)",
  });
  assertEquals(interpretStowResponse(response(403, ""), sent("a"), at0).kind, "credentials");
  assertEquals(interpretStowResponse(response(413, ""), sent("a", "b"), at0).kind, "too-large");
  const notFound = interpretStowResponse(response(404, "no such path"), sent("a"), at0);
  assert(notFound.kind === "retry" && notFound.reason.includes("DICOMweb root"), JSON.stringify(notFound));
  assertEquals(interpretStowResponse(response(415, ""), sent("a"), at0).kind, "retry");
});

Deno.test("describeFailureReason: PS3.18 Table I.2-2 ranges", () => {
  assertEquals(describeFailureReason(0xA700), "refused: out of resources (0xA700)");
  assertEquals(describeFailureReason(0xA7FF), "refused: out of resources (0xA7FF)");
  assertEquals(describeFailureReason(0xA905), "data set does not match SOP class (0xA905)");
  assertEquals(describeFailureReason(0xC000), "cannot understand (0xC000)");
  assertEquals(describeFailureReason(0xC122), "transfer syntax not supported (0xC122)");
  assertEquals(describeFailureReason(0x0110), "processing failure (0x0110)");
  assertEquals(describeFailureReason(0x0122), "SOP class not supported (0x0122)");
  assertEquals(describeFailureReason(null), "no reason given");
  assertEquals(describeFailureReason(0x1234), "server-specific reason (0x1234)");
});
