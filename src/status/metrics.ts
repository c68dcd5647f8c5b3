/**
 * `/metrics` in the Prometheus text exposition format (version 0.0.4), for sites that watch a
 * fleet of gateways. Pure: snapshot in, text out.
 * @module
 */
import type { StatusSnapshot, UploadState } from "./api.ts";

/** Content-Type of the Prometheus text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Escapes a label value: backslash, double quote and line feed (Prometheus exposition format). */
export function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

const UPLOAD_STATES: UploadState[] = [
  "not-configured",
  "idle",
  "uploading",
  "retrying",
  "credentials-rejected",
];

const seconds = (iso: string | null): number | null => {
  if (iso === null) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t / 1000;
};

/** Renders the metrics for one snapshot. */
export function renderMetrics(s: StatusSnapshot): string {
  const out: string[] = [];
  const metric = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    samples: [labels: Record<string, string>, value: number][],
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      const l = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
      out.push(`${name}${l ? `{${l}}` : ""} ${Number.isFinite(value) ? value : "NaN"}`);
    }
  };
  metric("dicom_gateway_up", "gauge", "1 while the gateway is running.", [[{}, 1]]);
  metric("dicom_gateway_info", "gauge", "Version and DICOM identity of this gateway.", [[
    { version: s.version, ae_title: s.modality.aeTitle, port: String(s.modality.port) },
    1,
  ]]);
  const started = seconds(s.startedAt);
  if (started !== null) {
    metric("dicom_gateway_start_time_seconds", "gauge", "Start time, seconds since the Unix epoch.", [[
      {},
      started,
    ]]);
  }
  metric("dicom_gateway_instances", "gauge", "Instances in the local queue by state.", [
    [{ state: "pending" }, s.queue.pending],
    [{ state: "sending" }, s.queue.sending],
    [{ state: "delivered" }, s.queue.delivered],
    [{ state: "failed" }, s.queue.failed],
  ]);
  metric(
    "dicom_gateway_instances_verified",
    "gauge",
    "Delivered instances the archive's QIDO-RS search lists (verified; a subset of delivered).",
    [[{}, s.queue.verified ?? 0]],
  );
  metric(
    "dicom_gateway_instances_missing_in_archive",
    "gauge",
    "Delivered instances the archive's QIDO-RS search did not list (re-checked or sent again).",
    [[{}, s.queue.missingInArchive ?? 0]],
  );
  metric("dicom_gateway_bytes_pending", "gauge", "Bytes of instances not yet delivered.", [[
    {},
    s.queue.bytesPending,
  ]]);
  metric("dicom_gateway_associations_active", "gauge", "DICOM associations open now.", [[
    {},
    s.associations.active,
  ]]);
  metric("dicom_gateway_associations_total", "counter", "DICOM associations accepted since start.", [[
    {},
    s.associations.total,
  ]]);
  metric("dicom_gateway_associations_rejected_total", "counter", "DICOM associations rejected since start.", [
    [
      {},
      s.associations.rejected,
    ],
  ]);
  metric(
    "dicom_gateway_upload_state",
    "gauge",
    "1 for the uploader's current state, 0 for the others.",
    UPLOAD_STATES.map((state) => [{ state }, s.upload.state === state ? 1 : 0]),
  );
  metric("dicom_gateway_upload_in_flight", "gauge", "STOW-RS requests in flight.", [[{}, s.upload.inFlight]]);
  const lastSuccess = seconds(s.upload.lastSuccessAt);
  if (lastSuccess !== null) {
    metric(
      "dicom_gateway_upload_last_success_timestamp_seconds",
      "gauge",
      "Time of the last successful upload, seconds since the Unix epoch.",
      [[{}, lastSuccess]],
    );
  }
  const compression = s.upload.compression;
  if (compression !== undefined) {
    metric("dicom_gateway_upload_compressed_total", "counter", "Instances delivered compressed (lossless).", [
      [
        {},
        compression.compressed,
      ],
    ]);
    metric(
      "dicom_gateway_upload_compression_bytes_total",
      "counter",
      "Bytes of the instances delivered compressed: as received (in) and as sent (out).",
      [[{ side: "in" }, compression.bytesIn], [{ side: "out" }, compression.bytesOut]],
    );
    metric(
      "dicom_gateway_upload_original_total",
      "counter",
      "Instances delivered as received, by cause (pixel-format, high-bits, mismatch, refused, off …).",
      Object.entries(compression.original).map(([cause, n]) => [{ cause }, n]),
    );
    metric(
      "dicom_gateway_upload_compression_refused",
      "gauge",
      "1 when the destination refused the configured transfer syntax (images go uncompressed).",
      [[{}, compression.refused.length > 0 ? 1 : 0]],
    );
  }
  if (s.disk.freeBytes !== null) {
    metric("dicom_gateway_disk_free_bytes", "gauge", "Free bytes on the disk holding the data folder.", [[
      {},
      s.disk.freeBytes,
    ]]);
  }
  if (s.disk.totalBytes !== null) {
    metric("dicom_gateway_disk_total_bytes", "gauge", "Size of the disk holding the data folder.", [[
      {},
      s.disk.totalBytes,
    ]]);
  }
  return out.join("\n") + "\n";
}
