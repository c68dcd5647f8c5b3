/** negotiate(): every reject path, presentation context results, transfer syntax choice, roles. */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import {
  type AssociationPolicy,
  chooseTransferSyntax,
  negotiate,
  type NegotiationResult,
} from "../../src/ul/negotiation.ts";
import { addressAllowed, isValidAddressPattern } from "../../src/net/ip.ts";
import { decodePdu } from "../../src/ul/pdu_decode.ts";
import { encodePdu } from "../../src/ul/pdu_encode.ts";
import {
  type AssociateAc,
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT,
  emptyUserInformation,
  type PresentationContextRq,
} from "../../src/ul/pdu.ts";
import { fixture } from "./fixtures.ts";

const VERIFICATION = "1.2.840.10008.1.1";
const CT = "1.2.840.10008.5.1.4.1.1.2";
const MR = "1.2.840.10008.5.1.4.1.1.4";
const STUDY_ROOT_FIND = "1.2.840.10008.5.1.4.1.2.2.1";
const MPPS = "1.2.840.10008.3.1.2.3.3";
const IMPLICIT = "1.2.840.10008.1.2";
const EXPLICIT = "1.2.840.10008.1.2.1";
const BIG = "1.2.840.10008.1.2.2";
const DEFLATE = "1.2.840.10008.1.2.1.99";
const JPEG_BASELINE = "1.2.840.10008.1.2.4.50";
const JPEG_EXTENDED = "1.2.840.10008.1.2.4.51";
const JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70";
const JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80";
const JPEG_LS_NEAR = "1.2.840.10008.1.2.4.81";
const J2K_LOSSLESS = "1.2.840.10008.1.2.4.90";
const J2K = "1.2.840.10008.1.2.4.91";
const RLE = "1.2.840.10008.1.2.5";
const JPIP = "1.2.840.10008.1.2.4.94";

const POLICY: AssociationPolicy = {
  aeTitle: "GATEWAY",
  allowedCallingAeTitles: [],
  allowedAddresses: [],
  requireCalledAeTitle: false,
  maxAssociations: 10,
  maxPduLength: 16384,
  implementationClassUid: "1.2.826.0.1.3680043.10.1418.1",
  implementationVersionName: "DICOMGW_0.1",
};
const CONTEXT = { peerAddress: "192.168.1.20", activeAssociations: 0 };

function rq(overrides: Partial<AssociateRq> = {}): AssociateRq {
  const userInformation = emptyUserInformation();
  userInformation.maxPduLength = 32768;
  return {
    type: "A-ASSOCIATE-RQ",
    protocolVersion: 1,
    calledAeTitle: "GATEWAY",
    callingAeTitle: "MODALITY",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
    userInformation,
    ...overrides,
  };
}

function accepted(result: NegotiationResult): Extract<NegotiationResult, { kind: "accept" }> {
  assert(result.kind === "accept", result.kind === "reject" ? result.reason : "");
  return result;
}

function rejected(result: NegotiationResult): Extract<NegotiationResult, { kind: "reject" }> {
  assert(result.kind === "reject", "expected a rejection");
  return result;
}

/** The AC for one proposed context: its result and transfer syntax. */
function single(
  abstractSyntax: string,
  transferSyntaxes: string[],
): { result: number; transferSyntax: string } {
  const { ac } = accepted(
    negotiate(rq({ presentationContexts: [{ id: 1, abstractSyntax, transferSyntaxes }] }), POLICY, CONTEXT),
  );
  const [pc] = ac.presentationContexts;
  assert(pc !== undefined);
  return { result: pc.result, transferSyntax: pc.transferSyntax };
}

Deno.test("negotiate: echoscu's real A-ASSOCIATE-RQ gives exactly the AC echoscu accepted", async () => {
  const pdu = decodePdu(await fixture("a_associate_rq_echoscu"));
  assert(pdu.type === "A-ASSOCIATE-RQ");
  const result = accepted(negotiate(pdu, POLICY, { peerAddress: "127.0.0.1", activeAssociations: 0 }));
  assertEquals(encodePdu(result.ac), await fixture("a_associate_ac_gateway_echo"));
  assertEquals(
    result.contexts,
    new Map([[1, { id: 1, abstractSyntax: VERIFICATION, transferSyntax: IMPLICIT }]]),
  );
  assertEquals(result.peerMaxPduLength, 16384);
});

