"""Seconds a suite run spends in the evaluated models' forward and backward passes (for the efficiency benchmark).

``ModelClock`` is a context manager for one real suite run (``ebmbench.runner.run_suite``):

- forward: every model loaded from a checkpoint meanwhile (the model under test and its baselines) gets a
  forward pre-hook and a forward hook on each of its child networks; the time between them is forward time.
  Feature extractors (Inception, the digits CNN) are not models under test and are not counted.
- backward: ``torch.autograd.grad`` and ``Tensor.backward`` are timed while the clock runs (the Langevin
  sampler, the attacks and BPDA all differentiate through the models only).

On CUDA the clock synchronises at each boundary, so the figures are wall time on the device too (and the
synchronisation itself slows the run a little: the fraction it reports is a lower bound).
"""

from __future__ import annotations

import time
from typing import Any

import torch

from ebmbench import checkpoint


class ModelClock:
    """Forward and backward seconds of the models loaded while the block runs, and the block's wall time."""

    def __init__(self) -> None:
        self.forward = 0.0
        self.backward = 0.0
        self.forward_calls = 0
        self.backward_calls = 0
        self.forward_rows = 0  # examples through the networks (a conditional EBM's classifier view: 10 per image)
        self.wall = 0.0
        self._depth = 0
        self._start = 0.0
        self._saved: dict[str, Any] = {}
        self._handles: list[Any] = []

    @property
    def fraction(self) -> float:
        """Share of the block's wall time spent in the models' forward and backward."""
        return (self.forward + self.backward) / self.wall if self.wall else 0.0

    def __enter__(self) -> ModelClock:
        self._saved = {"built": checkpoint._built, "grad": torch.autograd.grad, "backward": torch.Tensor.backward}
        built, grad, backward = self._saved["built"], self._saved["grad"], self._saved["backward"]

        def timed_built(*args: Any, **kwargs: Any) -> Any:
            model = built(*args, **kwargs)
            for child in model.children():
                self._handles.append(child.register_forward_pre_hook(self._enter_forward))
                self._handles.append(child.register_forward_hook(self._leave_forward))
            return model

        def timed_grad(*args: Any, **kwargs: Any) -> Any:
            tic = _now()
            try:
                return grad(*args, **kwargs)
            finally:
                self.backward += _now() - tic
                self.backward_calls += 1

        def timed_backward(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            tic = _now()
            try:
                return backward(tensor, *args, **kwargs)
            finally:
                self.backward += _now() - tic
                self.backward_calls += 1

        checkpoint._built = timed_built
        torch.autograd.grad = timed_grad
        torch.Tensor.backward = timed_backward
        self._tic = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.wall = time.perf_counter() - self._tic
        checkpoint._built = self._saved["built"]
        torch.autograd.grad = self._saved["grad"]
        torch.Tensor.backward = self._saved["backward"]
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _enter_forward(self, _module: Any, args: Any) -> None:
        if self._depth == 0:
            self._start = _now()
            if args and isinstance(args[0], torch.Tensor) and args[0].dim():
                self.forward_rows += int(args[0].shape[0])
        self._depth += 1

    def _leave_forward(self, _module: Any, _args: Any, _out: Any) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.forward += _now() - self._start
            self.forward_calls += 1

    def report(self, label: str) -> str:
        other = self.wall - self.forward - self.backward
        return (f"{label}: wall {self.wall:.1f} s = forward {self.forward:.1f} s ({self.forward_calls} calls, "
                f"{self.forward_rows} rows) "
                f"+ backward {self.backward:.1f} s ({self.backward_calls} calls) + other {other:.1f} s; "
                f"in the models' forward and backward: {100 * self.fraction:.1f} %")


def _now() -> float:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter()
