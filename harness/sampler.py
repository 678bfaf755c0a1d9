"""Langevin dynamics and the replay buffer: the one sampler that training and every suite share.

The update is the reference paper's: x <- clamp(x - step_size * clip(grad_x E) + noise * N(0, I)). With
``step_size = eps`` and ``noise = sqrt(2 eps)`` and no clipping or clamping it is the textbook unadjusted
Langevin algorithm. Sampling never needs weight gradients, so they are switched off for the chain, and
parametrised weights (spectral norm) are computed once per chain instead of once per step.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from ebmbench.options import check_ranges, option

EnergyFn = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]


@dataclass(frozen=True)
class LangevinOptions:
    """The Langevin update, one options group shared by training and every suite (``--set sampler.KEY=VALUE``).

    The defaults are ebmbench's digits recipe (issue #11: step 1, gradient clipped at 1, noise 0.01), and they are
    the defaults of every owner (EBM training, quality sampling, robustness purification): changing the EBM's
    sampler defaults is a change here only. With the reference paper's CIFAR-10 settings (step 10, gradient
    clipped at 0.01, noise 0.005) the digits EBM stays nearly flat (label energies within 0.01 of each other,
    accuracy 0.55); pass them as ``sampler.step_size=10 sampler.grad_clip=0.01 sampler.noise=0.005``.
    How many steps a chain runs is the owner's own option (``sample_steps``, ``steps``, ``purify_steps``).
    """

    step_size: float = option(1.0, help="step along the energy gradient: x <- x - step_size * grad E")
    noise: float = option(0.01, help="standard deviation of the Gaussian noise added at every step")
    grad_clip: float | None = option(1.0, help="clip each gradient entry to [-grad_clip, grad_clip] (none: no clip)")

    def __post_init__(self) -> None:
        check_ranges(self, positive=("step_size", "grad_clip"), non_negative=("noise",))

    def chain(self, steps: int, clamp: tuple[float, float] | None = (0.0, 1.0)) -> LangevinConfig:
        """The settings of one chain run: ``steps`` of this update, clamped to ``clamp`` after each."""
        return LangevinConfig(step_size=self.step_size, noise=self.noise, grad_clip=self.grad_clip, steps=steps,
                              clamp=clamp)


@dataclass(frozen=True)
class LangevinConfig(LangevinOptions):
    """One chain run: the update (``LangevinOptions``), how many steps, and the box every step is clamped to."""

    steps: int = option(60, help="Langevin steps")
    clamp: tuple[float, float] | None = option((0.0, 1.0), help="box every step is clamped to (none: no box)")

    @classmethod
    def textbook(cls, eps: float, steps: int) -> LangevinConfig:
        """Unadjusted Langevin with step ``eps``: samples from exp(-E) as eps -> 0."""
        return cls(steps=steps, step_size=eps, noise=math.sqrt(2 * eps), grad_clip=None, clamp=None)


@dataclass
class ChainResult:
    """Final samples and, when recorded, the energy of every chain before each step (steps x batch)."""

    x: torch.Tensor
    energies: torch.Tensor | None = None


@contextlib.contextmanager
def frozen_weights(model: nn.Module, channels_last: bool = False) -> Iterator[None]:
    """No weight gradients and parametrised weights computed once, for the duration of a chain; with
    ``channels_last``, the 4-D weights are also held in channels_last memory format meanwhile (and restored)."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    converted = _channels_last_weights(model) if channels_last else []
    try:
        with parametrize.cached():
            yield
    finally:
        for p in converted:
            p.data = p.data.contiguous()
        for p, flag in flags:
            p.requires_grad_(flag)


def _channels_last_weights(model: nn.Module) -> list[torch.Tensor]:
    """Convert the contiguous 4-D weights of ``model`` to channels_last; returns those converted."""
    converted = []
    for p in model.parameters():
        if p.dim() == 4 and p.is_contiguous() and not p.is_contiguous(memory_format=torch.channels_last):
            p.data = p.data.contiguous(memory_format=torch.channels_last)
            converted.append(p)
    return converted


