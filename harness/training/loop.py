"""The training loop of the contrastive trainers with a replay buffer (EBM, JEM): one process, or data-parallel
over the processes ``torchrun`` starts (DistributedDataParallel; gloo on CPU, nccl on CUDA).

A family supplies a ``ChainRecipe``: its objective (a module whose forward turns data and negatives into the loss
and the metrics to log), its Langevin chain and a few hooks; ``train_with_chains`` does the rest: resuming, the
batches, the negatives from the replay buffer, the optimizer step, the divergence check, the progress bar and
periodic checkpoints.

Data parallelism, and why the number of processes W changes nothing but float rounding:

- ``batch_size`` is the global batch, the same for any W; rank r trains on its rows ``r*b .. (r+1)*b`` (b =
  batch_size / W; a batch that does not split evenly is refused). Every rank draws the same global batch.
- Every random number is drawn for the whole global batch from a stream that every rank holds in the same state,
  and each rank keeps its rows: the buffer's restarts and picks, the Langevin noise (``sampler.ChainNoise``),
  JEM's data noise. Example i gets the numbers it gets in a one-process run, whichever rank trains it.
- The replay buffer is replicated: each rank keeps its own full copy, and after every step the ranks'
  negatives are gathered in rank order and pushed by every rank, so each copy is the buffer of a one-process
  run (the memory of one buffer per rank, uint8; an all-gather of one global batch of negatives per step).
- Losses are means over examples; DDP averages the ranks' gradients, and the mean of W per-rank means over
  equal shares is the global batch's mean. Logged metrics are averaged over the ranks the same way.

So a W-process run follows the one-process run up to the order of float additions (the gradient all-reduce,
smaller convolution batches); the differences start at about 1e-7 relative and grow slowly over training
(tested in ``tests/training/test_data_parallel.py``). The exception is BatchNorm on CPU: each rank normalises
with its own batch's statistics (gloo has no SyncBatchNorm) and the running statistics are rank 0's, broadcast
after every step; on CUDA BatchNorm layers become SyncBatchNorm, which keeps the global batch's statistics.

Rank 0 alone writes checkpoints; the buffer and the random streams it saves are every rank's (they are
replicas, checked equal at each checkpoint with the weights), so ``--resume`` continues bit-exactly with the
same W, and with another W as the uninterrupted run at that W would. The checkpoint records W and the backend.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ebmbench import distributed
from ebmbench.data.base import ImageSet
from ebmbench.errors import EbmbenchError
from ebmbench.models.base import Model
from ebmbench.replay_buffer import ReplayBuffer
from ebmbench.sampler import LangevinConfig, langevin, make_generator
from ebmbench.training.common import (
    TrainRequest,
    check_divergence,
    infinite_batches,
    resume_with_chains,
    save_with_chains,
)
from ebmbench.training.ema import WeightAverage, live_state

Terms = dict[str, torch.Tensor]


def _unchanged(x: torch.Tensor, _step: int) -> torch.Tensor:
    return x


def _nothing(*_args: Any) -> None:
    return None


@dataclass
class ChainRecipe:
    """What one family's contrastive training needs beyond the shared loop.

    ``objective(x, y, x_neg, y_neg)`` returns ``"loss"`` (to minimise; a mean over the examples) and detached
    scalar metrics (means over the examples); it is the module DDP wraps, so it must run every forward pass the
    loss needs. ``chain`` is None when the family draws no negatives (JEM with ``p_x_weight=0``).
    """

    family: str
    model: Model
    objective: nn.Module
    chain: LangevinConfig | None
    conditional_chains: bool = False  # chains keep their data example's label (a conditional EBM)
    sample_in_eval: bool = False  # the model in eval mode while sampling (BatchNorm's running statistics)
    inplace: bool = False  # the sampler's in-place chain (the model's energy keeps no reference to its input)
    noise_name: str = "Langevin noise"  # the sampler's random stream, in resume warnings
    what: str = "training"  # in divergence messages
    advice: str = ""  # what a diverged run should change
    shown: tuple[str, ...] = ("loss", "e_pos", "e_neg")  # metrics in the progress bar
    prepare: Callable[[torch.Tensor, int], torch.Tensor] = _unchanged  # the global batch before use (data noise)
    before_step: Callable[[int], None] = _nothing  # e.g. a learning-rate schedule
    at_checkpoint: Callable[[dict[str, float]], None] = _nothing  # e.g. add the test accuracy to the metrics
    average: float = 0.0  # decay of a weight average saved as the model (0: save the live weights)


def train_with_chains(config: Any, req: TrainRequest, recipe: ChainRecipe, opt: torch.optim.Optimizer,
                      buffer: ReplayBuffer, train_set: ImageSet) -> Path:
    """Train (or resume) with negatives from ``buffer``, in one process or data-parallel, and write the
    checkpoint to ``req.out`` (rank 0); returns the path once it is written."""
    model = recipe.model
    total = min(config.batch_size, len(train_set))  # infinite_batches' global batch
    rows = distributed.local_rows(total, "batch_size")
    gen = make_generator(config.seed, req.device)
    cpu_gen = make_generator(config.seed + 1, "cpu")
    average = WeightAverage(model, recipe.average) if recipe.average else None
    start = resume_with_chains(req, recipe.family, config, average.model if average else model, opt, buffer, gen,
                               cpu_gen, recipe.noise_name, live=model if average else None)
    objective = _data_parallel(recipe.objective, req.device)
    resync = _batch_statistics_stay_local(objective, req.device)
    batches = infinite_batches(train_set, config.batch_size, config.seed, start_step=start)
    bar = tqdm(range(start, config.iterations), desc=f"train {recipe.family}", initial=start,
               total=config.iterations, disable=not (req.progress and distributed.is_main()))
    metrics: dict[str, float] = {}
    for step in bar:
        tic = time.perf_counter()
        _, x, y = next(batches)
        recipe.before_step(step)
        metrics = _step(recipe, objective, opt, buffer, x, y, rows, step, gen, cpu_gen, req.device)
        if resync:  # every rank samples the next negatives with rank 0's running statistics
            distributed.broadcast_tensors(model.buffers())
        if average:
            average.update(model)
        check_divergence(metrics, config.max_energy, step, req.out, recipe.what, recipe.advice)
        bar.set_postfix({k: f"{metrics[k]:.3f}" for k in recipe.shown} |
                        {"img_s": f"{len(x) / (time.perf_counter() - tic):.0f}"})
        if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.iterations:
            recipe.at_checkpoint(metrics)
            _save(req, recipe, config, step + 1, opt, buffer, (gen, cpu_gen), metrics, average)
    if start >= config.iterations and not req.out.exists():
        _save(req, recipe, config, start, opt, buffer, (gen, cpu_gen), metrics, average)
    model.eval()
    distributed.barrier()  # rank 0's checkpoint is complete when any rank returns
    return req.out


def _step(recipe: ChainRecipe, objective: nn.Module, opt: torch.optim.Optimizer, buffer: ReplayBuffer,
          x: torch.Tensor, y: torch.Tensor, rows: slice, step: int, gen: torch.Generator,
          cpu_gen: torch.Generator, device: torch.device) -> dict[str, float]:
    """One optimizer step on this rank's rows of the global batch ``(x, y)``; the metrics of the global batch."""
    x, y = recipe.prepare(x.to(device), step), y.to(device)
    x_neg = y_neg = None
    if recipe.chain is not None:
        x_neg, y_neg = _negatives(recipe, buffer, y, rows, gen, cpu_gen, device)
    terms: Terms = objective(x[rows], y[rows], x_neg, y_neg)
    opt.zero_grad(set_to_none=True)
    terms["loss"].backward()
    opt.step()
    return distributed.mean_over_ranks({k: v.item() for k, v in terms.items()}, device)


