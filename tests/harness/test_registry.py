import dataclasses
from importlib.metadata import EntryPoint

import pytest

from ebmbench.errors import EbmbenchError
from ebmbench.registries import DATASETS, MODELS, SUITES
from ebmbench.registry import Registry, UnknownNameError


class Base:
    pass


class Child(Base):
    pass


def test_register_and_get_object_and_lazy_string() -> None:
    reg: Registry = Registry("thing")
    reg.register("a", Child)
    reg.register("b", "collections:OrderedDict")
    assert reg.get("a") is Child
    from collections import OrderedDict

    assert reg.get("b") is OrderedDict
    assert reg.names() == ["a", "b"]


def test_decorator_registration() -> None:
    reg: Registry = Registry("thing")

    @reg.register("fn")
    def fn() -> int:
        return 1

    assert reg.get("fn")() == 1


def test_unknown_name_suggests_close_match() -> None:
    reg: Registry = Registry("suite")
    reg.register("quality", Child)
    with pytest.raises(UnknownNameError, match=r"did you mean 'quality'"):
        reg.get("qualty")


def test_duplicate_name_is_refused_unless_replace() -> None:
    reg: Registry = Registry("thing")
    reg.register("a", Child)
    with pytest.raises(EbmbenchError, match="already registered"):
        reg.register("a", Base)
    reg.register("a", Base, replace=True)
    assert reg.get("a") is Base


def test_base_class_is_enforced() -> None:
    reg: Registry = Registry("model", base=Base)
    reg.register("ok", Child)
    reg.register("bad", int)
    assert reg.get("ok") is Child
    with pytest.raises(EbmbenchError, match="not a subclass"):
        reg.get("bad")


def test_broken_lazy_entry_is_a_clear_error() -> None:
    reg: Registry = Registry("thing")
    reg.register("x", "no_such_module_xyz:thing")
    with pytest.raises(EbmbenchError, match="cannot be imported"):
        reg.get("x")


def test_entry_points_are_discovered(monkeypatch: pytest.MonkeyPatch) -> None:
    import ebmbench.registry as registry_module

    ep = EntryPoint(name="plugin-suite", value="collections:Counter", group="test.group")
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [ep] if group == "test.group" else [])
    reg: Registry = Registry("suite", "test.group")
    from collections import Counter

    assert "plugin-suite" in reg.names()
    assert reg.get("plugin-suite") is Counter


def test_builtin_registries_resolve() -> None:
    assert "energy" in SUITES.names()
    assert SUITES.get("energy").name == "energy"
    assert callable(DATASETS.get("digits"))
    assert MODELS.get("ebm").family == "ebm"


def test_every_trainable_family_has_one_trainer_with_the_same_interface() -> None:
    from ebmbench.registries import MODELS, TRAINERS
    from ebmbench.training.common import Trainer, trainer

    assert {"ebm", "classifier", "glow", "pixelcnn"} <= set(TRAINERS.names()) <= set(MODELS.names())
    for family in TRAINERS.names():
        t = trainer(family)
        assert isinstance(t, Trainer) and t.family == family
        assert dataclasses.is_dataclass(t.Config) and callable(t.train)
        assert "dataset" in {f.name for f in dataclasses.fields(t.Config)}


def test_untrainable_or_unknown_families_are_one_line_errors() -> None:
    from ebmbench.training.common import trainer

    with pytest.raises(EbmbenchError, match=r"'dummy' cannot be trained by ebmbench; trainable: .*ebm"):
        trainer("dummy")
    with pytest.raises(EbmbenchError, match="did you mean 'glow'"):
        trainer("glwo")
