/**
 * The running gateway: the DICOM listener (one `serveAssociation` per connection), the durable
 * store and queue index, and the uploader. `startGateway` is what `run` and the tests use.
 * @module
 */
import type { Config, UploadConfig } from "./config/types.ts";
import { queueIndexPath } from "./config/types.ts";
import { logger } from "./log.ts";
import { serveAssociation } from "./ul/association.ts";
import { HostLimits, type HostSlot, RefusalLog } from "./ul/host_limits.ts";
import type { AssociationPolicy, NegotiationResult } from "./ul/negotiation.ts";
import { createStorageProvider, type ServiceStatistics } from "./dimse/service.ts";
import { Spool } from "./store/spool.ts";
import { QueueIndex } from "./store/queue_index.ts";
import { DurableInstanceStore } from "./store/durable_store.ts";
import { reconcile } from "./store/reconcile.ts";
import { Uploader } from "./upload/uploader.ts";
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from "./version.ts";

/** Association counters for the status page and /metrics. */
export interface AssociationStatistics {
  active: number;
  total: number;
  rejected: number;
}

/** A running gateway. */
export interface Gateway {
  /** The DICOM port actually bound (useful when configured as 0 in tests). */
  readonly port: number;
  readonly config: Config;
  readonly index: QueueIndex;
  /** Always present; reports "not-configured" while no destination is set. */
  readonly uploader: Uploader;
  readonly associations: AssociationStatistics;
  readonly storage: ServiceStatistics;
  /** Where received instances go (its `maxBufferedBytes` is the memory tests' measure). */
  readonly instanceStore: DurableInstanceStore;
  readonly startedAt: number;
  /** The upload settings in force (they change when the status page saves new ones). */
  uploadConfig(): UploadConfig;
  /** Applies new upload settings at once (the pause and backoff are cleared). */
  setUploadConfig(upload: UploadConfig): Promise<void>;
  /** Stops accepting, waits for open associations to end (up to a few seconds), stops the uploader. */
  close(): Promise<void>;
}

/** Error for a DICOM port that another program already holds. */
export class PortInUseError extends Error {
  override name = "PortInUseError";
}

const log = logger("ul");

