// Sources: register a live source (its stream key is shown once), copy its RTMP URL, publish from this
// browser, list and revoke keys.
import { api } from "../api.js";
import { copy, errorBox, h, table, when } from "../ui.js";

export const name = "sources";
export const PUBLISH_KEY = "framesentry.publishKey"; // handed to "Verify my camera" in sessionStorage, not a URL

function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "ghost", onclick: async () => {
    button.textContent = (await copy(text)) ? "Copied" : "Copy failed";
    setTimeout(() => { button.textContent = label; }, 1500);
  } }, label);
  return button;
}

export function render(view) {
  const nameInput = h("input", { id: "source-name", required: true, maxlength: 100, placeholder: "e.g. studio-2" });
  const created = h("div", { id: "created" });
  const list = h("div", { id: "keys" });
  const showRevoked = h("input", { type: "checkbox", id: "show-revoked", onchange: () => load() });
  const problem = h("div");

  async function load() {
    try {
      const keys = await api(`/v1/stream-keys?include_revoked=${showRevoked.checked}`);
      list.replaceChildren(table([
        { title: "Name", cell: (k) => k.name },
        { title: "Key", cls: "hide-narrow", cell: (k) => h("code", {}, `${k.prefix}…`) },
        { title: "Created", cls: "hide-narrow", cell: (k) => when(k.created_at) },
        { title: "Last used", cell: (k) => when(k.last_used_at) },
        { title: "", cell: (k) => (k.revoked_at ? h("span", { class: "muted" }, `revoked ${when(k.revoked_at)}`)
          : h("button", { type: "button", class: "danger", dataset: { keyId: String(k.id) }, onclick: () => revoke(k) },
            "Revoke")) },
      ], keys.items, "No source registered yet."));
    } catch (err) {
      list.replaceChildren(errorBox(err));
    }
  }

  async function revoke(key) {
    if (!confirm(`Revoke "${key.name}"? Its live stream, if any, ends now.`)) return;
    try { await api(`/v1/stream-keys/${key.id}`, { method: "DELETE" }); } catch (err) { problem.replaceChildren(errorBox(err)); }
    load();
  }

  async function register(event) {
    event.preventDefault();
    problem.replaceChildren();
    try {
      const made = await api("/v1/streams", { method: "POST", json: { name: nameInput.value.trim() } });
      nameInput.value = "";
      created.replaceChildren(h("div", { class: "panel" },
        h("h2", {}, `"${made.name}" registered`),
        h("p", {}, "The stream key is shown this once; only its hash is kept."),
        h("p", { class: "secret mono", id: "new-key" }, made.key), h("div", { class: "row" }, copyButton(made.key, "Copy key")),
        h("h2", { style: "margin-top:1rem" }, "Publish"),
        h("p", { class: "small" }, "RTMP (OBS, ffmpeg):"),
        h("p", { class: "secret mono", id: "rtmp-url" }, made.ingest.rtmp),
        h("div", { class: "row" }, copyButton(made.ingest.rtmp, "Copy RTMP URL"),
          h("button", { type: "button", id: "open-publisher", onclick: () => {
            sessionStorage.setItem(PUBLISH_KEY, made.key);
            location.hash = "#/verify";
          } }, "Publish from this browser")),
        h("p", { class: "small muted" }, "WHIP endpoint: ", h("code", {}, new URL("/v1/whip", location.href).href),
          " with ", h("code", {}, "Authorization: Bearer <key>"), ".")));
      load();
    } catch (err) {
      problem.replaceChildren(errorBox(err));
    }
  }

  view.append(
    h("h1", {}, "Sources"),
    h("form", { class: "panel row", onsubmit: register },
      h("label", { class: "grow" }, "Name", nameInput), h("button", { type: "submit" }, "Register source")),
    problem, created,
    h("div", { class: "panel" }, h("div", { class: "row" }, h("h2", { class: "grow" }, "Stream keys"),
      h("label", { class: "small" }, showRevoked, "Show revoked")), list),
  );
  load();
}
