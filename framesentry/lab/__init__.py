"""The laboratory beside the runtime: datasets, data synthesis, training loops, evaluation, model cards and
benchmark harnesses.

It imports the runtime (``inference``, ``engines``, ``media``, ``stream``) and is imported only by ``cli``,
``benchmarks/`` and ``tests/``: the server ships the models, not the lab.
"""
