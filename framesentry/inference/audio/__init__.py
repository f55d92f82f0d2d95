"""Audio spoof (synthetic speech) detection: AASIST, a fast spectral CNN, VAD and windowing.

Heavy modules (torch, av, silero-vad) are imported by the submodules, not here.
"""
