"""A small, fast spectro-temporal CNN for synthetic-speech detection (trained in the project).

Why it exists beside AASIST: AASIST costs ~0.6-1.2 s per 4 s window on two CPU cores and was trained on
ASVspoof 2019 vocoders, not on what we can make here. This model reads a high-resolution log power
spectrogram (512-point FFT, 10 ms hop), removes the per-frequency mean over time (so a fixed channel or
EQ colouring is no cue), and classifies with seven strided conv layers and mean+max pooling: ~10 ms per window.
Output: one fake-vs-real logit per window (higher = more fake).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

N_FFT = 512
HOP = 160
WIN = 400


class LogSpectrogram(nn.Module):
    """Waveform ``(B, T)`` -> ``(B, C, 257, frames)``: channel-normalised log power, plus (``phase=True``)
    cos/sin of the phase step across time (minus each bin's nominal advance) and across frequency.

    Why phase: magnitude-only resynthesis (Griffin-Lim) keeps the spectrogram but not natural phase
    structure (harmonic phase progression, glottal-pulse group delay), which the magnitude cannot show.
    """

    def __init__(self, phase: bool = False) -> None:
        super().__init__()
        self.phase = phase
        self.register_buffer("window", torch.hann_window(WIN), persistent=False)
        k = torch.arange(N_FFT // 2 + 1, dtype=torch.float32)
        advance = torch.polar(torch.ones_like(k), -2 * torch.pi * k * HOP / N_FFT)
        self.register_buffer("advance", advance.view(1, -1, 1), persistent=False)

    @property
    def channels(self) -> int:
        return 5 if self.phase else 1

    def forward(self, wave: Tensor) -> Tensor:
        spec = torch.stft(wave, N_FFT, hop_length=HOP, win_length=WIN, window=self.get_buffer("window"),
                          return_complex=True)
        power = spec.real.square() + spec.imag.square()
        logp = torch.log(power + 1e-7)
        logp = logp - logp.mean(dim=2, keepdim=True)  # per-frequency mean over time: channel removal
        if not self.phase:
            return logp.unsqueeze(1)
        unit = spec / (spec.abs() + 1e-6)
        dt = unit[:, :, 1:] * unit[:, :, :-1].conj() * self.get_buffer("advance")
        dt = torch.nn.functional.pad(torch.view_as_real(dt), (0, 0, 1, 0))  # (B, F, T, 2)
        df = unit[:, 1:, :] * unit[:, :-1, :].conj()
        df = torch.nn.functional.pad(torch.view_as_real(df), (0, 0, 0, 0, 1, 0))
        return torch.cat([logp.unsqueeze(1), dt.permute(0, 3, 1, 2), df.permute(0, 3, 1, 2)], dim=1)


def _stage(c_in: int, c_out: int, stride: int | tuple[int, int]) -> nn.Sequential:
    """Strided conv + BN + ReLU: early downsampling keeps the cost near 0.2 GFLOP per window."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class SpectralCNN(nn.Module):
    """``(B, 64600)`` waveform -> ``(B,)`` fake logit."""

    def __init__(self, width: int = 16, dropout: float = 0.3, phase: bool = False) -> None:
        super().__init__()
        w = width
        self.frontend = LogSpectrogram(phase=phase)
        self.body = nn.Sequential(
            _stage(self.frontend.channels, w, 2),
            _stage(w, w * 2, 2),
            _stage(w * 2, w * 2, 1),
            _stage(w * 2, w * 3, 2),
            _stage(w * 3, w * 3, 1),
            _stage(w * 3, w * 4, 2),
            _stage(w * 4, w * 6, 2),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(w * 6 * 2, 1))

    def embed(self, wave: Tensor) -> Tensor:
        """Pooled features ``(B, 12 * width)`` (mean and max over frequency and time)."""
        h = self.body(self.frontend(wave))
        return torch.cat([h.mean(dim=(2, 3)), h.amax(dim=(2, 3))], dim=1)

    def forward(self, wave: Tensor) -> Tensor:
        return self.head(self.embed(wave)).squeeze(1)
