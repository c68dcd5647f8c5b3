/**
 * Scenario "lockout" (issue 10 item 2): one host misbehaves while a modality on another address
 * sends the CT series. From 127.0.0.2 (all of 127/8 is loopback on Linux; node:net chooses the
 * source address, `Deno.connect` cannot): 80 connections that send an A-ASSOCIATE-RQ header and
 * then one byte every 20 s, and 32 associations that each start a C-STORE and then send 2 bytes
 * every 25 s. Every attacking connection the gateway closes is opened again 1 s later (as a
 * modality retries), so the pressure lasts (`--lockout-retry-ms` in the runner: 100 for a harsher
 * loop). The modality is DCMTK storescu from 127.0.0.1 (TCP_NODELAY=1); its time is
 * compared with a transfer of a study of the same size before the attack, on the same gateway process.
 * @module
 */
import * as net from "node:net";
import { encodePdu } from "../../src/ul/pdu_encode.ts";
import { DICOM_APPLICATION_CONTEXT, emptyUserInformation } from "../../src/ul/pdu.ts";
import { countDcm, type GatewayProcess, startGatewayProcess, timedStorescu } from "./gateway_process.ts";
import type { BenchContext } from "./report.ts";
import { makeCtSeries } from "../harness/data.ts";

const ATTACKER = "127.0.0.2";
const CT = "1.2.840.10008.5.1.4.1.1.2";
const IMPLICIT_LE = "1.2.840.10008.1.2";

/** What happened to the attacking connections. */
interface AttackCounts {
  opened: number;
  closedByGateway: number;
  accepted: number;
  rejected: number;
  aborted: number;
}

function associateRqBytes(): Uint8Array {
  const userInformation = emptyUserInformation();
  userInformation.maxPduLength = 16384;
  userInformation.implementationClassUid = "1.2.826.0.1.3680043.8.498.99";
  return encodePdu({
    type: "A-ASSOCIATE-RQ",
    protocolVersion: 1,
    calledAeTitle: "DICOM_GATEWAY",
    callingAeTitle: "MISBEHAVING",
    applicationContextName: DICOM_APPLICATION_CONTEXT,
    presentationContexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [IMPLICIT_LE] }],
    userInformation,
  });
}

/** The misbehaving host: keeps `dribblers` negotiating and `stallers` associated connections open. */
class Attack {
  readonly counts: AttackCounts = { opened: 0, closedByGateway: 0, accepted: 0, rejected: 0, aborted: 0 };
  readonly #port: number;
  readonly #retryMs: number;
  readonly #sockets = new Set<net.Socket>();
  readonly #timers = new Set<ReturnType<typeof setInterval | typeof setTimeout>>();
  #stopped = false;
  readonly #rq = associateRqBytes();

  constructor(port: number, retryMs: number) {
    this.#port = port;
    this.#retryMs = retryMs;
  }

  start(dribblers: number, stallers: number): void {
    for (let i = 0; i < dribblers; i++) this.#dribbler();
    for (let i = 0; i < stallers; i++) this.#staller();
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearTimeout(t);
    for (const s of this.#sockets) s.destroy();
  }

  #open(onConnect: (socket: net.Socket) => void, again: () => void): void {
    if (this.#stopped) return;
    const socket = net.connect({
      host: "127.0.0.1",
      port: this.#port,
      localAddress: ATTACKER,
      noDelay: true,
    });
    this.#sockets.add(socket);
    this.counts.opened++;
    socket.on("connect", () => onConnect(socket));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#sockets.delete(socket);
      if (this.#stopped) return;
      this.counts.closedByGateway++;
      const t = setTimeout(() => {
        this.#timers.delete(t);
        again();
      }, this.#retryMs);
      this.#timers.add(t);
    });
  }

  #every(ms: number, socket: net.Socket, send: () => void): void {
    const t = setInterval(() => {
      if (socket.destroyed) {
        clearInterval(t);
        this.#timers.delete(t);
        return;
      }
      send();
    }, ms);
    this.#timers.add(t);
  }

  /** An A-ASSOCIATE-RQ header, then one byte of the rest every 20 s. */
  #dribbler(): void {
    this.#open((socket) => {
      socket.write(this.#rq.subarray(0, 6));
      let at = 6;
      this.#every(20_000, socket, () => {
        if (at < this.#rq.length - 1) socket.write(this.#rq.subarray(at, ++at));
      });
    }, () => this.#dribbler());
  }

  /** A whole A-ASSOCIATE-RQ; once accepted, a P-DATA-TF header of a C-STORE, then 2 bytes every 25 s. */
  #staller(): void {
    this.#open((socket) => {
      socket.write(this.#rq);
      let answered = false;
      socket.on("data", (data: Uint8Array) => {
        if (answered) {
          if (data[0] === 0x07) this.counts.aborted++;
          return;
        }
        answered = true;
        if (data[0] === 0x03) {
          this.counts.rejected++;
          return;
        }
        if (data[0] !== 0x02) return;
        this.counts.accepted++;
        // PS3.8 §9.3.5: P-DATA-TF type 0x04, length of a PDU that never completes.
        socket.write(Uint8Array.of(0x04, 0, 0, 0, 0x40, 0));
        this.#every(25_000, socket, () => socket.write(Uint8Array.of(0, 0)));
      });
    }, () => this.#staller());
  }
}

/** The series from 127.0.0.1 before and during the attack from 127.0.0.2, on one gateway. */
export async function benchLockout(context: BenchContext, options: { retryMs?: number } = {}): Promise<void> {
  const { work, series, seriesBytes, rows, notes } = context;
  const dataDir = `${work}/gateway-lockout`;
  let gateway: GatewayProcess | undefined;
  let attack: Attack | undefined;
  try {
    gateway = await startGatewayProcess(dataDir);
    const before = await timedStorescu(gateway.port, series, "DICOM_GATEWAY");
    rows.push({
      scenario: "lockout: storescu → gateway, no attack",
      instances: series.length,
      bytes: seriesBytes,
      seconds: before,
    });
    // A second study of the same size (new UIDs): a re-sent study would measure replacements.
    const otherDir = `${work}/lockout-series`;
    await Deno.mkdir(otherDir, { recursive: true });
    const other = await makeCtSeries(otherDir, { count: series.length });
    attack = new Attack(gateway.port, options.retryMs ?? 1000);
    // The stalled associations first (they take the host's association slots), then the dribblers.
    attack.start(0, 32);
    await new Promise((r) => setTimeout(r, 1000));
    attack.start(80, 0);
    // Let the attack settle: every connection opened and answered (or closed) at least once.
    await new Promise((r) => setTimeout(r, 2000));
    const during = await timedStorescu(gateway.port, other, "DICOM_GATEWAY");
    await Deno.remove(otherDir, { recursive: true });
    const c = attack.counts;
    const stored = await countDcm(dataDir);
    rows.push({
      scenario:
        "lockout: storescu → gateway, 80 dribbling connections + 32 stalled associations from 127.0.0.2",
      instances: series.length,
      bytes: seriesBytes,
      seconds: during,
      note:
        `${
          (during / before).toFixed(2)
        }× the time without attack; attacker: ${c.opened} connections opened, ` +
        `${c.accepted} associations accepted, ${c.rejected} rejected (A-ASSOCIATE-RJ), ` +
        `${c.closedByGateway} closed by the gateway; ${stored} files stored`,
    });
  } catch (error) {
    notes.push(`lockout: ${(error as Error).message}`);
    rows.push({ scenario: "lockout", note: "failed (see notes)" });
  } finally {
    attack?.stop();
    await gateway?.stop();
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  }
}
