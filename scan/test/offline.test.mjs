// The offline decision and the token check, as the scanner runs them when
// the network is gone: `npm test` (node's test runner).

import { test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync, sign, randomUUID } from "node:crypto";

import { decide, refusalAt, standingAdmission } from "../src/decide.js";
import { verify, expandId, parse } from "../src/token.js";

const b64 = (bytes) => Buffer.from(bytes).toString("base64url");

function keyPair(kid) {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = publicKey.export({ format: "jwk" });
  return { kid, privateKey, jwk: { kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", kid, x: jwk.x } };
}

function compact(uuid) {
  return b64(Buffer.from(uuid.replace(/-/g, ""), "hex"));
}

function issue(key, claims) {
  const head = b64(JSON.stringify({ typ: "JWT", alg: "EdDSA", kid: key.kid }));
  const body = b64(JSON.stringify(claims));
  const signature = sign(null, Buffer.from(`${head}.${body}`), key.privateKey);
  return `${head}.${body}.${b64(signature)}`;
}

const key = keyPair("k1");
const jwks = { keys: [key.jwk] };
const now = new Date("2027-05-14T09:30:00Z");
const seconds = (d) => Math.floor(d.getTime() / 1000);

const list = {
  event_slug: "pycon-lux-2027",
  opens_at: null,
  closes_at: null,
  admits_from: "2027-05-12T07:00:00Z",
  admits_until: "2027-05-18T16:00:00Z",
};

function ticketOf(overrides = {}) {
  return {
    ticket_id: randomUUID(),
    token_version: 1,
    state: "valid",
    attendee_name: "Ada Lovelace",
    tier: "Regular",
    swag_size: "M",
    swag_cut: "fitted",
    dietary: "vegan",
    admitted_at: null,
    ...overrides,
  };
}

function claimsFor(ticket, overrides = {}) {
  return {
    iss: "tessera",
    aud: list.event_slug,
    sub: compact(ticket.ticket_id),
    tier: compact(randomUUID()),
    ver: 1,
    iat: seconds(now) - 3600,
    nbf: seconds(now) - 86400,
    exp: seconds(now) + 86400 * 400,
    ...overrides,
  };
}

test("a compact id expands to the ticket's UUID", () => {
  const id = randomUUID();
  assert.equal(expandId(compact(id)), id);
  assert.equal(expandId("not*base64"), null);
  assert.equal(expandId(b64(Buffer.alloc(15))), null);
});

for (const engine of ["webcrypto", "noble"]) {
  test(`${engine}: a token signed by a published key verifies, any other does not`, async () => {
    const ticket = ticketOf();
    const token = issue(key, claimsFor(ticket));
    assert.equal((await verify(token, jwks, engine)).sub, compact(ticket.ticket_id));

    const stranger = keyPair("k1");
    assert.equal(await verify(issue(stranger, claimsFor(ticket)), jwks, engine), null, "same kid, other key");
    const retired = keyPair("k0");
    assert.equal(await verify(issue(retired, claimsFor(ticket)), jwks, engine), null, "unknown kid");

    const [head, body, sig] = token.split(".");
    const forged = b64(JSON.stringify({ ...claimsFor(ticket), ver: 9 }));
    assert.equal(await verify(`${head}.${forged}.${sig}`, jwks, engine), null, "claims changed");
    const flipped = Buffer.from(sig, "base64url");
    flipped[3] ^= 1;
    assert.equal(await verify(`${head}.${body}.${b64(flipped)}`, jwks, engine), null, "signature changed");
    assert.equal(await verify("garbage", jwks, engine), null);
    assert.equal(await verify(`${token}.x`, jwks, engine), null);
  });
}

test("only EdDSA tokens are read at all", () => {
  const ticket = ticketOf();
  const [, body, sig] = issue(key, claimsFor(ticket)).split(".");
  const none = b64(JSON.stringify({ alg: "none", kid: "k1" }));
  assert.equal(parse(`${none}.${body}.${sig}`), null);
});

test("a valid ticket is admitted once, then already checked in with the first admission", () => {
  const ticket = ticketOf();
  const claims = claimsFor(ticket);
  const first = decide({ claims, list, ticket, admission: null, at: now });
  assert.equal(first.result, "admitted");
  assert.deepEqual(first.attendee, {
    ticket_id: ticket.ticket_id, name: "Ada Lovelace", tier: "Regular",
    swag_size: "M", swag_cut: "fitted", dietary: "vegan",
  });
  const mine = [{ result: "admitted", scanned_at: now.toISOString(), device: "door-1" }];
  const again = decide({ claims, list, ticket, admission: standingAdmission(ticket, mine), at: now });
  assert.equal(again.result, "already_checked_in");
  assert.deepEqual(again.first_admission, { at: now.toISOString(), device: "door-1" });
});

test("an admission the server already had counts, and the earliest stands", () => {
  const ticket = ticketOf({ admitted_at: "2027-05-14T08:00:00Z" });
  const mine = [{ result: "admitted", scanned_at: "2027-05-14T09:00:00Z", device: "door-1" }];
  assert.equal(standingAdmission(ticket, mine).at, "2027-05-14T08:00:00Z");
  assert.equal(standingAdmission(ticketOf(), [{ result: "refused", scanned_at: "x", device: "d" }]), null);
  const answer = decide({ claims: claimsFor(ticket), list, ticket, admission: standingAdmission(ticket, []), at: now });
  assert.equal(answer.result, "already_checked_in");
});

test("refusals follow the server's order of rules", () => {
  const ticket = ticketOf();
  const claims = claimsFor(ticket);
  const d = (over) => decide({ claims, list, ticket, admission: null, at: now, ...over }).result;
  assert.equal(d({ claims: null }), "invalid_token");
  assert.equal(d({ claims: { ...claims, aud: "other-event" } }), "wrong_event");
  assert.equal(d({ ticket: null }), "not_on_list", "not in the manifest");
  assert.equal(d({ ticket: ticketOf() }), "not_on_list", "the manifest's entry is another ticket");
  assert.equal(d({ ticket: { ...ticket, state: "revoked" } }), "revoked");
  assert.equal(d({ ticket: { ...ticket, state: "blocked" } }), "disputed");
  assert.equal(d({ ticket: { ...ticket, state: "unpaid" } }), "unpaid");
  assert.equal(d({ ticket: { ...ticket, token_version: 2 } }), "superseded");
  // Revoked beats superseded, as on the server.
  assert.equal(d({ ticket: { ...ticket, state: "revoked", token_version: 2 } }), "revoked");
  assert.equal(d({ claims: { ...claims, exp: seconds(now) - 61 } }), "expired");
  assert.equal(d({ claims: { ...claims, exp: seconds(now) - 59 } }), "admitted", "a minute's leeway");
  assert.equal(d({ claims: { ...claims, nbf: seconds(now) + 61 } }), "not_yet_valid");
  // A refused ticket is refused even when it was admitted before.
  const admitted = { at: now.toISOString(), device: "door-2" };
  assert.equal(d({ ticket: { ...ticket, state: "revoked" }, admission: admitted }), "revoked");
});

test("the door's window: the event's dates, or the list's own", () => {
  const before = new Date("2027-05-12T06:59:59Z");
  const after = new Date("2027-05-18T16:00:00Z");
  assert.equal(refusalAt(list, before), "not_yet_valid");
  assert.equal(refusalAt(list, after), "expired");
  assert.equal(refusalAt(list, new Date("2027-05-18T15:59:59Z")), null);
  const own = { ...list, opens_at: list.admits_from, closes_at: list.admits_until };
  assert.equal(refusalAt(own, before), "outside_window");
  assert.equal(refusalAt(own, after), "outside_window");
  const ticket = ticketOf();
  assert.equal(decide({ claims: claimsFor(ticket), list: own, ticket, admission: null, at: after }).result, "outside_window");
});

test("refusals that name no ticket show no attendee", () => {
  const ticket = ticketOf();
  const claims = claimsFor(ticket);
  assert.equal(decide({ claims: null, list, ticket, admission: null, at: now }).attendee, null);
  assert.equal(decide({ claims: { ...claims, aud: "x" }, list, ticket, admission: null, at: now }).attendee, null);
  assert.equal(decide({ claims, list, ticket: { ...ticket, state: "revoked" }, admission: null, at: now }).attendee.name, "Ada Lovelace");
});
