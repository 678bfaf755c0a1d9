"""``ebmbench import FORMAT SRC --out X.safetensors``: published or home-made weights as ebmbench checkpoints.

Importing reads tensors only (safetensors, or torch files through ``torch.load(weights_only=True)``); it never
imports or runs code from the file."""

from __future__ import annotations

from pathlib import Path

import click

from ebmbench.errors import EbmbenchError

OUT = click.option("--out", type=click.Path(path_type=Path), required=True, help="Checkpoint file to write.")
OVERWRITE = click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
SHAPE = click.option("--input-shape", default=None, metavar="C,H,W",
                     help="Image shape the network takes [default: the dataset's].")


def _shape(text: str | None) -> tuple[int, int, int] | None:
    if text is None:
        return None
    try:
        c, h, w = (int(v) for v in text.split(","))
        if min(c, h, w) < 1:
            raise ValueError
    except ValueError:
        raise EbmbenchError(f"--input-shape expects C,H,W (three positive integers), not {text!r}") from None
    return c, h, w


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise EbmbenchError(f"{out} exists; pass --overwrite or choose another --out")


@click.group(name="import")
def import_() -> None:
    """Convert weights trained elsewhere into an ebmbench checkpoint (tensors only; no code is run)."""


@import_.command()
@click.argument("src", type=click.Path(path_type=Path))
@OUT
@click.option("--dataset", default=None, help="Dataset it was trained on [default: cifar10 for 10 classes, "
              "cifar100 for 100].")
@SHAPE
@click.option("--norm", type=click.Choice(["none", "batch", "instance", "layer", "act"]), default=None,
              help="JEM's --norm [default: read off the weights; instance and layer look alike there, so give it "
              "for those].")
@click.option("--head", type=click.Choice(["ccf", "f"]), default="ccf", show_default=True,
              help="ccf: JEM's class-conditional model; f: their unconditional model (trained with --uncond).")
@OVERWRITE
def jem(src: Path, out: Path, dataset: str | None, input_shape: str | None, norm: str | None, head: str,
        overwrite: bool) -> None:
    """A JEM checkpoint (Grathwohl et al. 2019): a torch file with model_state_dict (their Wide ResNet) and
    replay_buffer. Depth, width and (where the tensors tell) normalisation are read off the weights; inputs are
    mapped to JEM's [-1, 1]. The file does not say whether it holds JEM's CCF or F model: --head does."""
    from ebmbench.importers.jem import import_jem

    _check_out(out, overwrite)
    click.echo(f"wrote {import_jem(src, out, dataset, _shape(input_shape), norm, head)}")


@import_.command(name="state-dict")
@click.argument("src", type=click.Path(path_type=Path))
@OUT
@click.option("--family", default="ebm", show_default=True, help="ebm or classifier.")
@click.option("--arch", default="igebm-cifar10", show_default=True,
              help="An ebmbench architecture preset (small, resnet, igebm-cifar10).")
@click.option("--dataset", default="cifar10", show_default=True, help="Dataset it was trained on.")
@click.option("--num-classes", type=int, default=None, help="Classes [default: the dataset's].")
@click.option("--conditional", is_flag=True, help="A class-conditional EBM (label modulation).")
@SHAPE
@OVERWRITE
def state_dict(src: Path, out: Path, family: str, arch: str, dataset: str, num_classes: int | None,
               conditional: bool, input_shape: str | None, overwrite: bool) -> None:
    """A plain torch state dict (or safetensors file) of one of ebmbench's own architectures."""
    from ebmbench.importers.state_dict import import_state_dict

    _check_out(out, overwrite)
    path = import_state_dict(src, out, family, arch, dataset, _shape(input_shape), num_classes, conditional)
    click.echo(f"wrote {path}")
