"""Synthetic and derived OOD sets: shapes, value ranges, determinism, and that each is what its name says."""

from __future__ import annotations

import pytest
import torch

from ebmbench.data.base import DataContext, load_dataset
from ebmbench.errors import DataError

GENERATED = ["constant", "uniform", "gaussian", "photo-patches"]


def _x(name: str, split: str = "test", **kw: object) -> torch.Tensor:
    return load_dataset(name, split, DataContext(**kw)).tensors()[0]  # type: ignore[arg-type]


@pytest.mark.parametrize("name", GENERATED)
@pytest.mark.parametrize("shape", [(3, 8, 6), (1, 5, 5)])
def test_generated_sets_have_shape_count_range_and_no_labels(name: str, shape: tuple[int, int, int]) -> None:
    imageset = load_dataset(name, "test", DataContext(shape=shape, n=7))
    x, y = imageset.tensors()
    assert imageset.shape == shape and x.shape == (7, *shape) and x.dtype == torch.float32
    assert x.min() >= 0 and x.max() <= 1 and x.std() > 0
    assert y.tolist() == [-1] * 7 and imageset.num_classes == 0


@pytest.mark.parametrize("name", GENERATED)
def test_generated_sets_are_determined_by_seed_and_split(name: str) -> None:
    kw = {"shape": (3, 6, 6), "n": 4}
    assert torch.equal(_x(name, seed=1, **kw), _x(name, seed=1, **kw))
    assert not torch.equal(_x(name, seed=1, **kw), _x(name, seed=2, **kw))
    assert not torch.equal(_x(name, "train", seed=1, **kw), _x(name, "test", seed=1, **kw))


@pytest.mark.parametrize("name", GENERATED)
def test_generated_sets_need_a_target_shape(name: str) -> None:
    with pytest.raises(DataError, match="needs a target shape"):
        load_dataset(name, "test", DataContext(n=3))


def test_default_size_is_1000() -> None:
    assert len(load_dataset("uniform", "test", DataContext(shape=(1, 2, 2)))) == 1000


def test_constant_images_are_flat_per_channel_with_varying_colours() -> None:
    x = _x("constant", shape=(3, 4, 5), n=50)
    assert torch.all(x.flatten(2).std(dim=2) == 0)
    colours = x[:, :, 0, 0]
    assert colours.std(dim=0).min() > 0.1 and colours.std(dim=1).max() > 0


def test_noise_sets_have_their_documented_moments() -> None:
    uniform, gaussian = _x("uniform", shape=(1, 16, 16), n=100), _x("gaussian", shape=(1, 16, 16), n=100)
    assert abs(uniform.mean() - 0.5) < 0.01 and abs(uniform.var() - 1 / 12) < 0.005
    assert abs(gaussian.mean() - 0.5) < 0.01 and 0.23 < gaussian.std() < 0.25  # clamping trims the tails
    assert (gaussian == 0).any() and (gaussian == 1).any()


def test_photo_patches_look_like_photos_not_noise() -> None:
    x = _x("photo-patches", shape=(3, 16, 16), n=20)
    neighbour_diff = (x[..., 1:] - x[..., :-1]).abs().mean()
    assert neighbour_diff < 0.1  # natural images are smooth; uniform noise would give about 1/3
    assert x.mean(dim=(1, 2, 3)).std() > 0.02  # different crops, different content


def _is_pair_midpoint(z: torch.Tensor, pool: torch.Tensor) -> bool:
    """Whether z == (a + b) / 2 for two different images a, b of pool."""
    partner = 2 * z - pool  # for each a, the b that would be needed
    matches = torch.cdist(partner.flatten(1), pool.flatten(1)) < 1e-4
    matches.fill_diagonal_(False)
    return bool(matches.any())


def test_interp_images_are_midpoints_of_pairs_of_the_named_set() -> None:
    digits, _ = load_dataset("digits", "test").tensors()
    interp = load_dataset("interp:digits", "test", DataContext(n=6, seed=3))
    x, y = interp.tensors()
    assert interp.name == "interp:digits" and interp.shape == (1, 8, 8) and y.tolist() == [-1] * 6
    assert all(_is_pair_midpoint(z, digits) for z in x)
    assert not any(_is_pair_midpoint(z, digits) for z in torch.rand(3, 1, 8, 8))
    assert torch.equal(x, _x("interp:digits", n=6, seed=3))
    assert not torch.equal(x, _x("interp:digits", n=6, seed=4))


def test_interp_without_a_name_uses_the_reference_set_and_conforms() -> None:
    imageset = load_dataset("interp", "test", DataContext(reference="digits", shape=(3, 12, 12), n=5))
    assert imageset.name == "interp:digits" and imageset.tensors()[0].shape == (5, 3, 12, 12)
    with pytest.raises(DataError, match="needs a dataset"):
        load_dataset("interp", "test", DataContext(n=5))
    with pytest.raises(DataError, match="needs a dataset"):
        load_dataset("interp:", "test", DataContext(reference="interp:", n=5))


def test_flip_and_invert_transform_the_named_set_and_keep_labels() -> None:
    x, y = load_dataset("digits", "test").tensors()
    flipped = load_dataset("flip:digits", "test")
    inverted = load_dataset("invert", "test", DataContext(reference="digits"))
    assert flipped.name == "flip:digits" and inverted.name == "invert:digits"
    fx, fy = flipped.tensors()
    ix, iy = inverted.tensors()
    assert torch.equal(fx, x.flip(-2)) and not torch.equal(fx, x) and torch.equal(fy, y)
    assert torch.allclose(ix, 1 - x) and torch.equal(iy, y) and flipped.num_classes == 10


def test_flip_conforms_to_the_context_shape() -> None:
    flipped = load_dataset("flip:digits", "train", DataContext(shape=(3, 16, 16)))
    assert flipped.shape == (3, 16, 16) and flipped.tensors(n=4)[0].shape == (4, 3, 16, 16)
