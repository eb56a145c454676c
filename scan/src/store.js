// What the scanner keeps on the device, in IndexedDB: the staff token and
// settings, each list's manifest (keys and tickets), and every scan made
// offline until the server has it. Closing the tab loses nothing.

import { openDB, deleteDB } from "idb";

const NAME = "tessera-scan";

let opened = null;

function db() {
  opened ??= openDB(NAME, 1, {
    upgrade(database) {
      database.createObjectStore("settings");
      database.createObjectStore("manifests", { keyPath: "list.id" });
      const tickets = database.createObjectStore("tickets", { keyPath: ["list_id", "ticket_id"] });
      tickets.createIndex("list", "list_id");
      const scans = database.createObjectStore("scans", { keyPath: "scan_id" });
      scans.createIndex("upload", ["list_id", "state"]);
      scans.createIndex("ticket", ["list_id", "ticket_id"]);
    },
  });
  return opened;
}

export async function setting(key) {
  return (await db()).get("settings", key);
}

export async function setSetting(key, value) {
  return (await db()).put("settings", value, key);
}

/** Forgets everything: the token, the manifests, the scans. */
export async function forgetAll() {
  if (opened) (await opened).close();
  opened = null;
  await deleteDB(NAME);
}

export async function manifestOf(listId) {
  return (await db()).get("manifests", listId);
}

/** Stores a manifest (whole or delta) and its tickets in one transaction. */
export async function saveManifest(manifest) {
  const tx = (await db()).transaction(["manifests", "tickets"], "readwrite");
  const listId = manifest.list.id;
  const kept = { list: manifest.list, jwks: manifest.jwks, cursor: manifest.cursor, fetched_at: new Date().toISOString() };
  await Promise.all([
    tx.objectStore("manifests").put(kept),
    ...manifest.tickets.map((t) => tx.objectStore("tickets").put({ ...t, list_id: listId })),
    tx.done,
  ]);
}

export async function ticketOf(listId, ticketId) {
  return (await db()).get("tickets", [listId, ticketId]);
}

export async function ticketsOf(listId) {
  return (await db()).getAllFromIndex("tickets", "list", listId);
}

/** Records an offline scan, waiting to be uploaded. */
export async function queueScan(scan) {
  return (await db()).put("scans", { ...scan, state: "pending" });
}

export async function scansOfTicket(listId, ticketId) {
  return (await db()).getAllFromIndex("scans", "ticket", [listId, ticketId]);
}

export async function pendingScans(listId) {
  return (await db()).getAllFromIndex("scans", "upload", [listId, "pending"]);
}

export async function allPending() {
  const all = await (await db()).getAll("scans");
  return all.filter((s) => s.state === "pending");
}

/** Scans the server overruled, for the volunteer to look at. */
export async function conflicts(listId) {
  return (await db()).getAllFromIndex("scans", "upload", [listId, "conflict"]);
}

/** Marks uploaded scans with what the server decided. */
export async function settleScans(answers) {
  const tx = (await db()).transaction("scans", "readwrite");
  for (const answer of answers) {
    const scan = await tx.store.get(answer.scan_id);
    if (!scan) continue;
    const overruled = scan.result === "admitted" && (answer.result !== "admitted" || answer.conflict);
    await tx.store.put({
      ...scan,
      state: overruled ? "conflict" : "uploaded",
      server: { result: answer.result, conflict: answer.conflict, first_admission: answer.first_admission },
    });
  }
  await tx.done;
}

/** The volunteer has seen a conflict. */
export async function dismissConflict(scanId) {
  const tx = (await db()).transaction("scans", "readwrite");
  const scan = await tx.store.get(scanId);
  if (scan) await tx.store.put({ ...scan, state: "uploaded" });
  await tx.done;
}