/** Starts receiving (and uploading, when a destination is configured). */
export async function startGateway(config: Config): Promise<Gateway> {
  const spool = new Spool({ dataDir: config.dataDir, fsync: config.fsync, openAhead: true });
  await spool.init();
  const index = QueueIndex.open(queueIndexPath(config.dataDir));
  try {
    await reconcile(config.dataDir, index);
  } catch (error) {
    index.close();
    throw error;
  }

  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: config.bindAddress, port: config.port, transport: "tcp" });
  } catch (error) {
    index.close();
    if (error instanceof Deno.errors.AddrInUse) {
      throw new PortInUseError(
        `Port ${config.port} is already in use: is another copy of dicom-gateway (or another DICOM program) running?`,
      );
    }
    throw error;
  }
  const port = (listener.addr as Deno.NetAddr).port;

  let uploadConfig = config.upload;
  const uploader = new Uploader({ index, dataDir: config.dataDir, config: uploadConfig });
  uploader.start();

  const associations: AssociationStatistics = { active: 0, total: 0, rejected: 0 };
  const storage: ServiceStatistics = { instancesStored: 0, instancesFailed: 0, bytesStored: 0 };
  const instanceStore = new DurableInstanceStore({
    spool,
    index,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
    limits: { maxInflatedBytes: config.maxInflatedSize },
  });
  const policy: AssociationPolicy = {
    aeTitle: config.aeTitle,
    allowedCallingAeTitles: config.allowedCallingAeTitles,
    allowedAddresses: config.allowedAddresses,
    requireCalledAeTitle: config.requireCalledAeTitle,
    maxAssociations: config.maxAssociations,
    maxAssociationsPerHost: config.maxAssociationsPerHost,
    maxPduLength: config.maxPduLength,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
  };

  // Connections that have not (yet) been accepted as associations also count against a hard cap,
  // so a flood of idle TCP connections cannot exhaust the process; ARTIM closes them anyway. Each
  // host also has its own share (HostLimits), so that one address cannot fill either cap.
  const maxConnections = config.maxAssociations * 2 + 16;
  const hostLimits = new HostLimits({
    maxAssociationsPerHost: config.maxAssociationsPerHost,
    maxNegotiatingPerHost: config.maxNegotiatingPerHost,
  });
  /** One log line per host per minute for every kind of refusal by limit. */
  const refusals = new RefusalLog();
  let connections = 0;
  let nextId = 1;
  const running = new Set<Promise<void>>();

  const onNegotiated = (result: NegotiationResult) => {
    if (result.kind === "accept") {
      associations.active++;
      associations.total++;
    } else {
      associations.rejected++;
    }
  };

  const logRefusal = (host: string, reason: string) => {
    const note = refusals.note(host);
    if (!note.log) return;
    const more = note.suppressed > 0
      ? ` (${note.suppressed} more from this host not logged since its last line)`
      : " (further refusals of this host are logged at most once a minute)";
    log.warn("Refused a connection from {peer}: {reason}{more}", { peer: host, reason, more });
  };

  const acceptLoop = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) return;
        log.error("Accepting a connection failed: {error}", { error: String(error) });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      const host = (conn.remoteAddr as Deno.NetAddr).hostname ?? "unknown";
      if (connections >= maxConnections) {
        logRefusal(host, `${connections} connections open (limit ${maxConnections}); connection closed`);
        conn.close();
        continue;
      }
      // A host with `maxNegotiatingPerHost` connections that are not associations (negotiating,
      // or rejected and not yet closed) gets the next one closed at once, not an A-ASSOCIATE-RJ
      // once its A-ASSOCIATE-RQ arrives: waiting for that request (up to the ARTIM timeout) would
      // keep the connection open, and connections that never complete a request are how one host
      // fills the connection cap. A modality or PACS opening its parallel associations at once has
      // as many negotiating for a few milliseconds (the default cap equals max_associations_per_host,
      // so those are never cut); it retries a closed connection as it retries a rejection.
      const slot: HostSlot | undefined = hostLimits.open(host);
      if (!slot) {
        logRefusal(
          host,
          `${
            hostLimits.negotiating(host)
          } connections from this host not yet associated (limit ${config.maxNegotiatingPerHost} per host); connection closed`,
        );
        conn.close();
        continue;
      }
      // Without TCP_NODELAY every small C-STORE-RSP waits ~40 ms for the peer's delayed ACK.
      try {
        conn.setNoDelay(true);
      } catch { /* the peer may already be gone */ }
      connections++;
      const id = `#${nextId++}`;
      let accepted = false;
      const task = serveAssociation(conn, {
        id,
        policy,
        log,
        artimTimeoutMs: config.artimTimeoutMs,
        idleTimeoutMs: config.idleTimeoutMs,
        activeAssociations: () => associations.active,
        hostAssociations: () => hostLimits.associations(host),
        refusals,
        onNegotiated: (result) => {
          accepted = result.kind === "accept";
          slot.negotiated(accepted);
          onNegotiated(result);
        },
        createHandler: (info, sender) =>
          createStorageProvider(info, sender, {
            store: instanceStore,
            statistics: storage,
            logPatientDetails: config.logPatientDetails,
          }),
      }).finally(() => {
        slot.close();
        connections--;
        if (accepted) associations.active--;
        running.delete(task);
      });
      running.add(task);
    }
  })();

  let closed = false;
  return {
    port,
    config,
    index,
    uploader,
    associations,
    storage,
    instanceStore,
    startedAt: Date.now(),
    uploadConfig: () => uploadConfig,
    async setUploadConfig(upload: UploadConfig) {
      uploadConfig = upload;
      await uploader.setConfig(upload);
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        listener.close();
      } catch { /* already closed */ }
      await acceptLoop;
      const deadline = new Promise((r) => setTimeout(r, 5000));
      await Promise.race([Promise.allSettled([...running]), deadline]);
      await uploader.stop();
      await spool.close();
      index.close();
    },
  };
}
