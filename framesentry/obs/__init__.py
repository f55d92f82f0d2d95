"""Observability: Prometheus metrics and structured logs. Imports nothing of ours but the shared leaves, so
every room may use it."""
