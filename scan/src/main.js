// The volunteer scanner: sign in, pick a list, scan with the camera, a hand
// scanner or paste, and keep scanning when the network drops.

import { call, Offline, Problem } from "./api.js";
import { startCamera, hasCamera } from "./camera.js";
import { decide, standingAdmission, WORDS, colourOf } from "./decide.js";
import { verify, expandId } from "./token.js";
import * as store from "./store.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 15000;
const RESULT_MS = 1100;

const state = {
  token: null,
  device: null,
  list: null, // the ScannerList being scanned on
  online: true,
  clockOffset: 0, // server time minus device time, in ms
  stopCamera: null,
  busy: false,
  refreshing: false,
};

// ---------- screens

function show(screen) {
  for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== screen;
  if (screen === "scanner") focusInput();
}

function focusInput() {
  const input = $("scan-input");
  if (!$("scanner").hidden && document.activeElement !== input) input.focus({ preventScroll: true });
}

function setError(id, message) {
  $(id).textContent = message ?? "";
  $(id).hidden = !message;
}

// ---------- feedback: colour, words, sound, vibration

let audio = null;

function beep(result) {
  const colour = colourOf(result);
  const tones = { green: [[880, 0.12]], amber: [[520, 0.12], [520, 0.12]], red: [[180, 0.45]] }[colour];
  try {
    audio ??= new AudioContext();
    let t = audio.currentTime;
    for (const [frequency, length] of tones) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = colour === "red" ? "square" : "sine";
      osc.frequency.value = frequency;
      gain.gain.value = 0.25;
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + length);
      t += length + 0.08;
    }
  } catch {
    // No sound on this device: the colour says it.
  }
  if (navigator.vibrate) navigator.vibrate({ green: 80, amber: [80, 80, 80], red: [300, 100, 300] }[colour]);
}

function titleOf(answer) {
  const swag = state.list && state.list.kind === "swag";
  if (swag && answer.result === "admitted") return "Hand over";
  if (swag && answer.result === "already_checked_in") return "Already collected";
  return WORDS[answer.result] ?? answer.result;
}

