"""What every trainer shares: the ``Trainer`` interface and its lookup by family, infinite seeded batches,
optimizer and RNG state as tensors (so checkpoints stay pickle-free), and periodic atomic checkpoints."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ebmbench import distributed
from ebmbench.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from ebmbench.data.base import ImageSet, load_dataset
from ebmbench.errors import DivergenceError, EbmbenchError
from ebmbench.limits import check_sizes
from ebmbench.models.base import Model
from ebmbench.seeds import mix
from ebmbench.training.ema import restore_live

if TYPE_CHECKING:
    from ebmbench.data.base import DataContext
    from ebmbench.replay_buffer import ReplayBuffer


@dataclass(frozen=True)
class TrainRequest:
    """Where and how to train, independent of the family's own config."""

    out: Path
    device: torch.device
    resume: bool = False
    progress: bool = True


@dataclass(frozen=True)
class Trainer:
    """How one model family is trained, the same for every family: ``Config`` (a frozen options dataclass,
    ``--set key=value``) and ``train(config, request, data) -> checkpoint path`` (resumable, seeded). Each
    trainer module exposes one as ``TRAINER``, registered in ``ebmbench.registries.TRAINERS``. Only trainers
    with ``data_parallel`` may run under torchrun; the others train in one process."""

    family: str
    Config: type
    train: Callable[[Any, TrainRequest, DataContext | None], Path]
    data_parallel: bool = False  # trains data-parallel under torchrun (``ebmbench.training.loop``)


def trainer(family: str) -> Trainer:
    """The trainer of a model family (``ebmbench train --kind FAMILY``); a one-line error when there is none."""
    from ebmbench.registries import MODELS, TRAINERS

    if family not in TRAINERS:
        if family in MODELS:
            raise EbmbenchError(f"model family {family!r} cannot be trained by ebmbench; trainable: "
                                f"{', '.join(TRAINERS.names())}")
        TRAINERS.get(family)  # unknown: "did you mean"
    return TRAINERS.get(family)


def training_set(config: Any, ctx: DataContext, family: str) -> ImageSet:
    """``config.dataset``'s train split, after the size options of ``config`` are checked against its real image
    shape (the command line could only check them against the smallest image, before the data was found)."""
    train_set = load_dataset(config.dataset, "train", ctx)
    check_sizes(config, train_set.shape, f"train --kind {family} on {config.dataset}")
    return train_set