Deno.test("negotiate: protocol version without bit 0 → permanent, source 2 (ACSE), reason 2", () => {
  const result = rejected(negotiate(rq({ protocolVersion: 2 }), POLICY, CONTEXT));
  assertEquals(result.rj, { type: "A-ASSOCIATE-RJ", result: 1, source: 2, reason: 2 });
  assertEquals(result.reason, "protocol version 0x0002 does not include version 1");
  // Only bit 0 is tested: a peer announcing versions 1 and 2 is fine.
  accepted(negotiate(rq({ protocolVersion: 3 }), POLICY, CONTEXT));
});

Deno.test("negotiate: application context other than DICOM's → permanent, source 1, reason 2", () => {
  const result = rejected(negotiate(rq({ applicationContextName: "1.2.3.4" }), POLICY, CONTEXT));
  assertEquals(result.rj, { type: "A-ASSOCIATE-RJ", result: 1, source: 1, reason: 2 });
  assert(result.reason.includes("1.2.3.4"));
});

Deno.test("negotiate: peer address not allowed → permanent, source 1, reason 1", () => {
  const policy = { ...POLICY, allowedAddresses: ["10.0.0.0/8"] };
  const result = rejected(negotiate(rq(), policy, CONTEXT));
  assertEquals(result.rj, { type: "A-ASSOCIATE-RJ", result: 1, source: 1, reason: 1 });
  assertEquals(result.reason, "peer address 192.168.1.20 is not in the allowed addresses");
  accepted(negotiate(rq(), policy, { ...CONTEXT, peerAddress: "10.1.2.3" }));
});

Deno.test("negotiate: calling AE title not allowed → permanent, source 1, reason 3 (trimmed, case-sensitive)", () => {
  const policy = { ...POLICY, allowedCallingAeTitles: [" MODALITY ", "CT_1"] };
  accepted(negotiate(rq({ callingAeTitle: "MODALITY" }), policy, CONTEXT));
  const result = rejected(negotiate(rq({ callingAeTitle: "modality" }), policy, CONTEXT));
  assertEquals(result.rj, { type: "A-ASSOCIATE-RJ", result: 1, source: 1, reason: 3 });
  assertEquals(result.reason, 'calling AE title "modality" is not in the allowed calling AE titles');
});

Deno.test("negotiate: any calling AE title is accepted when the list is empty", () => {
  for (const title of ["", "X", "ANY THING", "0123456789ABCDEF"]) {
    accepted(negotiate(rq({ callingAeTitle: title }), POLICY, CONTEXT));
  }
});

Deno.test("negotiate: wrong called AE title → permanent, source 1, reason 7, only when required", () => {
  accepted(negotiate(rq({ calledAeTitle: "ANY-SCP" }), POLICY, CONTEXT));
  const policy = { ...POLICY, requireCalledAeTitle: true };
  accepted(negotiate(rq({ calledAeTitle: "GATEWAY" }), policy, CONTEXT));
  const result = rejected(negotiate(rq({ calledAeTitle: "ANY-SCP" }), policy, CONTEXT));
  assertEquals(result.rj, { type: "A-ASSOCIATE-RJ", result: 1, source: 1, reason: 7 });
  assertEquals(result.reason, 'called AE title "ANY-SCP" is not ours ("GATEWAY")');
});

Deno.test("negotiate: the RJ for a wrong called AE title is the a_associate_rj fixture", async () => {
  const result = rejected(
    negotiate(rq({ calledAeTitle: "X" }), { ...POLICY, requireCalledAeTitle: true }, CONTEXT),
  );
  assertEquals(encodePdu(result.rj), await fixture("a_associate_rj"));
});

Deno.test("negotiate: association limit → TRANSIENT, source 3, reason 2 local-limit-exceeded", () => {
  accepted(negotiate(rq(), POLICY, { ...CONTEXT, activeAssociations: 9 }));
  const result = rejected(negotiate(rq(), POLICY, { ...CONTEXT, activeAssociations: 10 }));
  assertEquals(result.rj, { type: "A-ASSOCIATE-RJ", result: 2, source: 3, reason: 2 });
  assertEquals(result.reason, "10 associations already open (limit 10)");
});

