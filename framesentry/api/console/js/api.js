// Talking to the server the way the API expects: the X-API-Key header on every request (never a URL), the
// score WebSocket authorised by subprotocol. The key lives in this browser's localStorage only.
import { authProtocols, toWebSocketUrl } from "/console/sdk/framesentry.js";

const KEY_STORAGE = "framesentry.apiKey";

export const apiKey = {
  get: () => localStorage.getItem(KEY_STORAGE) || "",
  set: (value) => (value ? localStorage.setItem(KEY_STORAGE, value) : localStorage.removeItem(KEY_STORAGE)),
};

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || null;
  }
}

function headers(extra = {}) {
  const key = apiKey.get();
  return key ? { "X-API-Key": key, ...extra } : extra;
}

export async function api(path, { method = "GET", json, signal } = {}) {
  const sentKey = apiKey.get();
  const init = { method, headers: headers(json === undefined ? {} : { "Content-Type": "application/json" }), signal };
  if (json !== undefined) init.body = JSON.stringify(json);
  const resp = await fetch(path, init);
  if (resp.status === 204) return null;
  const body = await resp.json().catch(() => null);
  // Which key was refused: a 401 that answers a request sent before the key changed says nothing about the new one.
  if (resp.status === 401) window.dispatchEvent(new CustomEvent("framesentry:unauthorized", { detail: { key: sentKey } }));
  if (!resp.ok) throw new ApiError(resp.status, body);
  return body;
}

/** Whether a URL answers (GET with the key); 404 and other errors are "no". Used for optional artefacts. */
export async function available(path) {
  try {
    const resp = await fetch(path, { method: "GET", headers: headers() });
    return resp.ok ? resp : null;
  } catch {
    return null;
  }
}

/** A blob URL for an authorised artefact (image, PDF) that an <img> or <a> cannot fetch with a header. */
export async function blobUrl(path) {
  const resp = await available(path);
  return resp ? URL.createObjectURL(await resp.blob()) : null;
}

/** POST a file to /v1/analyses with upload progress (fetch cannot report it; XHR can). */
export function uploadFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/analyses");
    for (const [name, value] of Object.entries(headers())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body); else reject(new ApiError(xhr.status, body));
    };
    xhr.onerror = () => reject(new Error("the upload failed (network)"));
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/**
 * Follow a stream's scores. Handlers: message(m), end(m), error(err). Returns close().
 * Reopens the socket with backoff while the stream may still be live.
 */
export function followScores(streamId, { message, end, error }) {
  let socket = null;
  let stopped = false;
  let tries = 0;
  let timer = null;
  const open = () => {
    if (stopped) return;
    socket = new WebSocket(toWebSocketUrl(`/v1/streams/${streamId}/scores`, location.href), authProtocols(apiKey.get()));
    let finished = false;
    socket.onmessage = (event) => {
      const m = JSON.parse(event.data);
      if (m.type === "score") { tries = 0; message(m); } else {
        finished = true;
        if (m.type === "end") end && end(m);
        else error && error(new ApiError(0, m));
      }
    };
    socket.onclose = () => {
      if (stopped || finished) return;
      tries += 1;
      timer = setTimeout(open, Math.min(10000, 500 * 2 ** tries));
    };
  };
  open();
  return () => { stopped = true; clearTimeout(timer); if (socket) socket.close(1000); };
}