def infinite_batches(data: ImageSet, batch_size: int, seed: int, start_step: int = 0
                     ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
    """``(epoch, x, y)`` forever, from batch ``start_step`` on. Epoch e is shuffled with seed + e, so a resumed
    run sees exactly the batches the uninterrupted run would have."""
    batch_size = min(batch_size, len(data))
    per_epoch = max(1, len(data) // batch_size)
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        for i, (x, y) in enumerate(data.loader(batch_size, shuffle=True, seed=seed + epoch, drop_last=True)):
            if i >= skip:
                yield epoch, x, y
        skip = 0
        epoch += 1


def optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    """An optimizer's state as flat tensors plus JSON-able param groups."""
    sd = opt.state_dict()
    tensors = {f"optim.{idx}.{key}": torch.as_tensor(val) for idx, st in sd["state"].items()
               for key, val in st.items()}
    return tensors, json.loads(json.dumps(sd["param_groups"]))


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": groups})


def save_training(req: TrainRequest, model: Model, config: Any, step: int, opt: torch.optim.Optimizer,
                  extra_state: dict[str, torch.Tensor], metrics: dict[str, float]) -> None:
    """A resumable checkpoint: weights, optimizer, extra state (buffer, RNG) and the training record (with the
    number of processes that trained it and their backend, None for one process)."""
    optim_tensors, groups = optimizer_state(opt)
    training = {"step": step, "config": asdict(config), "optim_param_groups": groups, "metrics": metrics,
                "world_size": distributed.world_size(), "backend": distributed.backend()}
    save_checkpoint(req.out, model, training=training, state={**optim_tensors, **extra_state})


def resume_from(req: TrainRequest, family: str, config: Any) -> Checkpoint | None:
    """The checkpoint to resume, if ``--resume`` and one exists; refuse one trained with another config."""
    if not (req.resume and req.out.exists()):
        return None
    ckpt = load_checkpoint(req.out, req.device)
    if ckpt.header["family"] != family:
        raise EbmbenchError(f"cannot resume {req.out}: it holds a {ckpt.header['family']} model, not {family}; "
                            f"pass --kind {ckpt.header['family']} or choose another --out")
    old, new = ckpt.training.get("config") or {}, json.loads(json.dumps(asdict(config)))
    if old != new:
        diff = ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in sorted(set(old) | set(new))
                         if old.get(k) != new.get(k))
        raise EbmbenchError(f"cannot resume {req.out}: it was trained with a different config ({diff}); pass "
                            "the same --set options or choose another --out")
    return ckpt


def restore_generator(gen: torch.Generator, state: torch.Tensor, seed: int, step: int, what: str) -> None:
    """Restore a generator saved by an interrupted run. A state saved on another device type (a CPU run
    resumed on CUDA, or back) cannot be restored: the generator is reseeded from (seed, step), with a warning,
    and the run goes on; it is then not bit-identical to an uninterrupted one."""
    try:
        gen.set_state(state)
    except RuntimeError:
        import warnings

        warnings.warn(f"{what}: the saved random state belongs to another device type; reseeded from seed and "
                      "step, so this resumed run will not match an uninterrupted one bit for bit", stacklevel=2)
        gen.manual_seed(mix(seed, step))


def save_with_chains(req: TrainRequest, model: Model, config: Any, step: int, opt: torch.optim.Optimizer,
                     buffer: ReplayBuffer, gen: torch.Generator, cpu_gen: torch.Generator,
                     metrics: dict[str, float], extra: dict[str, torch.Tensor] | None = None) -> None:
    """``save_training`` for trainers with a replay buffer: the buffer and both random streams (Langevin
    noise on the device, buffer draws on the CPU) go into the checkpoint, so a resumed run is bit-exact;
    ``extra`` holds further state (the live weights beside a weight average)."""
    state = {f"state.buffer.{k}": v for k, v in buffer.state().items()} | (extra or {})
    state["state.rng.sampler"] = gen.get_state()
    state["state.rng.buffer"] = cpu_gen.get_state()
    save_training(req, model, config, step, opt, state, metrics)


def resume_with_chains(req: TrainRequest, family: str, config: Any, model: Model, opt: torch.optim.Optimizer,
                       buffer: ReplayBuffer, gen: torch.Generator, cpu_gen: torch.Generator, noise: str,
                       live: Model | None = None) -> int:
    """Restore what ``save_with_chains`` wrote (``noise`` names the sampler's stream in warnings); returns the
    step to go on from, 0 when there is nothing to resume. With ``live``, ``model`` is a weight average (the
    checkpoint's model) and ``live`` gets the live weights stored beside it."""
    ckpt = resume_from(req, family, config)
    if ckpt is None:
        return 0
    model.load_state_dict(ckpt.model.state_dict())
    if live is not None:
        restore_live(live, ckpt.state)
    restore_optimizer(opt, ckpt.state, ckpt.training["optim_param_groups"])
    buffer.load_state({k.split(".")[-1]: v for k, v in ckpt.state.items() if k.startswith("state.buffer.")})
    step = int(ckpt.training["step"])
    restore_generator(gen, ckpt.state["state.rng.sampler"], config.seed, step, noise)
    cpu_gen.set_state(ckpt.state["state.rng.buffer"])  # always a CPU generator
    return step


def check_divergence(metrics: dict[str, float], max_energy: float, step: int, out: Path, what: str,
                     advice: str) -> None:
    """Stop a contrastive run whose energies or loss left ``max_energy`` or became non-finite, naming the last
    good checkpoint and what to change."""
    worst = max(abs(metrics["e_pos"]), abs(metrics["e_neg"]), abs(metrics["loss"]))
    if not math.isfinite(worst) or worst > max_energy:
        kept = f"the last good checkpoint is {out}" if out.exists() else "no checkpoint was written yet"
        raise DivergenceError(f"{what} diverged at step {step} (energies {metrics['e_pos']:.3g} / "
                              f"{metrics['e_neg']:.3g}); {kept}; {advice}")
