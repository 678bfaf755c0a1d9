"""Drawing samples for the quality suite with the shared Langevin sampler, in batches handed to a sink.

Two protocols:

- ``noise``: fresh chains from uniform noise, ``steps`` Langevin steps each.
- ``buffer``: the reference paper's evaluation protocol. Samples are made in blocks of ``buffer_size`` chains
  kept in a buffer: every chain is first run from noise, then the buffer is refined over ``rounds`` passes (each
  pass runs ``steps`` more steps on every chain, in random order); before each pass but the last, a fraction
  ``reinit`` of the chains restarts from noise. Unlike the paper's code, labels stay fixed per chain so that
  conditional samples remain class-balanced.

Conditional models get class-balanced labels (sample i has label i mod K) and are sampled from E(x, y).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from ebmbench.models.base import Model
from ebmbench.sampler import LangevinConfig, LangevinOptions, langevin, make_generator, uniform_noise
from ebmbench.seeds import mix

Sink = Callable[[torch.Tensor, torch.Tensor | None], None]


@dataclass(frozen=True)
class SamplingPlan:
    """How to draw ``n`` samples; ``steps`` is per chain run (per pass for the buffer protocol)."""

    n: int
    steps: int
    protocol: Literal["noise", "buffer"] = "noise"
    sampler: LangevinOptions = field(default_factory=LangevinOptions)
    batch_size: int = 128
    rounds: int = 10
    reinit: float = 0.01
    buffer_size: int = 1000
    buffer_start: Literal["noise", "stored"] = "noise"

    def langevin(self, value_range: tuple[float, float] = (0.0, 1.0)) -> LangevinConfig:
        """The per-run sampler settings; chains are clamped to the data range after every step."""
        return self.sampler.chain(self.steps, clamp=tuple(value_range))

    def chain_steps(self) -> int:
        """Langevin steps a chain that never restarts receives."""
        return self.steps * (1 + self.rounds) if self.protocol == "buffer" else self.steps


class EnergyTrace:
    """Mean and standard deviation of the chains' energy at every step (before each step, and after the last)."""

    def __init__(self) -> None:
        self.sums: list[float] = []
        self.squares: list[float] = []
        self.counts: list[int] = []

    def add(self, offset: int, energies: torch.Tensor) -> None:
        """``energies``: steps x chains, the first row at global step ``offset``."""
        for i, row in enumerate(energies.double()):
            k = offset + i
            while len(self.sums) <= k:
                self.sums.append(0.0)
                self.squares.append(0.0)
                self.counts.append(0)
            self.sums[k] += row.sum().item()
            self.squares[k] += row.pow(2).sum().item()
            self.counts[k] += len(row)

    def summary(self) -> dict[str, list[float]]:
        means = [s / c for s, c in zip(self.sums, self.counts, strict=True)]
        stds = [max(q / c - m * m, 0.0) ** 0.5 for q, c, m in zip(self.squares, self.counts, means, strict=True)]
        return {"step": list(range(len(means))), "mean": means, "std": stds}


def balanced_labels(n: int, num_classes: int) -> torch.Tensor:
    """Sample i gets label i mod K: every class equally often (to within one)."""
    return torch.arange(n) % num_classes


def _labels(model: Model, n: int) -> torch.Tensor | None:
    return balanced_labels(n, model.info.num_classes) if model.info.conditional else None


def _run(model: Model, x0: torch.Tensor, y: torch.Tensor | None, plan: SamplingPlan, gen: torch.Generator,
         trace: EnergyTrace, offset: int) -> torch.Tensor:
    """Run one batch of chains, add its energies to the trace, return the final states."""
    result = langevin(model.energy, x0, plan.langevin(model.info.value_range), y, generator=gen, record=True,
                      model=model)
    x = result.x
    with torch.no_grad():
        final = model.energy(x, y).detach().float().cpu()[None]
    trace.add(offset, final if result.energies is None else torch.cat([result.energies, final]))
    return x


def draw_samples(model: Model, plan: SamplingPlan, device: torch.device, seed: int, sink: Sink) -> EnergyTrace:
    """Draw ``plan.n`` samples, handing each finished batch ``(x, y)`` to ``sink``; returns the energy trace.

    Random numbers come from generators seeded by ``seed`` and the step budget only, so a budget's samples do
    not depend on which other budgets ran before it.
    """
    gen = make_generator(mix(seed, plan.steps), device)
    cpu_gen = make_generator(mix(seed, plan.steps + 1), "cpu")
    trace = EnergyTrace()
    labels = _labels(model, plan.n)
    draw = _draw_buffer if plan.protocol == "buffer" else _draw_noise
    model.eval()
    draw(model, plan, device, labels, gen, cpu_gen, trace, sink)
    return trace


def _draw_noise(model: Model, plan: SamplingPlan, device: torch.device, labels: torch.Tensor | None,
                gen: torch.Generator, cpu_gen: torch.Generator, trace: EnergyTrace, sink: Sink) -> None:
    shape, value_range = model.info.input_shape, model.info.value_range
    for start in range(0, plan.n, plan.batch_size):
        end = min(start + plan.batch_size, plan.n)
        y = None if labels is None else labels[start:end].to(device)
        x0 = uniform_noise(end - start, shape, value_range, device, gen)
        sink(_run(model, x0, y, plan, gen, trace, 0), y)


def _draw_buffer(model: Model, plan: SamplingPlan, device: torch.device, labels: torch.Tensor | None,
                 gen: torch.Generator, cpu_gen: torch.Generator, trace: EnergyTrace, sink: Sink) -> None:
    shape, value_range = model.info.input_shape, model.info.value_range
    for start in range(0, plan.n, plan.buffer_size):
        end = min(start + plan.buffer_size, plan.n)
        y = None if labels is None else labels[start:end].to(device)
        buffer = _initial(model, end - start, plan, device, gen, cpu_gen)
        for rnd in range(plan.rounds + 1):
            if 0 < rnd < plan.rounds:  # restarts happen between passes, never before the last one
                restart = (torch.rand(len(buffer), generator=cpu_gen) < plan.reinit).to(device)
                fresh = uniform_noise(len(buffer), shape, value_range, device, gen)
                buffer = torch.where(restart.view(-1, 1, 1, 1), fresh, buffer)
            order = torch.randperm(len(buffer), generator=cpu_gen).to(device) if rnd else torch.arange(
                len(buffer), device=device)
            for i in range(0, len(buffer), plan.batch_size):
                idx = order[i:i + plan.batch_size]
                yb = None if y is None else y[idx]
                buffer[idx] = _run(model, buffer[idx], yb, plan, gen, trace, rnd * plan.steps)
        for i in range(0, len(buffer), plan.batch_size):
            sink(buffer[i:i + plan.batch_size], None if y is None else y[i:i + plan.batch_size])


def _initial(model: Model, n: int, plan: SamplingPlan, device: torch.device, gen: torch.Generator,
             cpu_gen: torch.Generator) -> torch.Tensor:
    """A buffer's first state: uniform noise, or (``buffer_start=stored``) images drawn from the model's own
    replay buffer (all of them in a seeded order when it has enough, else with replacement)."""
    if plan.buffer_start != "stored":
        return uniform_noise(n, model.info.input_shape, model.info.value_range, device, gen)
    stored = model.stored_samples
    count = len(stored)
    idx = torch.randperm(count, generator=cpu_gen)[:n] if count >= n else torch.randint(0, count, (n,),
                                                                                        generator=cpu_gen)
    return stored[idx].to(device=device, dtype=torch.float32)
