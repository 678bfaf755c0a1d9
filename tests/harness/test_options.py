import dataclasses
import typing
from dataclasses import dataclass, field

import pytest

from ebmbench.errors import EbmbenchError
from ebmbench.options import build_options, describe, option
from ebmbench.sampler import LangevinOptions
from ebmbench.suggest import closest


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


@dataclass(frozen=True)
class Inner:
    step_size: float = 1.0
    clip: float | None = 0.5


def _inner_default() -> Inner:
    return Inner(step_size=2.0)


@dataclass(frozen=True)
class Outer:
    n: int = 1
    sampler: Inner = field(default_factory=_inner_default)


def test_nested_group_keys_start_from_the_fields_default() -> None:
    assert build_options(Outer, ["sampler.clip=none"]) == Outer(sampler=Inner(step_size=2.0, clip=None))
    assert build_options(Outer, ["sampler.step_size=3", "n=2"]) == Outer(n=2, sampler=Inner(3.0, 0.5))
    assert build_options(Outer, {"sampler": {"clip": 0.1}}).sampler == Inner(2.0, 0.1)
    assert build_options(Outer, {"sampler": Inner(4.0, 0.2)}).sampler == Inner(4.0, 0.2)
    assert build_options(Outer, {"sampler.step_size": 5.0}).sampler == Inner(5.0, 0.5)


@pytest.mark.parametrize(("pair", "message"), [
    ("sampler.stepsize=3", r"unknown option 'sampler.stepsize'.*did you mean 'sampler.step_size'"),
    ("step_size=3", r"unknown option 'step_size'.*did you mean 'sampler.step_size'"),
    ("n.x=3", r"unknown option 'n.x'"),
    ("sampler=3", r"'sampler' of .* is a group; set its keys one by one \(sampler.step_size, sampler.clip\)"),
    ("sampler.step_size=fast", r"option 'sampler.step_size' expects float"),
])
def test_nested_mistakes_are_one_line_errors_with_suggestions(pair: str, message: str) -> None:
    with pytest.raises(EbmbenchError, match=message) as info:
        build_options(Outer, [pair])
    assert "\n" not in str(info.value)


def test_describe_spells_out_groups_with_defaults_and_help() -> None:
    @dataclass(frozen=True)
    class Helped:
        k: int = option(3, help="the k")
        sampler: LangevinOptions = option(factory=lambda: LangevinOptions(step_size=1.0), help="update")

    rows = {key: (default, text) for key, _, default, text in describe(Helped)}
    assert rows["k"] == (3, "the k")
    assert rows["sampler.step_size"][0] == 1.0 and rows["sampler.noise"][0] == LangevinOptions().noise
    assert "energy gradient" in rows["sampler.step_size"][1]


def _option_classes() -> list[tuple[str, type]]:
    from ebmbench.registries import SUITES, TRAINERS
    from ebmbench.training.common import trainer

    out = [(f"suite {n}", SUITES.get(n).Options) for n in SUITES.names()]
    out += [(f"train --kind {n}", trainer(n).Config) for n in TRAINERS.names()]
    return out


@pytest.mark.parametrize(("owner", "cls"), _option_classes(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_option_has_help_text(owner: str, cls: type) -> None:
    missing = [key for key, _, _, text in describe(cls) if not text.strip()]
    assert not missing, f"{owner}: options without help: {missing}"


def test_training_and_every_sampling_suite_share_one_langevin_group_with_one_set_of_defaults() -> None:
    from ebmbench.registries import SUITES
    from ebmbench.training.common import trainer

    owners = [trainer("ebm").Config, SUITES.get("quality").Options, SUITES.get("robustness").Options]
    for cls in owners:
        assert typing.get_type_hints(cls)["sampler"] is LangevinOptions
        assert cls().sampler == LangevinOptions()
        assert build_options(cls, ["sampler.noise=0.02"]).sampler.noise == 0.02
    for cls in owners:  # no owner declares the update's settings a second time
        assert not {"step_size", "noise", "grad_clip"} & {f.name for f in dataclasses.fields(cls)}
