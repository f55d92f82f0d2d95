"""Audio saliency by occlusion: which time ranges and frequency bands drive the audio detector's score.

Why occlusion rather than gradients: the audio score is a fusion of a spectral CNN with LPC-residual features
computed in numpy, so there is no gradient through the whole detector; occlusion asks the real detector
(``AudioDetector.logits``, calibrated fusion included) what changes when a part is hidden. A time bin is
hidden by replacing it with faint noise (-60 dBFS; pure digital silence is itself unusual input), a band by
zeroing its FFT bins over the window. Saliency = base fake logit - occluded fake logit: positive where the
part made the window look fake. Time saliency from overlapping windows is averaged onto one clip-wide grid.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

METHOD = "occlusion"
TIME_BIN_S = 0.25
BAND_EDGES_HZ = (0, 250, 500, 1000, 2000, 3000, 4000, 6000, 8000)
NOISE_RMS = 1e-3


@dataclass(frozen=True)
class WindowSaliency:
    start_s: float
    end_s: float
    base_logit: float
    time_drops: list[float]
    """Logit drop per ``TIME_BIN_S`` bin of the window (positive = that time made it look fake)."""
    band_drops: list[float]
    """Logit drop per band of ``BAND_EDGES_HZ``."""


@dataclass
class AudioSaliency:
    """Saliency of the explained windows, and their clip-wide summary."""

    method: str
    sample_rate: int
    time_bin_s: float
    band_edges_hz: list[int]
    windows: list[WindowSaliency]
    grid: list[float] = field(default_factory=list)
    """Mean logit drop per clip time bin (``nan`` where no explained window covers it)."""
    offset_s: float = 0.0
    """Clip time of the grid's first bin (the signal explained may start later than the file)."""

    def top_ranges(self, k: int = 3) -> list[dict[str, float]]:
        """The ``k`` most salient time ranges (adjacent positive top bins merged), strongest first."""
        g = np.nan_to_num(np.asarray(self.grid, dtype=np.float64), nan=-np.inf)
        positive = g[np.isfinite(g) & (g > 0)]
        if positive.size == 0:
            return []
        cut = np.percentile(positive, 75)
        hot = np.isfinite(g) & (g > 0) & (g >= cut)
        ranges: list[dict[str, float]] = []
        i = 0
        while i < len(g):
            if hot[i]:
                j = i
                while j + 1 < len(g) and hot[j + 1]:
                    j += 1
                ranges.append({"start_s": round(self.offset_s + i * self.time_bin_s, 3),
                               "end_s": round(self.offset_s + (j + 1) * self.time_bin_s, 3),
                               "saliency": round(float(g[i : j + 1].mean()), 4)})
                i = j + 1
            else:
                i += 1
        return sorted(ranges, key=lambda r: r["saliency"], reverse=True)[:k]

    def band_ranking(self) -> list[dict[str, float]]:
        """Bands by mean logit drop over the explained windows, strongest first."""
        if not self.windows:
            return []
        drops = np.mean([w.band_drops for w in self.windows], axis=0)
        edges = self.band_edges_hz
        bands = [{"low_hz": edges[i], "high_hz": edges[i + 1], "saliency": round(float(d), 4)}
                 for i, d in enumerate(drops)]
        return sorted(bands, key=lambda b: b["saliency"], reverse=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method, "sample_rate": self.sample_rate, "time_bin_s": self.time_bin_s,
            "band_edges_hz": self.band_edges_hz, "offset_s": self.offset_s,
            "windows": [vars(w) for w in self.windows],
            "grid": [None if np.isnan(v) else round(float(v), 4) for v in self.grid],
            "top_ranges": self.top_ranges(), "bands": self.band_ranking(),
        }


def _occlude_time(window: NDArray[np.float32], bins: NDArray[np.int64]) -> NDArray[np.float32]:
    rng = np.random.default_rng(0)
    out = np.repeat(window[None], len(bins) - 1, axis=0)
    for i in range(len(bins) - 1):
        out[i, bins[i] : bins[i + 1]] = rng.normal(0.0, NOISE_RMS, bins[i + 1] - bins[i])
    return out


