/**
 * The JSON an alert is POSTed as: the event's fields plus a `text` line, which Slack, Microsoft
 * Teams (incoming webhook / workflow) and Mattermost show as the message. Pure.
 * @module
 */
import type { AlertEvent } from "./evaluate.ts";

/** Who sends: enough to tell two clinics apart in one channel. */
export interface AlertSender {
  aeTitle: string;
  hostname: string;
  version: string;
}

/** The body of one alert POST. */
export interface AlertBody {
  /** One readable line: what webhook receivers display. */
  text: string;
  event: string;
  phase: "begins" | "clears" | "notice";
  /** ISO 8601. */
  at: string;
  title: string;
  gateway: AlertSender;
  facts: AlertEvent["facts"];
}

const MARK: Record<AlertEvent["phase"], string> = { begins: "PROBLEM", clears: "RESOLVED", notice: "INFO" };

/** The JSON body for `event` from `from`. */
export function alertBody(event: AlertEvent, from: AlertSender): AlertBody {
  const who = from.hostname ? `${from.aeTitle} on ${from.hostname}` : from.aeTitle;
  return {
    text: `[dicom-gateway ${who}] ${MARK[event.phase]}: ${event.title}`,
    event: event.kind,
    phase: event.phase,
    at: new Date(event.at).toISOString(),
    title: event.title,
    gateway: { ...from },
    facts: { ...event.facts },
  };
}
