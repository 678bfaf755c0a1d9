"""Langevin dynamics and the replay buffer: the one sampler that training and every suite share.

The update is the reference paper's: x <- clamp(x - step_size * clip(grad_x E) + noise * N(0, I)). With
``step_size = eps`` and ``noise = sqrt(2 eps)`` and no clipping or clamping it is the textbook unadjusted
Langevin algorithm. Sampling never needs weight gradients, so they are switched off for the chain, and
parametrised weights (spectral norm) are computed once per chain instead of once per step.
"""

from __future__ import annotations

import contextlib
import math
import os
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.utils import parametrize

from ebmbench.errors import EbmbenchError
from ebmbench.options import check_ranges, option

EnergyFn = Callable[[torch.Tensor, "torch.Tensor | None"], torch.Tensor]
MicroBatch = int | Literal["auto"] | None

# The widest activation of one micro-batch that the chain aims for on CPU: convolutions on a micro-batch whose
# activations stay in the last-level cache beat one pass over the whole batch. Measured on the peer benchmark's
# CIFAR-10 ResNet (widest activation 512 KiB per image, batch 128, one and two threads): micro-batches of 16
# (8 MiB) are 1.16x the whole batch, 8 or 32 are 1.10x; on the digits net (8 KiB per image) any split is slower,
# and this target leaves its batches whole.
MICRO_BATCH_BYTES = 8 * 2**20
MICRO_BATCH_ENV = "EBMBENCH_MICRO_BATCH"


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
             channels_last: bool = False, micro_batch: MicroBatch = None) -> ChainResult:
    """Run ``config.steps`` Langevin steps from ``x0``; pass ``model`` to freeze its weights meanwhile.

    ``project`` maps every step's result into a constraint set (e.g. a ball around ``x0``: purification); a
    hook with an ``apply_(x)`` method that projects ``x`` in place (as ``Box`` has) lets the in-place chain
    skip a new tensor per step.
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
    bit, and the noise is drawn in the same order. ``micro_batch`` computes each step's gradient over that many
    chains at a time (the noise is still drawn for the whole batch, so the chain is the same): only for an
    ``energy`` that treats examples independently; ``"auto"`` picks the size from ``model``'s widest activation
    and keeps whole batches where examples may see each other (``auto_micro_batch``). Results agree with
    whole-batch steps to float rounding, and bit for bit wherever the network's kernels do not depend on the
    batch size (both peer benchmark nets on CPU). Chains through which gradients flow (``differentiable``) are
    never split.
    """
    noise = ChainNoise(generator, *(rows or (0, len(x0))))
    layout = torch.channels_last if channels_last and x0.dim() == 4 else torch.preserve_format
    context = (frozen_weights(model, layout == torch.channels_last) if model is not None
               else contextlib.nullcontext())
    unrolled = differentiable and x0.requires_grad
    trace: list[torch.Tensor] = []
    with context, torch.enable_grad():
        if micro_batch == "auto":  # measured within the chain's context: spectral norm computed once, as without
            micro_batch = auto_micro_batch(energy, x0, y, model)
        if unrolled:
            x = _unrolled_chain(energy, x0, config, y, noise, trace if record else None, project)
        else:
            chain = _inplace_chain if inplace else _functional_chain
            x = chain(energy, x0.detach().clone(memory_format=layout), config, y, noise,
                      trace if record else None, project, _row_blocks(len(x0), micro_batch))
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
                   project: Callable[[torch.Tensor], torch.Tensor] | None, blocks: list[slice]) -> torch.Tensor:
    """The chain updated in place: after the first step no step allocates anything but the network's own
    activations (the gradient is scaled in place, the noise drawn into one reused buffer). The arithmetic is
    the textbook update's, operation for operation (``x - step * g``, then ``+ noise * n``), so the results are
    bit-identical to ``_step``'s. Each block of rows takes its gradient step before the next block's gradient
    is computed (rows never see each other), and the noise is added to all rows at once."""
    ones: dict[torch.Size, torch.Tensor] = {}
    in_place = getattr(project, "apply_", None)  # a hook that can project in place says so with ``apply_``
    for _ in range(config.steps):
        energies = []
        for block in blocks:
            part = x[block].detach().requires_grad_(True)  # shares x's storage; its graph is freed below
            e = energy(part, None if y is None else y[block])
            if e.shape not in ones:
                ones[e.shape] = torch.ones_like(e)
            (grad,) = torch.autograd.grad(e, part, grad_outputs=ones[e.shape])
            if config.grad_clip is not None:
                grad.clamp_(-config.grad_clip, config.grad_clip)
            x[block].sub_(grad.mul_(config.step_size))
            energies.append(e.detach())
        if trace is not None:  # kept on the device: one copy after the loop, not a sync every step
            trace.append(_joined(energies).float())
        if config.noise > 0:
            x.add_(noise.draw_into(x).mul_(config.noise))
        if config.clamp is not None:
            x.clamp_(*config.clamp)
        if project is not None:
            x = in_place(x) if in_place is not None else project(x)
    return x


