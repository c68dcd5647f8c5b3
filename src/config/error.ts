/**
 * The error every configuration problem is reported with.
 * @module
 */

/** A configuration value that cannot be used; the message says where it is and what is allowed. */
export class ConfigError extends Error {
  /** Every problem found, one sentence each (the message joins them with new lines). */
  readonly problems: string[];
  /** @param problems one or more plain-words problems */
  constructor(problems: string | string[]) {
    const list = typeof problems === "string" ? [problems] : problems;
    super(list.join("\n"));
    this.name = "ConfigError";
    this.problems = list;
  }
}
