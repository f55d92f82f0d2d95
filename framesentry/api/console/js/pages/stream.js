// One stream: its series over time, live per-face scores, modality scores, verdict-change events and the heat
// map of each frame that turned the verdict Fake (linked from the live `verdict_changed` event).
import { api, blobUrl, followScores } from "../api.js";
import { Chart, legend } from "../chart.js";
import { badge, errorBox, h, num, table, when } from "../ui.js";

export const name = "stream";

const HEATMAPS_KEPT = 6;

/**
 * The "Why Fake" panel: a thumbnail linking to the full heat map for each verdict change to Fake. The server
 * makes the map off the live path, so its URL answers 404 for a moment: retried with backoff. Kept until the
 * page is left (the end of the stream does not clear it). Returns [panel, add(event), close()].
 */
function heatmapPanel() {
  const list = h("div", { class: "heatmaps", id: "heatmaps" },
    h("p", { class: "muted" }, "None yet: when the verdict turns Fake, the heat map of that frame shows here."));
  const urls = [];
  const seen = new Set();
  let closed = false;
  async function add(event) {
    if (seen.has(event.explanation)) return;
    seen.add(event.explanation);
    const when = `Turned Fake at ${event.stream_t_s.toFixed(1)} s (p_fake ${num(event.p_fake)})`;
    const caption = h("figcaption", { class: "small muted" }, `${when}: making the heat map…`);
    const figure = h("figure", { dataset: { src: event.explanation } }, caption);
    if (list.querySelector(":scope > p.muted")) list.replaceChildren();
    list.prepend(figure);
    while (list.children.length > HEATMAPS_KEPT) list.lastChild.remove();
    for (let tries = 0; tries < 12 && !closed; tries += 1) {
      const url = await blobUrl(event.explanation);
      if (closed) { if (url) URL.revokeObjectURL(url); return; }
      if (url) {
        urls.push(url);
        figure.prepend(h("a", { href: url, target: "_blank", rel: "noopener", title: "Open the full heat map" },
          h("img", { class: "heatmap", src: url, alt: `Heat map of the frame: ${when}` })));
        caption.textContent = when;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 400 * 1.6 ** tries)));
    }
    if (!closed) caption.textContent = `${when}: no heat map (the server made none)`;
  }
  const close = () => { closed = true; urls.forEach((u) => URL.revokeObjectURL(u)); };
  return [h("div", { class: "panel" }, h("h2", {}, "Why Fake: heat map of the frame"), list), add, close];
}

