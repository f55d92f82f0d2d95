"""Live detection: RTMP/WHIP ingest, rolling windows, cross-stream scheduling, hysteresis, WebSocket fan-out.

Importing this package is cheap: PyAV, aiortc and the models load when a stream starts.
"""
