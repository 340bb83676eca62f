"""A small fully-convolutional text-line detector: a page in, a map of line *kernels* (each line's box shrunk
to its middle) out, at half the input resolution. Shrunk kernels keep neighbouring lines apart; the page
pipeline grows each connected kernel back to its line box (textrec.pages.postprocess)."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def separable(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    """Depthwise + pointwise: the full-resolution-ish stages cost a fraction of a dense 3x3."""
    return nn.Sequential(nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=False), nn.BatchNorm2d(c_in),
                         nn.ReLU(inplace=True), nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class LineDetector(nn.Module):
    """U-Net-shaped: encoder to 1/16 with a dilated context block (wide enough to see the gap between a
    receipt's label and its price), decoder back to 1/2 with skip connections. Input: (N, 1, H, W) grayscale
    normalised like the recognizer's input, H and W multiples of 16. Output: (N, 1, H/2, W/2) kernel logits."""

    decoder = "kernel"
    stride = 2  # input pixels per output pixel
    multiple = 16  # input sides must be multiples of this

    def __init__(self, channels: list[int] | None = None):
        super().__init__()
        c1, c2, c3, c4 = channels or [16, 32, 64, 96]
        self.channels = [c1, c2, c3, c4]
        self.stem = nn.Sequential(conv(1, c1, stride=2), separable(c1, c1))  # 1/2
        self.down2 = nn.Sequential(conv(c1, c2, stride=2), conv(c2, c2))  # 1/4
        self.down3 = nn.Sequential(conv(c2, c3, stride=2), conv(c3, c3))  # 1/8
        self.down4 = nn.Sequential(conv(c3, c4, stride=2), conv(c4, c4, dilation=2), conv(c4, c4, dilation=4))  # 1/16
        self.up3 = conv(c4 + c3, c3)
        self.up2 = conv(c3 + c2, c2)
        self.up1 = separable(c2 + c1, c1)
        self.head = nn.Conv2d(c1, 1, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        s1 = self.stem(images)
        s2 = self.down2(s1)
        s3 = self.down3(s2)
        x = self.down4(s3)
        x = self.up3(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), s3], 1))
        x = self.up2(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), s2], 1))
        x = self.up1(torch.cat([F.interpolate(x, scale_factor=2.0, mode="nearest"), s1], 1))
        return self.head(x)


def build_detector(spec: dict | None) -> LineDetector:
    spec = dict(spec or {})
    name = spec.pop("name", "unet")
    if name != "unet":
        raise ValueError(f"unknown detector network {name!r} (known: unet)")
    return LineDetector(**spec)
