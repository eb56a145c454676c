// The offline decision: what the server would answer for a scan, decided on
// the device from the list's manifest and the device's own earlier scans.
// It follows the server's order of rules (src/domain/checkin/scan.rs), so a
// scan decided here and uploaded later is rarely overruled; when it is (two
// devices admitted one ticket while apart), the upload reports a conflict.
//
// Pure: no browser, no storage, no clock but the one passed in.

import { expandId } from "./token.js";

/** The token's own validity has a minute of leeway, as on the server. */
export const LEEWAY_SECONDS = 60;

/**
 * Decides a scan of a verified token.
 *
 * - `claims`: the token's claims, or null when its signature did not verify
 *   against the manifest's keys;
 * - `list`: the manifest's list (`event_slug`, `opens_at`, `closes_at`,
 *   `admits_from`, `admits_until`);
 * - `ticket`: the manifest's entry for the token's ticket, or null;
 * - `admission`: this device's or the manifest's earlier admission of the
 *   ticket on this list (`{ at, device }`), or null;
 * - `at`: when the scan happens (a Date, by the server's clock as far as
 *   the device knows it).
 *
 * Answers `{ result, attendee, first_admission }` in the shape of the
 * server's scan answer.
 */
export function decide({ claims, list, ticket, admission, at }) {
  const answer = (result, extra = {}) => ({
    result,
    attendee: ticket && result !== "invalid_token" && result !== "wrong_event" ? attendeeOf(ticket) : null,
    first_admission: null,
    ...extra,
  });
  if (!claims) return answer("invalid_token");
  if (claims.aud !== list.event_slug) return answer("wrong_event");
  // A ticket the manifest does not hold is of a tier this list does not
  // take (or, at a swag desk, one without swag), or was sold after the
  // last refresh: either way this device cannot admit it.
  if (!ticket || expandId(claims.sub) !== ticket.ticket_id) return answer("not_on_list");
  switch (ticket.state) {
    case "revoked":
      return answer("revoked");
    case "blocked":
      return answer("disputed");
    case "unpaid":
      return answer("unpaid");
    case "valid":
      break;
    default:
      return answer("not_on_list");
  }
  if (claims.ver !== ticket.token_version) return answer("superseded");
  const seconds = Math.floor(at.getTime() / 1000);
  if (typeof claims.exp === "number" && claims.exp + LEEWAY_SECONDS < seconds) return answer("expired");
  if (typeof claims.nbf === "number" && claims.nbf - LEEWAY_SECONDS > seconds) return answer("not_yet_valid");
  const window = refusalAt(list, at);
  if (window) return answer(window);
  if (admission) return answer("already_checked_in", { first_admission: admission });
  return answer("admitted");
}

/** Why the list's door is shut at `at`, or null when it admits. */
export function refusalAt(list, at) {
  if (at < new Date(list.admits_from)) return list.opens_at ? "outside_window" : "not_yet_valid";
  if (at >= new Date(list.admits_until)) return list.closes_at ? "outside_window" : "expired";
  return null;
}

/** What the volunteer sees of a ticket: no more than a scan answer shows. */
export function attendeeOf(ticket) {
  return {
    ticket_id: ticket.ticket_id,
    name: ticket.attendee_name,
    tier: ticket.tier,
    swag_size: ticket.swag_size ?? null,
    swag_cut: ticket.swag_cut ?? null,
    dietary: ticket.dietary ?? null,
  };
}

/**
 * The earlier admission that stands for a ticket: the earliest of the
 * manifest's (`admitted_at`, by another or this device, already on the
 * server) and this device's own admissions not yet uploaded.
 */
export function standingAdmission(ticket, localScans) {
  const candidates = [];
  if (ticket && ticket.admitted_at) candidates.push({ at: ticket.admitted_at, device: "another scanner" });
  for (const scan of localScans) {
    if (scan.result === "admitted") candidates.push({ at: scan.scanned_at, device: scan.device });
  }
  candidates.sort((a, b) => new Date(a.at) - new Date(b.at));
  return candidates[0] ?? null;
}

/** The words a volunteer reads for each result. */
export const WORDS = {
  admitted: "Welcome",
  already_checked_in: "Already checked in",
  revoked: "Ticket cancelled",
  superseded: "Old ticket: a newer one was issued",
  unpaid: "Not paid",
  wrong_event: "Ticket for another event",
  not_on_list: "Not on this list",
  outside_window: "This list is closed now",
  invalid_token: "Not a valid ticket",
  expired: "The event is over",
  not_yet_valid: "Too early: doors not open yet",
  disputed: "Payment disputed: send to the help desk",
  clock_skew: "This device's clock is wrong",
  no_swag: "No swag with this ticket",
};

/** green, amber or red. */
export function colourOf(result) {
  if (result === "admitted") return "green";
  if (result === "already_checked_in") return "amber";
  return "red";
}
