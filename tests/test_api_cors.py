"""Cross-origin pages (a call product embedding the browser SDK) may call the API only from the origins listed
in ``FRAMESENTRY_CORS_ORIGINS``; the WHIP answer's headers the SDK reads are exposed to them."""

from __future__ import annotations

from pathlib import Path

from framesentry.config import Settings

PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}


def test_only_listed_origins_may_publish_from_their_pages(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from framesentry.api.app import create_app

    app = create_app(Settings(work_dir=tmp_path / "a", cors_origins="https://call.example, https://b.example"),
                     run_worker=False)
    with TestClient(app) as client:
        ok = client.options("/v1/whip", headers={"Origin": "https://call.example", **PREFLIGHT})
        assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "https://call.example"
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers
        refused = client.options("/v1/whip", headers={"Origin": "https://evil.example", **PREFLIGHT})
        assert "access-control-allow-origin" not in refused.headers
        answer = client.post("/v1/whip", content="v=0", headers={"Origin": "https://b.example",
                                                                 "Content-Type": "application/sdp"})
        assert answer.status_code == 401  # no bearer token, but a reply the page may read, headers included
        assert answer.headers["access-control-allow-origin"] == "https://b.example"
        assert {"location", "etag", "link"} <= {h.strip().lower() for h in
                                                answer.headers["access-control-expose-headers"].split(",")}

    with TestClient(create_app(Settings(work_dir=tmp_path / "b"), run_worker=False)) as client:
        same_origin_only = client.options("/v1/whip", headers={"Origin": "https://call.example", **PREFLIGHT})
        assert "access-control-allow-origin" not in same_origin_only.headers
