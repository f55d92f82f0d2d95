import assert from "node:assert/strict";
import { beforeEach, test } from "node:test";

import {
  authProtocols, backoffDelay, base64url, parseLink, toWebSocketUrl, verify,
} from "../framesentry.js";
import {
  FakePeer, FakeSocket, errorResponse, fakeStream, manualClock, score, scriptedFetch, settle, whipAnswer,
} from "../testing/fakes.js";

const URL_BASE = "http://srv.test:8000";
const TOKEN = "fsk_secret-key_1";

function start(script, extra = {}) {
  const { fetch, calls } = scriptedFetch(script);
  const clock = manualClock();
  const env = { fetch, WebSocket: FakeSocket, RTCPeerConnection: FakePeer, ...clock };
  const session = verify(fakeStream, { url: URL_BASE, token: TOKEN, env, ...extra });
  const seen = { scores: [], verdicts: [], states: [], errors: [] };
  session.onScore((m) => seen.scores.push(m));
  session.onVerdict((v) => seen.verdicts.push(v));
  session.onState((s) => seen.states.push(s));
  session.onError((e) => seen.errors.push(e));
  return { session, calls, clock, seen };
}

function decodeAuth(protocols) {
  const token = protocols[1].slice("framesentry.auth.".length);
  return Buffer.from(token, "base64url").toString("utf8");
}

beforeEach(() => { FakePeer.all = []; FakeSocket.all = []; });

test("publishes over WHIP with the token as bearer, follows the scores, and close() deletes the session", async () => {
  const { session, calls, seen } = start([whipAnswer()]);
  await settle();
  const [post] = calls;
  assert.equal(post.url, `${URL_BASE}/v1/whip`);
  assert.equal(post.method, "POST");
  assert.equal(post.headers.Authorization, `Bearer ${TOKEN}`);
  assert.equal(post.headers["Content-Type"], "application/sdp");
  assert.equal(post.body, "v=0 offer 1");
  assert.ok(!post.url.includes(TOKEN), "the key never goes in a URL");
  const [peer] = FakePeer.all;
  assert.deepEqual(peer.transceivers.map((t) => [t.track.kind, t.init.direction]), [["video", "sendonly"], ["audio", "sendonly"]]);
  assert.deepEqual(peer.remoteDescription, { type: "answer", sdp: "v=0 answer" });

  const [socket] = FakeSocket.all;
  assert.equal(socket.url, "ws://srv.test:8000/v1/streams/abc/scores");
  assert.equal(socket.protocols[0], "framesentry.v1");
  assert.equal(decodeAuth(socket.protocols), TOKEN);
  assert.equal(session.streamId, "abc");

  peer.setConnectionState("connected");
  assert.equal(session.state, "publishing");
  socket.receive(score(1, "uncertain", 0.5));
  socket.receive(score(2, "uncertain", 0.6));
  socket.receive(score(3, "fake", 0.9));
  assert.deepEqual(seen.scores.map((m) => m.seq), [1, 2, 3]);
  assert.deepEqual(seen.verdicts.map((v) => [v.previous, v.verdict]), [[null, "uncertain"], ["uncertain", "fake"]]);
  assert.equal(session.verdict, "fake");
  assert.equal(session.lastScore.seq, 3);

  await session.close();
  const del = calls.at(-1);
  assert.deepEqual([del.method, del.url, del.headers.Authorization], ["DELETE", `${URL_BASE}/v1/whip/sessions/r1`, `Bearer ${TOKEN}`]);
  assert.ok(peer.closed);
  assert.equal(socket.closedWith, 1000);
  assert.equal(session.state, "closed");
  assert.deepEqual(seen.errors, []);
});

