"""Drawing samples for the quality suite with the shared Langevin sampler, in batches handed to a sink.

Two protocols:

- ``noise``: fresh chains from uniform noise, ``steps`` Langevin steps each.
- ``buffer``: the reference paper's evaluation protocol. Samples are made in blocks of ``buffer_size`` chains
  kept in a buffer: every chain is first run from noise, then the buffer is refined over ``rounds`` passes (each
  pass runs ``steps`` more steps on every chain, in random order); before each pass but the last, a fraction
  ``reinit`` of the chains restarts from noise. Unlike the paper's code, labels stay fixed per chain so that
  conditional samples remain class-balanced.

Conditional models get class-balanced labels (sample i has label i mod K) and are sampled from E(x, y).

Samples come in units (batches of chains, or buffer blocks) seeded by their global index, so units can be
drawn by different processes (``ebmbench.distributed``) and still give the same samples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import torch

from ebmbench import seeds
from ebmbench.models.base import Model
from ebmbench.sampler import LangevinConfig, LangevinOptions, langevin, sampling_energy, uniform_noise

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
    precision: Literal["float32", "bfloat16"] = "float32"
    compile: bool = False

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

    def merge(self, other: EnergyTrace) -> None:
        """Add another trace's sums (units are merged in their global order, so sums repeat exactly)."""
        for k, (total, square, count) in enumerate(zip(other.sums, other.squares, other.counts, strict=True)):
            while len(self.sums) <= k:
                self.sums.append(0.0)
                self.squares.append(0.0)
                self.counts.append(0)
            self.sums[k] += total
            self.squares[k] += square
            self.counts[k] += count

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
    energy = sampling_energy(model, model.energy, plan.precision, plan.compile)
    result = langevin(energy, x0, plan.langevin(model.info.value_range), y, generator=gen, record=True,
                      model=model, inplace=True, channels_last=True,  # 1.3x on the digits EBM's chains (CPU)
                      micro_batch="auto")
    x = result.x
    with torch.no_grad():
        final = energy(x, y).detach().float().cpu()[None]
    trace.add(offset, final if result.energies is None else torch.cat([result.energies, final]))
    return x


def units(plan: SamplingPlan) -> int:
    """How many independently seeded units the plan's samples come in: batches of ``batch_size`` chains
    (noise protocol) or blocks of ``buffer_size`` chains (buffer protocol)."""
    size = plan.buffer_size if plan.protocol == "buffer" else plan.batch_size
    return (plan.n + size - 1) // size


def draw_unit(model: Model, plan: SamplingPlan, device: torch.device, seed: int, unit: int
              ) -> tuple[list[tuple[torch.Tensor, torch.Tensor | None]], EnergyTrace]:
    """The samples of one unit as ``(x, y)`` batches, and that unit's energy trace.

    Random numbers come from generators seeded by the run seed, the step budget and the unit's global index
    only, so a unit's samples do not depend on which other units or budgets ran before it, or in which
    process: any number of processes draw the same samples.
    """
    gen = seeds.generator(device, seed, "quality", plan.steps, unit)
    cpu_gen = seeds.generator("cpu", seed, "quality-cpu", plan.steps, unit)
    trace = EnergyTrace()
    model.eval()
    draw = _draw_buffer if plan.protocol == "buffer" else _draw_noise
    return draw(model, plan, device, unit, gen, cpu_gen, trace), trace


def draw_samples(model: Model, plan: SamplingPlan, device: torch.device, seed: int, sink: Sink) -> EnergyTrace:
    """Draw ``plan.n`` samples unit by unit in one process, handing each batch ``(x, y)`` to ``sink``."""
    trace = EnergyTrace()
    for unit in range(units(plan)):
        batches, part = draw_unit(model, plan, device, seed, unit)
        for x, y in batches:
            sink(x, y)
        trace.merge(part)
    return trace


def _unit_labels(model: Model, start: int, end: int, device: torch.device) -> torch.Tensor | None:
    labels = _labels(model, end)
    return None if labels is None else labels[start:end].to(device)


def _draw_noise(model: Model, plan: SamplingPlan, device: torch.device, unit: int, gen: torch.Generator,
                cpu_gen: torch.Generator, trace: EnergyTrace) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    start = unit * plan.batch_size
    end = min(start + plan.batch_size, plan.n)
    y = _unit_labels(model, start, end, device)
    x0 = uniform_noise(end - start, model.info.input_shape, model.info.value_range, device, gen)
    return [(_run(model, x0, y, plan, gen, trace, 0), y)]


def _draw_buffer(model: Model, plan: SamplingPlan, device: torch.device, unit: int, gen: torch.Generator,
                 cpu_gen: torch.Generator, trace: EnergyTrace) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    shape, value_range = model.info.input_shape, model.info.value_range
    start = unit * plan.buffer_size
    end = min(start + plan.buffer_size, plan.n)
    y = _unit_labels(model, start, end, device)
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
    return [(buffer[i:i + plan.batch_size], None if y is None else y[i:i + plan.batch_size])
            for i in range(0, len(buffer), plan.batch_size)]


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