def _functional_chain(energy: EnergyFn, x: torch.Tensor, config: LangevinConfig, y: torch.Tensor | None,
                      noise: ChainNoise, trace: list[torch.Tensor] | None,
                      project: Callable[[torch.Tensor], torch.Tensor] | None, blocks: list[slice]) -> torch.Tensor:
    """The chain with a new state tensor every step (tensors handed to ``energy`` are never changed later)."""
    for _ in range(config.steps):
        energies, grads = [], []
        for block in blocks:
            part = x[block].detach().requires_grad_(True)
            e = energy(part, None if y is None else y[block])
            grads.append(torch.autograd.grad(e.sum(), part)[0])
            energies.append(e.detach())
        if trace is not None:
            trace.append(_joined(energies).float())
        x = _step(x.detach(), _joined(grads), config, noise)
        if project is not None:
            x = project(x)
    return x


def _joined(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts)


def _row_blocks(n: int, micro_batch: int | None) -> list[slice]:
    """The row blocks a step's gradient is computed over: the whole batch, or blocks of at most ``micro_batch``
    rows, balanced (17 rows in blocks of 16 are 9 + 8, not 16 + 1)."""
    if micro_batch is not None and micro_batch < 1:
        raise ValueError(f"micro_batch must be a positive number of chains, got {micro_batch}")
    if micro_batch is None or micro_batch >= n:
        return [slice(None)]
    size = -(-n // -(-n // micro_batch))  # the fewest blocks, of (nearly) equal size
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def auto_micro_batch(energy: EnergyFn, x0: torch.Tensor, y: torch.Tensor | None,
                     model: nn.Module | None) -> int | None:
    """How many chains a CPU step should differentiate at once so the widest activation of ``model`` stays
    near ``MICRO_BATCH_BYTES`` (None: the whole batch). The whole batch on accelerators (they want wide
    batches), without a ``model`` to measure, for models that may couple examples (batch statistics, a
    model that says so with ``independent_examples = False``) and when the measurement fails.
    ``EBMBENCH_MICRO_BATCH=none`` (whole batches) or ``=N`` overrides the choice everywhere."""
    forced = micro_batch_override()
    if forced != "auto":
        return forced
    if model is None or x0.device.type != "cpu" or len(x0) < 4 or _couples_examples(model):
        return None
    widest = widest_activation_bytes(energy, x0, y, model)
    if widest is None:
        return None
    size = max(2, MICRO_BATCH_BYTES // max(1, widest))
    return None if size >= len(x0) else size


def micro_batch_override() -> int | Literal["auto"] | None:
    """``EBMBENCH_MICRO_BATCH``: ``auto`` (unset), ``none`` or a number of chains; anything else is refused."""
    raw = os.environ.get(MICRO_BATCH_ENV, "auto").strip().lower()
    if raw in ("auto", ""):
        return "auto"
    if raw == "none":
        return None
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    raise EbmbenchError(f"{MICRO_BATCH_ENV}={os.environ[MICRO_BATCH_ENV]!r} must be auto, none or a positive "
                        "number of chains")


def _couples_examples(model: nn.Module) -> bool:
    """Whether a chain's examples may see each other: batch statistics (BatchNorm in training, or without
    running statistics), or a model that declares it (``independent_examples = False``)."""
    if getattr(model, "independent_examples", True) is False:
        return True
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None)
               for m in model.modules())


