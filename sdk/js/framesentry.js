// FrameSentry browser SDK: publish a MediaStream over WHIP and follow its live deepfake scores.
// No dependency beyond the browser (RTCPeerConnection, fetch, WebSocket). See README.md and framesentry.d.ts.

export const SUBPROTOCOL = "framesentry.v1";
export const SCORES_REL = "urn:framesentry:scores";
const AUTH_PREFIX = "framesentry.auth.";
// The server ended the stream on purpose: publishing again would fight the operator (or the other publisher).
const FINAL_REASONS = new Set(["stopped_by_api", "replaced", "server_shutdown"]);
// Answers that another try cannot change.
const FATAL_STATUS = new Set([400, 401, 403, 404, 413, 415, 422]);

/** Unpadded base64url of a string's UTF-8 bytes (the form a WebSocket subprotocol token can carry). */
export function base64url(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** The subprotocols that authorise a score WebSocket without putting the secret in its URL. */
export function authProtocols(credential) {
  return credential ? [SUBPROTOCOL, AUTH_PREFIX + base64url(credential)] : [SUBPROTOCOL];
}

/** The target of the first `Link` header entry with relation `rel` (RFC 8288), or null. */
export function parseLink(header, rel) {
  if (!header) return null;
  for (const part of header.split(/,(?=\s*<)/)) {
    const match = part.match(/<([^>]*)>(.*)/);
    if (!match) continue;
    const rels = [...match[2].matchAll(/;\s*rel\s*=\s*"?([^";]+)"?/gi)].flatMap((m) => m[1].trim().split(/\s+/));
    if (rels.includes(rel)) return match[1];
  }
  return null;
}

/** Exponential backoff with jitter: attempt 1 waits about baseMs, doubling up to maxMs. */
export function backoffDelay(attempt, { baseMs = 500, maxMs = 15000, jitter = 0.2, random = Math.random } = {}) {
  const plain = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(plain * (1 - jitter + 2 * jitter * random()));
}

/** A WebSocket URL for an http(s) URL, resolved against `base`. */
export function toWebSocketUrl(target, base) {
  const url = new URL(target, base);
  url.protocol = url.protocol === "https:" ? "wss:" : url.protocol === "http:" ? "ws:" : url.protocol;
  return url.href;
}

export class FrameSentryError extends Error {
  constructor(message, { status = null, code = null, fatal = false } = {}) {
    super(message);
    this.name = "FrameSentryError";
    this.status = status;
    this.code = code;
    this.fatal = fatal;
  }
}

async function errorFrom(resp) {
  let code = null;
  let message = `${resp.status} ${resp.statusText || ""}`.trim();
  try {
    const body = await resp.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch { /* not the server's error shape */ }
  return new FrameSentryError(message, { status: resp.status, code, fatal: FATAL_STATUS.has(resp.status) });
}

function gatheringDone(pc, timeoutMs, env) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = env.setTimeout(finish, timeoutMs);
    function check() { if (pc.iceGatheringState === "complete") finish(); }
    function finish() {
      env.clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    }
    pc.addEventListener("icegatheringstatechange", check);
  });
}

function defaultEnv() {
  const g = globalThis;
  return {
    fetch: (...args) => g.fetch(...args),
    WebSocket: g.WebSocket,
    RTCPeerConnection: g.RTCPeerConnection,
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (id) => g.clearTimeout(id),
  };
}

/**
 * Publish `mediaStream` to a FrameSentry server over WHIP and follow its scores.
 * `url`: the server's base URL; `token`: a stream key (it authorises both the publishing and the scores).
 */
