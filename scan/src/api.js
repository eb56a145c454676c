// The check-in API as the scanner speaks it: same origin, the staff token
// in the Authorization header (never in a URL), a short timeout so that a
// dead network turns into offline mode instead of a spinner.

const TIMEOUT_MS = 5000;

/** The network or the service could not answer: work offline. */
export class Offline extends Error {}

/** The service answered with a problem (RFC 9457). */
export class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

export async function call(token, method, path, body) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: "application/json",
        ...(body === undefined ? {} : { "Content-Type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: abort.signal,
    });
  } catch {
    throw new Offline("the service cannot be reached");
  } finally {
    clearTimeout(timer);
  }
  if (response.status === 502 || response.status === 503 || response.status === 504) {
    throw new Offline(`the service is unavailable (${response.status})`);
  }
  let json = null;
  try {
    json = await response.json();
  } catch {
    json = null;
  }
  if (!response.ok) throw new Problem(response.status, json);
  return json;
}