def widest_activation_bytes(energy: EnergyFn, x0: torch.Tensor, y: torch.Tensor | None,
                            model: nn.Module) -> int | None:
    """The largest output of any of ``model``'s layers per example of ``x0``, measured by a forward pass of two
    examples with hooks (two, so networks that squeeze their batch dimension behave as in the chain); None when
    that forward fails (the chain then runs whole batches and reports any real error itself).

    Weights a parametrisation such as spectral norm computes are not activations and are left out; TorchScript
    modules take no hooks, so a scripted network counts as its input only and keeps whole batches. Call it where
    the chain will run (``langevin`` does, with the weights frozen), so a parametrisation updated by every
    forward in training mode (spectral norm's power iteration) is not stepped by the measurement; the random
    streams are put back (a model in training mode may draw, e.g. dropout)."""
    probe = x0[:2].detach()
    sizes = [probe.nelement() * probe.element_size()]

    def record(_module: nn.Module, _inputs: object, output: object) -> None:
        sizes.extend(t.nelement() * t.element_size() for t in _tensors(output))

    layers = [m for name, m in model.named_modules()
              if "parametrizations" not in name.split(".") and not isinstance(m, torch.jit.ScriptModule)]
    hooks = [m.register_forward_hook(record) for m in layers]
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            energy(probe, None if y is None else y[:2])
    except Exception:  # a measurement only: the chain itself raises what is wrong
        return None
    finally:
        for hook in hooks:
            hook.remove()
    return max(sizes) // len(probe)


def _tensors(output: object) -> list[torch.Tensor]:
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in _tensors(item)]
    return []


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


_LEVERED: weakref.WeakKeyDictionary[nn.Module, dict[tuple, Callable[..., torch.Tensor]]] = (
    weakref.WeakKeyDictionary())
PRECISIONS = {"float32": None, "bfloat16": torch.bfloat16}


def _levered(model: nn.Module, key: tuple, fn: Callable[..., torch.Tensor], compile: bool,
             autocast: torch.dtype | None) -> Callable[..., torch.Tensor]:
    """``fn(x, ...)`` compiled once (``compile``) and run under ``torch.autocast`` (``autocast``: the energy
    comes back in float32), cached per ``model`` under ``key`` so compiling happens once."""
    cached = _LEVERED.setdefault(model, {})
    if key not in cached:
        inner = torch.compile(fn, dynamic=False) if compile else fn

        def run(x: torch.Tensor, *rest: object) -> torch.Tensor:
            if autocast is None:
                return inner(x, *rest)
            with torch.autocast(x.device.type, dtype=autocast):
                return inner(x, *rest).float()

        cached[key] = run
    return cached[key]


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
    forward = _levered(model, ("forward", compile, autocast), model, compile, autocast)
    if not channels_last:
        return forward
    return _levered(model, ("forward", compile, autocast, "channels_last"),
                    lambda x: forward(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x),
                    False, None)


def sampling_energy(model: nn.Module, energy: EnergyFn, precision: str = "float32",
                    compile: bool = False) -> EnergyFn:
    """``energy`` (``model``'s ``E(x, y)``) with the sampling levers that change float results, so suites
    record them as options: ``precision="bfloat16"`` runs the network under ``torch.autocast`` while the chain's
    state and update stay float32 (the energy is returned in float32); ``compile`` wraps it in
    ``torch.compile`` (compiled once per model and energy). With neither lever, ``energy`` itself."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "float32" and not compile:
        return energy
    return _levered(model, (energy, precision, compile), energy, compile, PRECISIONS[precision])


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
