"""Engines: where the raw network forward runs (PyTorch eager, ONNX Runtime, TensorRT).

Pieces, one job each: ``spec`` (what a model looks like to a backend), ``base`` (the backend interface),
``registry`` (backends found by name, one file each under ``backends/``), ``manifest`` (what a built engine
was built from, and the checks that refuse a stale one), ``export`` (ONNX export and parity), ``build``
(ahead-of-time builds into the engines directory), ``select`` (``auto`` and explicit choice, never building),
``device`` (what this machine has, without initialising CUDA), ``batcher`` (dynamic batching with a watchdog)
and ``bench`` (offline throughput). Nothing here imports ``inference`` or anything above it; heavy libraries
are imported inside the functions that use them.
"""
