"""Finding 4: upload file names in UTF-8 (Cyrillic, CJK, emoji, accents) are accepted and stored as sent.

Browsers and httpx send a non-ASCII ``filename`` as raw UTF-8 in the part's Content-Disposition; RFC 5987
clients send ``filename*=UTF-8''...``. Before the fix these gave a 500 (UnicodeEncodeError) or mojibake.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from service_helpers import running_api

from framesentry.api.app import create_app
from framesentry.config import Settings

NAMES = ["видео.mp4", "视频.mp4", "clip 🎬.mp4", "café.mp4", "naïve résumé.MP4"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(work_dir=tmp_path_factory.mktemp("names"))
    with running_api(create_app(settings, run_worker=False)) as base, httpx.Client(base_url=base, timeout=30) as c:
        yield c


@pytest.mark.parametrize("name", NAMES)
def test_utf8_file_name_is_accepted_and_kept(client: httpx.Client, clip_faces_speech: Path, name: str) -> None:
    with clip_faces_speech.open("rb") as fh:
        response = client.post("/v1/analyses", files={"file": (name, fh, "video/mp4")})
    assert response.status_code == 202, response.text
    assert response.json()["video"]["filename"] == name
    got = client.get(response.json()["links"]["self"]).json()
    assert got["video"]["filename"] == name


def test_rfc5987_file_name_is_decoded(client: httpx.Client, clip_faces_speech: Path) -> None:
    """``filename*=UTF-8''<percent-encoded>`` wins over the ASCII fallback ``filename``."""
    boundary = "fsboundary"
    name = "视频 clip.mp4"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"fallback.mp4\"; "
        f"filename*=UTF-8''{quote(name)}\r\nContent-Type: video/mp4\r\n\r\n"
    ).encode() + clip_faces_speech.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    response = client.post("/v1/analyses", content=body,
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 202, response.text
    assert response.json()["video"]["filename"] == name
