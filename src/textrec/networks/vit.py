"""ViT + CTC: the image cut into patches (8x8 by default), a transformer encoder over them, and a CTC head
over the columns of patches. Positions are sinusoidal along the width (any image width works, with no
table to outgrow) plus a learned embedding per patch row."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class Block(nn.Module):
    """Pre-norm transformer layer. Attention written out with matmuls (not nn.MultiheadAttention's fused
    path) so that ONNX export and the CPU/bf16 paths see the same plain ops."""

    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).reshape(n, length, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(width // self.heads), dim=-1)
        attended = (weights @ v).transpose(1, 2).reshape(n, length, width)
        x = x + self.dropout(self.proj(attended))
        return x + self.dropout(self.mlp(self.norm2(x)))


class ViTCTC(nn.Module):
    """Image (N, 1, H, W) -> logits (N, ceil(W / patch_width), num_classes). H must be a multiple of
    patch_height (the preprocessing height is fixed per model)."""

    decoder = "ctc"

    def __init__(self, num_classes: int, in_channels: int = 1, height: int = 32, patch: int | list = 8,
                 width: int = 256, layers: int = 6, heads: int = 8, mlp_ratio: float = 4.0, dropout: float = 0.1):
        super().__init__()
        patch_h, patch_w = (patch, patch) if isinstance(patch, int) else tuple(patch)
        if height % patch_h:
            raise ValueError(f"height {height} is not a multiple of the patch height {patch_h}")
        if width % heads:
            raise ValueError(f"width {width} is not a multiple of heads {heads}")
        self.patch_w, self.rows, self.width = patch_w, height // patch_h, width
        self.width_stride = patch_w
        self.embed = nn.Conv2d(in_channels, width, kernel_size=(patch_h, patch_w), stride=(patch_h, patch_w))
        self.row_position = nn.Parameter(torch.zeros(1, self.rows, 1, width))
        self.blocks = nn.Sequential(*[Block(width, heads, mlp_ratio, dropout) for _ in range(layers)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(self.rows * width, num_classes)  # all rows of a column decide its class
        nn.init.trunc_normal_(self.row_position, std=0.02)

    def column_positions(self, columns: int, device: torch.device) -> torch.Tensor:
        position = torch.arange(columns, device=device, dtype=torch.float32).unsqueeze(1)
        frequency = torch.exp(torch.arange(0, self.width, 2, device=device, dtype=torch.float32)
                              * (-math.log(10000.0) / self.width))
        table = torch.cat([torch.sin(position * frequency), torch.cos(position * frequency)], dim=1)
        return table.view(1, 1, columns, self.width)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = F.pad(images, (0, (-images.shape[-1]) % self.patch_w), value=0.0)  # last partial patch kept
        patches = self.embed(images).permute(0, 2, 3, 1)  # (N, rows, columns, width)
        n, rows, columns, width = patches.shape
        tokens = patches + self.row_position + self.column_positions(columns, patches.device).to(patches.dtype)
        tokens = self.norm(self.blocks(tokens.reshape(n, rows * columns, width)))
        per_column = tokens.reshape(n, rows, columns, width).permute(0, 2, 1, 3).reshape(n, columns, rows * width)
        return self.head(per_column)

    def output_lengths(self, widths: torch.Tensor) -> torch.Tensor:
        return torch.div(widths + self.patch_w - 1, self.patch_w, rounding_mode="floor")
