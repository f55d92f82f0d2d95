// "Verify my camera": publish this browser's camera and microphone through the SDK (WHIP) and show the
// scores it gets back. The stream key comes from Sources (sessionStorage) or is typed; it never enters a URL.
import { verify } from "/console/sdk/framesentry.js";
import { Chart, legend } from "../chart.js";
import { badge, errorBox, h, num, table } from "../ui.js";
import { PUBLISH_KEY } from "./sources.js";

export const name = "verify";

export function render(view) {
  let session = null;
  let media = null;
  const keyInput = h("input", { id: "stream-key", type: "password", autocomplete: "off", placeholder: "stream key",
    value: sessionStorage.getItem(PUBLISH_KEY) || "" });
  const startButton = h("button", { type: "button", id: "start" }, "Start");
  const stopButton = h("button", { type: "button", id: "stop", class: "ghost", disabled: true }, "Stop");
  const stateEl = h("b", { id: "verify-state" }, "idle");
  const verdictEl = h("span", { id: "verify-verdict" }, badge(null, true));
  const pEl = h("b", { id: "verify-p" }, "–");
  const countEl = h("span", { id: "verify-count", dataset: { count: "0" } }, "0 scores");
  const faces = h("div", {}, h("p", { class: "muted" }, "No face scored yet."));
  const problem = h("div");
  const preview = h("video", { class: "preview", autoplay: true, muted: true, playsInline: true });
  const canvas = h("canvas", { class: "chart", dataset: { points: "0" } });
  const chart = new Chart(canvas);
  const status = { state: "idle", scores: 0, verdict: null, streamId: null, errors: [] };
  window.verifyStatus = status; // what a test reads

  async function start() {
    const key = keyInput.value.trim();
    problem.replaceChildren();
    if (!key) { problem.append(errorBox("Enter a stream key (register a source under Sources).")); return; }
    startButton.disabled = true;
    try {
      media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    } catch (err) {
      problem.append(errorBox(`No camera or microphone: ${err.message}`));
      startButton.disabled = false;
      return;
    }
    preview.srcObject = media;
    session = verify(media, { url: location.origin, token: key });
    stopButton.disabled = false;
    session.onState((s) => { status.state = s; stateEl.textContent = s; if (["failed", "ended"].includes(s)) finish(); });
    session.onError((err) => { status.errors.push(err.message); problem.replaceChildren(errorBox(err)); });
    session.onVerdict(({ verdict }) => { status.verdict = verdict; verdictEl.replaceChildren(badge(verdict, true)); });
    session.onScore((m) => {
      status.scores += 1;
      status.streamId = session.streamId;
      countEl.dataset.count = String(status.scores);
      countEl.textContent = `${status.scores} scores`;
      pEl.textContent = num(m.p_fake);
      chart.push(m.stream_t_s, { p_fake: m.p_fake, visual: m.visual.p_fake, audio: m.audio.p_fake });
      faces.replaceChildren(table([{ title: "Face", cell: (f) => `#${f.track_id}` }, { title: "p_fake", cell: (f) => num(f.p_fake) }],
        m.faces, "No face in view."));
    });
  }

  function finish() {
    if (media) media.getTracks().forEach((t) => t.stop());
    media = null;
    startButton.disabled = false;
    stopButton.disabled = true;
  }

  async function stop() {
    if (session) await session.close();
    session = null;
    finish();
  }

  startButton.onclick = start;
  stopButton.onclick = stop;
  window.verifyStop = stop;
  view.append(
    h("h1", {}, "Verify my camera"),
    h("div", { class: "panel" },
      h("p", {}, "Publishes this browser's camera and microphone to the server (WebRTC over WHIP, with the ",
        h("a", { href: "/console/sdk/framesentry.js" }, "browser SDK"), ") and shows what the detector makes of them."),
      h("div", { class: "row" }, h("label", { class: "grow" }, "Stream key", keyInput), startButton, stopButton), problem),
    h("div", { class: "grid2" },
      h("div", { class: "panel" }, preview),
      h("div", { class: "panel" },
        h("div", { class: "row" }, h("span", { class: "grow" }, "State: ", stateEl), verdictEl),
        h("p", {}, "p_fake ", pEl, " · ", countEl), legend(), canvas, h("h2", { style: "margin-top:.8rem" }, "Faces"), faces)),
  );
  return () => { stop(); chart.destroy(); delete window.verifyStatus; delete window.verifyStop; };
}
