// Stand-ins for the browser APIs verify() uses, scripted by the tests (node has fetch/Response, not WebRTC).

export class FakePeer {
  static all = [];
  constructor(config) {
    this.config = config;
    this.transceivers = [];
    this.localDescription = null;
    this.remoteDescription = null;
    this.iceGatheringState = "complete";
    this.connectionState = "new";
    this.closed = false;
    this.listeners = {};
    FakePeer.all.push(this);
  }
  addTransceiver(track, init) { this.transceivers.push({ track, init }); }
  async createOffer() { return { type: "offer", sdp: `v=0 offer ${FakePeer.all.length}` }; }
  async setLocalDescription(desc) { this.localDescription = desc; }
  async setRemoteDescription(desc) { this.remoteDescription = desc; }
  addEventListener(name, fn) { (this.listeners[name] ||= []).push(fn); }
  removeEventListener(name, fn) { this.listeners[name] = (this.listeners[name] || []).filter((f) => f !== fn); }
  setConnectionState(state) {
    this.connectionState = state;
    for (const fn of this.listeners.connectionstatechange || []) fn();
  }
  close() { this.closed = true; this.connectionState = "closed"; }
}

export class FakeSocket {
  static all = [];
  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.closedWith = null;
    this.onmessage = null;
    this.onclose = null;
    FakeSocket.all.push(this);
  }
  close(code) { this.closedWith = code; }
  receive(message) { this.onmessage({ data: JSON.stringify(message) }); }
  drop() { this.onclose({ code: 1006 }); }
}

/** A fetch that answers from a script of responses (functions of the request, or Response objects). */
export function scriptedFetch(script) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    calls.push({ url, method: init.method || "GET", headers: init.headers || {}, body: init.body });
    const next = script.length ? script.shift() : new Response(null, { status: 200 });
    if (next instanceof Error) throw next;
    return typeof next === "function" ? next(url, init) : next;
  };
  return { fetch, calls };
}

export function whipAnswer({ location = "/v1/whip/sessions/r1", streamId = "abc" } = {}) {
  return new Response("v=0 answer", {
    status: 201,
    headers: {
      "Content-Type": "application/sdp",
      Location: location,
      Link: `</v1/streams/${streamId}/scores>; rel="urn:framesentry:scores"`,
    },
  });
}

export function errorResponse(status, code) {
  return new Response(JSON.stringify({ error: { code, message: `${code} here`, details: {} } }), {
    status, headers: { "Content-Type": "application/json" },
  });
}

/** Timers the test runs by hand; every delay asked for is kept. */
export function manualClock() {
  const pending = new Map();
  const delays = [];
  let next = 1;
  return {
    delays,
    setTimeout(fn, ms) { const id = next++; pending.set(id, fn); delays.push(ms); return id; },
    clearTimeout(id) { pending.delete(id); },
    async runAll() {
      const fns = [...pending.values()];
      pending.clear();
      for (const fn of fns) fn();
      await settle();
    },
    get pending() { return pending.size; },
  };
}

export async function settle() {
  for (let i = 0; i < 20; i += 1) await new Promise((resolve) => setImmediate(resolve));
}

export const fakeStream = {
  tracks: [{ kind: "video" }, { kind: "audio" }],
  getTracks() { return this.tracks; },
};

export function score(seq, verdict, pFake) {
  return {
    type: "score", seq, stream_id: "abc", kind: "visual", stream_t_s: seq * 0.5, server_time: "", latency_ms: 40,
    visual: { p_fake: pFake }, audio: { p_fake: null }, faces: [{ track_id: 1, p_fake: pFake }],
    p_fake_window: pFake, p_fake: pFake, verdict, events: [], dropped: { visual: 0, audio: 0 },
  };
}
