// One analysis: progress while it runs, then the verdict, timeline, per-face and per-segment scores,
// suspicious segments, and the explanation and report when the server has them (hidden when it answers 404).
import { api, available, blobUrl } from "../api.js";
import { Chart, legend } from "../chart.js";
import { badge, bytes, errorBox, h, num, pct, secs, table, when } from "../ui.js";

export const name = "analysis";

export function render(view, id) {
  const state = { stopped: false };
  follow(view, id, state);
  return () => { state.stopped = true; };
}

/** Poll an analysis into `view` until it is done or failed; returns the final body. */
export async function follow(view, id, state = { stopped: false }, onUpdate = () => {}) {
  const status = h("div", { class: "panel", id: "analysis-progress" });
  view.append(status);
  for (;;) {
    let body;
    try {
      body = await api(`/v1/analyses/${id}`);
    } catch (err) {
      status.replaceChildren(errorBox(err));
      return null;
    }
    if (state.stopped) return body;
    onUpdate(body);
    if (body.status === "done" || body.status === "failed") {
      status.remove();
      view.append(...result(body));
      return body;
    }
    status.replaceChildren(h("h2", {}, `Analysing ${body.video.filename}`),
      h("p", {}, `${body.status}${body.stage ? ` · ${body.stage}` : ""} · ${body.progress_pct.toFixed(0)} %`),
      h("progress", { max: 100, value: body.progress_pct, id: "analysis-bar" }));
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
}

function result(body) {
  const head = h("div", { class: "panel", id: "analysis-result", dataset: { status: body.status, verdict: body.verdict || "" } });
  if (body.status === "failed") {
    head.append(h("h1", {}, body.video.filename), h("p", { class: "error" },
      `Failed: ${body.error ? `${body.error.code}: ${body.error.message}` : "unknown error"}`));
    return [head];
  }
  const r = body.result;
  head.append(
    h("div", { class: "row" }, h("h1", { class: "grow" }, body.video.filename), badge(body.verdict, true)),
    h("dl", { class: "kv" },
      h("dt", {}, "p_fake"), h("dd", { id: "p-fake" }, num(body.p_fake)),
      h("dt", {}, "Confidence"), h("dd", {}, pct(body.confidence)),
      h("dt", {}, "Visual"), h("dd", {}, r ? `${num(r.visual.p_fake)} (${r.visual.status})` : "–"),
      h("dt", {}, "Audio"), h("dd", {}, r ? `${num(r.audio.p_fake)} (${r.audio.status})` : "–"),
      h("dt", {}, "Media"), h("dd", {}, `${(body.video.container || "?").split(",")[0]}, ${secs(body.video.duration_s)}, ` +
        `${body.video.width ? `${body.video.width}×${body.video.height}, ` : ""}${bytes(body.video.size_bytes)}`),
      h("dt", {}, "Submitted"), h("dd", {}, when(body.created_at)),
      h("dt", {}, "Processing"), h("dd", {}, r ? secs(r.timing_s.total) : "–")));
  if (!r) return [head];
  const canvas = h("canvas", { class: "chart tall", dataset: { points: "0" } });
  const panels = [head,
    h("div", { class: "panel" }, h("h2", {}, "Timeline"), legend(), canvas),
    h("div", { class: "panel", id: "suspicious" }, h("h2", {}, "Most suspicious segments"), table([
      { title: "From", cell: (s) => secs(s.start_s) }, { title: "To", cell: (s) => secs(s.end_s) },
      { title: "p_fake", cell: (s) => num(s.p_fake) }, { title: "Visual", cell: (s) => num(s.visual_p_fake) },
      { title: "Audio", cell: (s) => num(s.audio_p_fake) }], r.suspicious_segments, "No segment stands out.")),
    h("div", { class: "grid2" },
      h("div", { class: "panel", id: "faces" }, h("h2", {}, "Faces"), table([
        { title: "Face", cell: (f) => `#${f.track_id}` }, { title: "Seen", cell: (f) => `${secs(f.first_seen_s)}–${secs(f.last_seen_s)}` },
        { title: "Frames", cls: "hide-narrow", cell: (f) => f.frames }, { title: "p_fake", cell: (f) => num(f.p_fake) },
        { title: "max", cell: (f) => num(f.max_p_fake) }], r.faces, "No face found.")),
      h("div", { class: "panel", id: "segments" }, h("h2", {}, "Segments"), table([
        { title: "From", cell: (s) => secs(s.start_s) }, { title: "p_fake", cell: (s) => num(s.p_fake) },
        { title: "Visual", cell: (s) => num(s.visual_p_fake) }, { title: "Audio", cell: (s) => num(s.audio_p_fake) },
        { title: "Faces", cls: "hide-narrow", cell: (s) => s.faces }], r.segments))),
  ];
  const extras = h("div", { id: "extras" });
  panels.push(extras);
  const chart = new Chart(canvas, { windowS: null, thresholds: [r.thresholds.real ?? 0.3, r.thresholds.fake ?? 0.7] });
  chart.set(r.segments.map((s) => ({ t: s.start_s, p_fake: s.p_fake, visual: s.visual_p_fake, audio: s.audio_p_fake })));
  optionalArtefacts(extras, body.id);
  return panels;
}

/** Explanation and report exist only once the server's deep pass has made them: shown when they answer. */
async function optionalArtefacts(extras, id) {
  const base = `/v1/analyses/${id}`;
  const [explanation, report] = await Promise.all([available(`${base}/explanation`), blobUrl(`${base}/report.pdf`)]);
  if (explanation) {
    const data = await explanation.json().catch(() => null);
    const panel = h("div", { class: "panel", id: "explanation" }, h("h2", {}, "Explanation"));
    const summary = data && (typeof data.summary === "string" ? data.summary : data.summary && data.summary.text);
    if (summary) panel.append(h("p", {}, summary));
    for (const src of imagePaths(data).slice(0, 12)) {
      const url = await blobUrl(src);
      if (url) panel.append(h("img", { class: "heatmap", src: url, alt: src.split("/").pop() }));
    }
    extras.append(panel);
  }
  if (report) {
    extras.append(h("div", { class: "panel", id: "report" }, h("a", { class: "button", href: report,
      download: `framesentry-${id}.pdf` }, "Download the report (PDF)")));
  }
}

function imagePaths(data, found = []) {
  if (typeof data === "string") {
    if (/^\/v1\/.+\.(png|jpe?g|webp)(\?.*)?$/i.test(data)) found.push(data);
  } else if (Array.isArray(data)) data.forEach((v) => imagePaths(v, found));
  else if (data && typeof data === "object") Object.values(data).forEach((v) => imagePaths(v, found));
  return [...new Set(found)];
}
