"""Features and metrics for the quality suite: torch-fidelity's own metric functions on features that ebmbench
extracts batch by batch, so samples can stream from the sampler into the extractor.

The metric functions are torch-fidelity's (``isc_features_to_metric``, ``fid_features_to_statistics``,
``fid_statistics_to_metric``, ``prc_features_to_metric``) with its conventions: input 1 is the evaluated set,
input 2 the reference. KID is torch-fidelity's estimator on its own subsets, with the subset sums found in one
pass (``kid.py``: 100 subsets of kernel matrices cost more than sampling on small models). torch-fidelity's
file cache is never used (it keys by name only).
Reference statistics can be saved to and read from a file (``ebmbench stats``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ebmbench import __version__, distributed
from ebmbench.atomic import atomic_path
from ebmbench.errors import EbmbenchError
from ebmbench.extractors.base import Extractor
from ebmbench.suites.quality.kid import kernel_inception_distance

STATS_FORMAT = "ebmbench-quality-stats"


class UInt8Images(Dataset):
    """A uint8 image tensor (N, C, H, W) as the Dataset torch-fidelity takes (item: one C x H x W tensor)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


class FeatureCollector:
    """Feeds uint8 batches through an extractor as they arrive; keeps the features on the CPU and the time."""

    def __init__(self, extractor: Extractor, module: Any, device: torch.device | str, batch_size: int = 64) -> None:
        self.extractor, self.module, self.device, self.batch_size = extractor, module, device, batch_size
        self.parts: dict[str, list[torch.Tensor]] = {}
        self.seconds = 0.0
        self.count = 0

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Features of one batch of uint8 images (CPU float tensors), timed."""
        tic = time.perf_counter()
        parts: dict[str, list[torch.Tensor]] = {}
        for chunk in images.split(self.batch_size):
            out = self.module(self.extractor.adapt(chunk.to(self.device)))
            for name, value in self.module.convert_features_tuple_to_dict(out).items():
                parts.setdefault(name, []).append(value.float().cpu())
        if self.device != "cpu" and torch.device(self.device).type == "cuda":
            torch.cuda.synchronize(self.device)
        self.seconds += time.perf_counter() - tic
        return {name: torch.cat(values) for name, values in parts.items()}

    def append(self, features: dict[str, torch.Tensor]) -> None:
        """Keep features computed by ``extract`` (here or in another process)."""
        for name, value in features.items():
            self.parts.setdefault(name, []).append(value)
        self.count += len(next(iter(features.values()), ()))

    def add(self, images: torch.Tensor) -> None:
        """Extract and keep the features of ``images``; chunks are shared out over torchrun's processes."""
        n_chunks = (len(images) + self.batch_size - 1) // self.batch_size
        distributed.for_each_batch(
            n_chunks, lambda k: self.extract(images[k * self.batch_size:(k + 1) * self.batch_size]),
            lambda _k, features: self.append(features))

    def features(self) -> dict[str, torch.Tensor]:
        if not self.parts:
            raise EbmbenchError("no images reached the feature extractor")
        return {name: torch.cat(parts) for name, parts in self.parts.items()}