def langevin(energy: EnergyFn, x0: torch.Tensor, config: LangevinConfig, y: torch.Tensor | None = None,
             generator: torch.Generator | None = None, record: bool = False,
             model: nn.Module | None = None, project: Callable[[torch.Tensor], torch.Tensor] | None = None,
             differentiable: bool = False, inplace: bool = False, rows: tuple[int, int] | None = None,
             channels_last: bool = False) -> ChainResult:
    """Run ``config.steps`` Langevin steps from ``x0``; pass ``model`` to freeze its weights meanwhile.

    ``project`` maps every step's result into a constraint set (e.g. a ball around ``x0``: purification).
    ``differentiable`` keeps the graph through every step when ``x0`` requires grad, so gradients reach ``x0``
    (attacks through the unrolled chain); the returned samples are then not detached. ``inplace`` updates one
    state tensor (and its gradient) in place, with bit-identical results and no allocation per step: only for
    an ``energy`` that keeps no reference to its input or its gradient (a model's own energy does not; a
    tracer that records states does). ``rows=(first, total)``: ``x0`` holds rows ``first..first+len(x0)`` of
    a global batch of ``total`` chains shared out over processes (data-parallel training); each step's noise is
    drawn for all ``total`` chains and these rows kept, so a chain's noise does not depend on how the batch is
    split (one process holding all rows draws exactly what it draws without ``rows``). ``channels_last``
    (images only) keeps the state and ``model``'s convolution weights in channels_last memory format during the
    chain (the weights are restored after): the same update, with the network's convolutions on their faster
    path on CPU (oneDNN) and GPU (cuDNN); results agree with the default layout to float rounding, not bit for
    bit, and the noise is drawn in the same order.
    """
    noise = ChainNoise(generator, *(rows or (0, len(x0))))
    layout = torch.channels_last if channels_last and x0.dim() == 4 else torch.preserve_format
    context = (frozen_weights(model, layout == torch.channels_last) if model is not None
               else contextlib.nullcontext())
    unrolled = differentiable and x0.requires_grad
    trace: list[torch.Tensor] = []
    with context, torch.enable_grad():
        if unrolled:
            x = _unrolled_chain(energy, x0, config, y, noise, trace if record else None,
                                project)
        else:
            chain = _inplace_chain if inplace else _functional_chain
            x = chain(energy, x0.detach().clone(memory_format=layout), config, y, noise,
                      trace if record else None, project)
    energies = torch.stack(trace).cpu() if record and trace else None
    return ChainResult(x if unrolled else x.detach(), energies)


class ChainNoise:
    """Standard normal noise for a batch of chains that may be rows ``first..first+n`` of a global batch of
    ``total`` (split over processes): every draw is made for all ``total`` chains and the batch's rows kept, so
    the numbers a chain gets depend on the generator and its global row only."""

    def __init__(self, generator: torch.Generator | None, first: int, total: int) -> None:
        self.generator, self.first, self.total = generator, first, total
        self._buffer: torch.Tensor | None = None

    def _rows(self, full: torch.Tensor, n: int) -> torch.Tensor:
        return full if n == self.total else full[self.first:self.first + n]

    def draw(self, x: torch.Tensor) -> torch.Tensor:
        """New noise shaped like ``x``."""
        full = torch.randn((self.total, *x.shape[1:]), generator=self.generator, device=x.device, dtype=x.dtype)
        return self._rows(full, len(x))

    def draw_into(self, x: torch.Tensor) -> torch.Tensor:
        """New noise shaped like ``x`` in a buffer reused from step to step (overwritten by the next draw)."""
        if self._buffer is None:
            # in the default layout whatever x's, so its numbers land where ``torch.randn`` puts them
            self._buffer = x.new_empty((self.total, *x.shape[1:]))
        return self._rows(self._buffer.normal_(generator=self.generator), len(x))


