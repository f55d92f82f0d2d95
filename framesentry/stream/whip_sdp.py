"""Checks on a WHIP offer before a peer connection is spent on it.

aiortc accepts an offer with no media at all (or only ``recvonly`` media) and answers it, which would leave a
publisher connected that can never send us anything; a WHIP server must refuse that up front (422), so the
offer's m-lines are read here, without aiortc.
"""

from __future__ import annotations

from framesentry.errors import SdpError

_SENDING = {"sendonly", "sendrecv"}
_DIRECTIONS = _SENDING | {"recvonly", "inactive"}
MAX_OFFER_BYTES = 64 * 1024  # a browser offer is 3-10 kB; anything far larger is not an SDP offer


def sending_kinds(sdp: str) -> list[str]:
    """Kinds (``"audio"``/``"video"``) of the offer's m-lines that will send media to us, in order.

    Raises ``SdpError`` for text that is not an SDP offer, or one with no audio or video the publisher sends.
    """
    if len(sdp) > MAX_OFFER_BYTES:
        raise SdpError("The SDP offer is too large.", max_bytes=MAX_OFFER_BYTES)
    lines = [line.strip() for line in sdp.splitlines() if line.strip()]
    if not lines or lines[0] != "v=0":
        raise SdpError("The body is not an SDP offer (it must start with 'v=0').")
    kinds: list[str] = []
    media: list[tuple[str, str, str]] = []  # (kind, port, direction)
    session_direction = "sendrecv"
    for line in lines:
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 4:
                raise SdpError("Malformed m-line in the SDP offer.", line=line[:200])
            media.append((parts[0], parts[1], ""))
        elif line.startswith("a=") and line[2:] in _DIRECTIONS:
            if media:
                kind, port, _ = media[-1]
                media[-1] = (kind, port, line[2:])
            else:
                session_direction = line[2:]
    for kind, port, direction in media:
        if kind in ("audio", "video") and port != "0" and (direction or session_direction) in _SENDING:
            kinds.append(kind)
    if not kinds:
        raise SdpError(
            "The offer has no audio or video that the publisher sends (need an m=audio or m=video line that is "
            "sendonly or sendrecv).",
            media=[f"{kind} {direction or session_direction}" for kind, _, direction in media],
        )
    return kinds
