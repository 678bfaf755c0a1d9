"""Images scored per second by the OOD suite's scoring, for each model kind, against a plain reference.

For every model kind (unconditional and conditional EBM, Glow, PixelCNN++, classifier) the suite's scoring
(``ood_scores.score_batch``: every applicable score of a batch from shared model outputs) is timed against the
textbook loop that computes each score on its own with direct model calls, on the same images. The ratio
suite / reference says what sharing outputs buys (a conditional EBM's energies for every label feed several
scores, and the gradient-norm score's forward pass serves the energy scores); it should be above 1 for the
EBMs and about 1 (within timing noise, a few percent) for models with a single score. Models are untrained
(speed does not depend on training); ``--shape cifar`` uses 3x32x32 images and CIFAR-sized architectures.

    python benchmarks/bench_ood.py [--shape digits|cifar] [--n 2048] [--batch 256] [--device cuda]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from ebmbench.data.base import tensor_set
from ebmbench.models.base import Model
from ebmbench.options import build_options
from ebmbench.scoring import free_energy
from ebmbench.suites.ood import scores as ood_scores
from ebmbench.training import classifier, ebm, glow, pixelcnn

SHAPES = {"digits": ((1, 8, 8), {}), "cifar": ((3, 32, 32), {
    "glow": {"levels": "3", "steps": "8", "hidden": "128"},
    "pixelcnn": {"filters": "64", "nr_resnet": "2", "resolutions": "3"},
    "ebm": {"arch": "resnet"}, "classifier": {"arch": "resnet"}})}


def build_models(shape: tuple[int, int, int], overrides: dict[str, dict[str, str]]) -> dict[str, Model]:
    """One untrained model of each kind for ``shape``."""
    torch.manual_seed(0)
    data = tensor_set("bench", "train", torch.rand(16, *shape), torch.arange(16) % 10, 10)

    def opts(module, family: str, **extra: str):
        return build_options(module.Config, {**overrides.get(family, {}), **extra})
    return {
        "ebm": ebm.build(opts(ebm, "ebm"), (shape, 10)),
        "ebm (conditional)": ebm.build(opts(ebm, "ebm", conditional="true"), (shape, 10)),
        "glow": glow.build(opts(glow, "glow", bins="256"), data),
        "pixelcnn": pixelcnn.build(opts(pixelcnn, "pixelcnn", bins="256"), data),
        "classifier": classifier.build(opts(classifier, "classifier"), shape, 10),
    }


REFERENCE: dict[str, Callable[[Model, torch.Tensor], torch.Tensor]] = {
    "energy": lambda m, x: -m.energy(x),
    "min_energy": lambda m, x: -m.energy_all_classes(x).min(1).values,
    "logsumexp_energy": lambda m, x: torch.logsumexp(-m.energy_all_classes(x), 1),
    "log_prob": lambda m, x: m.log_prob(x),
    "msp": lambda m, x: torch.softmax(m.logits(x), 1).max(1).values,
    "logsumexp_logits": lambda m, x: torch.logsumexp(m.logits(x), 1),
}


def reference_batch(model: Model, x: torch.Tensor, names: list[str]) -> list[torch.Tensor]:
    """Each score on its own, straight from the model (the textbook loop the suite is measured against)."""
    out = []
    for name in names:
        if name == "grad_norm":
            out.append(_neg_grad_norm(model, x))
            continue
        with torch.no_grad():
            out.append(REFERENCE[name](model, x))
    return out


def _neg_grad_norm(model: Model, x: torch.Tensor) -> torch.Tensor:
    """-||d E(x) / dx|| of the free energy, on its own forward and backward pass."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(free_energy(model, x).sum(), x)
    return -grad.flatten(1).norm(dim=1)


def check_agreement(kind: str, model: Model, x: torch.Tensor, names: list[str]) -> None:
    """The timed paths must compute the same scores: stop before timing if they do not."""
    ours = ood_scores.score_batch(model, x, names)
    for name, ref in zip(names, reference_batch(model, x, names), strict=True):
        if not torch.allclose(ours[name], ref, rtol=1e-4, atol=1e-5):
            raise SystemExit(f"{kind}: suite and reference disagree on {name}")


def timed(fn: Callable[[torch.Tensor], object], x: torch.Tensor, batch: int, device: torch.device) -> float:
    """Images per second of ``fn`` over ``x`` in batches (after one warm-up batch)."""
    fn(x[:batch].to(device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    tic = time.perf_counter()
    for chunk in x.split(batch):
        fn(chunk.to(device))
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return len(x) / (time.perf_counter() - tic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=list(SHAPES), default="digits")
    parser.add_argument("--n", type=int, default=2048)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    shape, overrides = SHAPES[args.shape]
    x = torch.rand(args.n, *shape)
    print(f"OOD scoring throughput, {args.n} images of {'x'.join(map(str, shape))}, batch {args.batch}, {device}")
    print(f"{'model':<18} {'scores':<50} {'suite img/s':>12} {'reference img/s':>16} {'ratio':>6}")
    for kind, model in build_models(shape, overrides).items():
        model = model.to(device).eval()
        names = ood_scores.scores_for(model, ("all",))
        check_agreement(kind, model, x[:args.batch].to(device), names)
        ours = timed(lambda b, m=model, s=names: ood_scores.score_batch(m, b, s), x, args.batch, device)
        ref = timed(lambda b, m=model, s=names: reference_batch(m, b, s), x, args.batch, device)
        print(f"{kind:<18} {','.join(names):<50} {ours:>12.0f} {ref:>16.0f} {ours / ref:>6.2f}")


if __name__ == "__main__":
    main()
