"""The package's import graph keeps its rooms apart (README "Architecture").

Every ``framesentry`` import in every module is read from the source (top level and inside functions, since
heavy imports are lazy), and each room may import only the rooms below it. The lab (training, evaluation, data
synthesis, benchmark harnesses) is never imported by the runtime.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "framesentry"

# room -> rooms it may import (besides itself and the shared leaves ``config``, ``errors``, ``digest``)
ALLOWED: dict[str, set[str]] = {
    "obs": set(),
    "media": {"obs"},
    "engines": {"media", "obs"},
    "inference": {"engines", "media", "obs"},
    "store": set(),
    "client": set(),  # talks to a server over HTTP/WebSocket; imports none of it
    "explain": {"inference", "engines", "media", "obs"},
    "stream": {"inference", "engines", "media", "store", "obs"},
    "jobs": {"explain", "inference", "engines", "media", "store", "obs"},
    "lab": {"jobs", "inference", "engines", "media", "stream", "obs"},
    "api": {"jobs", "stream", "explain", "inference", "engines", "media", "store", "obs"},
    "cli": {"api", "jobs", "stream", "explain", "inference", "engines", "media", "store", "lab", "obs", "client"},
}
LEAVES = {"config", "errors", "digest", "__init__", "__main__"}


def _room(module_parts: tuple[str, ...]) -> str:
    return module_parts[0] if module_parts else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("framesentry")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "framesentry":
                found += [(node.lineno, f"framesentry.{a.name}") for a in node.names]
            elif node.module.startswith("framesentry."):
                found.append((node.lineno, node.module))
    return found


def test_no_room_imports_upward_and_the_runtime_never_imports_the_lab() -> None:
    violations: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        room = _room(rel.parts)
        if room in LEAVES:
            continue
        assert room in ALLOWED, f"{rel}: room {room!r} is not in the architecture table"
        for line, module in _imports(path):
            target = module.split(".")[1] if "." in module else "__init__"
            if target in LEAVES or target == room:
                continue
            if target not in ALLOWED[room]:
                violations.append(f"framesentry/{rel}.py:{line} ({room}) imports {module}")
    assert not violations, "upward or sideways imports:\n" + "\n".join(violations)


def test_the_shared_leaves_import_nothing_of_ours() -> None:
    for name in ("config", "errors", "digest"):
        imported = [m for _, m in _imports(PACKAGE / f"{name}.py")]
        assert all(m.split(".")[1] in LEAVES for m in imported), (name, imported)
