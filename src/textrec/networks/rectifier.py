"""A thin-plate-spline rectifier (ASTER, Shi et al. 2018; the clovaai benchmark's TPS stage) in front of the
backbone: a small network looks at a downsized copy of the crop, places control points along the top and the
bottom edge of the text, and the image is resampled so that those points land on two straight lines. Curved and
angled words come out level. Written for any width: the output has the input's size, the sampling grid is built
from the input's shape at run time, and every op exports to ONNX (opset 16+: GridSample)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _kernel(squared: torch.Tensor) -> torch.Tensor:
    """The TPS radial basis U(r) = r^2 log r^2 (half of r^2 log r^2 differs only by a factor the fit absorbs)."""
    return squared * torch.log(squared + 1e-9)


class TPSRectifier(nn.Module):
    """(N, C, H, W) -> (N, C, H, W), the text straightened. Starts as the identity (its last layer predicts the
    target points exactly), so adding it to a trained recognizer changes nothing until it learns."""

    target: torch.Tensor  # buffers, registered in __init__
    inverse: torch.Tensor

    def __init__(self, in_channels: int = 1, points: int = 20, sample: tuple[int, int] = (32, 64)):
        super().__init__()
        if points < 4 or points % 2:
            raise ValueError(f"rectifier points must be an even number of at least 4, got {points}")
        self.points, self.sample = points, tuple(sample)
        half = points // 2
        xs = torch.linspace(-1.0, 1.0, half)
        target = torch.cat([torch.stack([xs, -torch.ones(half)], 1), torch.stack([xs, torch.ones(half)], 1)])
        self.register_buffer("target", target)  # (K, 2) where the points go: the top and bottom edges
        # Solving the TPS system once: [[U(C', C'), 1, C'], [1^T, 0, 0], [C'^T, 0, 0]]^-1
        squared = ((target[:, None, :] - target[None, :, :]) ** 2).sum(-1)
        system = torch.zeros(points + 3, points + 3)
        system[:points, :points] = _kernel(squared)
        system[:points, points] = 1
        system[:points, points + 1 :] = target
        system[points, :points] = 1
        system[points + 1 :, :points] = target.T
        self.register_buffer("inverse", torch.linalg.inv(system.double()).float())
        self.localization = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 64), nn.ReLU(inplace=True),
        )
        self.points_out = nn.Linear(64, 2 * points)
        nn.init.zeros_(self.points_out.weight)
        with torch.no_grad():
            self.points_out.bias.copy_(target.flatten())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n, _, height, width = images.shape
        small = F.interpolate(images, size=self.sample, mode="bilinear", align_corners=False)
        source = self.points_out(self.localization(small)).view(n, self.points, 2)
        zeros = torch.zeros(n, 3, 2, dtype=source.dtype, device=source.device)
        mapping = torch.matmul(self.inverse.to(source.dtype), torch.cat([source, zeros], 1))  # (N, K+3, 2)
        ys = (torch.arange(height, device=images.device, dtype=source.dtype) * 2 + 1) / height - 1
        xs = (torch.arange(width, device=images.device, dtype=source.dtype) * 2 + 1) / width - 1
        grid = torch.stack([xs[None, :].expand(height, width), ys[:, None].expand(height, width)], -1).reshape(-1, 2)
        squared = ((grid[:, None, :] - self.target[None, :, :].to(source.dtype)) ** 2).sum(-1)
        basis = torch.cat([_kernel(squared), torch.ones_like(grid[:, :1]), grid], 1)  # (H*W, K+3)
        sampling = torch.matmul(basis, mapping).view(n, height, width, 2)
        return F.grid_sample(images, sampling, mode="bilinear", padding_mode="border", align_corners=False)
