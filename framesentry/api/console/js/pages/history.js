// History: past analyses (status, verdict, dates) and streams (state), each with filters and pages.
import { api } from "../api.js";
import { badge, errorBox, h, num, table, when } from "../ui.js";

export const name = "history";
const PAGE = 20;

function select(id, options) {
  return h("select", { id }, options.map(([value, text]) => h("option", { value }, text)));
}

export function render(view) {
  const a = { status: select("f-status", [["", "any status"], ["queued", "queued"], ["running", "running"], ["done", "done"], ["failed", "failed"]]),
    verdict: select("f-verdict", [["", "any verdict"], ["real", "real"], ["fake", "fake"], ["uncertain", "uncertain"]]),
    after: h("input", { type: "date", id: "f-after", title: "created on or after" }), offset: 0 };
  const s = { state: select("f-state", [["", "any state"], ["live", "live"], ["ended", "ended"], ["failed", "failed"]]), offset: 0 };
  const analyses = h("div", { id: "analyses" });
  const streams = h("div", { id: "streams" });

  const pager = (where, total, load) => total <= PAGE && where.offset === 0 ? null : h("div", { class: "row small" },
    h("span", { class: "grow muted" }, total ? `${where.offset + 1}–${Math.min(total, where.offset + PAGE)} of ${total}` : ""),
    h("button", { type: "button", class: "ghost", disabled: where.offset === 0, onclick: () => { where.offset -= PAGE; load(); } }, "Newer"),
    h("button", { type: "button", class: "ghost", disabled: where.offset + PAGE >= total, onclick: () => { where.offset += PAGE; load(); } }, "Older"));

  async function loadAnalyses() {
    const q = new URLSearchParams({ limit: PAGE, offset: a.offset });
    if (a.status.value) q.set("status", a.status.value);
    if (a.verdict.value) q.set("verdict", a.verdict.value);
    if (a.after.value) q.set("created_after", new Date(a.after.value).toISOString());
    try {
      const page = await api(`/v1/analyses?${q}`);
      analyses.replaceChildren(...[table([
        { title: "File", cell: (x) => h("a", { href: `#/analysis/${x.id}` }, x.video.filename) },
        { title: "Status", cell: (x) => x.status },
        { title: "Verdict", cell: (x) => (x.verdict ? badge(x.verdict) : "–") },
        { title: "p_fake", cls: "hide-narrow", cell: (x) => num(x.p_fake) },
        { title: "Submitted", cell: (x) => when(x.created_at) }], page.items, "No analysis matches."),
      pager(a, page.total, loadAnalyses)].filter(Boolean));
    } catch (err) { analyses.replaceChildren(errorBox(err)); }
  }

  async function loadStreams() {
    const q = new URLSearchParams({ limit: PAGE, offset: s.offset });
    if (s.state.value) q.set("state", s.state.value);
    try {
      const page = await api(`/v1/streams?${q}`);
      streams.replaceChildren(...[table([
        { title: "Source", cell: (x) => h("a", { href: `#/stream/${x.id}` }, x.name || x.id.slice(0, 8)) },
        { title: "State", cell: (x) => `${x.state}${x.end_reason ? ` (${x.end_reason})` : ""}` },
        { title: "Verdict", cell: (x) => (x.verdict ? badge(x.verdict) : "–") },
        { title: "Via", cls: "hide-narrow", cell: (x) => x.source.toUpperCase() },
        { title: "Started", cell: (x) => when(x.started_at) }], page.items, "No stream matches."),
      pager(s, page.total, loadStreams)].filter(Boolean));
    } catch (err) { streams.replaceChildren(errorBox(err)); }
  }

  for (const el of [a.status, a.verdict, a.after]) el.addEventListener("change", () => { a.offset = 0; loadAnalyses(); });
  s.state.addEventListener("change", () => { s.offset = 0; loadStreams(); });
  view.append(h("h1", {}, "History"),
    h("div", { class: "panel" }, h("div", { class: "row" }, h("h2", { class: "grow" }, "Analyses"), a.status, a.verdict, a.after), analyses),
    h("div", { class: "panel" }, h("div", { class: "row" }, h("h2", { class: "grow" }, "Streams"), s.state), streams));
  loadAnalyses();
  loadStreams();
}