def _inplace_chain(energy: EnergyFn, x: torch.Tensor, config: LangevinConfig, y: torch.Tensor | None,
                   noise: ChainNoise, trace: list[torch.Tensor] | None,
                   project: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """The chain updated in place: after the first step no step allocates anything but the network's own
    activations (the gradient is scaled in place, the noise drawn into one reused buffer). The arithmetic is
    the textbook update's, operation for operation (``x - step * g``, then ``+ noise * n``), so the results are
    bit-identical to ``_step``'s."""
    ones = None
    for _ in range(config.steps):
        x.requires_grad_(True)
        e = energy(x, y)
        ones = torch.ones_like(e) if ones is None or ones.shape != e.shape else ones
        (grad,) = torch.autograd.grad(e, x, grad_outputs=ones)
        x = x.detach()  # the graph is freed: updating x in place is safe
        if trace is not None:  # kept on the device: one copy after the loop, not a sync every step
            trace.append(e.detach().float())
        if config.grad_clip is not None:
            grad.clamp_(-config.grad_clip, config.grad_clip)
        x.sub_(grad.mul_(config.step_size))
        if config.noise > 0:
            x.add_(noise.draw_into(x).mul_(config.noise))
        if config.clamp is not None:
            x.clamp_(*config.clamp)
        if project is not None:
            x = project.apply_(x) if isinstance(project, Box) else project(x)
    return x


def _functional_chain(energy: EnergyFn, x: torch.Tensor, config: LangevinConfig, y: torch.Tensor | None,
                      noise: ChainNoise, trace: list[torch.Tensor] | None,
                      project: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """The chain with a new state tensor every step (tensors handed to ``energy`` are never changed later)."""
    for _ in range(config.steps):
        x.requires_grad_(True)
        e = energy(x, y)
        (grad,) = torch.autograd.grad(e.sum(), x)
        if trace is not None:
            trace.append(e.detach().float())
        x = _step(x.detach(), grad, config, noise)
        if project is not None:
            x = project(x)
    return x


def _unrolled_chain(energy: EnergyFn, x: torch.Tensor, config: LangevinConfig, y: torch.Tensor | None,
                    noise: ChainNoise, trace: list[torch.Tensor] | None,
                    project: Callable[[torch.Tensor], torch.Tensor] | None) -> torch.Tensor:
    """The chain with its graph kept through every step (gradients reach ``x0``)."""
    for _ in range(config.steps):
        e = energy(x, y)
        (grad,) = torch.autograd.grad(e.sum(), x, create_graph=True)
        if trace is not None:
            trace.append(e.detach().float())
        x = _step(x, grad, config, noise)
        if project is not None:
            x = project(x)
    return x


def _step(x: torch.Tensor, grad: torch.Tensor, config: LangevinConfig, noise: ChainNoise) -> torch.Tensor:
    if config.grad_clip is not None:
        grad = grad.clamp(-config.grad_clip, config.grad_clip)
    x = x - config.step_size * grad
    if config.noise > 0:
        x = x + config.noise * noise.draw(x)
    if config.clamp is not None:
        x = x.clamp(*config.clamp)
    return x


_ACCELERATED: weakref.WeakKeyDictionary[nn.Module, dict[tuple, Callable[[torch.Tensor], torch.Tensor]]] = (
    weakref.WeakKeyDictionary())


def accelerated_energy(model: nn.Module, compile: bool = False, channels_last: bool = False,
                       autocast: torch.dtype | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model`` as an energy function with optional speed levers (cached per model, so compiling happens once):

    - ``compile``: ``torch.compile`` of the forward; autograd then runs the compiled backward as well, so
      the whole gradient step is compiled (results agree with eager to float rounding, not bit for bit);
    - ``channels_last``: the input converted to channels_last memory format, which suits cuDNN and oneDNN
      convolutions (``langevin(..., channels_last=True)`` also holds the weights so during a chain);
    - ``autocast``: e.g. ``torch.bfloat16``: the network runs in that precision (``torch.autocast`` on the
      input's device) while the chain's state and its update stay in float32, and the energy is returned in
      float32.
    """
    cached = _ACCELERATED.setdefault(model, {})
    key = (compile, channels_last, autocast)
    if key in cached:
        return cached[key]
    forward: Callable[[torch.Tensor], torch.Tensor] = model
    if compile:
        forward = torch.compile(model, dynamic=False)

    def energy(x: torch.Tensor) -> torch.Tensor:
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        if autocast is None:
            return forward(x)
        with torch.autocast(x.device.type, dtype=autocast):
            return forward(x).float()

    cached[key] = energy
    return energy


def uniform_noise(n: int, shape: tuple[int, ...], value_range: tuple[float, float], device: torch.device | str,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform noise in the data range: where fresh chains start."""
    lo, hi = value_range
    return lo + (hi - lo) * torch.rand((n, *shape), generator=generator, device=device)


class Box:
    """A ``project`` hook that keeps each chain within ``radius`` (L-inf) of ``center``. Called, it returns a new
    tensor (graphs may pass through it); the in-place chain calls ``apply_`` instead, which clamps the state in
    place with the same result bit for bit."""

    def __init__(self, center: torch.Tensor, radius: float) -> None:
        self.lo, self.hi = center - radius, center + radius

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(x, self.lo), self.hi)

    def apply_(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp_(self.lo, self.hi)


def box_projection(center: torch.Tensor, radius: float | None) -> Box | None:
    """A ``project`` hook that keeps each chain within ``radius`` (L-inf) of ``center``; None for no box."""
    return None if radius is None else Box(center, radius)


def zero_energy(x: torch.Tensor, _y: torch.Tensor | None = None) -> torch.Tensor:
    """A constant energy whose gradient is zero but which autograd still runs through: a chain of it is noise
    (and clamp/box) only, the control that separates what the energy does from what the noise does."""
    return (x * 0).flatten(1).sum(1)


def make_generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A seeded generator on ``device`` so chains repeat on CPU and CUDA alike."""
    return torch.Generator(device=device).manual_seed(seed)
