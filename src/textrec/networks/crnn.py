"""CRNN (Shi et al.): CNN features read as a sequence of columns, a bidirectional RNN, a linear CTC head."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from textrec.networks.backbones import BACKBONES, WIDTH_STRIDE
from textrec.networks.rectifier import TPSRectifier


class CRNN(nn.Module):
    """Image (N, 1, H, W) -> logits (N, W/4, num_classes). Any height works: features are averaged over it."""

    width_stride = WIDTH_STRIDE
    decoder = "ctc"

    def __init__(self, num_classes: int, in_channels: int = 1, backbone: str = "vgg",
                 channels: Sequence[int] = (64, 128, 256, 512), depth: Sequence[int] = (1, 1, 2, 2),
                 rnn: str = "lstm", rnn_hidden: int = 256, rnn_layers: int = 2, dropout: float = 0.25,
                 rectifier: str = "none", rectifier_points: int = 20):
        super().__init__()
        if rectifier not in ("none", "tps"):
            raise ValueError(f"unknown rectifier {rectifier!r}; choose none or tps")
        # a thin-plate-spline stage straightens curved and angled words before the backbone reads them
        self.rectifier = TPSRectifier(in_channels, rectifier_points) if rectifier == "tps" else None
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose from {sorted(BACKBONES)}")
        if rnn not in ("lstm", "gru"):
            raise ValueError(f"unknown rnn {rnn!r}; choose lstm or gru")
        self.backbone = BACKBONES[backbone](in_channels, channels, depth)
        self.rnn: nn.Module | None = None
        features = self.backbone.out_channels
        if rnn_layers > 0:  # 0 = a convolutional CTC model: no sequence prior to memorize on random strings
            rnn_class = nn.LSTM if rnn == "lstm" else nn.GRU
            self.rnn = rnn_class(features, rnn_hidden, num_layers=rnn_layers, bidirectional=True,
                                 batch_first=True, dropout=dropout if rnn_layers > 1 else 0.0)
            features = 2 * rnn_hidden
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(features, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.rectifier is not None:
            images = self.rectifier(images)
        features = self.backbone(images).mean(dim=2)  # (N, C, W/4): average over what is left of the height
        sequence = features.transpose(1, 2)
        if self.rnn is not None:
            sequence, _ = self.rnn(sequence)
        return self.head(self.dropout(sequence))

    @classmethod
    def output_lengths(cls, widths: torch.Tensor) -> torch.Tensor:
        """Valid output frames for images of these (unpadded) widths."""
        return torch.div(widths + cls.width_stride - 1, cls.width_stride, rounding_mode="floor")
