"""Train the shipped ``digits-cnn`` extractor: ``python -m ebmbench.extractors.train_digits_cnn [--out PATH]``.

Trained once on the digits' train split (images quantised to uint8 first, as the extractor sees them) with
one-pixel random shifts, seeded, on one CPU thread; the result is committed as ``assets/digits_cnn.safetensors``.
Re-running it reproduces the recipe; the weights' SHA-256 in every result row says which file was used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from ebmbench.data.base import DataContext
from ebmbench.data.digits import load_digits_split
from ebmbench.extractors.base import to_uint8
from ebmbench.extractors.digits_cnn import DEFAULT_WEIGHTS, DigitsCNN, save_weights


def _split(name: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = load_digits_split(name, DataContext()).tensors()
    return to_uint8(x).float() / 255, y


def _shift(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Each image moved by up to one pixel in each direction (zero padding)."""
    padded = F.pad(x, (1, 1, 1, 1))
    dy, dx = torch.randint(0, 3, (2,), generator=gen).tolist()
    return padded[:, :, dy:dy + 8, dx:dx + 8]


def train(epochs: int = 60, batch_size: int = 64, lr: float = 2e-3, seed: int = 0) -> tuple[DigitsCNN, dict]:
    """The trained network and a description (test accuracy, recipe)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    x, y = _split("train")
    net = DigitsCNN()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch_size):
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(net(_shift(x[idx], gen)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    x_test, y_test = _split("test")
    with torch.no_grad():
        acc = (net(x_test).argmax(1) == y_test).float().mean().item()
    meta = {"name": "digits-cnn", "trained_on": "digits/train", "test_accuracy": round(acc, 4), "epochs": epochs,
            "batch_size": batch_size, "lr": lr, "seed": seed, "augment": "1-pixel shifts"}
    return net, meta


def feature_stats(net: DigitsCNN) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std on the train split (std floored so dead units do not blow up)."""
    x, _ = _split("train")
    with torch.no_grad():
        h = net.body(x)
    return h.mean(0), h.std(0).clamp(min=1e-2)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    net, meta = train(args.epochs)
    mean, std = feature_stats(net)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_weights(args.out, net, mean, std, meta)
    print(f"wrote {args.out}: test accuracy {meta['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
