"""Explanations and reports: the deep pass that says *why* a verdict came out as it did.

Grad-CAM heat maps on face crops, occlusion saliency on audio windows, a timeline of suspicious segments, a
deterministic written summary (optionally an LLM-written one) and a PDF report. Imports ``inference``,
``engines`` and ``media`` only; ``jobs``, ``api`` and ``cli`` import it.
"""
