"""The MEMnets encoder ("lobe"): BatchNorm1d on the input, then a Linear/ELU MLP."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from cgviz.errors import CgvizError

__all__ = ["MEMnetsLobe"]


class MEMnetsLobe(nn.Module):
    """Encoder ``f: R^n_features -> R^n_cvs``.

    ``BatchNorm1d(n_features)``, then ``Linear + ELU`` for every hidden width and a last
    ``Linear`` with no activation whose width is the number of CVs. The input
    normalisation statistics live in the BatchNorm buffers, so a saved ``state_dict`` is
    the whole model. The layer names (``encoder.0``, ``encoder.1``, ...) match the seed
    code's, so its saved weights load here.

    Parameters
    ----------
    layer_sizes : [n_features, hidden_1, ..., n_cvs], at least two entries

    Shapes
    ------
    input (n_samples, n_features) -> output (n_samples, n_cvs), same dtype as the weights
    """

    def __init__(self, layer_sizes: Sequence[int]) -> None:
        super().__init__()
        sizes = [int(size) for size in layer_sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise CgvizError(f"layer_sizes = {sizes}: need [n_features, ..., n_cvs], all > 0.")
        self.layer_sizes = tuple(sizes)
        layers: list[nn.Module] = [nn.BatchNorm1d(sizes[0])]
        for index, (width_in, width_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(width_in, width_out))
            if index < len(sizes) - 2:
                layers.append(nn.ELU())
        self.encoder = nn.Sequential(*layers)

    @property
    def n_features(self) -> int:
        return self.layer_sizes[0]

    @property
    def n_cvs(self) -> int:
        return self.layer_sizes[-1]

    def reset_parameters(self) -> None:
        for module in self.encoder:
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        self.encoder[0].reset_running_stats()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)
