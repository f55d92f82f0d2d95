// Upload: drop or pick a file, watch the upload and the analysis progress, then read the result.
import { uploadFile } from "../api.js";
import { errorBox, h } from "../ui.js";
import { follow } from "./analysis.js";

export const name = "upload";

export function render(view) {
  const state = { stopped: false };
  const input = h("input", { type: "file", id: "file", accept: "video/*,audio/*", onchange: () => input.files[0] && send(input.files[0]) });
  const zone = h("div", { class: "drop", id: "drop" },
    h("p", {}, h("b", {}, "Drop a video or audio file here")), h("p", { class: "muted" }, "or"), input);
  const out = h("div", { id: "upload-out" });
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]);
  });

  async function send(file) {
    const bar = h("progress", { max: 1, value: 0, id: "upload-bar" });
    const label = h("p", {}, `Uploading ${file.name}…`);
    out.replaceChildren(h("div", { class: "panel" }, label, bar));
    try {
      const made = await uploadFile(file, (fraction) => { bar.value = fraction; });
      bar.value = 1;
      label.replaceChildren(`Uploaded ${file.name}. `, h("a", { href: `#/analysis/${made.id}` }, "Permalink"));
      await follow(out, made.id, state);
    } catch (err) {
      out.append(errorBox(err));
    }
  }

  view.append(h("h1", {}, "Upload"), h("div", { class: "panel" }, zone), out);
  return () => { state.stopped = true; };
}