def _occlude_bands(window: NDArray[np.float32], rate: int) -> NDArray[np.float32]:
    spec = np.fft.rfft(window.astype(np.float64))
    freqs = np.fft.rfftfreq(len(window), 1.0 / rate)
    out = []
    for lo, hi in itertools.pairwise(BAND_EDGES_HZ):
        s = spec.copy()
        s[(freqs >= lo) & (freqs < hi)] = 0
        out.append(np.fft.irfft(s, n=len(window)).astype(np.float32))
    return np.stack(out)


def explain_windows(
    detector: Any, signal: NDArray[np.float32], rate: int, starts_s: list[float], offset_s: float = 0.0
) -> AudioSaliency:
    """Occlusion saliency for the windows starting at clip times ``starts_s``; ``signal`` starts at ``offset_s``."""
    n = int(detector.window_samples)
    bins = np.linspace(0, n, round(n / rate / TIME_BIN_S) + 1).astype(np.int64)
    grid_len = int(np.ceil(len(signal) / rate / TIME_BIN_S))
    total = np.zeros(grid_len)
    count = np.zeros(grid_len)
    explained: list[WindowSaliency] = []
    for start_s in starts_s:
        a = round((start_s - offset_s) * rate)
        window = np.asarray(signal[a : a + n], dtype=np.float32)
        if len(window) < n:
            window = np.pad(window, (0, n - len(window)))
        base = float(detector.logits(window[None])[0])
        time_drops = base - detector.logits(_occlude_time(window, bins))
        band_drops = base - detector.logits(_occlude_bands(window, rate))
        for i, drop in enumerate(time_drops):
            cell = int(((a + (bins[i] + bins[i + 1]) / 2) / rate) // TIME_BIN_S)
            if 0 <= cell < grid_len:
                total[cell] += drop
                count[cell] += 1
        explained.append(WindowSaliency(round(start_s, 3), round(start_s + n / rate, 3), round(base, 4),
                                        [round(float(d), 4) for d in time_drops],
                                        [round(float(d), 4) for d in band_drops]))
    grid = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return AudioSaliency(METHOD, rate, TIME_BIN_S, list(BAND_EDGES_HZ), explained, [float(v) for v in grid],
                         offset_s=round(offset_s, 4))


def render(sal: AudioSaliency, signal: NDArray[np.float32], path: Any) -> None:
    """PNG: the clip's spectrogram with the time saliency above it and the band saliency beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rate = sal.sample_rate
    fig = plt.figure(figsize=(9, 4.2), dpi=110)
    grid = fig.add_gridspec(2, 2, height_ratios=(1, 2.2), width_ratios=(5, 1.3), hspace=0.08, wspace=0.05)
    ax_t = fig.add_subplot(grid[0, 0])
    ax_s = fig.add_subplot(grid[1, 0], sharex=ax_t)
    ax_b = fig.add_subplot(grid[1, 1], sharey=ax_s)
    x = np.asarray(signal, dtype=np.float64)
    x = x + np.random.default_rng(0).normal(0.0, 1e-7, x.size)  # digital silence has no log power
    ax_s.specgram(x if x.size >= 512 else np.pad(x, (0, 512 - x.size)), NFFT=512, Fs=rate, noverlap=352,
                  cmap="magma", xextent=(sal.offset_s, sal.offset_s + max(x.size, 512) / rate))
    ax_s.set_ylabel("Hz")
    ax_s.set_xlabel("seconds")
    g = np.asarray(sal.grid, dtype=np.float64)
    t = sal.offset_s + (np.arange(len(g)) + 0.5) * sal.time_bin_s
    ax_t.bar(t, np.nan_to_num(g), width=sal.time_bin_s, color=np.where(np.nan_to_num(g) > 0, "#c0392b", "#7f8c8d"))
    for r in sal.top_ranges():
        ax_s.axvspan(r["start_s"], r["end_s"], color="cyan", alpha=0.25)
    ax_t.set_ylabel("logit drop")
    ax_t.set_title("Audio saliency (occlusion): what made the audio look synthetic")
    ax_t.tick_params(labelbottom=False)
    edges = sal.band_edges_hz
    if sal.windows:
        drops = np.mean([w.band_drops for w in sal.windows], axis=0)
        ax_b.barh([(edges[i] + edges[i + 1]) / 2 for i in range(len(drops))], drops,
                  height=[edges[i + 1] - edges[i] for i in range(len(drops))], color="#2980b9", edgecolor="white")
    ax_b.set_xlabel("band drop")
    ax_b.tick_params(labelleft=False)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
