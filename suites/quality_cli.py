"""``ebmbench stats``: write reference feature statistics of a dataset split for the quality suite
(``--set reference_stats=PATH``), so that a run need not extract the reference features itself."""

from __future__ import annotations

from pathlib import Path

import click
import torch

from ebmbench.data.base import DataContext, load_dataset
from ebmbench.extractors.base import METRICS, make_extractor, to_uint8
from ebmbench.suites.quality_metrics import Reference, extract, save_stats
from ebmbench.suites.quality_store import tensor_digest


def write_reference_stats(dataset: str, split: str, out: Path, extractor_name: str | None = None,
                          inception_weights: str | Path | None = None, with_features: bool = True,
                          device: torch.device | str = "cpu", data: DataContext | None = None) -> Path:
    """Extract features of every image of ``dataset``/``split`` and save their statistics to ``out``."""
    imageset = load_dataset(dataset, split, data or DataContext())
    shape = tuple(imageset.shape)
    if extractor_name is None:
        extractor_name = "digits-cnn" if shape == (1, 8, 8) and inception_weights is None else "inception-v3-compat"
    extractor = make_extractor(extractor_name, inception_weights)
    extractor.weights_path()
    extractor.check_input(shape)
    images = torch.cat([to_uint8(x, imageset.value_range) for x, _ in imageset.loader(1024)])
    module = extractor.build(METRICS, device)
    reference = Reference.from_features(extract(extractor, module, images, device), extractor.layers)
    meta = {"dataset": dataset, "split": split, "shape": list(shape), "images_sha256": tensor_digest(images),
            **extractor.describe()}
    return save_stats(out, reference, meta, with_features)


@click.command(name="stats")
@click.option("--dataset", default="digits", show_default=True, help="Dataset whose split is the reference.")
@click.option("--split", default="train", show_default=True, help="Reference split (the quality suite's default).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Statistics file to write.")
@click.option("--extractor", default=None,
              help="digits-cnn or inception-v3-compat [default: digits-cnn for 1x8x8 data, else Inception].")
@click.option("--inception-weights", type=click.Path(path_type=Path), default=None,
              help="torch-fidelity's Inception weights file (never downloaded).")
@click.option("--no-features", is_flag=True, help="Store FID statistics only (no KID or precision/recall then).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="Where real datasets live [default: $EBMBENCH_DATA or ~/.cache/ebmbench/data].")
@click.option("--download", is_flag=True, help="Allow downloading a missing dataset (off by default).")
def stats(dataset: str, split: str, out: Path, extractor: str | None, inception_weights: Path | None,
          no_features: bool, device: str, data_root: Path | None, download: bool) -> None:
    """Write reference feature statistics (for `run quality --set reference_stats=PATH`)."""
    from ebmbench.data.base import default_data_root
    from ebmbench.devices import resolve_device

    data = DataContext(root=data_root or default_data_root(), download=download)
    path = write_reference_stats(dataset, split, out, extractor, inception_weights, not no_features,
                                 resolve_device(device), data)
    click.echo(f"wrote {path}")