def extract(extractor: Extractor, module: Any, images: torch.Tensor, device: torch.device | str,
            batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Features of a whole uint8 tensor, batch by batch."""
    collector = FeatureCollector(extractor, module, device, batch_size)
    collector.add(images)
    return collector.features()


@dataclass
class Reference:
    """What metrics compare against: FID statistics and, for KID and precision/recall, the features themselves."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int
    features: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_features(cls, features: dict[str, torch.Tensor], layers: dict[str, str],
                      meta: dict[str, Any] | None = None) -> Reference:
        from torch_fidelity.metric_fid import fid_features_to_statistics

        if layers["fid"] != layers["kid"] or layers["fid"] != layers["prc"]:
            raise EbmbenchError("reference statistics need FID, KID and precision/recall to read one layer")
        stats = fid_features_to_statistics(features[layers["fid"]])
        return cls(stats["mu"], stats["sigma"], len(features[layers["fid"]]), features[layers["fid"]], meta or {})


@dataclass(frozen=True)
class MetricSettings:
    """The torch-fidelity settings every metric call uses (``rng_seed`` is the run's seed)."""

    isc_splits: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    prc_neighborhood: int = 3
    rng_seed: int = 0

    def kwargs(self) -> dict[str, Any]:
        """As ``torch_fidelity.calculate_metrics`` keyword arguments."""
        return {"isc_splits": self.isc_splits, "kid_subsets": self.kid_subsets,
                "kid_subset_size": self.kid_subset_size, "prc_neighborhood": self.prc_neighborhood,
                "rng_seed": self.rng_seed, "samples_shuffle": True, "save_cpu_ram": True, "verbose": False,
                # precision/recall's distance blocks are prc_batch_size x N: small blocks keep memory ~flat in N
                # (the k-th neighbour distances, so the values, do not depend on the block size)
                "prc_batch_size": 500}


def compute_metrics(features: dict[str, torch.Tensor], reference: Reference, metrics: tuple[str, ...],
                    layers: dict[str, str], settings: MetricSettings) -> dict[str, float]:
    """IS, FID, KID and precision/recall of one set of features against the reference, by torch-fidelity.

    NumPy's BLAS gets as many threads as torch has: on a shared or busy CPU its default (all cores, spinning)
    makes FID's matrix square root and precision/recall's distances several times slower.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=torch.get_num_threads(), user_api="blas"):
        return _compute_metrics(features, reference, metrics, layers, settings)


def _compute_metrics(features: dict[str, torch.Tensor], reference: Reference, metrics: tuple[str, ...],
                     layers: dict[str, str], settings: MetricSettings) -> dict[str, float]:
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    kw = settings.kwargs()
    out: dict[str, float] = {}
    if "isc" in metrics:
        isc = isc_features_to_metric(features[layers["isc"]], settings.isc_splits, True, settings.rng_seed)
        out.update(inception_score=isc["inception_score_mean"], inception_score_std=isc["inception_score_std"])
    if "fid" in metrics:
        stats = fid_features_to_statistics(features[layers["fid"]])
        ref = {"mu": reference.mu, "sigma": reference.sigma}
        out["fid"] = fid_statistics_to_metric(stats, ref, False)["frechet_inception_distance"]
    if "kid" in metrics:
        out["kid"], out["kid_std"] = kernel_inception_distance(
            features[layers["kid"]], _ref_features(reference, "KID"), settings.kid_subsets, settings.kid_subset_size,
            settings.rng_seed)
    if "prc" in metrics:
        prc = prc_features_to_metric(features[layers["prc"]], _ref_features(reference, "precision/recall"), **kw)
        out.update(precision=prc["precision"], recall=prc["recall"], f_score=prc["f_score"])
    return out


def _ref_features(reference: Reference, what: str) -> torch.Tensor:
    if reference.features is None:
        raise EbmbenchError(f"{what} needs the reference features, but the reference statistics file holds only "
                            "FID statistics; write it without --no-features or drop the metric")
    return reference.features


# ---- reference statistics files ------------------------------------------------------------------------------
def save_stats(path: Path, reference: Reference, meta: dict[str, Any], with_features: bool = True) -> Path:
    """Write FID statistics (and the features, for KID and precision/recall) as one safetensors file."""
    from safetensors.torch import save_file

    tensors = {"mu": torch.from_numpy(np.ascontiguousarray(reference.mu)),
               "sigma": torch.from_numpy(np.ascontiguousarray(reference.sigma))}
    if with_features and reference.features is not None:
        tensors["features"] = reference.features.contiguous()
    header = {"format": STATS_FORMAT, "ebmbench_version": __version__, "n": reference.n, **meta}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={STATS_FORMAT: json.dumps(header, sort_keys=True)})
    return path


def read_stats_header(path: Path) -> dict[str, Any]:
    """The JSON description of a statistics file (one-line errors for a missing or foreign file)."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise EbmbenchError(f"no reference statistics at {path}; write them with `ebmbench stats`")
    try:
        with safe_open(str(path), "pt") as fh:
            meta = fh.metadata() or {}
            keys = set(fh.keys())
    except Exception:  # not a safetensors file at all
        raise EbmbenchError(f"{path} is not an ebmbench reference statistics file") from None
    if STATS_FORMAT not in meta:
        raise EbmbenchError(f"{path} is not an ebmbench reference statistics file")
    return {**json.loads(meta[STATS_FORMAT]), "has_features": "features" in keys}


def load_stats(path: Path) -> Reference:
    """A Reference from a statistics file written by ``save_stats``."""
    from safetensors.torch import load_file

    header = read_stats_header(path)
    tensors = load_file(str(path))
    return Reference(tensors["mu"].numpy(), tensors["sigma"].numpy(), int(header["n"]), tensors.get("features"),
                     header)
