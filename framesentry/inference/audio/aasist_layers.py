"""Building blocks of AASIST (Jung et al., ICASSP 2022), named so the published state dicts load exactly.

Written from the paper and checked tensor-by-tensor against ``shared/weights/aasist/state_dict_keys.txt``
(the reference implementation, clovaai/aasist, is MIT-licensed). Two quirks of the released weights are
kept on purpose because the pretrained numbers depend on them: the residual block's ``bn1`` exists but the
first convolution reads the block input, not ``selu(bn1(x))``; and the sinc front end is fixed (no
trainable parameters), built from mel-spaced band edges over a 512-point FFT grid.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _xavier(*size: int) -> nn.Parameter:
    """A fresh attention weight vector; real values come from the checkpoint."""
    p = nn.Parameter(torch.empty(*size))
    nn.init.xavier_normal_(p)
    return p


def _bn_nodes(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """BatchNorm over the feature axis of a ``(batch, nodes, dim)`` graph."""
    shape = x.shape
    return bn(x.reshape(-1, shape[-1])).reshape(shape)


def _pairwise(x: Tensor) -> Tensor:
    """``(B, N, D) -> (B, N, N, D)`` element-wise products of every node pair (the attention input)."""
    return x.unsqueeze(2) * x.unsqueeze(1)


class SincFrontEnd(nn.Module):
    """Fixed band-pass filter bank on the raw waveform (70 mel-spaced sinc filters, Hamming windowed)."""

    def __init__(self, out_channels: int, kernel_size: int, sample_rate: int = 16000) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            kernel_size += 1  # symmetric filters need an odd length
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        nfft = 512
        freqs = (sample_rate // 2) * np.linspace(0.0, 1.0, nfft // 2 + 1)
        mel = 2595.0 * np.log10(1.0 + freqs / 700.0)
        edges_mel = np.linspace(mel.min(), mel.max(), out_channels + 1)
        edges_hz = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
        t = np.arange(-(kernel_size - 1) / 2, (kernel_size - 1) / 2 + 1)
        window = np.hamming(kernel_size)
        bank = np.zeros((out_channels, kernel_size), dtype=np.float32)
        for i in range(out_channels):
            lo, hi = edges_hz[i], edges_hz[i + 1]
            high = (2 * hi / sample_rate) * np.sinc(2 * hi * t / sample_rate)
            low = (2 * lo / sample_rate) * np.sinc(2 * lo * t / sample_rate)
            bank[i] = window * (high - low)
        # A buffer, not a parameter: the checkpoint has no entry for it (persistent=False).
        self.register_buffer("filters", torch.from_numpy(bank).unsqueeze(1), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, 1, T) -> (B, C, T - K + 1)``."""
        return F.conv1d(x, self.get_buffer("filters"))


class ResidualBlock(nn.Module):
    """2-D residual block on the (sub-band x time) map, ending in a (1, 3) max-pool over time."""

    def __init__(self, channels: tuple[int, int], first: bool = False) -> None:
        super().__init__()
        c_in, c_out = channels
        self.first = first
        if not first:
            self.bn1 = nn.BatchNorm2d(c_in)  # present in the checkpoint, unused by the released model
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=(2, 3), padding=(1, 1))
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=(2, 3), padding=(0, 1))
        self.selu = nn.SELU(inplace=True)
        self.downsample = c_in != c_out
        if self.downsample:
            self.conv_downsample = nn.Conv2d(c_in, c_out, kernel_size=(1, 3), padding=(0, 1))
        self.mp = nn.MaxPool2d((1, 3))

    def forward(self, x: Tensor) -> Tensor:
        out = self.selu(self.bn2(self.conv1(x)))
        out = self.conv2(out)
        identity = self.conv_downsample(x) if self.downsample else x
        return self.mp(out + identity)