Deno.test("negotiate: checks run in order; the first failure is reported", () => {
  const policy = {
    ...POLICY,
    allowedAddresses: ["10.0.0.1"],
    allowedCallingAeTitles: ["A"],
    requireCalledAeTitle: true,
  };
  const everythingWrong = rq({
    protocolVersion: 0,
    applicationContextName: "1.2",
    callingAeTitle: "B",
    calledAeTitle: "C",
  });
  const full = { ...CONTEXT, activeAssociations: 99 };
  assertEquals(rejected(negotiate(everythingWrong, policy, full)).rj.source, 2);
  assertEquals(rejected(negotiate({ ...everythingWrong, protocolVersion: 1 }, policy, full)).rj.reason, 2);
  const appOk = { ...everythingWrong, protocolVersion: 1, applicationContextName: DICOM_APPLICATION_CONTEXT };
  assertEquals(rejected(negotiate(appOk, policy, full)).rj.reason, 1);
  assertEquals(rejected(negotiate(appOk, policy, { ...full, peerAddress: "10.0.0.1" })).rj.reason, 3);
  const callingOk = { ...appOk, callingAeTitle: "A" };
  assertEquals(rejected(negotiate(callingOk, policy, { ...full, peerAddress: "10.0.0.1" })).rj.reason, 7);
  const calledOk = { ...callingOk, calledAeTitle: "GATEWAY" };
  assertEquals(rejected(negotiate(calledOk, policy, { ...full, peerAddress: "10.0.0.1" })).rj.source, 3);
});

Deno.test("negotiate: the AC carries our limits and names, and echoes the RQ's titles and context", () => {
  const { ac, peerMaxPduLength } = accepted(
    negotiate(rq({ calledAeTitle: "ANY", callingAeTitle: "CT_7" }), POLICY, CONTEXT),
  );
  const expected: AssociateAc = {
    type: "A-ASSOCIATE-AC",
    protocolVersion: 1,
    calledAeTitle: "ANY",
    callingAeTitle: "CT_7",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [{ id: 1, result: 0, transferSyntax: IMPLICIT }],
    userInformation: {
      ...emptyUserInformation(),
      maxPduLength: 16384,
      implementationClassUid: POLICY.implementationClassUid,
      implementationVersionName: "DICOMGW_0.1",
    },
  };
  assertEquals(ac, expected);
  assertEquals(peerMaxPduLength, 32768);
  const noName = accepted(negotiate(rq(), { ...POLICY, implementationVersionName: "" }, CONTEXT));
  assert(!("implementationVersionName" in noName.ac.userInformation));
});

Deno.test("negotiate: no maximum length sub-item from the peer means unlimited (0)", () => {
  assertEquals(
    accepted(negotiate(rq({ userInformation: emptyUserInformation() }), POLICY, CONTEXT)).peerMaxPduLength,
    0,
  );
});

Deno.test("transfer syntax: lossless compressed before Explicit VR LE", () => {
  assertEquals(single(CT, [EXPLICIT, IMPLICIT, JPEG_LOSSLESS_SV1]), {
    result: 0,
    transferSyntax: JPEG_LOSSLESS_SV1,
  });
  assertEquals(single(CT, [IMPLICIT, J2K_LOSSLESS, EXPLICIT]), { result: 0, transferSyntax: J2K_LOSSLESS });
});

Deno.test("transfer syntax: among lossless compressed ones the peer's order wins", () => {
  assertEquals(single(CT, [RLE, JPEG_LS_LOSSLESS, J2K_LOSSLESS]).transferSyntax, RLE);
  assertEquals(single(CT, [JPEG_LS_LOSSLESS, RLE]).transferSyntax, JPEG_LS_LOSSLESS);
});

