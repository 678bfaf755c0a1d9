from dataclasses import dataclass

import pytest

from ebmbench.errors import EbmbenchError
from ebmbench.options import build_options, closest


@dataclass(frozen=True)
class Opts:
    n: int = 10
    lr: float = 0.1
    name: str = "x"
    flag: bool = False
    clip: float | None = 0.01
    steps: tuple[int, ...] = (0, 10)


def test_strings_are_converted_by_annotation() -> None:
    opts = build_options(Opts, ["n=5", "lr=1e-3", "flag=true", "clip=none", "steps=1,2,3", "name=abc"])
    assert opts == Opts(n=5, lr=1e-3, name="abc", flag=True, clip=None, steps=(1, 2, 3))


def test_typed_values_pass_through() -> None:
    assert build_options(Opts, {"n": 3, "steps": [4]}) == Opts(n=3, steps=(4,))


def test_unknown_key_suggests_closest() -> None:
    with pytest.raises(EbmbenchError, match=r"unknown option 'stpes'.*did you mean 'steps'"):
        build_options(Opts, ["stpes=3"])


@pytest.mark.parametrize("pair", ["n=abc", "flag=maybe", "lr=fast", "novalue"])
def test_bad_values_are_one_line_errors(pair: str) -> None:
    with pytest.raises(EbmbenchError) as info:
        build_options(Opts, [pair])
    assert "\n" not in str(info.value)


def test_suggestion_prefers_the_fewest_edits() -> None:
    assert closest("nn", ["n", "n_in", "bootstrap"]) == ["n"]
    assert closest("nosie_n", ["noise_n", "batch_size"]) == ["noise_n"]
    assert closest("batchsize", ["batch_size", "n"]) == ["batch_size"]
    assert closest("xyz", ["n", "batch_size"]) == []
