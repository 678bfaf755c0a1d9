"""ebmbench's Langevin sampler behind the peer benchmark's hook signature (``--import``).

    python ../shared/bench/peer_sampler_bench.py --preset digits --import benchmarks/peer_hook.py:langevin_hook

Set ``EBMBENCH_COMPILE=1`` to route the energy through ``torch.compile`` (the optional gradient-step lever;
compilation happens in the benchmark's check and warm-up rounds) and ``EBMBENCH_CHANNELS_LAST=1`` for
channels_last activations on conv nets.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ebmbench.sampler import LangevinConfig, accelerated_energy, langevin


def langevin_hook(energy_fn: nn.Module, x0: torch.Tensor, steps: int, step_size: float, noise: float,
                  clamp: tuple[float, float] | None = None, grad_clip: float | None = None) -> torch.Tensor:
    """``steps`` of the shared in-place Langevin chain with the bench's settings (global RNG, as the textbook)."""
    config = LangevinConfig(steps=steps, step_size=step_size, noise=noise, grad_clip=grad_clip, clamp=clamp)
    energy = accelerated_energy(energy_fn, compile=os.environ.get("EBMBENCH_COMPILE") == "1",
                                channels_last=os.environ.get("EBMBENCH_CHANNELS_LAST") == "1")
    return langevin(lambda x, _y: energy(x), x0, config, model=energy_fn, inplace=True).x