Deno.test("transfer syntax: never lossy when a lossless one is offered", () => {
  assertEquals(single(CT, [JPEG_BASELINE, EXPLICIT]).transferSyntax, EXPLICIT);
  assertEquals(single(CT, [J2K, JPEG_LS_NEAR, IMPLICIT]).transferSyntax, IMPLICIT);
  assertEquals(single(CT, [JPEG_LS_NEAR, JPEG_LS_LOSSLESS]).transferSyntax, JPEG_LS_LOSSLESS);
  assertEquals(single(CT, [JPEG_BASELINE, BIG]).transferSyntax, BIG);
  assertEquals(single(CT, [JPEG_BASELINE, JPIP]).transferSyntax, JPIP);
});

Deno.test("transfer syntax: lossy accepted, in the peer's order, when only lossy is offered", () => {
  assertEquals(single(CT, [JPEG_EXTENDED, JPEG_BASELINE]), { result: 0, transferSyntax: JPEG_EXTENDED });
  assertEquals(single(CT, ["1.2.3.4.5", JPEG_BASELINE]), { result: 0, transferSyntax: JPEG_BASELINE });
});

Deno.test("transfer syntax: Explicit LE, then Implicit LE, then Deflated, then Big Endian", () => {
  assertEquals(single(CT, [BIG, DEFLATE, IMPLICIT, EXPLICIT]).transferSyntax, EXPLICIT);
  assertEquals(single(CT, [BIG, DEFLATE, IMPLICIT]).transferSyntax, IMPLICIT);
  assertEquals(single(CT, [BIG, DEFLATE]).transferSyntax, DEFLATE);
  assertEquals(single(CT, [BIG]).transferSyntax, BIG);
});

Deno.test("transfer syntax: Verification prefers the little endian syntaxes over compressed ones", () => {
  assertEquals(single(VERIFICATION, [JPEG_LOSSLESS_SV1, IMPLICIT]).transferSyntax, IMPLICIT);
  assertEquals(single(VERIFICATION, [IMPLICIT, EXPLICIT]).transferSyntax, EXPLICIT);
  assertEquals(single(VERIFICATION, [JPEG_LOSSLESS_SV1]).transferSyntax, JPEG_LOSSLESS_SV1);
});

Deno.test("transfer syntax: none known → result 4, first proposed kept as the placeholder", () => {
  assertEquals(single(CT, ["1.2.3.4", "1.2.840.10008.1.2.4.58"]), { result: 4, transferSyntax: "1.2.3.4" });
  assertEquals(single(CT, []), { result: 4, transferSyntax: "" });
  assertEquals(chooseTransferSyntax(CT, ["9.9"]), undefined);
});

Deno.test("abstract syntax: non-storage SOP classes and invalid UIDs → result 3", () => {
  assertEquals(single(STUDY_ROOT_FIND, [IMPLICIT]).result, 3);
  assertEquals(single(MPPS, [IMPLICIT]).result, 3);
  assertEquals(single("1.2.840.10008.1.20.1", [IMPLICIT]).result, 3); // storage commitment
  assertEquals(single("1.2.840.10008.1.3.10", [EXPLICIT]).result, 3); // DICOMDIR
  assertEquals(single("1.2.840.10008.5.1.4.31", [IMPLICIT]).result, 3); // worklist
  assertEquals(single("1.2.840.010008.1", [IMPLICIT]).result, 3); // leading zero
  assertEquals(single("1.2..3", [IMPLICIT]).result, 3);
  assertEquals(single("", [IMPLICIT]).result, 3);
});

Deno.test("abstract syntax: storage, retired storage and private SOP classes are accepted as storage", () => {
  assertEquals(single(CT, [IMPLICIT]).result, 0);
  assertEquals(single("1.2.840.10008.5.1.4.1.1.6", [IMPLICIT]).result, 0); // retired US
  assertEquals(single("1.3.6.1.4.1.9590.100.1.2.99", [EXPLICIT]).result, 0); // private
});

