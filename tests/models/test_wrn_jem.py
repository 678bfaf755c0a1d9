"""JEM's Wide ResNet normalisations and the JEM model's two heads (ccf, f)."""

import pytest
import torch
from torch import nn

from ebmbench.models.base import ModelInfo
from ebmbench.models.jem import JEM
from ebmbench.models.wrn import NORM_KEYS, NORMS, ActNorm, WideResNet, norms_fitting
from ebmbench.sampler import LangevinConfig


def test_actnorm_is_a_per_channel_affine_with_jems_tensor_names() -> None:
    norm = ActNorm(3)
    assert set(norm.state_dict()) == {"loc", "scale", "initialized"}
    assert norm.initialized.dtype == torch.uint8 and int(norm.initialized) == 1
    with torch.no_grad():
        norm.loc.copy_(torch.tensor([1.0, -2.0, 0.5]).view(1, 3, 1, 1))
        norm.scale.copy_(torch.tensor([2.0, 0.5, -1.0]).view(1, 3, 1, 1))
    x = torch.randn(2, 3, 4, 4)
    expected = torch.stack([2 * (x[:, 0] + 1), 0.5 * (x[:, 1] - 2), -(x[:, 2] + 0.5)], dim=1)
    with torch.no_grad():
        assert torch.allclose(norm(x), expected)
        norm.train()
        assert torch.allclose(norm(x), expected)  # no data-dependent start, in either mode


@pytest.mark.parametrize("norm", NORMS)
def test_each_norm_has_its_tensors_and_is_recognised_by_them(norm: str) -> None:
    net = WideResNet(10, 1, 3, norm)
    held = {k[len("bn1."):] for k in net.state_dict() if k.startswith("bn1.")}
    assert held == NORM_KEYS[norm]
    fits = norms_fitting({f"f.{k}": v for k, v in net.state_dict().items()})
    assert fits == (("instance", "layer") if norm in ("instance", "layer") else (norm,))
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert net.eval()(x).shape == (3, 64)


def test_batch_norm_without_num_batches_tracked_still_fits() -> None:
    state = {f"f.{k}": v for k, v in WideResNet(10, 1, 3, "batch").state_dict().items()
             if not k.endswith("num_batches_tracked")}
    assert norms_fitting(state) == ("batch",)


def _info(conditional: bool) -> ModelInfo:
    return ModelInfo(family="jem", dataset="cifar10", input_shape=(3, 32, 32), num_classes=10,
                     conditional=conditional)


def test_head_f_is_an_unconditional_energy_from_the_one_output_head() -> None:
    torch.manual_seed(0)
    model = JEM(_info(False), {"arch": "wrn", "depth": 10, "width": 1, "norm": "layer", "head": "f",
                               "input_range": [-1.0, 1.0]}).eval()
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        features = model.net.f(2 * x - 1)
        assert torch.allclose(model.energy(x), -model.net.energy_output(features)[:, 0], atol=1e-6)
        assert torch.allclose(model.logits(x), model.net.class_output(features), atol=1e-6)
    assert isinstance(model.net.f.bn1, nn.GroupNorm) and model.head == "f"
    # unconditional sampling descends this energy (no labels): noiseless small steps lower it for every chain
    chains = model.sample(3, LangevinConfig(steps=3, step_size=1e-3, noise=0.0, clamp=None),
                          generator=torch.Generator().manual_seed(0), record=True)
    assert chains.x.shape == (3, 3, 32, 32) and chains.energies.shape == (3, 3)
    with torch.no_grad():
        assert (model.energy(chains.x) < chains.energies[0]).all()


@pytest.mark.parametrize(("conditional", "config", "message"), [
    (True, {"head": "f"}, "unconditional"),
    (False, {"head": "ccf"}, "class-conditional"),
    (False, {"head": "f", "arch": "small"}, "arch wrn"),
    (True, {"head": "uncond"}, "ccf, f"),
])
def test_heads_that_do_not_fit_the_info_are_refused(conditional: bool, config: dict, message: str) -> None:
    base = {"arch": "wrn", "depth": 10, "width": 1, "input_range": [-1.0, 1.0]}
    with pytest.raises(ValueError, match=message):
        JEM(_info(conditional), {**base, **config})
