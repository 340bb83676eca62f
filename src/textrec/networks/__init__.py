"""Plain nn.Modules. `build_network` makes one from a model config's `network` section."""
from __future__ import annotations

from typing import Any, TypeAlias

from textrec.errors import TextrecError
from textrec.networks.attention import AttentionRecognizer
from textrec.networks.crnn import CRNN
from textrec.networks.vit import ViTCTC

NETWORKS: dict[str, type[CRNN] | type[ViTCTC] | type[AttentionRecognizer]] = {
    "crnn": CRNN, "vit": ViTCTC, "attn": AttentionRecognizer}
Network: TypeAlias = CRNN | ViTCTC | AttentionRecognizer


def build_network(settings: dict[str, Any], num_classes: int) -> Network:
    settings = dict(settings)
    name = settings.pop("name", "crnn")
    if name not in NETWORKS:
        raise TextrecError(f"unknown network {name!r}; choose from {', '.join(sorted(NETWORKS))}")
    try:
        return NETWORKS[name](num_classes=num_classes, **settings)
    except (TypeError, ValueError) as exc:
        raise TextrecError(f"bad settings for network {name!r}: {exc}") from None