class GraphAttentionLayer(nn.Module):
    """Graph attention over one node type (spectral or temporal nodes)."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_weight = _xavier(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.act = nn.SELU(inplace=True)
        self.temp = temperature

    def forward(self, x: Tensor) -> Tensor:
        x = self.input_drop(x)
        att = torch.tanh(self.att_proj(_pairwise(x))) @ self.att_weight  # (B, N, N, 1)
        att = F.softmax(att / self.temp, dim=-2).squeeze(-1)
        x = self.proj_with_att(att @ x) + self.proj_without_att(x)
        return self.act(_bn_nodes(self.bn, x))


class HtrgGraphAttentionLayer(nn.Module):
    """Heterogeneous graph attention over temporal + spectral nodes with a stack (master) node."""

    def __init__(self, in_dim: int, out_dim: int, temperature: float = 1.0) -> None:
        super().__init__()
        self.proj_type1 = nn.Linear(in_dim, in_dim)
        self.proj_type2 = nn.Linear(in_dim, in_dim)
        self.att_proj = nn.Linear(in_dim, out_dim)
        self.att_projM = nn.Linear(in_dim, out_dim)
        self.att_weight11 = _xavier(out_dim, 1)
        self.att_weight22 = _xavier(out_dim, 1)
        self.att_weight12 = _xavier(out_dim, 1)
        self.att_weightM = _xavier(out_dim, 1)
        self.proj_with_att = nn.Linear(in_dim, out_dim)
        self.proj_without_att = nn.Linear(in_dim, out_dim)
        self.proj_with_attM = nn.Linear(in_dim, out_dim)
        self.proj_without_attM = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)
        self.input_drop = nn.Dropout(p=0.2)
        self.act = nn.SELU(inplace=True)
        self.temp = temperature

    def forward(self, x1: Tensor, x2: Tensor, master: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        n1, n2 = x1.size(1), x2.size(1)
        x = torch.cat([self.proj_type1(x1), self.proj_type2(x2)], dim=1)
        x = self.input_drop(x)
        hidden = torch.tanh(self.att_proj(_pairwise(x)))  # (B, N, N, D)
        # Different attention vectors for type1-type1, type2-type2 and cross edges.
        s11 = hidden[:, :n1, :n1] @ self.att_weight11
        s22 = hidden[:, n1:, n1:] @ self.att_weight22
        s12 = hidden[:, :n1, n1:] @ self.att_weight12
        s21 = hidden[:, n1:, :n1] @ self.att_weight12
        scores = torch.cat([torch.cat([s11, s12], dim=2), torch.cat([s21, s22], dim=2)], dim=1)
        att = F.softmax(scores / self.temp, dim=-2).squeeze(-1)
        # Master node attends to every node (directional edges), using the pre-update nodes.
        m_scores = torch.tanh(self.att_projM(x * master)) @ self.att_weightM  # (B, N, 1)
        m_att = F.softmax(m_scores / self.temp, dim=-2).squeeze(-1).unsqueeze(1)  # (B, 1, N)
        master = self.proj_with_attM(m_att @ x) + self.proj_without_attM(master)
        x = self.proj_with_att(att @ x) + self.proj_without_att(x)
        x = self.act(_bn_nodes(self.bn, x))
        return x[:, :n1], x[:, n1 : n1 + n2], master


class GraphPool(nn.Module):
    """Keeps the top-k fraction of nodes by a learned score, scaling each kept node by its score."""

    def __init__(self, ratio: float, in_dim: int, dropout: float) -> None:
        super().__init__()
        self.k = ratio
        self.sigmoid = nn.Sigmoid()
        self.proj = nn.Linear(in_dim, 1)
        self.drop: nn.Module = nn.Dropout(p=dropout) if dropout > 0 else nn.Identity()

    def forward(self, h: Tensor) -> Tensor:
        scores = self.sigmoid(self.proj(self.drop(h)))  # (B, N, 1)
        n_keep = max(math.floor(h.size(1) * self.k), 1)
        _, idx = torch.topk(scores, n_keep, dim=1)
        return torch.gather(h * scores, 1, idx.expand(-1, -1, h.size(2)))