function when(at) {
  const date = new Date(at);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

let hideTimer = null;

/** Shows a scan's answer full-screen, then gets ready for the next person. */
function showAnswer(answer, { offline = false } = {}) {
  const colour = colourOf(answer.result);
  const attendee = answer.attendee;
  const swag = state.list && state.list.kind === "swag" && attendee;
  const overlay = $("result");
  overlay.className = `result ${colour}`;
  overlay.dataset.result = answer.result;
  $("result-title").textContent = titleOf(answer);
  $("result-swag").textContent = swag && answer.result === "admitted" ? [attendee.swag_size, attendee.swag_cut].filter(Boolean).join(" ") : "";
  $("result-name").textContent = attendee ? attendee.name : "";
  $("result-detail").textContent = attendee ? [attendee.tier, attendee.dietary].filter(Boolean).join(" · ") : "";
  const extra = [];
  if (answer.result === "already_checked_in" && answer.first_admission) {
    extra.push(`at ${when(answer.first_admission.at)} by ${answer.first_admission.device}`);
  }
  if (answer.result === "wrong_event" && answer.event_name) extra.push(`This list is for ${answer.event_name}`);
  if (offline) extra.push("Decided on this device (offline)");
  $("result-extra").textContent = extra.join(" · ");
  overlay.hidden = false;
  beep(answer.result);

  const last = $("last");
  last.className = `last ${colour}`;
  last.textContent = [titleOf(answer), attendee && attendee.name, attendee && attendee.tier, swag && [attendee.swag_size, attendee.swag_cut].filter(Boolean).join(" "), extra.join(" · ")]
    .filter(Boolean)
    .join(" — ");
  last.hidden = false;

  clearTimeout(hideTimer);
  hideTimer = setTimeout(() => {
    overlay.hidden = true;
    focusInput();
  }, RESULT_MS);
}

function hideAnswer() {
  clearTimeout(hideTimer);
  $("result").hidden = true;
  focusInput();
}

// ---------- network state, progress, pending uploads

function setOnline(online) {
  state.online = online;
  const net = $("net");
  net.textContent = online ? "Online" : "Offline";
  net.className = `net ${online ? "online" : "offline"}`;
}

function learnClock(serverTime) {
  const at = Date.parse(serverTime);
  if (!Number.isNaN(at)) state.clockOffset = at - Date.now();
  store.setSetting("clock_offset", state.clockOffset);
}

function serverNow() {
  return new Date(Date.now() + state.clockOffset);
}

async function showCounts() {
  if (!state.list) return;
  const [tickets, pending, conflicts] = await Promise.all([
    store.ticketsOf(state.list.id),
    store.pendingScans(state.list.id),
    store.conflicts(state.list.id),
  ]);
  const valid = tickets.filter((t) => t.state === "valid");
  const admitted = new Set(valid.filter((t) => t.admitted_at).map((t) => t.ticket_id));
  for (const scan of pending) if (scan.result === "admitted") admitted.add(scan.ticket_id);
  $("progress").textContent = `${admitted.size} / ${valid.length}`;
  const waiting = (await store.allPending()).length;
  $("pending").textContent = `${waiting} waiting to upload`;
  $("pending").hidden = waiting === 0;
  $("conflicts-open").textContent = `${conflicts.length} overruled`;
  $("conflicts-open").hidden = conflicts.length === 0;
}

// ---------- manifest and uploads

async function refreshManifest(list) {
  const kept = await store.manifestOf(list.id);
  const since = kept ? `?since=${encodeURIComponent(kept.cursor)}` : "";
  const manifest = await call(state.token, "GET", `/api/v1/checkin/lists/${list.id}/manifest${since}`);
  learnClock(manifest.cursor);
  await store.saveManifest(manifest);
  if (state.list && state.list.id === list.id) state.list = manifest.list;
}

/** Uploads every scan made offline, a list and device at a time. */
async function upload() {
  const pending = await store.allPending();
  const groups = new Map();
  for (const scan of pending) {
    const key = `${scan.list_id} ${scan.device}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(scan);
  }
  for (const scans of groups.values()) {
    scans.sort((a, b) => a.scanned_at.localeCompare(b.scanned_at));
    for (let i = 0; i < scans.length; i += 500) {
      const batch = scans.slice(i, i + 500);
      const answer = await call(state.token, "POST", "/api/v1/checkin/sync", {
        list_id: batch[0].list_id,
        device: batch[0].device,
        scans: batch.map((s) => ({ scan_id: s.scan_id, token: s.token, scanned_at: s.scanned_at })),
      });
      await store.settleScans(answer.results);
    }
  }
}

/** Uploads, then refreshes the manifest: the background loop and the menu. */
async function refresh() {
  if (!state.token || state.refreshing) return;
  state.refreshing = true;
  try {
    await upload();
    if (state.list) await refreshManifest(state.list);
    setOnline(true);
  } catch (error) {
    if (error instanceof Offline) setOnline(false);
    else if (error instanceof Problem && error.status === 401) await signOut("This token no longer works: sign in again.");
  } finally {
    state.refreshing = false;
    await showCounts();
  }
}

// ---------- scanning

function randomId() {
  return crypto.randomUUID();
}

async function scanOffline(token) {
  const list = state.list;
  const manifest = await store.manifestOf(list.id);
  if (!manifest) {
    return { result: "not_on_list", attendee: null, first_admission: null, offlineWithoutData: true };
  }
  const claims = await verify(token, manifest.jwks);
  const ticketId = claims ? expandId(claims.sub) : null;
  const ticket = ticketId ? await store.ticketOf(list.id, ticketId) : null;
  const own = ticketId ? await store.scansOfTicket(list.id, ticketId) : [];
  const at = serverNow();
  const answer = decide({
    claims,
    list: manifest.list,
    ticket: ticket ?? null,
    admission: standingAdmission(ticket, own),
    at,
  });
  if (answer.result === "admitted") {
    // Only admissions are queued: a scan this device refused is not
    // uploaded, so the server can never admit someone who was turned away.
    await store.queueScan({
      scan_id: randomId(),
      list_id: list.id,
      ticket_id: ticketId,
      token,
      device: state.device,
      scanned_at: at.toISOString(),
      result: "admitted",
    });
  }
  return answer;
}

async function remember(answer) {
  // What the server said about a ticket is what an offline scan of it
  // should know next.
  const attendee = answer.attendee;
  if (!attendee || !state.list) return;
  if (answer.result !== "admitted" && answer.result !== "already_checked_in") return;
  const ticket = await store.ticketOf(state.list.id, attendee.ticket_id);
  if (ticket && !ticket.admitted_at) {
    const at = answer.first_admission ? answer.first_admission.at : answer.server_time;
    await store.saveManifest({
      ...(await store.manifestOf(state.list.id)),
      tickets: [{ ...ticket, admitted_at: at }],
    });
  }
}

async function scan(raw) {
  const token = raw.trim();
  if (!token || !state.list) return;
  if (token.includes("#signin=")) {
    showAnswer({ result: "invalid_token", attendee: null });
    $("result-extra").textContent = "That is a sign-in code, not a ticket";
    return;
  }
  let answer;
  let offline = false;
  try {
    answer = await call(state.token, "POST", "/api/v1/checkin/scan", { list_id: state.list.id, token, device: state.device });
    setOnline(true);
    learnClock(answer.server_time);
    await remember(answer);
  } catch (error) {
    if (error instanceof Offline) {
      setOnline(false);
      offline = true;
      answer = await scanOffline(token);
    } else if (error instanceof Problem && error.status === 401) {
      await signOut("This token no longer works: sign in again.");
      return;
    } else {
      answer = { result: "invalid_token", attendee: null };
      showAnswer(answer);
      $("result-extra").textContent = error.message;
      return;
    }
  }
  showAnswer(answer, { offline });
  if (answer.offlineWithoutData) $("result-extra").textContent = "Offline, and this device has no copy of the list yet";
  await showCounts();
}

async function toggleCamera() {
  if (state.stopCamera) {
    state.stopCamera();
    state.stopCamera = null;
    $("camera-video").hidden = true;
    $("camera-toggle").textContent = "Camera";
    return;
  }
  $("camera-note").hidden = true;
  try {
    $("camera-video").hidden = false;
    state.stopCamera = await startCamera($("camera-video"), (text) => {
      if ($("result").hidden || colourOf($("result").dataset.result) !== "green") scan(text);
    });
    $("camera-toggle").textContent = "Stop camera";
  } catch (error) {
    $("camera-video").hidden = true;
    $("camera-note").textContent = `No camera: ${error.message}. Use a hand scanner or paste the code.`;
    $("camera-note").hidden = false;
  }
}

// ---------- manual check-in

async function search(q) {
  const results = $("search-results");
  results.replaceChildren();
  $("search-note").hidden = true;
  try {
    const page = await call(state.token, "GET", `/api/v1/checkin/lists/${state.list.id}/attendees?q=${encodeURIComponent(q)}&limit=20`);
    if (page.items.length === 0) {
      $("search-note").textContent = "Nobody found.";
      $("search-note").hidden = false;
    }
    for (const person of page.items) {
      const item = document.createElement("li");
      const text = document.createElement("div");
      const name = document.createElement("strong");
      name.textContent = person.name;
      const detail = document.createElement("div");
      const state_ = person.admitted_at ? `admitted ${when(person.admitted_at)}` : person.state === "valid" ? "" : person.state;
      detail.textContent = [person.tier, person.email_hint, state_].filter(Boolean).join(" · ");
      text.append(name, detail);
      const admit = document.createElement("button");
      admit.className = "big primary admit";
      admit.type = "button";
      admit.textContent = "Admit";
      admit.addEventListener("click", async () => {
        try {
          const answer = await call(state.token, "POST", `/api/v1/checkin/lists/${state.list.id}/admit`, { ticket_id: person.ticket_id, device: state.device });
          await remember(answer);
          show("scanner");
          showAnswer(answer);
          await showCounts();
        } catch (error) {
          $("search-note").textContent = error instanceof Offline ? "Admitting by name needs the network." : error.message;
          $("search-note").hidden = false;
        }
      });
      item.append(text, admit);
      results.append(item);
    }
  } catch (error) {
    $("search-note").textContent = error instanceof Offline ? "Searching needs the network: scan the ticket instead." : error.message;
    $("search-note").hidden = false;
  }
}

async function showConflicts() {
  const items = $("conflict-items");
  items.replaceChildren();
  for (const scan of await store.conflicts(state.list.id)) {
    const ticket = await store.ticketOf(scan.list_id, scan.ticket_id);
    const item = document.createElement("li");
    const text = document.createElement("div");
    const other = scan.server.first_admission;
    text.textContent = `${ticket ? ticket.attendee_name : "A ticket"}: admitted here at ${when(scan.scanned_at)} while offline; ` +
      `the server says ${WORDS[scan.server.result] ?? scan.server.result}` +
      (other ? ` (also admitted at ${when(other.at)} by ${other.device})` : "");
    const seen = document.createElement("button");
    seen.className = "big";
    seen.type = "button";
    seen.textContent = "Seen";
    seen.addEventListener("click", async () => {
      await store.dismissConflict(scan.scan_id);
      item.remove();
      await showCounts();
    });
    item.append(text, seen);
    items.append(item);
  }
  show("conflicts");
}

// ---------- sign-in, lists, sign-out

function tokenFrom(text) {
  const value = text.trim();
  const at = value.indexOf("#signin=");
  return at >= 0 ? decodeURIComponent(value.slice(at + "#signin=".length)) : value;
}

async function signIn(token, device) {
  state.token = token;
  state.device = device;
  await store.setSetting("token", token);
  await store.setSetting("device", device);
  await chooseList();
}

async function signOut(message) {
  const waiting = (await store.allPending()).length;
  if (!message && waiting > 0 && !confirm(`${waiting} scans have not reached the server yet. Sign out and lose them?`)) return;
  if (state.stopCamera) state.stopCamera();
  state.stopCamera = null;
  state.token = null;
  state.list = null;
  await store.forgetAll();
  setError("signin-error", message);
  $("signin-device").value = state.device || defaultDevice();
  show("signin");
}

function defaultDevice() {
  return `scanner-${Math.random().toString(36).slice(2, 6)}`;
}

async function chooseList() {
  let lists = null;
  try {
    lists = await call(state.token, "GET", "/api/v1/checkin/lists");
    await store.setSetting("lists", lists);
    setOnline(true);
  } catch (error) {
    if (error instanceof Problem && error.status === 401) {
      await signOut("That token does not work: check it and try again.");
      return;
    }
    if (!(error instanceof Offline)) {
      await signOut(error.message);
      return;
    }
    setOnline(false);
    lists = (await store.setting("lists")) ?? [];
  }
  const items = Array.isArray(lists) ? lists : lists.items ?? [];
  const choices = $("list-choices");
  choices.replaceChildren();
  setError("lists-error", items.length ? null : "This token reaches no check-in list yet.");
  for (const list of items) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "big list-choice";
    button.dataset.list = list.id;
    button.textContent = `${list.name} (${list.kind === "swag" ? "swag desk" : "entry"})`;
    const small = document.createElement("small");
    small.textContent = list.event_name;
    button.append(small);
    button.addEventListener("click", () => openList(list));
    choices.append(button);
  }
  show("lists");
}

async function openList(list) {
  state.list = list;
  await store.setSetting("list", list);
  $("list-name").textContent = list.name;
  $("event-name").textContent = list.event_name;
  show("scanner");
  await showCounts();
  refresh();
}

// ---------- start

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/scan/sw.js", { scope: "/scan/" }).catch(() => {});
  }
  // A sign-in link carries the token in the fragment, which no server ever
  // sees; it is taken out of the address bar at once.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const linked = fragment.get("signin");
  if (linked) history.replaceState(null, "", location.pathname);

  state.clockOffset = (await store.setting("clock_offset")) ?? 0;
  state.device = (await store.setting("device")) ?? defaultDevice();
  $("signin-device").value = state.device;
  $("menu-device").textContent = `This device: ${state.device}`;

  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = tokenFrom($("signin-token").value);
    const device = $("signin-device").value.trim() || defaultDevice();
    if (!token) return setError("signin-error", "Paste a staff token first.");
    $("signin-token").value = "";
    signIn(token, device);
  });
  $("signin-camera").addEventListener("click", async () => {
    const video = $("camera-video");
    $("signin").append(video);
    video.hidden = false;
    try {
      const stop = await startCamera(video, (text) => {
        if (!text.includes("#signin=") && !text.startsWith("tsr_")) return;
        stop();
        video.hidden = true;
        document.querySelector(".camera").append(video);
        signIn(tokenFrom(text), $("signin-device").value.trim() || defaultDevice());
      });
    } catch (error) {
      video.hidden = true;
      setError("signin-error", `No camera: ${error.message}`);
    }
  });
  $("lists-signout").addEventListener("click", () => signOut());
  $("scan-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("scan-input").value;
    $("scan-input").value = "";
    scan(value);
  });
  $("camera-toggle").addEventListener("click", toggleCamera);
  $("search-open").addEventListener("click", () => {
    show("search");
    $("search-q").focus();
  });
  $("search-close").addEventListener("click", () => show("scanner"));
  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("search-q").value.trim();
    if (q.length >= 2) search(q);
  });
  $("conflicts-open").addEventListener("click", showConflicts);
  $("conflicts-close").addEventListener("click", () => show("scanner"));
  $("menu-open").addEventListener("click", () => show("menu"));
  $("menu-close").addEventListener("click", () => show("scanner"));
  $("menu-lists").addEventListener("click", () => chooseList());
  $("menu-sync").addEventListener("click", async () => {
    await refresh();
    show("scanner");
  });
  $("menu-signout").addEventListener("click", () => signOut());
  $("result").addEventListener("click", hideAnswer);
  // A hand scanner types into whatever has focus: keep it on the field.
  document.addEventListener("keydown", (e) => {
    if (!$("result").hidden) hideAnswer();
    if (!$("scanner").hidden && e.target === document.body) focusInput();
  });
  window.addEventListener("online", refresh);
  window.addEventListener("offline", () => setOnline(false));
  setInterval(refresh, REFRESH_MS);

  if (!hasCamera()) $("camera-toggle").hidden = true;
  if (linked) {
    await signIn(linked, state.device);
    return;
  }
  state.token = (await store.setting("token")) ?? null;
  if (!state.token) return show("signin");
  const list = await store.setting("list");
  if (list) {
    await openList(list);
  } else {
    await chooseList();
  }
}

start();
