"""Operations: Prometheus metrics and JSON logs, scraped after real work in distributed mode.

A prefork worker with two pool processes (Prometheus multiprocess mode, its own metrics port) and the API
(``framesentry serve``, real PostgreSQL and Redis) run as subprocesses with JSON logs; two uploads run at once,
one per pool process, and both scrapes must account for them.
"""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_helpers import (
    ANALYSES_WORKER_READY,
    RedisSpace,
    finished,
    free_port,
    poll_until,
    service_env,
    wait_ready,
)

from framesentry.obs import logs

pytest_plugins = ["conftest_service"]

pytestmark = pytest.mark.slow


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """``/metrics`` parsed: sample name -> [(labels, value)]."""
    from prometheus_client.parser import text_string_to_metric_families

    res = httpx.get(url, timeout=30)
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/plain")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(res.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return samples


def value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for got, v in samples.get(name, []) if all(got.get(k) == x for k, x in labels.items()))


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line that looks like an object must parse as one (the logs are one JSON object per line)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_metrics_and_json_logs_after_real_jobs(tmp_path: Path, pg_url: str, redis_space: RedisSpace,
                                               clip_faces_speech: Path, clip_multi_face: Path,
                                               spawn: Any) -> None:
    worker_port, api_port = free_port(), free_port()
    common = {
        "work_dir": tmp_path, "database_url": pg_url, "broker_url": redis_space.url,
        "broker_key_prefix": redis_space.prefix, "queue_name": f"{redis_space.queue}-ops", "torch_threads": 1,
        "log_format": "json",
    }
    worker = spawn(["worker", "--concurrency", "2"], service_env(**common, worker_metrics_port=worker_port),
                   "worker")
    api = spawn(["serve", "--port", str(api_port)], service_env(**common, rtmp_port=0), "serve")
    wait_ready(worker, ANALYSES_WORKER_READY, timeout_s=180)
    wait_ready(api, "Uvicorn running", timeout_s=120)
    base = f"http://127.0.0.1:{api_port}"

    ids: list[str] = []
    request_id = f"ops-{uuid.uuid4().hex[:8]}"

    def send(path: Path, headers: dict[str, str]) -> None:
        with path.open("rb") as fh:
            res = httpx.post(f"{base}/v1/analyses", files={"file": (path.name, fh, "video/mp4")},
                             headers=headers, timeout=60)
        assert res.status_code == 202, res.text
        if "X-Request-ID" in headers:
            assert res.headers["x-request-id"] == request_id  # the caller's id is kept and echoed
        else:
            assert len(res.headers["x-request-id"]) == 32  # one is made up
        ids.append(res.json()["id"])

    threads = [threading.Thread(target=send, args=(clip_faces_speech, {"X-Request-ID": request_id})),
               threading.Thread(target=send, args=(clip_multi_face, {}))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == 2
    with httpx.Client(base_url=base, timeout=60) as client:
        for aid in ids:
            assert poll_until(client, aid, finished, 300)["status"] == "done"

    # The worker's port sums both pool processes (multiprocess mode): each ran one of the jobs.
    w = scrape(f"http://127.0.0.1:{worker_port}/metrics")
    assert value(w, "framesentry_job_duration_seconds_count", outcome="done") == 2
    assert value(w, "framesentry_job_duration_seconds_sum", outcome="done") > 0
    pids = {p.name.split("_")[-1] for p in (tmp_path / "metrics").glob("*/histogram_*.db")}
    assert len(pids) >= 2, f"job samples came from pool processes {pids}"
    model_batches = {labels["model"] for labels, v in w.get("framesentry_model_batch_seconds_count", []) if v > 0}
    assert model_batches, "no model batch was timed"
    assert value(w, "framesentry_model_batch_items_sum") >= value(w, "framesentry_model_batch_items_count") > 0

    # The API: request latency by route template (no raw ids in labels), queue depth and states from the DB.
    a = scrape(f"{base}/metrics")
    routes = {labels["route"] for labels, _ in a["framesentry_http_request_duration_seconds_count"]}
    assert {"/v1/analyses", "/v1/analyses/{analysis_id}"} <= routes, routes
    assert not any(aid in route for route in routes for aid in ids)
    assert value(a, "framesentry_http_request_duration_seconds_count", route="/v1/analyses", method="POST",
                 status="202") == 2
    assert value(a, "framesentry_queue_depth") == 0
    assert value(a, "framesentry_analyses", status="done") >= 2
    assert value(a, "framesentry_live_streams", source="rtmp") == 0  # the gauge exists with live ingest on
    assert "framesentry_live_dropped_windows_total" in a

    # JSON logs: every line of the worker is one object, and the job's lines carry its analysis id.
    worker_lines = json_lines(worker.output())
    assert worker_lines and all({"ts", "level", "logger", "msg"} <= set(e) for e in worker_lines)
    for aid in ids:
        assert any(e.get("analysis_id") == aid and e["msg"].endswith(": done") for e in worker_lines), aid
    api_lines = json_lines(api.output())
    assert any("Uvicorn running" in e["msg"] for e in api_lines), api.output()[-2000:]


def test_log_formats_carry_the_bound_ids() -> None:
    """Plain and JSON handlers both show the ids bound in the current context, and only there."""
    stream, plain = io.StringIO(), io.StringIO()
    logger = logging.getLogger(f"framesentry.test.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(logs.make_handler("json", stream))
    with logs.bound(request_id="r1", analysis_id="a1"):
        with logs.bound(stream_id="s1"):
            logger.info("inside %s", "é")
        logger.warning("after")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("outside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 3, stream.getvalue()
    assert lines[0]["msg"] == "inside é" and lines[0]["level"] == "info" and lines[0]["ts"].endswith("+00:00")
    assert (lines[0]["request_id"], lines[0]["analysis_id"], lines[0]["stream_id"]) == ("r1", "a1", "s1")
    assert "stream_id" not in lines[1] and lines[1]["analysis_id"] == "a1"
    assert not set(logs.ID_FIELDS) & set(lines[2]) and "RuntimeError: boom" in lines[2]["exc"]

    logger.handlers[:] = [logs.make_handler("plain", plain)]
    with logs.bound(analysis_id="a2"):
        logger.info("plain line")
    assert plain.getvalue().rstrip().endswith("plain line [analysis_id=a2]")
    with pytest.raises(ValueError, match="unknown log id"):
        logs.bind(user="x")


def test_route_template_of_nested_routers_and_unmatched_paths() -> None:
    """The label is the full template of the route that matched (prefix included), never the raw path."""
    from fastapi import APIRouter, FastAPI
    from fastapi.testclient import TestClient

    from framesentry.api.metrics import RequestMetrics
    from framesentry.obs.metrics import metrics

    inner = APIRouter()
    lines = io.StringIO()
    logger = logging.getLogger(f"framesentry.test.{uuid.uuid4().hex[:6]}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(logs.make_handler("json", lines))

    @inner.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        logger.info("looking at %s", thing_id)
        return {"id": thing_id}

    v1 = APIRouter(prefix="/v9")
    v1.include_router(inner)
    app = FastAPI()
    app.add_middleware(RequestMetrics)
    app.include_router(v1)
    histogram = metrics().request_seconds
    before = histogram.labels("GET", "/v9/things/{thing_id}", "200")._sum.get()
    with TestClient(app) as client:
        res = client.get("/v9/things/abc")
        assert res.status_code == 200
        assert client.get("/v9/nothing-here").status_code == 404
        mine = client.get("/v9/things/def", headers={"X-Request-ID": "caller-7"})
        assert mine.headers["x-request-id"] == "caller-7"
        odd = client.get("/v9/things/ghi", headers={"X-Request-ID": "no spaces or {braces} please"})
        assert len(odd.headers["x-request-id"]) == 32  # not a token: replaced
    logged = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [(e["msg"], e["request_id"]) for e in logged] == [
        ("looking at abc", res.headers["x-request-id"]), ("looking at def", "caller-7"),
        ("looking at ghi", odd.headers["x-request-id"])]
    assert histogram.labels("GET", "/v9/things/{thing_id}", "200")._sum.get() > before
    families = {s.labels["route"] for f in histogram.collect() for s in f.samples}
    assert "unmatched" in families and not any("abc" in r for r in families)


def test_gpu_memory_is_read_only_where_torch_already_runs_cuda() -> None:
    """A scrape never imports torch nor initialises CUDA; on this CPU machine the gauge stays empty."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from framesentry.obs.metrics import metrics, record_gpu_memory\n"
        "record_gpu_memory()\n"
        "assert 'torch' not in sys.modules, 'a scrape imported torch'\n"
        "import torch\n"
        "record_gpu_memory()\n"
        "samples = [s for f in metrics().gpu_memory_bytes.collect() for s in f.samples]\n"
        "if torch.cuda.is_available() and torch.cuda.is_initialized():\n"
        "    assert samples\n"
        "else:\n"
        "    assert not samples and not torch.cuda.is_initialized(), samples\n"
        "print('ok', torch.cuda.is_available())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("ok"), done.stderr[-2000:]


def test_a_starting_worker_removes_metric_folders_of_dead_workers(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from framesentry.obs.exposition import _remove_dead

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = tmp_path / f"worker-{int(gone.stdout)}-x1"
    alive = tmp_path / f"worker-{os.getpid()}-x2"
    for folder in (dead, alive):
        folder.mkdir()
        (folder / "histogram_1.db").write_bytes(b"")
    _remove_dead(tmp_path)
    assert not dead.exists() and alive.exists()