Deno.test("presentation context IDs: even or duplicate IDs → result 2 for every such item", () => {
  const contexts: PresentationContextRq[] = [
    { id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
    { id: 2, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
    { id: 3, abstractSyntax: MR, transferSyntaxes: [EXPLICIT] },
    { id: 3, abstractSyntax: CT, transferSyntaxes: [IMPLICIT] },
    { id: 5, abstractSyntax: MR, transferSyntaxes: [IMPLICIT] },
  ];
  const result = accepted(negotiate(rq({ presentationContexts: contexts }), POLICY, CONTEXT));
  assertEquals(result.ac.presentationContexts, [
    { id: 1, result: 0, transferSyntax: EXPLICIT },
    { id: 2, result: 2, transferSyntax: EXPLICIT },
    { id: 3, result: 2, transferSyntax: EXPLICIT },
    { id: 3, result: 2, transferSyntax: IMPLICIT },
    { id: 5, result: 0, transferSyntax: IMPLICIT },
  ]);
  assertEquals([...result.contexts.keys()], [1, 5]);
});

Deno.test("negotiate: mixed contexts map to AcceptedContext by ID", () => {
  const contexts: PresentationContextRq[] = [
    { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] },
    { id: 3, abstractSyntax: CT, transferSyntaxes: [JPEG_BASELINE, EXPLICIT] },
    { id: 5, abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [IMPLICIT] },
    { id: 7, abstractSyntax: MR, transferSyntaxes: ["1.2.3"] },
  ];
  const result = accepted(negotiate(rq({ presentationContexts: contexts }), POLICY, CONTEXT));
  assertEquals(
    result.contexts,
    new Map([
      [1, { id: 1, abstractSyntax: VERIFICATION, transferSyntax: IMPLICIT }],
      [3, { id: 3, abstractSyntax: CT, transferSyntax: EXPLICIT }],
    ]),
  );
  assertEquals(result.ac.presentationContexts.map((pc) => pc.result), [0, 0, 3, 4]);
});

Deno.test("negotiate: accepted even when no presentation context is (the peer decides)", () => {
  const result = accepted(
    negotiate(
      rq({ presentationContexts: [{ id: 1, abstractSyntax: MPPS, transferSyntaxes: [IMPLICIT] }] }),
      POLICY,
      CONTEXT,
    ),
  );
  assertEquals(result.contexts.size, 0);
  assertEquals(
    accepted(negotiate(rq({ presentationContexts: [] }), POLICY, CONTEXT)).ac.presentationContexts,
    [],
  );
});

Deno.test("role selection: answered for accepted SOP classes, SCU as proposed, SCP refused", () => {
  const info = emptyUserInformation();
  info.roleSelections = [
    { sopClassUid: CT, scuRole: true, scpRole: true },
    { sopClassUid: MR, scuRole: false, scpRole: true },
    { sopClassUid: STUDY_ROOT_FIND, scuRole: true, scpRole: false }, // refused context: no reply
    { sopClassUid: "1.2.840.10008.5.1.4.1.1.7", scuRole: true, scpRole: false }, // not proposed: no reply
    { sopClassUid: CT, scuRole: false, scpRole: false }, // second item for CT: ignored
  ];
  const contexts: PresentationContextRq[] = [
    { id: 1, abstractSyntax: CT, transferSyntaxes: [EXPLICIT] },
    { id: 3, abstractSyntax: MR, transferSyntaxes: [EXPLICIT] },
    { id: 5, abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [IMPLICIT] },
  ];
  const { ac } = accepted(
    negotiate(rq({ presentationContexts: contexts, userInformation: info }), POLICY, CONTEXT),
  );
  assertEquals(ac.userInformation.roleSelections, [
    { sopClassUid: CT, scuRole: true, scpRole: false },
    { sopClassUid: MR, scuRole: false, scpRole: false },
  ]);
});

Deno.test("negotiate: extended negotiation, user identity and async window are not answered", async () => {
  const pdu = decodePdu(await fixture("a_associate_rq_all_items"));
  assert(pdu.type === "A-ASSOCIATE-RQ");
  assert(pdu.userInformation.userIdentityRq?.positiveResponseRequested);
  for (const identityType of [1, 2, 3, 4, 5]) {
    const request = structuredClone(pdu);
    request.userInformation.userIdentityRq!.identityType = identityType;
    const { ac } = accepted(negotiate(request, POLICY, CONTEXT));
    const info = ac.userInformation;
    assertEquals(info.userIdentityAc, undefined);
    assertEquals(info.sopClassExtendedNegotiations, []);
    assertEquals(info.sopClassCommonExtendedNegotiations, []);
    assertEquals(info.asynchronousOperationsWindow, undefined);
    assertEquals(info.unknownItems, []);
    assertEquals(info.roleSelections, [{ sopClassUid: MR, scuRole: true, scpRole: false }]);
  }
});

Deno.test("addressAllowed: IPv4 addresses and CIDR ranges", () => {
  assert(addressAllowed("192.168.1.20", ["192.168.1.20"]));
  assert(!addressAllowed("192.168.1.21", ["192.168.1.20"]));
  assert(addressAllowed("192.168.1.21", ["192.168.1.0/24"]));
  assert(!addressAllowed("192.168.2.1", ["192.168.1.0/24"]));
  assert(addressAllowed("10.200.3.4", ["172.16.0.0/12", "10.0.0.0/8"]));
  assert(addressAllowed("172.31.255.255", ["172.16.0.0/12"]));
  assert(!addressAllowed("172.32.0.0", ["172.16.0.0/12"]));
  assert(addressAllowed("8.8.8.8", ["0.0.0.0/0"]));
  assert(addressAllowed("192.168.1.7", ["192.168.1.7/32"]));
  assert(addressAllowed("192.168.1.7", ["192.168.1.6/31"]));
  assert(!addressAllowed("192.168.1.8", ["192.168.1.6/31"]));
});

Deno.test("addressAllowed: IPv6 addresses, compressed forms and CIDR ranges", () => {
  assert(addressAllowed("2001:db8::1", ["2001:0db8:0000:0000:0000:0000:0000:0001"]));
  assert(addressAllowed("2001:DB8::1", ["2001:db8::1"]));
  assert(addressAllowed("2001:db8:1::5", ["2001:db8::/32"]));
  assert(!addressAllowed("2001:db9::5", ["2001:db8::/32"]));
  assert(addressAllowed("fe80::1%eth0", ["fe80::/10"]));
  assert(addressAllowed("[::1]", ["::1"]));
  assert(!addressAllowed("::2", ["::1/128"]));
  assert(addressAllowed("fd12:3456::9", ["fd00::/8"]));
});

Deno.test("addressAllowed: IPv4-mapped IPv6 and IPv4 are the same address", () => {
  assert(addressAllowed("::ffff:192.168.1.20", ["192.168.1.0/24"]));
  assert(addressAllowed("::ffff:c0a8:0114", ["192.168.1.20"]));
  assert(addressAllowed("192.168.1.20", ["::ffff:192.168.1.20"]));
  assert(addressAllowed("192.168.1.20", ["::ffff:192.168.0.0/112"]));
  assert(!addressAllowed("::ffff:10.0.0.1", ["192.168.1.0/24"]));
  assert(
    !addressAllowed("::192.168.1.20", ["192.168.1.20"]),
    "IPv4-compatible (not mapped) is another address",
  );
});

Deno.test("addressAllowed: empty list allows all; malformed entries and addresses match nothing", () => {
  assert(addressAllowed("203.0.113.9", []));
  assert(addressAllowed("not an address", []));
  assert(!addressAllowed("203.0.113.9", ["example.org", "203.0.113.0/33", "203.0.113.256", "203.0.113.0/x"]));
  assert(!addressAllowed("localhost", ["127.0.0.1"]));
  assert(!addressAllowed("1.2.3", ["0.0.0.0/0"]));
});

Deno.test("isValidAddressPattern", () => {
  for (
    const ok of [
      "10.0.0.1",
      "10.0.0.0/8",
      "::1",
      "fe80::/10",
      "::ffff:10.0.0.1",
      "2001:db8::/128",
      "0.0.0.0/0",
    ]
  ) {
    assert(isValidAddressPattern(ok), ok);
  }
  for (
    const bad of [
      "",
      "10.0.0",
      "10.0.0.0/33",
      "::/129",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "10.0.0.01",
      "host",
      "10.0.0.0/8/8",
    ]
  ) {
    assert(!isValidAddressPattern(bad), bad);
  }
});
