"""Convolutional feature extractors. Each halves the height four times and the width twice (stride 4),
so the column sequence is a quarter of the image width whatever its length."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

# (height, width) pooling per stage: the last two keep horizontal resolution for narrow characters.
STAGE_STRIDES = [(2, 2), (2, 2), (2, 1), (2, 1)]
WIDTH_STRIDE = 4


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class VGGBackbone(nn.Module):
    """The CRNN paper's conv stack: stages of 3x3 conv + batch norm, max-pooled between stages."""

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (64, 128, 256, 512),
                 convs_per_stage: Sequence[int] = (1, 1, 2, 2)):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out, n_convs, stride in zip(channels, convs_per_stage, STAGE_STRIDES):
            for _ in range(n_convs):
                layers.append(conv_bn_relu(c_in, c_out))
                c_in = c_out
            layers.append(nn.MaxPool2d(kernel_size=stride, stride=stride))
        self.layers = nn.Sequential(*layers)
        self.out_channels = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: tuple[int, int]):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != (1, 1) or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNetBackbone(nn.Module):
    """A small ResNet: a 3x3 stem, then residual stages that stride like the VGG stack."""

    def __init__(self, in_channels: int = 1, channels: Sequence[int] = (64, 128, 256, 512),
                 blocks_per_stage: Sequence[int] = (1, 1, 2, 2)):
        super().__init__()
        self.stem = conv_bn_relu(in_channels, channels[0] // 2)
        stages: list[nn.Module] = []
        c_in = channels[0] // 2
        for c_out, n_blocks, stride in zip(channels, blocks_per_stage, STAGE_STRIDES):
            for i in range(n_blocks):
                stages.append(BasicBlock(c_in, c_out, stride if i == 0 else (1, 1)))
                c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.out_channels = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))


BACKBONES: dict[str, type[VGGBackbone] | type[ResNetBackbone]] = {"vgg": VGGBackbone, "resnet": ResNetBackbone}
