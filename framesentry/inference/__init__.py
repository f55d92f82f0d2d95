"""Detection: faces, audio features, models, fusion, calibration and verdicts.

Nothing here imports the API, streaming, jobs or storage layers.
"""
