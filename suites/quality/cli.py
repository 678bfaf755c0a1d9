"""``ebmbench stats``: the command line of ``quality_stats``. Kept free of heavy imports so that loading the CLI
(``ebmbench --help``) does not import torch."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="stats")
@click.option("--dataset", default="digits", show_default=True, help="Dataset whose split is the reference.")
@click.option("--split", default="train", show_default=True, help="Reference split (the quality suite's default).")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Statistics file to write.")
@click.option("--extractor", default=None,
              help="digits-cnn or inception-v3-compat [default: digits-cnn for 1x8x8 data, else Inception].")
@click.option("--inception-weights", type=click.Path(path_type=Path), default=None,
              help="torch-fidelity's Inception weights file [default: its cache, or fetched with --download].")
@click.option("--no-features", is_flag=True, help="Store FID statistics only (no KID or precision/recall then).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="Where real datasets live [default: $EBMBENCH_DATA or ~/.cache/ebmbench/data].")
@click.option("--download", is_flag=True,
              help="Allow downloading a missing dataset or the Inception weights (off by default).")
def stats(dataset: str, split: str, out: Path, extractor: str | None, inception_weights: Path | None,
          no_features: bool, device: str, data_root: Path | None, download: bool) -> None:
    """Write reference feature statistics (for `run quality --set reference_stats=PATH`)."""
    from ebmbench.data.base import DataContext, default_data_root
    from ebmbench.devices import resolve_device
    from ebmbench.suites.quality.stats import write_reference_stats

    data = DataContext(root=data_root or default_data_root(), download=download)
    path = write_reference_stats(dataset, split, out, extractor, inception_weights, not no_features,
                                 resolve_device(device), data)
    click.echo(f"wrote {path}")
