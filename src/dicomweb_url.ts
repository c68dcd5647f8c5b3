/**
 * Facts about a DICOMweb root URL that config validation, the settings form and `doctor` share.
 * A bottom module: imports nothing.
 * @module
 */

/**
 * The `/studies` mistake: PS3.18 §10.5.1 builds the Studies Store URL as `{root}/studies`, so an
 * upload address that already ends in `/studies` would post to `…/studies/studies`. Returns the one
 * sentence to show when `url`'s path ends in `/studies` (any case, trailing slashes ignored), or
 * null when it does not (or is not a URL: other checks say so).
 */
export function studiesSuffixProblem(url: string): string | null {
  let path: string;
  try {
    path = new URL(url.trim()).pathname;
  } catch {
    return null;
  }
  if (!/\/studies\/*$/i.test(path)) return null;
  const root = url.trim().replace(/[?#].*$/, "").replace(/\/studies\/*$/i, "");
  return `The upload address ends in /studies: give the DICOMweb root instead (${root}), the gateway adds /studies itself.`;
}
