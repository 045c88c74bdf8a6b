// Bundle the viewer and its decoding worker into static/vendor/cornerstone/ (committed, so the
// app and CI need no Node build step). Run: npm ci && npm run build (in reviewers/static_src/).
//
// The loader starts its worker with `new URL("./decodeImageFrameWorker.js", import.meta.url)`,
// which resolves next to the bundle: both files are written to the same folder under that name.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const out = here("../../static/vendor/cornerstone/");
const shim = here("shims/node.js");
// vtk.js (inside Cornerstone) imports Node built-ins at load time for helpers the viewer never
// calls; point them at a stand-in so the browser bundle starts.
const NODE_BUILTINS = ["fs", "path", "url", "events", "stream", "util", "buffer", "crypto",
  "module", "worker_threads"];
const common = {
  bundle: true,
  format: "esm",
  minify: true,
  legalComments: "linked",
  alias: Object.fromEntries(NODE_BUILTINS.map((name) => [name, shim])),
  logLevel: "warning",
};

await build({ ...common, entryPoints: [here("viewer.js")], outfile: `${out}viewer.js` });
await build({
  ...common,
  entryPoints: [here("node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js")],
  outfile: `${out}decodeImageFrameWorker.js`,
});
