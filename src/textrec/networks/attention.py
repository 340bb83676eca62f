"""An attention decoder over a CNN + BiLSTM encoder (the ASTER/"show, attend and read" family): the image
is read as a sequence of columns, then characters are emitted one at a time, each from an attention-
weighted look at the columns, until an end token.

Class 0 (the CTC blank elsewhere) is the end token here; class `num_classes` is the start token (input only).
The network exposes `encode` and `step` so decoding (greedy or beam, in `textrec.decoding`) runs the same
loop over PyTorch or over the two exported ONNX graphs."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from textrec.networks.backbones import BACKBONES, WIDTH_STRIDE

END = 0


class AttentionRecognizer(nn.Module):
    decoder = "attention"
    width_stride = WIDTH_STRIDE

    def __init__(self, num_classes: int, in_channels: int = 1, backbone: str = "vgg",
                 channels: Sequence[int] = (64, 128, 256, 512), depth: Sequence[int] = (1, 1, 2, 2),
                 encoder_hidden: int = 256, cell: str = "lstm", hidden: int = 256, layers: int = 1,
                 attention: int = 256, embedding: int = 128, max_length: int = 32, dropout: float = 0.1):
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {backbone!r}; choose from {sorted(BACKBONES)}")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"unknown cell {cell!r}; choose lstm or gru")
        self.num_classes, self.max_length, self.hidden, self.layers = num_classes, max_length, hidden, layers
        self.backbone = BACKBONES[backbone](in_channels, channels, depth)
        self.encoder = nn.LSTM(self.backbone.out_channels, encoder_hidden, bidirectional=True, batch_first=True)
        memory = 2 * encoder_hidden
        self.embed = nn.Embedding(num_classes + 1, embedding)  # + the start token
        self.memory_key = nn.Linear(memory, attention)
        self.state_key = nn.Linear(hidden, attention, bias=False)
        self.score = nn.Linear(attention, 1, bias=False)
        cell_class = nn.LSTMCell if cell == "lstm" else nn.GRUCell
        self.cells = nn.ModuleList([cell_class(embedding + memory if i == 0 else hidden, hidden)
                                    for i in range(layers)])
        self.is_lstm = cell == "lstm"
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden + memory, num_classes)

    @property
    def start(self) -> int:
        return self.num_classes

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) -> memory (N, W/4, 2 * encoder_hidden)."""
        features = self.backbone(images).mean(dim=2).transpose(1, 2)
        memory, _ = self.encoder(features)
        return memory

    def initial_state(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        zeros = memory.new_zeros(self.layers, memory.shape[0], self.hidden)
        return zeros, zeros.clone()  # (h, c); c is unused by GRU cells but keeps one signature for export

    def step(self, tokens: torch.Tensor, h: torch.Tensor, c: torch.Tensor, memory: torch.Tensor,
             mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One character: previous tokens (N,), state (layers, N, hidden) x2, memory (N, T, D), mask (N, T)
        (1 = a real column, 0 = padding) -> logits (N, C), new h, new c, attention weights (N, T)."""
        scores = self.score(torch.tanh(self.memory_key(memory) + self.state_key(h[-1]).unsqueeze(1))).squeeze(2)
        scores = scores.masked_fill(mask <= 0, -1e4)
        weights = torch.softmax(scores, dim=1)
        context = (weights.unsqueeze(2) * memory).sum(dim=1)
        x = torch.cat([self.embed(tokens), context], dim=1)
        new_h, new_c = [], []
        for i, cell in enumerate(self.cells):
            if self.is_lstm:
                hi, ci = cell(x, (h[i], c[i]))
            else:
                hi, ci = cell(x, h[i]), c[i]
            new_h.append(hi)
            new_c.append(ci)
            x = self.dropout(hi)
        logits = self.head(torch.cat([x, context], dim=1))
        return logits, torch.stack(new_h), torch.stack(new_c), weights

    def memory_mask(self, memory: torch.Tensor, widths: torch.Tensor | None) -> torch.Tensor:
        columns = torch.arange(memory.shape[1], device=memory.device).unsqueeze(0)
        if widths is None:
            return torch.ones(memory.shape[:2], device=memory.device)
        return (columns < self.output_lengths(widths).unsqueeze(1)).float()

    def forward(self, images: torch.Tensor, widths: torch.Tensor | None = None,
                targets: torch.Tensor | None = None) -> torch.Tensor:
        """With targets (N, L) (labels then END, padded with anything): teacher forcing, logits (N, L, C).
        Without: greedy reading, logits (N, max_length, C) (everything after END is to be ignored)."""
        memory = self.encode(images)
        mask = self.memory_mask(memory, widths)
        h, c = self.initial_state(memory)
        tokens = torch.full((memory.shape[0],), self.start, dtype=torch.long, device=memory.device)
        steps = targets.shape[1] if targets is not None else self.max_length
        outputs = []
        for t in range(steps):
            logits, h, c, _ = self.step(tokens, h, c, memory, mask)
            outputs.append(logits)
            tokens = targets[:, t].clamp(min=0) if targets is not None else logits.argmax(dim=1)
        return torch.stack(outputs, dim=1)

    @classmethod
    def output_lengths(cls, widths: torch.Tensor) -> torch.Tensor:
        return torch.div(widths + cls.width_stride - 1, cls.width_stride, rounding_mode="floor")
