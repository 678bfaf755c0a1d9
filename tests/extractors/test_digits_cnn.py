"""The shipped digits-cnn extractor and the Inception spec: fixed small weights that classify the digits, standardised
features, torch-fidelity's input contract, and one-line errors for missing or unusable Inception weights."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from sklearn.metrics import accuracy_score

from ebmbench.data.base import DataContext
from ebmbench.data.digits import load_digits_split
from ebmbench.errors import EbmbenchError
from ebmbench.extractors import make_extractor, to_uint8
from ebmbench.extractors.digits_cnn import DEFAULT_WEIGHTS, DigitsCNNFeatureExtractor
from ebmbench.extractors.inception import FILENAME, InceptionExtractor


def digits(split: str) -> tuple[torch.Tensor, np.ndarray]:
    x, y = load_digits_split(split, DataContext()).tensors()
    return to_uint8(x), y.numpy()


def test_shipped_weights_are_small_safetensors() -> None:
    assert DEFAULT_WEIGHTS.stat().st_size < 1_000_000
    tensors = load_file(str(DEFAULT_WEIGHTS))
    assert {"feature_mean", "feature_std"} <= set(tensors)


def test_it_classifies_the_held_out_digits() -> None:
    x, y = digits("test")
    with torch.no_grad():
        logits = DigitsCNNFeatureExtractor("digits-cnn", ["logits"])(x)[0]
    assert accuracy_score(y, logits.argmax(1).numpy()) > 0.95


def test_features_are_standardised_on_the_train_split() -> None:
    x, _ = digits("train")
    with torch.no_grad():
        features = DigitsCNNFeatureExtractor("digits-cnn", ["features"])(x)[0].double().numpy()
    live = features.std(0) > 0.05  # units that never fire keep a floored std and stay at 0
    assert np.abs(features.mean(0)).max() < 1e-4
    assert np.allclose(features.std(0, ddof=1)[live], 1.0, atol=1e-3)


def test_it_keeps_torch_fidelitys_input_contract() -> None:
    import torch_fidelity.registry as registry

    make_extractor("digits-cnn").register()
    assert registry.FEATURE_EXTRACTORS_REGISTRY["digits-cnn"] is DigitsCNNFeatureExtractor
    net = DigitsCNNFeatureExtractor("digits-cnn", ["logits", "features"])
    out = net(torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    assert [t.shape for t in out] == [(2, 10), (2, 64)]
    with pytest.raises(ValueError, match="uint8"):
        net(torch.zeros(2, 1, 8, 8))
    with pytest.raises(ValueError, match="Bx1x8x8"):
        net(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


def test_spec_refuses_other_shapes_and_hashes_its_weights() -> None:
    import hashlib

    spec = make_extractor("digits-cnn")
    with pytest.raises(EbmbenchError, match=r"1x8x8 images.*not 1x28x28"):
        spec.check_input((1, 28, 28))
    assert spec.describe()["extractor_sha256"] == hashlib.sha256(DEFAULT_WEIGHTS.read_bytes()).hexdigest()


def test_inception_weights_are_found_checked_and_not_downloaded_unasked(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(EbmbenchError, match=re.escape(f"{FILENAME} not found at {tmp_path / 'torch'}/hub/checkpoints")):
        InceptionExtractor().weights_path()
    with pytest.raises(EbmbenchError, match=r"not found \(looked in .*\); add --download to fetch them once"):
        InceptionExtractor(cache_dir=tmp_path / "cache").weights_path()
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(EbmbenchError, match="not a usable Inception state dict"):
        InceptionExtractor(junk).weights_path()
    fake = tmp_path / "fake.pth"
    torch.save({"fc.weight": torch.zeros(1)}, fake)
    assert InceptionExtractor(fake).weights_path() == fake
    assert InceptionExtractor(fake).adapt(torch.zeros(2, 1, 4, 4, dtype=torch.uint8)).shape == (2, 3, 4, 4)


@pytest.mark.slow
def test_inception_extractor_builds_and_reads_grey_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """torch-fidelity's Inception with random weights (ebmbench never downloads the real ones): the plumbing."""
    import torch_fidelity.feature_extractor_inceptionv3 as inception

    from ebmbench.suites.quality.metrics import extract

    seed_file = tmp_path / "seed.pth"
    torch.save({}, seed_file)
    with monkeypatch.context() as patch:
        patch.setattr(inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None)
        net = inception.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                                    feature_extractor_weights_path=str(seed_file))
    weights = tmp_path / FILENAME
    torch.save(net.state_dict(), weights)
    spec = InceptionExtractor(weights)
    features = extract(spec, spec.build(("isc", "fid")), torch.zeros(2, 1, 8, 8, dtype=torch.uint8), "cpu")
    assert features["2048"].shape == (2, 2048) and features["logits_unbiased"].shape == (2, 1008)
