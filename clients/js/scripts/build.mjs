// Builds the client with esbuild (pinned in package-lock.json):
//
//   dist/authbroker.mjs      ES module for bundlers (npm "import")
//   dist/authbroker.min.mjs  the same, minified        → served at /authbroker.mjs
//   dist/authbroker.min.js   classic script, minified  → served at /authbroker.js
//   dist/authbroker.d.ts     the declarations (src/authbroker.d.ts)
//
// and copies the two served files to handlers/static/, where the Go binary
// embeds them (so `go build` needs no Node). With --check it builds in
// memory and exits 1 when a committed copy in handlers/static/ differs:
// the node --test suite runs that check, so a stale build fails the tests.
import { build } from "esbuild";
import { mkdir, readFile, writeFile, copyFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const served = join(root, "..", "..", "handlers", "static");
const check = process.argv.includes("--check");

// tsconfigRaw: the build must not depend on tsconfig.json (which is for tsc).
const common = { bundle: true, write: false, target: "es2020", legalComments: "inline", charset: "utf8", tsconfigRaw: {} };
const outputs = [
  { file: "authbroker.mjs", entry: "src/authbroker.js", format: "esm", minify: false },
  { file: "authbroker.min.mjs", entry: "src/authbroker.js", format: "esm", minify: true, serve: "authbroker.mjs" },
  { file: "authbroker.min.js", entry: "src/global.js", format: "iife", minify: true, serve: "authbroker.js" },
];

/** Builds every output in memory: [{file, serve, text}]. */
export async function buildAll() {
  const out = [];
  for (const o of outputs) {
    const r = await build({ ...common, entryPoints: [join(root, o.entry)], format: o.format, minify: o.minify });
    out.push({ file: o.file, serve: o.serve, text: r.outputFiles[0].text });
  }
  return out;
}

/** The served outputs whose committed copy in handlers/static differs. */
export async function staleServed() {
  const stale = [];
  for (const o of await buildAll()) {
    if (!o.serve) continue;
    const committed = await readFile(join(served, o.serve), "utf8").catch(() => "");
    if (committed !== o.text) stale.push(o.serve);
  }
  return stale;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (check) {
    const stale = await staleServed();
    if (stale.length) {
      console.error(`handlers/static/{${stale.join(",")}} differ from a build of clients/js/src: run npm run build in clients/js and commit`);
      process.exit(1);
    }
    console.log("handlers/static is up to date with clients/js/src");
  } else {
    await mkdir(join(root, "dist"), { recursive: true });
    for (const o of await buildAll()) {
      await writeFile(join(root, "dist", o.file), o.text);
      if (o.serve) await writeFile(join(served, o.serve), o.text);
    }
    await copyFile(join(root, "src", "authbroker.d.ts"), join(root, "dist", "authbroker.d.ts"));
    console.log("built dist/ and handlers/static/authbroker.{js,mjs}");
  }
}
