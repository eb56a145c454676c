// Check-in tokens as the scanner reads them: a JWT signed with Ed25519
// (EdDSA), whose claims name the event (`aud`), the ticket (`sub`, its UUID
// as 22 base64url characters) and the ticket's token version (`ver`).

import * as noble from "@noble/ed25519";

/** Bytes of a base64url string (no padding), or null when it is not one. */
export function fromBase64Url(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
  const padded = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  try {
    const binary = atob(padded);
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The UUID (lowercase, hyphenated) behind a compact 22-character id. */
export function expandId(compact) {
  const bytes = fromBase64Url(compact);
  if (!bytes || bytes.length !== 16) return null;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The parts of a JWT, or null when it is not one of ours in shape. */
export function parse(token) {
  const parts = typeof token === "string" ? token.trim().split(".") : [];
  if (parts.length !== 3) return null;
  const [head, body, sig] = parts.map(fromBase64Url);
  if (!head || !body || !sig || sig.length !== 64) return null;
  try {
    const header = JSON.parse(new TextDecoder().decode(head));
    const claims = JSON.parse(new TextDecoder().decode(body));
    if (header.alg !== "EdDSA" || typeof claims !== "object" || claims === null) return null;
    const signed = new TextEncoder().encode(`${parts[0]}.${parts[1]}`);
    return { header, claims, signed, signature: sig };
  } catch {
    return null;
  }
}

async function verifyWithWebCrypto(jwk, signed, signature) {
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "OKP", crv: "Ed25519", x: jwk.x },
    { name: "Ed25519" },
    false,
    ["verify"],
  );
  return crypto.subtle.verify({ name: "Ed25519" }, key, signature, signed);
}

async function verifyWithNoble(jwk, signed, signature) {
  const key = fromBase64Url(jwk.x);
  if (!key || key.length !== 32) return false;
  // RFC 8032's strict rules, as the server's verifier applies them.
  return noble.verifyAsync(signature, signed, key, { zip215: false });
}

let webCrypto = null;

/** Whether this browser verifies Ed25519 itself (probed once). */
export async function hasWebCryptoEd25519() {
  if (webCrypto === null) {
    try {
      await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
      webCrypto = true;
    } catch {
      webCrypto = false;
    }
  }
  return webCrypto;
}

/**
 * Verifies a token against the published keys (a JWKS). Answers its claims
 * when a known key signed it, null otherwise. `engine` forces "webcrypto" or
 * "noble" (tests); by default WebCrypto is used where the browser has it.
 */
export async function verify(token, jwks, engine) {
  const parsed = parse(token);
  if (!parsed) return null;
  const keys = (jwks && Array.isArray(jwks.keys) ? jwks.keys : []).filter(
    (k) => k.kty === "OKP" && k.crv === "Ed25519" && typeof k.x === "string",
  );
  const jwk = keys.find((k) => k.kid === parsed.header.kid);
  if (!jwk) return null;
  const use = engine ?? ((await hasWebCryptoEd25519()) ? "webcrypto" : "noble");
  try {
    const ok =
      use === "webcrypto"
        ? await verifyWithWebCrypto(jwk, parsed.signed, parsed.signature)
        : await verifyWithNoble(jwk, parsed.signed, parsed.signature);
    return ok ? parsed.claims : null;
  } catch {
    return null;
  }
}
