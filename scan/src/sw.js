// The scanner's service worker: keeps the app shell so the scanner opens
// with no network at all. The API is never cached here: the page keeps its
// own data in IndexedDB and decides offline itself.

const VERSION = "__BUILD__";
const CACHE = `tessera-scan-${VERSION}`;
const SHELL = ["/scan/", "/scan/app.js", "/scan/app.css", "/scan/icon.svg", "/scan/app.webmanifest"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("tessera-scan-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith("/scan")) return;
  // The shell comes from the cache of this version (a new build brings a
  // new worker and a new cache); the page itself, fragment stripped.
  const key = request.mode === "navigate" ? "/scan/" : url.pathname;
  event.respondWith(
    caches.open(CACHE).then(async (cache) => (await cache.match(key)) ?? fetch(request)),
  );
});
