"""ebmbench's Langevin sampler behind the peer benchmark's hook signature (``--import``).

    python ../shared/bench/peer_sampler_bench.py --preset digits \\
        --import benchmarks/peer_hook.py:langevin_hook --import benchmarks/peer_hook.py:langevin_hook_compiled

``langevin_hook`` is the shared in-place chain with channels_last convolutions (the state and the conv weights
are held in channels_last memory format for the chain; the weights are restored afterwards, so the other
samplers in the benchmark see the model as it was); ``EBMBENCH_CHANNELS_LAST=0`` turns that off. Each
step's gradient is taken over cache-sized micro-batches of chains on CPU (``micro_batch="auto"``: blocks of 16
images on the CIFAR preset, whole batches on the digits one); ``EBMBENCH_MICRO_BATCH=none`` (or ``=N``)
overrides that, here as everywhere in ebmbench.
``langevin_hook_compiled`` is the in-place chain with ``torch.compile`` of the gradient step instead (compiled
once per model, in the benchmark's check and warm-up rounds); on CPU, compiled and channels_last together were
slower than either alone (measured on both presets), so it keeps the default layout. The noise comes from
torch's global generator, as the textbook loop's.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from ebmbench.sampler import LangevinConfig, accelerated_energy, langevin


def _run(energy_fn: nn.Module, x0: torch.Tensor, steps: int, step_size: float, noise: float,
         clamp: tuple[float, float] | None, grad_clip: float | None, compile: bool,
         channels_last: bool) -> torch.Tensor:
    config = LangevinConfig(steps=steps, step_size=step_size, noise=noise, grad_clip=grad_clip, clamp=clamp)
    energy = accelerated_energy(energy_fn, compile=compile)
    return langevin(lambda x, _y: energy(x), x0, config, model=energy_fn, inplace=True,
                    channels_last=channels_last, micro_batch="auto").x


def langevin_hook(energy_fn: nn.Module, x0: torch.Tensor, steps: int, step_size: float, noise: float,
                  clamp: tuple[float, float] | None = None, grad_clip: float | None = None) -> torch.Tensor:
    """``steps`` of the shared in-place Langevin chain with the bench's settings."""
    channels_last = os.environ.get("EBMBENCH_CHANNELS_LAST", "1") == "1"
    return _run(energy_fn, x0, steps, step_size, noise, clamp, grad_clip, compile=False, channels_last=channels_last)


def langevin_hook_exact(energy_fn: nn.Module, x0: torch.Tensor, steps: int, step_size: float, noise: float,
                        clamp: tuple[float, float] | None = None,
                        grad_clip: float | None = None) -> torch.Tensor:
    """The in-place chain in the default memory layout: every convolution runs the kernels the textbook loop
    runs, so the chain matches it bit for bit (channels_last changes the float rounding, which on the CIFAR
    net flips a few leaky-ReLU kinks: up to 4e-4 in one step of size 10)."""
    return _run(energy_fn, x0, steps, step_size, noise, clamp, grad_clip, compile=False, channels_last=False)


def langevin_hook_compiled(energy_fn: nn.Module, x0: torch.Tensor, steps: int, step_size: float, noise: float,
                           clamp: tuple[float, float] | None = None, grad_clip: float | None = None) -> torch.Tensor:
    """The same chain with the energy's forward (and so its backward) compiled by ``torch.compile``."""
    return _run(energy_fn, x0, steps, step_size, noise, clamp, grad_clip, compile=True, channels_last=False)
