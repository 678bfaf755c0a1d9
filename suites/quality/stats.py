"""Reference feature statistics of a dataset split for the quality suite (``--set reference_stats=PATH``), so
that a run need not extract the reference features itself."""

from __future__ import annotations

from pathlib import Path

import torch

from ebmbench.data.base import DataContext, load_dataset
from ebmbench.extractors.base import METRICS, make_extractor, to_uint8
from ebmbench.suites.quality.metrics import Reference, extract, save_stats
from ebmbench.suites.quality.store import tensor_digest


def write_reference_stats(dataset: str, split: str, out: Path, extractor_name: str | None = None,
                          inception_weights: str | Path | None = None, with_features: bool = True,
                          device: torch.device | str = "cpu", data: DataContext | None = None) -> Path:
    """Extract features of every image of ``dataset``/``split`` and save their statistics to ``out``."""
    imageset = load_dataset(dataset, split, data or DataContext())
    shape = tuple(imageset.shape)
    if extractor_name is None:
        extractor_name = "digits-cnn" if shape == (1, 8, 8) and inception_weights is None else "inception-v3-compat"
    from ebmbench.runner import default_cache_dir

    context = data or DataContext()
    extractor = make_extractor(extractor_name, inception_weights, context.download, default_cache_dir())
    extractor.weights_path()
    extractor.check_input(shape)
    images = torch.cat([to_uint8(x, imageset.value_range) for x, _ in imageset.loader(1024)])
    module = extractor.build(METRICS, device)
    reference = Reference.from_features(extract(extractor, module, images, device), extractor.layers)
    meta = {"dataset": dataset, "split": split, "shape": list(shape), "images_sha256": tensor_digest(images),
            **extractor.describe()}
    return save_stats(out, reference, meta, with_features)
