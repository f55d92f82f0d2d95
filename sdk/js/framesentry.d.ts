// Types of the FrameSentry browser SDK (framesentry.js).

export declare const SUBPROTOCOL: "framesentry.v1";
export declare const SCORES_REL: "urn:framesentry:scores";

export type Verdict = "real" | "fake" | "uncertain";
export type SessionState = "connecting" | "publishing" | "reconnecting" | "ended" | "closed" | "failed";

/** One message of `WS /v1/streams/{id}/scores` (the server's `ScoreMessage` schema). */
export interface ScoreMessage {
  type: "score";
  seq: number;
  stream_id: string;
  kind: "visual" | "audio";
  stream_t_s: number;
  server_time: string;
  latency_ms: number;
  visual: { p_fake: number | null; [k: string]: unknown };
  audio: { p_fake: number | null; [k: string]: unknown };
  faces: Array<{ track_id: number; p_fake: number | null; box?: number[]; [k: string]: unknown }>;
  p_fake_window: number | null;
  p_fake: number | null;
  verdict: Verdict;
  events: Array<{ type: string; from?: Verdict; to?: Verdict; stream_t_s?: number; [k: string]: unknown }>;
  dropped: Record<string, number>;
}

export interface VerdictChange {
  verdict: Verdict;
  previous: Verdict | null;
  p_fake: number | null;
  stream_t_s: number;
}

/** What `verify` needs from the browser; tests pass fakes. */
export interface Environment {
  fetch: typeof fetch;
  WebSocket: typeof WebSocket;
  RTCPeerConnection: typeof RTCPeerConnection;
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (id: unknown) => void;
}

export interface VerifyOptions {
  /** The server's base URL, e.g. "https://framesentry.example.com". */
  url: string;
  /** A stream key: it authorises publishing (WHIP bearer token) and reading this stream's scores. */
  token: string;
  /** Publish again with backoff after a failure (default true). */
  reconnect?: boolean;
  /** Give up after this many consecutive failed tries (default Infinity). */
  maxRetries?: number;
  /** First backoff delay (default 500 ms); it doubles per try up to `maxDelayMs` (default 15 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  iceServers?: RTCIceServer[];
  iceGatheringTimeoutMs?: number;
  env?: Partial<Environment>;
}

export interface VerifySession {
  readonly state: SessionState;
  /** The live stream's id once the server answered (null before). */
  readonly streamId: string | null;
  readonly verdict: Verdict | null;
  readonly lastScore: ScoreMessage | null;
  /** Each listener registration returns a function that removes it. */
  onScore(listener: (message: ScoreMessage) => void): () => void;
  onVerdict(listener: (change: VerdictChange) => void): () => void;
  onState(listener: (state: SessionState) => void): () => void;
  onError(listener: (error: FrameSentryError | Error) => void): () => void;
  /** Stop publishing: DELETE the WHIP session, close the peer connection and the score socket. */
  close(): Promise<void>;
}

export declare class FrameSentryError extends Error {
  readonly status: number | null;
  readonly code: string | null;
  /** True when trying again cannot help (unknown key, unusable offer...). */
  readonly fatal: boolean;
}

export declare function verify(mediaStream: MediaStream, options: VerifyOptions): VerifySession;
export declare function authProtocols(credential: string | null | undefined): string[];
export declare function base64url(text: string): string;
export declare function parseLink(header: string | null, rel: string): string | null;
export declare function backoffDelay(
  attempt: number,
  options?: { baseMs?: number; maxMs?: number; jitter?: number; random?: () => number },
): number;
export declare function toWebSocketUrl(target: string, base: string): string;
