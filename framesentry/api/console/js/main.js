// The console's shell: a hash router over the pages, the navigation, the API key dialog.
import { api, apiKey } from "./api.js";
import * as analysis from "./pages/analysis.js";
import * as history from "./pages/history.js";
import * as monitor from "./pages/monitor.js";
import * as sources from "./pages/sources.js";
import * as stream from "./pages/stream.js";
import * as upload from "./pages/upload.js";
import * as verify from "./pages/verify.js";

const ROUTES = [
  [/^\/monitor$/, monitor, "monitor"],
  [/^\/stream\/([\w-]+)$/, stream, "monitor"],
  [/^\/sources$/, sources, "sources"],
  [/^\/upload$/, upload, "upload"],
  [/^\/analysis\/([\w-]+)$/, analysis, "history"],
  [/^\/history$/, history, "history"],
  [/^\/verify$/, verify, "verify"],
];

let cleanup = null;

function route() {
  const path = (location.hash.replace(/^#/, "") || "/monitor").split("?")[0];
  const match = ROUTES.map(([re, page, nav]) => [path.match(re), page, nav]).find(([m]) => m);
  if (!match) { location.hash = "#/monitor"; return; }
  const [m, page, nav] = match;
  if (cleanup) cleanup();
  cleanup = null;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === nav);
  const view = document.getElementById("view");
  view.replaceChildren();
  document.body.dataset.page = page.name || nav;
  cleanup = page.render(view, ...m.slice(1)) || null;
}

function keyDialog() {
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  const button = document.getElementById("key-button");
  const label = () => { button.textContent = apiKey.get() ? "API key ✓" : "API key"; };
  button.onclick = () => { input.value = apiKey.get(); dialog.showModal(); };
  // A 401 from any page: ask for the key (not over an open dialog, and not for a key already replaced: two
  // requests refused at once must not reopen the dialog after the first answer's key was saved).
  window.addEventListener("framesentry:unauthorized", (event) => {
    const refused = event.detail ? event.detail.key : apiKey.get();
    if (!dialog.open && refused === apiKey.get()) button.click();
  });
  dialog.addEventListener("close", () => {
    if (dialog.returnValue === "save") { apiKey.set(input.value.trim()); label(); route(); }
  });
  label();
}

keyDialog();
window.addEventListener("hashchange", route);
route();
// Whether this server wants a key we lack: any page, even one that calls nothing yet (Upload), asks at once.
api("/v1/analyses?limit=1").catch(() => {});
