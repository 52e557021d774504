/** Query parameters that say how to connect, never who: kept when a URL is shown. */
const SAFE_PARAMS = new Set(['api-version', 'sslmode', 'application_name', 'schema']);

/**
 * A connection URL fit for a report or a log: no user, no password, no query parameter but the
 * harmless ones (an API key can hide in `?api-key=`). Anything that is not a URL (a libpq
 * `key=value` string) may hold a password anywhere, so it is not shown at all.
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return '(connection string)';
  }
  url.username = '';
  url.password = '';
  for (const key of [...url.searchParams.keys()]) if (!SAFE_PARAMS.has(key.toLowerCase())) url.searchParams.delete(key);
  return url.toString();
}