def _negatives(recipe: ChainRecipe, buffer: ReplayBuffer, y: torch.Tensor, rows: slice, gen: torch.Generator,
               cpu_gen: torch.Generator, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
    """This rank's negatives: the global batch's chain starts drawn from the (replicated) buffer, this rank's
    rows run through Langevin, and every rank's final states pushed into every rank's buffer."""
    assert recipe.chain is not None
    model, cond = recipe.model, recipe.conditional_chains
    x0, labels, _ = buffer.sample(len(y), device, cpu_gen, labels=y if cond else None)
    y_neg = labels[rows] if cond else None
    if recipe.sample_in_eval:
        model.eval()
    x_neg = langevin(model.energy, x0[rows], recipe.chain, y_neg, generator=gen, model=model,
                     inplace=recipe.inplace, rows=(rows.start, len(y))).x
    if recipe.sample_in_eval:
        model.train()
    buffer.push(distributed.gather_rows(x_neg), distributed.gather_rows(y_neg) if cond else None)
    return x_neg, y_neg


def _has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def _data_parallel(objective: nn.Module, device: torch.device) -> nn.Module:
    """The objective as DistributedDataParallel under torchrun (itself in one process). Buffers (BatchNorm's
    running statistics, spectral norm's power-iteration vectors) are broadcast from rank 0 at every forward;
    on CUDA BatchNorm layers synchronise their batch statistics over the ranks. Parameters the loss does not
    use (a WRN's spare head) are allowed (``static_graph``: the same parameters are used at every step): they
    get no gradient, as in one process."""
    if not distributed.active():
        return objective
    if _has_batchnorm(objective) and device.type == "cuda":
        objective = nn.SyncBatchNorm.convert_sync_batchnorm(objective)
    elif _has_batchnorm(objective) and distributed.is_main():
        warnings.warn("BatchNorm on CPU processes uses each process's own batch statistics (no SyncBatchNorm "
                      "on gloo), so this run differs from a one-process run by more than float rounding",
                      stacklevel=2)
    ids = [device.index] if device.type == "cuda" else None  # buffers are synced at each forward by default
    return nn.parallel.DistributedDataParallel(objective, device_ids=ids, static_graph=True)


def _batch_statistics_stay_local(objective: nn.Module, device: torch.device) -> bool:
    """True when each rank's BatchNorm running statistics follow its own batches (data-parallel on CPU)."""
    return distributed.active() and device.type != "cuda" and _has_batchnorm(objective)


def _save(req: TrainRequest, recipe: ChainRecipe, config: Any, step: int, opt: torch.optim.Optimizer,
          buffer: ReplayBuffer, gens: tuple[torch.Generator, torch.Generator], metrics: dict[str, float],
          average: WeightAverage | None = None) -> None:
    """Rank 0 writes the checkpoint, after checking that every rank holds the same replica of what it saves.
    With a weight average, the average is the checkpoint's model and the live weights are kept beside it."""
    model = recipe.model
    gen, cpu_gen = gens
    saved = average.model if average else model
    replica = [*model.state_dict().values(), *saved.state_dict().values(), *buffer.state().values(),
               gen.get_state(), cpu_gen.get_state(),
               *(t for st in opt.state.values() for t in st.values() if isinstance(t, torch.Tensor))]
    if not distributed.replicas_agree(replica):
        raise EbmbenchError(f"{recipe.what} stopped at step {step}: the {distributed.world_size()} processes no "
                            "longer hold identical weights, optimizer state or replay buffers (nondeterministic "
                            "kernels, or a bug to report); nothing was written for this step")
    if distributed.is_main():
        save_with_chains(req, saved, config, step, opt, buffer, gen, cpu_gen, metrics,
                         live_state(model) if average else None)
