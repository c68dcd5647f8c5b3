/**
 * What the status page gets from the running gateway: plain values and functions over the
 * gateway, its queue index and uploader, and the settings form's save (write the file, load it
 * back through the same path as start-up, apply the new upload settings).
 * @module
 */
import type { Gateway } from "../gateway.ts";
import type { StatusInputs } from "../status/source.ts";
import { loadConfig } from "../config/load.ts";
import { writeUploadSettings } from "../config/upload_settings.ts";
import { localIpv4Addresses } from "../net/interfaces.ts";

/** Options of {@link statusInputs}. */
export interface StatusInputsOptions {
  /** The settings file the form writes. */
  configPath: string;
  /** Arguments the gateway was started with (flags still win after the file changes). */
  args?: string[];
  /** The last alerts, for the page. */
  recentAlerts?: StatusInputs["recentAlerts"];
}

/** The status page's inputs, read from `gateway`. */
export function statusInputs(gateway: Gateway, options: StatusInputsOptions): StatusInputs {
  const { config } = gateway;
  return {
    aeTitle: config.aeTitle,
    dicomPort: gateway.port,
    dataDir: config.dataDir,
    logPatientDetails: config.logPatientDetails,
    startedAt: gateway.startedAt,
    addresses: localIpv4Addresses,
    uploadHealth: () => gateway.uploader.health(),
    uploadCompression: () => gateway.uploader.compression(),
    uploadConfig: () => gateway.uploadConfig(),
    queueCounts: () => gateway.index.counts(),
    verificationCounts: () => gateway.index.verificationCounts(),
    recentStudies: (limit) => gateway.index.recentStudies(limit),
    failures: (limit) => gateway.index.failures(limit),
    studyChanges: (limit) => gateway.index.studyChanges(limit),
    associations: () => gateway.associations,
    retryFailed: (studyInstanceUid) => gateway.index.retryFailed(studyInstanceUid),
    testConnection: () => gateway.uploader.testConnection(),
    recentAlerts: () => options.recentAlerts?.() ?? [],
    async saveUploadSettings(settings) {
      await writeUploadSettings(options.configPath, settings);
      // Read back through the same path as start-up, so file, environment and flags combine as usual.
      const { config: reloaded } = await loadConfig(options.args ?? []);
      await gateway.setUploadConfig(reloaded.upload);
    },
  };
}