export function verify(mediaStream, options) {
  const {
    url, token, reconnect = true, maxRetries = Infinity, baseDelayMs = 500, maxDelayMs = 15000,
    iceServers = [], iceGatheringTimeoutMs = 3000,
  } = options || {};
  if (!url || !token) throw new FrameSentryError("verify() needs {url, token}", { fatal: true });
  const env = { ...defaultEnv(), ...(options.env || {}) };
  const base = new URL(url, globalThis.location ? globalThis.location.href : undefined).href.replace(/\/?$/, "/");
  const listeners = { score: new Set(), verdict: new Set(), state: new Set(), error: new Set() };
  const auth = { Authorization: `Bearer ${token}` };
  let pc = null;
  let ws = null;
  let resource = null;
  let scoresUrl = null;
  let retryTimer = null;
  let attempt = 0;
  let wsAttempt = 0;
  let generation = 0; // a new publish makes the old peer's and socket's late events harmless
  let closed = false;

  const session = {
    state: "connecting",
    streamId: null,
    verdict: null,
    lastScore: null,
    onScore: (fn) => on("score", fn),
    onVerdict: (fn) => on("verdict", fn),
    onState: (fn) => on("state", fn),
    onError: (fn) => on("error", fn),
    close,
  };

  function on(kind, fn) {
    listeners[kind].add(fn);
    return () => listeners[kind].delete(fn);
  }
  function emit(kind, value) {
    for (const fn of listeners[kind]) {
      try { fn(value); } catch (err) { if (kind !== "error") emit("error", err); }
    }
  }
  function setState(state) {
    if (session.state === state) return;
    session.state = state;
    emit("state", state);
  }
  function fail(err) {
    emit("error", err);
    setState("failed");
    teardown();
  }

  function teardown() {
    generation += 1;
    if (retryTimer !== null) env.clearTimeout(retryTimer);
    retryTimer = null;
    if (ws) { try { ws.close(1000); } catch { /* already closed */ } }
    ws = null;
    if (pc) { try { pc.close(); } catch { /* already closed */ } }
    pc = null;
  }

  function retry(err) {
    if (closed) return;
    if (err) emit("error", err);
    attempt += 1;
    if (!reconnect || attempt > maxRetries) { fail(err || new FrameSentryError("gave up reconnecting")); return; }
    const stale = resource;
    resource = null;
    if (stale) env.fetch(stale, { method: "DELETE", headers: auth }).catch(() => {});
    teardown();
    setState("reconnecting");
    retryTimer = env.setTimeout(() => { retryTimer = null; publish(); }, backoff(attempt));
  }

  function backoff(n) { return backoffDelay(n, { baseMs: baseDelayMs, maxMs: maxDelayMs }); }

  async function publish() {
    const mine = ++generation;
    const peer = new env.RTCPeerConnection({ iceServers });
    pc = peer;
    for (const track of mediaStream.getTracks()) peer.addTransceiver(track, { direction: "sendonly", streams: [mediaStream] });
    peer.addEventListener("connectionstatechange", () => {
      if (mine !== generation) return;
      if (peer.connectionState === "connected") { attempt = 0; setState("publishing"); }
      if (peer.connectionState === "failed") retry(new FrameSentryError("the WebRTC connection failed"));
    });
    let resp;
    try {
      await peer.setLocalDescription(await peer.createOffer());
      await gatheringDone(peer, iceGatheringTimeoutMs, env);
      if (mine !== generation) return;
      resp = await env.fetch(new URL("v1/whip", base).href, {
        method: "POST", headers: { ...auth, "Content-Type": "application/sdp" }, body: peer.localDescription.sdp,
      });
    } catch (err) {
      if (mine === generation) retry(new FrameSentryError(`could not reach the server: ${err.message || err}`));
      return;
    }
    if (mine !== generation) {  // closed (or replaced) while the offer was in flight: do not leave it publishing
      const orphan = resp.status === 201 && resp.headers.get("Location");
      if (orphan) env.fetch(new URL(orphan, base).href, { method: "DELETE", headers: auth }).catch(() => {});
      return;
    }
    if (resp.status !== 201) {
      const err = await errorFrom(resp);
      if (err.fatal) fail(err); else retry(err);
      return;
    }
    resource = new URL(resp.headers.get("Location"), base).href;
    const link = parseLink(resp.headers.get("Link"), SCORES_REL);
    try {
      await peer.setRemoteDescription({ type: "answer", sdp: await resp.text() });
    } catch (err) {
      retry(new FrameSentryError(`unusable SDP answer: ${err.message || err}`));
      return;
    }
    if (link) {
      scoresUrl = toWebSocketUrl(link, base);
      session.streamId = (link.match(/streams\/([^/]+)\/scores/) || [])[1] || null;
      wsAttempt = 0;
      openScores(mine);
    }
  }

  function openScores(mine) {
    if (closed || mine !== generation || !scoresUrl) return;
    const socket = new env.WebSocket(scoresUrl, authProtocols(token));
    ws = socket;
    let ended = false;
    socket.onmessage = (event) => {
      if (mine !== generation) return;
      let message;
      try { message = JSON.parse(event.data); } catch { return; }
      if (message.type === "score") {
        wsAttempt = 0;
        session.lastScore = message;
        emit("score", message);
        if (message.verdict !== session.verdict) {
          const previous = session.verdict;
          session.verdict = message.verdict;
          emit("verdict", { verdict: message.verdict, previous, p_fake: message.p_fake, stream_t_s: message.stream_t_s });
        }
      } else if (message.type === "end") {
        ended = true;
        if (FINAL_REASONS.has(message.reason)) {
          closed = true;
          teardown();
          setState("ended");
        } else {
          retry(new FrameSentryError(`the stream ended (${message.reason}); publishing again`));
        }
      } else if (message.type === "error") {
        ended = true;
        emit("error", new FrameSentryError(message.error.message, { code: message.error.code }));
      }
    };
    socket.onclose = () => {
      if (ended || closed || mine !== generation) return;
      wsAttempt += 1;  // the scores dropped but the media may still flow: reopen only the socket
      retryTimer = env.setTimeout(() => { retryTimer = null; openScores(mine); }, backoff(wsAttempt));
    };
  }

  async function close() {
    if (closed && !resource) { teardown(); return; }
    closed = true;
    const stale = resource;
    resource = null;
    teardown();
    setState("closed");
    if (stale) {
      try { await env.fetch(stale, { method: "DELETE", headers: auth }); } catch { /* the server may be gone */ }
    }
  }

  publish();
  return session;
}
