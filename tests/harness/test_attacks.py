"""The one PGD builder, checked against torchattacks called directly, and EOTPGDL2 against properties that do
not restate its code: one draw is torchattacks' PGDL2; identical draws change nothing; one step from the clean
image follows the summed gradient of the draws."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchattacks

from ebmbench.attacks import EOTPGDL2, make_pgd, step_size


class _Linear(torch.nn.Module):
    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.w = torch.nn.Parameter(torch.randn(64, 10, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.w


class _Cycling(torch.nn.Module):
    """A stochastic model whose k-th forward uses the k-th of several linear models, cyclically."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.models = torch.nn.ModuleList(_Linear(seed) for seed in range(n))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        model = self.models[self.calls % len(self.models)]
        self.calls += 1
        return model(x)


class _Noisy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = _Linear()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x + 0.1 * torch.randn_like(x))


def _data(n: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def _run(attack, x, y, seed=5) -> torch.Tensor:
    torch.manual_seed(seed)
    return attack(x, y)


@pytest.mark.parametrize(("norm", "eot", "direct"), [
    ("linf", 1, lambda m, **k: torchattacks.PGD(m, **k)), ("l2", 1, lambda m, **k: torchattacks.PGDL2(m, **k)),
    ("linf", 3, lambda m, **k: torchattacks.EOTPGD(m, eot_iter=3, **k))])
def test_builder_equals_torchattacks_called_directly(norm, eot, direct) -> None:
    x, y = _data()
    model = _Noisy()
    kwargs = {"eps": 0.3, "alpha": step_size(0.3, 4), "steps": 4, "random_start": True}
    ours = _run(make_pgd(model, norm, 0.3, 4, step_size(0.3, 4), eot=eot), x, y)
    assert torch.equal(ours, _run(direct(model, **kwargs), x, y))


@pytest.mark.parametrize(("model", "eot"), [(_Noisy(), 1), (_Linear(), 3)], ids=["one-draw", "identical-draws"])
def test_eot_pgdl2_is_torchattacks_pgdl2_with_one_draw_or_identical_draws(model: torch.nn.Module, eot: int) -> None:
    """One draw of a stochastic model, or k draws of a deterministic one (their summed gradient has the direction
    of one): torchattacks' PGDL2 examples."""
    x, y = _data()
    ours = _run(EOTPGDL2(model, eps=0.6, alpha=0.2, steps=4, eot_iter=eot), x, y)
    ref = _run(torchattacks.PGDL2(model, eps=0.6, alpha=0.2, steps=4, random_start=True), x, y)
    assert torch.allclose(ours, ref, atol=1e-6)
    assert ((ours - x).flatten(1).norm(dim=1) <= 0.6 + 1e-5).all()


def test_one_step_follows_the_summed_gradient_of_the_draws() -> None:
    """From the clean image (no random start), one step of size alpha goes along the sum over draws of each
    draw's cross-entropy gradient, here computed with F.cross_entropy on each of the cycled linear models."""
    x, y = _data()
    model = _Cycling(3)
    adv = EOTPGDL2(model, eps=10.0, alpha=0.05, steps=1, eot_iter=3, random_start=False)(x, y)
    xr = x.clone().requires_grad_(True)
    total = sum(F.cross_entropy(m(xr), y) for m in model.models)
    (grad,) = torch.autograd.grad(total, xr)
    direction = grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    expected = (x + 0.05 * direction).clamp(0, 1)
    assert torch.allclose(adv, expected, atol=1e-5)
    one = _Cycling(3)
    first_only = EOTPGDL2(one, eps=10.0, alpha=0.05, steps=1, eot_iter=1, random_start=False)(x, y)
    assert not torch.allclose(adv, first_only, atol=1e-3)  # the other draws matter