test("an overloaded or unreachable server is retried with growing backoff; an unknown key is not", async () => {
  const { session, calls, clock, seen } = start(
    [errorResponse(503, "service_unavailable"), new TypeError("network down"), errorResponse(503, "service_unavailable"), whipAnswer()],
    { baseDelayMs: 100, maxDelayMs: 1000 },
  );
  await settle();
  for (let i = 0; i < 3; i += 1) {
    assert.equal(session.state, "reconnecting");
    await clock.runAll();
  }
  assert.equal(calls.filter((c) => c.method === "POST").length, 4);
  assert.equal(clock.delays.length, 3);
  assert.ok(clock.delays[0] >= 80 && clock.delays[0] <= 120, clock.delays);
  assert.ok(clock.delays[1] > clock.delays[0] && clock.delays[2] > clock.delays[1], clock.delays);
  assert.equal(FakeSocket.all.length, 1);
  assert.deepEqual(seen.errors.map((e) => e.code ?? null), ["service_unavailable", null, "service_unavailable"]);
  await session.close();

  const refused = start([errorResponse(401, "unauthorized")]);
  await settle();
  assert.equal(refused.session.state, "failed");
  assert.equal(refused.seen.errors[0].code, "unauthorized");
  assert.equal(refused.seen.errors[0].fatal, true);
  assert.equal(refused.clock.pending, 0, "no retry is scheduled");
});

test("a dropped score socket is reopened alone; a stream the server ended is published again; a stop is final", async () => {
  const { session, calls, clock } = start(
    [whipAnswer(), new Response(null, { status: 200 }), whipAnswer({ location: "/v1/whip/sessions/r2", streamId: "def" })],
    { baseDelayMs: 10 },
  );
  await settle();
  FakeSocket.all[0].drop();
  await clock.runAll();
  assert.equal(FakeSocket.all.length, 2);
  assert.equal(FakeSocket.all[1].url, FakeSocket.all[0].url);
  assert.equal(calls.length, 1, "the media session was kept");

  FakeSocket.all[1].receive({ type: "end", reason: "stalled" });
  await settle();
  assert.equal(session.state, "reconnecting");
  assert.deepEqual([calls[1].method, calls[1].url], ["DELETE", `${URL_BASE}/v1/whip/sessions/r1`]);
  await clock.runAll();
  assert.equal(calls[2].method, "POST");
  assert.equal(FakePeer.all.length, 2);
  assert.ok(FakePeer.all[0].closed);
  assert.equal(session.streamId, "def");

  FakeSocket.all[2].receive({ type: "end", reason: "stopped_by_api" });
  await settle();
  assert.equal(session.state, "ended");
  assert.equal(clock.pending, 0);
  assert.ok(FakePeer.all[1].closed);
});

test("closing while the offer is in flight deletes the session the server opened meanwhile", async () => {
  let answer;
  const pending = new Promise((resolve) => { answer = resolve; });
  const { session, calls } = start([() => pending]);
  await settle();
  const closing = session.close();
  answer(whipAnswer());
  await closing;
  await settle();
  assert.deepEqual(calls.map((c) => [c.method, c.url]), [
    ["POST", `${URL_BASE}/v1/whip`], ["DELETE", `${URL_BASE}/v1/whip/sessions/r1`],
  ]);
  assert.equal(FakeSocket.all.length, 0, "no score socket for a closed session");
  assert.equal(session.state, "closed");
});

test("helpers: subprotocol credential, Link parsing, backoff bounds, WebSocket URLs", () => {
  assert.equal(Buffer.from(base64url("clé/ключ+?"), "base64url").toString("utf8"), "clé/ключ+?");
  assert.match(base64url("any key+/="), /^[A-Za-z0-9_-]+$/);
  assert.deepEqual(authProtocols(null), ["framesentry.v1"]);
  assert.equal(decodeAuth(authProtocols("k")), "k");
  const header = '</a>; rel="next", </v1/streams/x/scores>; rel="urn:framesentry:scores"';
  assert.equal(parseLink(header, "urn:framesentry:scores"), "/v1/streams/x/scores");
  assert.equal(parseLink(header, "other"), null);
  assert.equal(parseLink(null, "x"), null);
  assert.equal(backoffDelay(1, { baseMs: 100, jitter: 0 }), 100);
  assert.equal(backoffDelay(4, { baseMs: 100, jitter: 0 }), 800);
  assert.equal(backoffDelay(30, { baseMs: 100, maxMs: 2000, jitter: 0 }), 2000);
  assert.equal(backoffDelay(1, { baseMs: 100, jitter: 0.2, random: () => 1 }), 120);
  assert.equal(toWebSocketUrl("/v1/s", "https://h.example/x/"), "wss://h.example/v1/s");
  assert.equal(toWebSocketUrl("/v1/s", "http://h:1/"), "ws://h:1/v1/s");
  assert.throws(() => verify(fakeStream, { url: URL_BASE }), /needs \{url, token\}/);
});
