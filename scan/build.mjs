// Builds the scanner into dist/, which tessera embeds in its binary:
// `npm ci && npm run build`. The output is committed; CI rebuilds it and
// fails when it differs from what is committed.

import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const out = "dist";
rmSync(out, { recursive: true, force: true });
mkdirSync(out);

await build({
  entryPoints: ["src/main.js"],
  bundle: true,
  minify: true,
  format: "esm",
  target: ["chrome100", "firefox100", "safari15"],
  outfile: `${out}/app.js`,
  legalComments: "none",
  logLevel: "warning",
});
await build({
  entryPoints: ["src/app.css"],
  minify: true,
  outfile: `${out}/app.css`,
  logLevel: "warning",
});
for (const file of ["index.html", "icon.svg", "app.webmanifest"]) copyFileSync(`src/${file}`, `${out}/${file}`);

// The worker's cache is named after everything it caches: a new build
// brings a new worker, which replaces the old shell.
const digest = createHash("sha256");
for (const file of ["index.html", "app.js", "app.css", "icon.svg", "app.webmanifest"]) digest.update(readFileSync(`${out}/${file}`));
const version = digest.digest("hex").slice(0, 16);
await build({
  entryPoints: ["src/sw.js"],
  minify: true,
  outfile: `${out}/sw.js`,
  logLevel: "warning",
});
const sw = readFileSync(`${out}/sw.js`, "utf8").replace("__BUILD__", version);
writeFileSync(`${out}/sw.js`, sw);

// The licences of what is bundled, served at /scan/licenses.txt.
const licences = [
  ["tessera scanner", "Apache-2.0", null],
  ["jsQR 1.4.0", "Apache-2.0", "node_modules/jsqr/LICENSE"],
  ["@noble/ed25519 3.2.0", "MIT", "node_modules/@noble/ed25519/LICENSE"],
  ["idb 8.0.4", "ISC", "node_modules/idb/LICENSE"],
];
let text = "Third-party code bundled in the tessera scanner (app.js)\n";
for (const [name, spdx, path] of licences.slice(1)) {
  text += `\n==== ${name} (${spdx}) ====\n\n${readFileSync(path, "utf8").trim()}\n`;
}
writeFileSync(`${out}/licenses.txt`, text);
