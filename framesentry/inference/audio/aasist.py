"""AASIST: raw-waveform spectro-temporal graph attention anti-spoofing network (architecture + loading).

Input ``(B, 64600)`` float waveform at 16 kHz, output ``(B, 2)`` logits with index 1 = bona fide. The
forward pass is split at an encoder block (``encode(x, upto)`` / ``forward_from(e, start)``) so training can
cache the expensive early convolutions once and fine-tune only the later blocks and the graph back end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from framesentry.errors import ModelError
from framesentry.inference.audio.aasist_layers import (
    GraphAttentionLayer,
    GraphPool,
    HtrgGraphAttentionLayer,
    ResidualBlock,
    SincFrontEnd,
)

AASIST_SAMPLES = 64600
VARIANTS = ("AASIST", "AASIST-L")


@dataclass(frozen=True)
class AasistConfig:
    """The ``model_config`` block of the published ``.conf`` files."""

    first_conv: int = 128
    filts: tuple[Any, ...] = (70, (1, 32), (32, 32), (32, 64), (64, 64))
    gat_dims: tuple[int, int] = (64, 32)
    pool_ratios: tuple[float, float, float, float] = (0.5, 0.7, 0.5, 0.5)
    temperatures: tuple[float, float, float, float] = (2.0, 2.0, 100.0, 100.0)
    nb_samp: int = AASIST_SAMPLES

    @classmethod
    def from_conf(cls, path: Path) -> AasistConfig:
        """Read a published ``AASIST*.conf`` (JSON with a ``model_config`` object)."""
        try:
            mc = json.loads(path.read_text())["model_config"]
            return cls(
                first_conv=int(mc["first_conv"]),
                filts=(int(mc["filts"][0]), *[tuple(int(v) for v in f) for f in mc["filts"][1:]]),
                gat_dims=(int(mc["gat_dims"][0]), int(mc["gat_dims"][1])),
                pool_ratios=tuple(float(v) for v in mc["pool_ratios"]),  # type: ignore[arg-type]
                temperatures=tuple(float(v) for v in mc["temperatures"]),  # type: ignore[arg-type]
                nb_samp=int(mc.get("nb_samp", AASIST_SAMPLES)),
            )
        except (OSError, KeyError, ValueError, TypeError, IndexError) as exc:
            raise ModelError(f"cannot read AASIST config {path}: {exc}") from exc


class AASIST(nn.Module):
    """The full model. Attribute names match the released checkpoints (``strict=True`` loading)."""

    N_BLOCKS = 6

    def __init__(self, cfg: AasistConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or AasistConfig()
        self.cfg = cfg
        f = cfg.filts
        g0, g1 = cfg.gat_dims
        pr, temps = cfg.pool_ratios, cfg.temperatures
        self.conv_time = SincFrontEnd(out_channels=int(f[0]), kernel_size=cfg.first_conv)
        self.first_bn = nn.BatchNorm2d(1)
        self.selu = nn.SELU(inplace=True)
        self.drop = nn.Dropout(0.5)
        self.drop_way = nn.Dropout(0.2)
        specs = [f[1], f[2], f[3], f[4], f[4], f[4]]
        self.encoder = nn.Sequential(
            *[nn.Sequential(ResidualBlock((int(s[0]), int(s[1])), first=i == 0)) for i, s in enumerate(specs)]
        )
        c_last = int(f[4][1])
        self.pos_S = nn.Parameter(torch.randn(1, 23, c_last))
        self.master1 = nn.Parameter(torch.randn(1, 1, g0))
        self.master2 = nn.Parameter(torch.randn(1, 1, g0))
        self.GAT_layer_S = GraphAttentionLayer(c_last, g0, temperature=temps[0])
        self.GAT_layer_T = GraphAttentionLayer(c_last, g0, temperature=temps[1])
        self.HtrgGAT_layer_ST11 = HtrgGraphAttentionLayer(g0, g1, temperature=temps[2])
        self.HtrgGAT_layer_ST12 = HtrgGraphAttentionLayer(g1, g1, temperature=temps[2])
        self.HtrgGAT_layer_ST21 = HtrgGraphAttentionLayer(g0, g1, temperature=temps[2])
        self.HtrgGAT_layer_ST22 = HtrgGraphAttentionLayer(g1, g1, temperature=temps[2])
        self.pool_S = GraphPool(pr[0], g0, 0.3)
        self.pool_T = GraphPool(pr[1], g0, 0.3)
        self.pool_hS1 = GraphPool(pr[2], g1, 0.3)
        self.pool_hT1 = GraphPool(pr[2], g1, 0.3)
        self.pool_hS2 = GraphPool(pr[2], g1, 0.3)
        self.pool_hT2 = GraphPool(pr[2], g1, 0.3)
        self.out_layer = nn.Linear(5 * g1, 2)

    # --- encoder -----------------------------------------------------------------------------------
    def encode(self, wave: Tensor, upto: int = N_BLOCKS) -> Tensor:
        """Sinc front end + the first ``upto`` residual blocks: ``(B, T) -> (B, C, 23, T')``."""
        x = self.conv_time(wave.unsqueeze(1)).unsqueeze(1)
        x = F.max_pool2d(torch.abs(x), (3, 3))
        x = self.selu(self.first_bn(x))
        for block in list(self.encoder)[:upto]:
            x = block(x)
        return x

    def forward_from(self, e: Tensor, start: int = N_BLOCKS) -> tuple[Tensor, Tensor]:
        """Run blocks ``start..5`` and the graph back end; returns ``(logits, 160-d embedding)``."""
        for block in list(self.encoder)[start:]:
            e = block(e)
        return self._backend(e)

    def forward(self, wave: Tensor) -> Tensor:
        """``(B, 64600) -> (B, 2)`` logits, index 1 = bona fide."""
        logits, _ = self.forward_from(self.encode(wave))
        return logits

    # --- graph back end ----------------------------------------------------------------------------
    def _branch(self, out_t: Tensor, out_s: Tensor, first: int, master: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One of the two parallel heterogeneous-graph inference paths (they differ only in weights)."""
        l1, l2 = (
            (self.HtrgGAT_layer_ST11, self.HtrgGAT_layer_ST12)
            if first == 1
            else (self.HtrgGAT_layer_ST21, self.HtrgGAT_layer_ST22)
        )
        ps, pt = (self.pool_hS1, self.pool_hT1) if first == 1 else (self.pool_hS2, self.pool_hT2)
        t, s, m = l1(out_t, out_s, master=master)
        s, t = ps(s), pt(t)
        t_aug, s_aug, m_aug = l2(t, s, master=m)
        return t + t_aug, s + s_aug, m + m_aug

    def _backend(self, e: Tensor) -> tuple[Tensor, Tensor]:
        e_s = torch.amax(torch.abs(e), dim=3).transpose(1, 2) + self.pos_S  # spectral nodes
        out_s = self.pool_S(self.GAT_layer_S(e_s))
        e_t = torch.amax(torch.abs(e), dim=2).transpose(1, 2)  # temporal nodes
        out_t = self.pool_T(self.GAT_layer_T(e_t))
        t1, s1, m1 = self._branch(out_t, out_s, 1, self.master1)
        t2, s2, m2 = self._branch(out_t, out_s, 2, self.master2)
        out_t = torch.maximum(self.drop_way(t1), self.drop_way(t2))
        out_s = torch.maximum(self.drop_way(s1), self.drop_way(s2))
        master = torch.maximum(self.drop_way(m1), self.drop_way(m2))
        hidden = torch.cat(
            [
                torch.amax(torch.abs(out_t), dim=1),
                out_t.mean(dim=1),
                torch.amax(torch.abs(out_s), dim=1),
                out_s.mean(dim=1),
                master.squeeze(1).expand(out_t.size(0), -1),
            ],
            dim=1,
        )
        return self.out_layer(self.drop(hidden)), hidden


def aasist_paths(shared_dir: Path, variant: str = "AASIST") -> tuple[Path, Path]:
    """``(weights, conf)`` paths of a published variant under ``shared/weights/aasist``."""
    if variant not in VARIANTS:
        raise ModelError(f"unknown AASIST variant {variant!r}; expected one of {VARIANTS}")
    root = shared_dir / "weights" / "aasist"
    return root / f"{variant}.pth", root / f"{variant}.conf"


def load_aasist(shared_dir: Path, variant: str = "AASIST") -> AASIST:
    """Build the variant from its ``.conf`` and load its published weights strictly (eval mode)."""
    weights, conf = aasist_paths(shared_dir, variant)
    for p in (weights, conf):
        if not p.is_file():
            raise ModelError(f"AASIST file missing: {p} (expected in the shared weights folder)")
    model = AASIST(AasistConfig.from_conf(conf))
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, ValueError) as exc:
        raise ModelError(f"AASIST weights {weights} do not match the architecture: {exc}") from exc
    return model.eval()