export function render(view, id) {
  let stop = () => {};
  let chart = null;
  const [heatmaps, addHeatmap, closeHeatmaps] = heatmapPanel();
  (async () => {
    let info;
    try {
      info = await api(`/v1/streams/${id}`);
    } catch (err) {
      view.append(errorBox(err));
      return;
    }
    const started = Date.parse(info.started_at);
    const title = info.name || `stream ${id.slice(0, 8)}`;
    const verdictEl = h("span", { id: "stream-verdict" }, badge(info.verdict, true));
    const stateEl = h("span", { id: "stream-state" }, info.state);
    const endedEl = h("dd", {}, when(info.ended_at));
    const windowsEl = h("dd", {}, `${info.windows_scored} scored, ${info.windows_dropped} dropped`);
    const canvas = h("canvas", { class: "chart tall", dataset: { points: "0" } });
    const faces = h("div", { id: "faces" }, h("p", { class: "muted" }, "No face scored yet."));
    const modalities = h("dl", { class: "kv", id: "now" });
    const events = h("ul", { class: "events", id: "events" });
    const stopButton = h("button", { class: "danger", type: "button", hidden: info.state !== "live",
      onclick: async () => { await api(`/v1/streams/${id}`, { method: "DELETE" }); stopButton.disabled = true; } },
    "Stop stream");
    view.append(
      h("div", { class: "row" }, h("h1", { class: "grow" }, title), verdictEl, stopButton),
      h("div", { class: "panel" }, h("dl", { class: "kv" },
        h("dt", {}, "State"), h("dd", {}, stateEl, info.end_reason ? ` (${info.end_reason})` : ""),
        h("dt", {}, "Source"), h("dd", {}, info.source.toUpperCase()),
        h("dt", {}, "Started"), h("dd", {}, when(info.started_at)),
        h("dt", {}, "Ended"), endedEl,
        h("dt", {}, "Windows"), windowsEl)),
      h("div", { class: "panel" }, h("h2", {}, "Scores over time"), legend(), canvas),
      h("div", { class: "grid2" },
        h("div", { class: "panel" }, h("h2", {}, "Faces (latest)"), faces),
        h("div", { class: "panel" }, h("h2", {}, "Now"), modalities)),
      heatmaps,
      h("div", { class: "panel" }, h("h2", {}, "Verdict changes"), events),
    );
    chart = new Chart(canvas, { windowS: null });

    // Verdict changes come from the stored series (refreshed while live: it is written a second or two behind).
    async function loadSeries() {
      try {
        const series = await api(`/v1/streams/${id}/series?bucket=2`);
        // Buckets are aligned to the bucket width, so the first may start just before the stream did.
        const at = (b) => Math.max(0, (Date.parse(b.start) - started) / 1000);
        const changes = [];
        let last = null;
        for (const b of series.buckets) {
          if (b.last_verdict && b.last_verdict !== last) changes.push(`~${at(b).toFixed(0)} s: ${last || "(start)"} → ${b.last_verdict}`);
          last = b.last_verdict || last;
        }
        events.replaceChildren(...(changes.length ? changes : ["None yet."]).map((text) => h("li", {}, text)));
        return series.buckets.map((b) => ({ t: at(b), p_fake: b.avg_p_fake, visual: b.avg_visual_p, audio: b.avg_audio_p }));
      } catch (err) {
        events.replaceChildren(h("li", {}, errorBox(err)));
        return [];
      }
    }
    chart.set(await loadSeries());
    let refresh = null;
    if (info.state === "live") {
      stop = followScores(id, {
        message(m) {
          chart.push((Date.parse(m.server_time) - started) / 1000,
            { p_fake: m.p_fake, visual: m.visual.p_fake, audio: m.audio.p_fake });
          verdictEl.replaceChildren(badge(m.verdict, true));
          for (const event of m.events) if (event.explanation) addHeatmap(event);
          faces.replaceChildren(table(
            [{ title: "Face", cell: (f) => `#${f.track_id}` }, { title: "p_fake", cell: (f) => num(f.p_fake) },
              { title: "Box", cls: "hide-narrow", cell: (f) => (f.box ? f.box.map(Math.round).join(", ") : "–") }],
            m.faces, "No face in view."));
          modalities.replaceChildren(
            h("dt", {}, "Stream time"), h("dd", {}, `${m.stream_t_s.toFixed(1)} s`),
            h("dt", {}, "p_fake"), h("dd", {}, num(m.p_fake)),
            h("dt", {}, "Visual"), h("dd", {}, num(m.visual.p_fake)),
            h("dt", {}, "Audio"), h("dd", {}, num(m.audio.p_fake)),
            h("dt", {}, "Latency"), h("dd", {}, `${Math.round(m.latency_ms)} ms`),
            h("dt", {}, "Dropped"), h("dd", {}, `visual ${m.dropped.visual || 0}, audio ${m.dropped.audio || 0}`));
        },
        end(m) {
          stateEl.textContent = `ended (${m.reason})`;
          stopButton.hidden = true;
          clearInterval(refresh);
          setTimeout(async () => {
            loadSeries();
            const last = await api(`/v1/streams/${id}`).catch(() => null);
            if (!last) return;
            endedEl.textContent = when(last.ended_at);
            windowsEl.textContent = `${last.windows_scored} scored, ${last.windows_dropped} dropped`;
          }, 2000);
        },
      });
      refresh = setInterval(loadSeries, 3000);
      const unfollow = stop;
      stop = () => { unfollow(); clearInterval(refresh); };
    }
  })();
  return () => { stop(); closeHeatmaps(); if (chart) chart.destroy(); };
}
