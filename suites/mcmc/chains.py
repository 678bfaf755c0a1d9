"""Traced Langevin chains for the mcmc suite: the shared sampler, observed at every step.

The chains run through ``ebmbench.sampler.langevin`` unchanged. Its energy function is wrapped so that every
step's state x_t, energy E(x_t) and gradient grad E(x_t) are seen (the gradient through a tensor hook, which fires
when the sampler differentiates the energy: no extra backward pass). From them the tracer keeps, per chain:

- the energy trace E(x_t), t = 0..T (before each step, and after the last);
- projections <v_k, x_t> on a few fixed random unit vectors v_k (seeded), the usual way to trace a
  high-dimensional state with scalars;
- the log acceptance probability that a Metropolis-adjusted step (MALA) would have given each transition
  x_t -> x_{t+1}. The sampler's proposal is Gaussian, x' ~ N(x - s clip(grad E(x)), sigma^2 I) with step size
  s and noise sigma; against the target exp(-E / T),
  log a = min(0, -(E(x') - E(x)) / T + log q(x | x') - log q(x' | x)),
  log q(b | a) = -|b - a + s clip(grad E(a))|^2 / (2 sigma^2) (constants cancel). T defaults to the temperature
  the sampler implies, sigma^2 / (2 s) (T = 1 for the textbook sampler with sigma = sqrt(2 s)). Clamping to the
  data range and projections are not part of the proposal density: the figure is a diagnostic of how far the
  discretised chain is from an exact sampler, not an acceptance rate that any run used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ebmbench.models.base import Model
from ebmbench.sampler import LangevinConfig, langevin, make_generator, uniform_noise


@dataclass
class Traces:
    """Per-chain traces: ``energy`` (chains x T+1), ``projections`` (chains x P x T+1), ``log_accept``
    (chains x T)."""

    energy: np.ndarray
    projections: np.ndarray
    log_accept: np.ndarray

    @staticmethod
    def concat(parts: list[Traces]) -> Traces:
        return Traces(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("energy", "projections",
                                                                                   "log_accept")))


def implied_temperature(config: LangevinConfig) -> float:
    """The temperature T whose density exp(-E / T) the unadjusted update targets: sigma^2 / (2 s)."""
    return config.noise**2 / (2 * config.step_size)


def random_directions(count: int, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """``count`` fixed unit vectors in the image space (count x prod(shape)), from ``seed``."""
    v = torch.randn((count, int(np.prod(shape))), generator=torch.Generator().manual_seed(seed),
                    dtype=torch.float64)
    return v / v.norm(dim=1, keepdim=True)


class _Tracer:
    """The energy function the sampler calls, recording what each step needs (see the module docstring)."""

    def __init__(self, model: Model, directions: torch.Tensor, config: LangevinConfig, temperature: float) -> None:
        self.model, self.directions, self.config, self.temperature = model, directions, config, temperature
        self.energy: list[torch.Tensor] = []
        self.projections: list[torch.Tensor] = []
        self.log_accept: list[torch.Tensor] = []
        self.pending: list[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]] = []

    def __call__(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        e = self.model.energy(x, y)
        grad: list[torch.Tensor] = []
        if x.requires_grad:
            x.register_hook(lambda g: grad.append(g.detach()))
        self.observe(x.detach(), e.detach(), grad)
        return e

    def observe(self, x: torch.Tensor, e: torch.Tensor, grad: list[torch.Tensor]) -> None:
        self.energy.append(e.double().cpu())
        self.projections.append(x.flatten(1).double().cpu() @ self.directions.T)
        self.pending.append((x, e, grad))
        # a transition is scored once both ends have their gradient (a state's arrives when the sampler
        # differentiates it, after this call)
        while len(self.pending) >= 2 and self.pending[0][2] and self.pending[1][2]:
            self.log_accept.append(self._log_accept(*self.pending[0], *self.pending[1]))
            self.pending.pop(0)

    def _log_accept(self, x: torch.Tensor, e: torch.Tensor, grad: list[torch.Tensor], x_new: torch.Tensor,
                    e_new: torch.Tensor, grad_new: list[torch.Tensor]) -> torch.Tensor:
        c = self.config
        forward = _log_q(x_new, x, grad[0], c)
        backward = _log_q(x, x_new, grad_new[0], c)
        log_ratio = -(e_new.double() - e.double()) / self.temperature + backward - forward
        return log_ratio.clamp(max=0.0).cpu()

    def finish(self, x: torch.Tensor, y: torch.Tensor | None) -> Traces:
        """Observe the final state (its energy and gradient close the last transition) and return the traces."""
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            e = self.model.energy(x, y)
            (g,) = torch.autograd.grad(e.sum(), x)
        self.observe(x.detach(), e.detach(), [g.detach()])
        steps = len(self.log_accept)
        accept = torch.stack(self.log_accept, 1) if steps else torch.zeros((len(x), 0), dtype=torch.float64)
        return Traces(torch.stack(self.energy, 1).numpy(), torch.stack(self.projections, 2).numpy(),
                      accept.numpy())


def _log_q(b: torch.Tensor, a: torch.Tensor, grad_a: torch.Tensor, c: LangevinConfig) -> torch.Tensor:
    """log N(b; a - s clip(grad E(a)), sigma^2 I) up to a constant, per chain, in float64."""
    g = grad_a.double()
    if c.grad_clip is not None:
        g = g.clamp(-c.grad_clip, c.grad_clip)
    mean = a.double() - c.step_size * g
    return -(b.double() - mean).pow(2).flatten(1).sum(dim=1) / (2 * c.noise**2)


def run_traced(model: Model, config: LangevinConfig, labels: torch.Tensor | None, starts: torch.Tensor,
               directions: torch.Tensor, generator: torch.Generator, temperature: float | None = None) -> Traces:
    """Run chains from ``starts`` (with ``labels`` for a conditional model) and return their traces."""
    if config.noise <= 0:
        raise ValueError("the MALA diagnostic needs sampler noise > 0")
    tracer = _Tracer(model, directions, config, implied_temperature(config) if temperature is None else temperature)
    model.eval()
    result = langevin(tracer, starts, config, y=labels, generator=generator, model=model)
    return tracer.finish(result.x, labels)


def chain_starts(count: int, shape: tuple[int, ...], value_range: tuple[float, float], seeds: list[int],
                 device: torch.device) -> torch.Tensor:
    """One uniform-noise start per chain, each from its own seed (so chains differ only by their seeds)."""
    if len(seeds) != count:
        raise ValueError("one seed per chain")
    return torch.cat([uniform_noise(1, shape, value_range, device, make_generator(s, device)) for s in seeds])
