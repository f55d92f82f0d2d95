// Live monitor: every live stream as a tile with its own score chart (WebSocket), verdict and drop counters;
// a stream turning Fake raises the page alert (and a beep when sound is on).
import { api, followScores } from "../api.js";
import { raiseAlert, sound } from "../alerts.js";
import { Chart, legend } from "../chart.js";
import { badge, errorBox, h, num } from "../ui.js";

export const name = "monitor";
const REFRESH_MS = 2500;
const KEEP_ENDED_MS = 15000;

export function render(view) {
  const tiles = new Map();
  const grid = h("div", { class: "tiles", id: "tiles" });
  const count = h("span", { class: "muted", id: "live-count" }, "…");
  const problem = h("div");
  const soundBox = h("input", { type: "checkbox", checked: sound.on, onchange: (e) => { sound.on = e.target.checked; } });
  view.append(
    h("div", { class: "row" }, h("h1", { class: "grow" }, "Live monitor"), count,
      h("label", { class: "small" }, soundBox, "Sound on Fake")),
    legend(), h("p"), problem, grid,
  );
  const empty = h("div", { class: "panel empty" }, "No live stream. Register a source under ",
    h("a", { href: "#/sources" }, "Sources"), " and publish to it (RTMP or the browser).");

  function addTile(info) {
    const verdictEl = h("span", {}, badge(info.verdict));  // the server's latest until the first message
    const pEl = h("b", {}, num(info.p_fake));
    const latencyEl = h("b", {}, "–");
    const scoredEl = h("b", {}, String(info.windows_scored));
    const droppedEl = h("b", { class: "dropped" }, "0 / 0");
    const facesEl = h("b", {}, "–");
    const stateEl = h("span", { class: "small muted" }, info.source.toUpperCase());
    const canvas = h("canvas", { class: "chart", dataset: { points: "0" } });
    const title = info.name || `stream ${info.id.slice(0, 8)}`;
    const el = h("article", { class: "tile", dataset: { streamId: info.id, verdict: "none", messages: "0" } },
      h("div", { class: "row" }, h("h2", { class: "grow", title }, h("a", { href: `#/stream/${info.id}` }, title)),
        stateEl, verdictEl),
      canvas,
      h("div", { class: "stats" },
        h("span", {}, "p_fake ", pEl), h("span", {}, "faces ", facesEl), h("span", {}, "latency ", latencyEl),
        h("span", {}, "scored ", scoredEl), h("span", { title: "windows dropped: visual / audio" }, "dropped ", droppedEl)));
    const chart = new Chart(canvas);
    const tile = { el, chart, ended: null, messages: 0 };
    tile.close = followScores(info.id, {
      message(m) {
        tile.messages += 1;
        el.dataset.messages = String(tile.messages);
        chart.push(m.stream_t_s, { p_fake: m.p_fake, visual: m.visual.p_fake, audio: m.audio.p_fake });
        const before = el.dataset.verdict;
        el.dataset.verdict = m.verdict;
        verdictEl.replaceChildren(badge(m.verdict));
        pEl.textContent = num(m.p_fake);
        latencyEl.textContent = `${Math.round(m.latency_ms)} ms`;
        facesEl.textContent = String(m.faces.length);
        scoredEl.textContent = String(Number(scoredEl.textContent) + 1);
        droppedEl.textContent = `${m.dropped.visual || 0} / ${m.dropped.audio || 0}`;
        el.classList.toggle("is-fake", m.verdict === "fake");
        if (m.verdict === "fake" && before !== "fake") {
          raiseAlert(`⚠ ${title} turned FAKE at ${m.stream_t_s.toFixed(1)} s (p_fake ${num(m.p_fake, 2)})`,
            `#/stream/${info.id}`);
        }
      },
      end(m) {
        tile.ended = Date.now();
        stateEl.textContent = `ENDED (${m.reason || "?"})`;
        el.dataset.state = "ended";
      },
      error(err) { stateEl.textContent = err.message; },
    });
    tiles.set(info.id, tile);
    grid.append(el);
  }

  async function refresh() {
    try {
      const page = await api("/v1/streams?state=live&limit=100");
      problem.replaceChildren();
      const live = new Set(page.items.map((s) => s.id));
      for (const info of page.items) if (!tiles.has(info.id)) addTile(info);
      for (const [id, tile] of tiles) {
        if (!live.has(id) && (tile.ended === null ? (tile.ended = Date.now()) : tile.ended) < Date.now() - KEEP_ENDED_MS) {
          tile.close(); tile.chart.destroy(); tile.el.remove(); tiles.delete(id);
        }
      }
      count.textContent = `${page.items.length} live`;
      if (!tiles.size && !empty.isConnected) grid.before(empty);
      if (tiles.size) empty.remove();
    } catch (err) {
      problem.replaceChildren(errorBox(err));
    }
  }

  refresh();
  const timer = setInterval(refresh, REFRESH_MS);
  return () => {
    clearInterval(timer);
    for (const tile of tiles.values()) { tile.close(); tile.chart.destroy(); }
  };
}
