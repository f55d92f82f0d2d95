"""Redrawn faces: training fakes for tools that draw the face with a neural decoder (no blending boundary).

Talking-head and reenactment tools (VASA-1, EMO, LivePortrait) render the whole face with a decoder, and
lip-sync tools repaint the mouth; self-blended images (``lab.visual.sbi``) teach blending boundaries and
miss both. Here a small convolutional autoencoder is trained on the real training faces and its
reconstruction stands in for "the same face, drawn by a decoder": it carries the decoder's upsampling
fingerprint (transposed convolutions) and its loss of fine texture, on the exact identity, pose and lighting
of the real face. A redrawn fake is that reconstruction put back inside a landmark mask (the whole face or
the lower face, the same soft masks as SBI) or over the whole crop (a fully generated frame).

The autoencoder is trained once per pool (seeded) and cached under ``work_dir``; it is a data-making tool
of the laboratory and never ships.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import nn

from framesentry.config import Settings

CACHE_VERSION = 2  # bump when what the cache holds changes (2: sharpness-matched reconstructions)
SHARPEN_PERCENTS = (25, 50, 100, 150, 200, 300, 400, 600)  # unsharp-mask strengths tried by match_sharpness
BLUR_RADII = (0.3, 0.5, 0.8, 1.2, 2.0)  # and blurs, for reconstructions sharper than the real face


@dataclass(frozen=True)
class RedrawConfig:
    """The autoencoder and how its reconstructions become fakes; saved with the model."""

    width: int = 32  # channels of the first encoder stage (doubling per stage, four stages)
    steps: int = 1000  # training steps on the pool's real faces
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 1234
    whole_crop_p: float = 0.3  # share of redrawn fakes replacing the whole crop (a fully generated frame)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FaceAutoencoder(nn.Module):
    """Four stride-2 conv stages down, four transposed-conv stages up: a generator's upsampling path."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        chans = [3, width, width * 2, width * 4, width * 8]
        down: list[nn.Module] = []
        for cin, cout in itertools.pairwise(chans):
            down += [nn.Conv2d(cin, cout, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        up: list[nn.Module] = []
        rev = chans[::-1]
        for i, (cin, cout) in enumerate(itertools.pairwise(rev)):
            up.append(nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1))
            if i < len(rev) - 2:
                up.append(nn.ReLU(inplace=True))
        self.encoder = nn.Sequential(*down)
        self.decoder = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(self.encoder(x)))


def _to_tensor(images: NDArray[np.uint8]) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _to_uint8(x: torch.Tensor) -> NDArray[np.uint8]:
    return ((x.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def _padded(side: int) -> int:
    """The autoencoder halves the side four times: pad to a multiple of 16."""
    return -(-side // 16) * 16


def train_autoencoder(
    pixels: NDArray[np.uint8], cfg: RedrawConfig, log: Callable[[str], None] = print
) -> FaceAutoencoder:
    """Fit the autoencoder to ``pixels`` (real faces, NHWC uint8) with an L1 loss; seeded and deterministic."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = FaceAutoencoder(cfg.width)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    side = pixels.shape[1]
    pad = _padded(side) - side
    t0 = time.time()
    for step in range(cfg.steps):
        idx = np.sort(rng.choice(len(pixels), size=min(cfg.batch_size, len(pixels)), replace=False))
        x = nn.functional.pad(_to_tensor(pixels[idx]), (0, pad, 0, pad), mode="replicate")
        for group in opt.param_groups:
            group["lr"] = cfg.lr * 0.5 * (1.0 + np.cos(np.pi * step / cfg.steps))
        loss = (model(x) - x).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if (step + 1) % 250 == 0:
            log(f"redraw autoencoder step {step + 1}/{cfg.steps} L1 {loss.item():.4f} ({time.time() - t0:.0f}s)")
    return model.eval()


@torch.inference_mode()
def reconstruct(model: FaceAutoencoder, pixels: NDArray[np.uint8], batch_size: int = 64) -> NDArray[np.uint8]:
    """The autoencoder's redrawing of every face (same size as the input)."""
    side_h, side_w = pixels.shape[1:3]
    out = []
    for i in range(0, len(pixels), batch_size):
        x = _to_tensor(pixels[i : i + batch_size])
        x = nn.functional.pad(x, (0, _padded(side_w) - side_w, 0, _padded(side_h) - side_h), mode="replicate")
        out.append(_to_uint8(model(x)[:, :, :side_h, :side_w]))
    return np.concatenate(out) if out else np.zeros_like(pixels)


def redrawn_cache(
    settings: Settings, pixels: NDArray[np.uint8], cfg: RedrawConfig, log: Callable[[str], None] = print
) -> NDArray[np.uint8]:
    """Reconstructions of ``pixels``, computed once per (pixels, config) and kept under ``work_dir``
    (beside ``sbi.landmark_cache``'s landmarks of the same faces)."""
    sample = np.ascontiguousarray(pixels[:, ::7, ::7]).tobytes()
    digest = hashlib.sha256(sample + f"{CACHE_VERSION}|{sorted(cfg.to_dict().items())}".encode())
    path = settings.work_dir / "visual_cache" / f"redrawn_{pixels.shape[1]}px_{digest.hexdigest()[:12]}.npy"
    if path.is_file():
        cached = np.load(path)
        if cached.shape == pixels.shape:
            return cached
    model = train_autoencoder(pixels, cfg, log)
    out = match_sharpness(reconstruct(model, pixels), pixels)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, out)
    return out


def match_sharpness(redrawn: NDArray[np.uint8], reals: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Each reconstruction unsharp-masked or blurred (strength from a grid) to the real face's sharpness.

    An autoencoder loses fine texture, so its faces are softer than the originals; left so, "soft = fake"
    would be the easiest thing to learn from them, a shortcut DFDC already offers (its fakes are softer than
    its reals, ``dataset.sharpness_balanced``). The decoder's fingerprint stays.
    """
    from PIL import Image, ImageFilter

    from framesentry.inference.faces.crops import crop_sharpness

    filters: list[ImageFilter.Filter] = [
        ImageFilter.UnsharpMask(radius=1.5, percent=p, threshold=0) for p in SHARPEN_PERCENTS
    ]
    filters += [ImageFilter.GaussianBlur(radius=r) for r in BLUR_RADII]  # an untrained decoder's noise
    out = np.empty_like(redrawn)
    for i, (fake, real) in enumerate(zip(redrawn, reals, strict=True)):
        target = crop_sharpness(real)
        best, best_gap = fake, abs(crop_sharpness(fake) - target)
        pil = Image.fromarray(fake)
        for filt in filters:
            cand = np.asarray(pil.filter(filt))
            gap = abs(crop_sharpness(cand) - target)
            if gap < best_gap:
                best, best_gap = cand, gap
        out[i] = best
    return out
