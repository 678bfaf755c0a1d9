"""The project's registries and its built-in entries (lazy, so listing imports nothing heavy).

Built-in suites are found, not listed: every subpackage of ``ebmbench.suites`` with a ``spec.py`` holding a
``SPEC`` (torch-free) is a suite, registered under ``SPEC.name`` (see ARCHITECTURE.md). Other packages add
entries through the entry-point groups ``ebmbench.suites``, ``ebmbench.datasets`` and ``ebmbench.models``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from ebmbench.registry import Registry
from ebmbench.spec import SuiteSpec

SUITE_PACKAGE = "ebmbench.suites"
_discovered = False


def _discover_suites() -> None:
    """Register each built-in suite package's spec (``SPECS``) and implementation (``SUITES``), once."""
    global _discovered
    if _discovered:
        return
    _discovered = True
    package = importlib.import_module(SUITE_PACKAGE)
    for found in pkgutil.iter_modules(package.__path__):
        if not found.ispkg:
            continue
        try:
            module = importlib.import_module(f"{SUITE_PACKAGE}.{found.name}.spec")
        except ModuleNotFoundError as exc:
            if exc.name != f"{SUITE_PACKAGE}.{found.name}.spec":
                raise
            continue
        spec: SuiteSpec = module.SPEC
        SPECS.register(spec.name, spec, replace=True)
        if spec.name not in SUITES._entries:
            SUITES.register(spec.name, spec.implementation)


SUITES: Registry = Registry("suite", "ebmbench.suites", discover=_discover_suites)
SPECS: Registry = Registry("suite spec", discover=_discover_suites)
DATASETS: Registry = Registry("dataset", "ebmbench.datasets")
MODELS: Registry = Registry("model", "ebmbench.models")
EXTRACTORS: Registry = Registry("feature extractor", "ebmbench.extractors")
TRAINERS: Registry = Registry("trainer", "ebmbench.trainers")

# --- datasets: name -> loader(split, ctx[, argument]) -> ImageSet --------------------------------------------
DATASETS.register("digits", "ebmbench.data.digits:load_digits_split")
DATASETS.register("cifar10", "ebmbench.data.vision:load_cifar10")
DATASETS.register("cifar100", "ebmbench.data.vision:load_cifar100")
DATASETS.register("svhn", "ebmbench.data.vision:load_svhn")
DATASETS.register("mnist", "ebmbench.data.vision:load_mnist")
DATASETS.register("fashion-mnist", "ebmbench.data.vision:load_fashion_mnist")
DATASETS.register("celeba", "ebmbench.data.vision:load_celeba")
DATASETS.register("dtd", "ebmbench.data.vision:load_dtd")
DATASETS.register("imagenet32", "ebmbench.data.vision:load_imagenet32")
DATASETS.register("constant", "ebmbench.data.synthetic:load_constant")
DATASETS.register("uniform", "ebmbench.data.synthetic:load_uniform")
DATASETS.register("gaussian", "ebmbench.data.synthetic:load_gaussian")
DATASETS.register("photo-patches", "ebmbench.data.synthetic:load_photo_patches")
DATASETS.register("interp", "ebmbench.data.synthetic:load_interp")
DATASETS.register("flip", "ebmbench.data.synthetic:load_flip")
DATASETS.register("invert", "ebmbench.data.synthetic:load_invert")
DATASETS.register("folder", "ebmbench.data.folder:load_folder")
DATASETS.register("classes", "ebmbench.data.subsets:load_classes")

# --- models: family -> Model subclass (built from a checkpoint's config; trained by its ``trainer``) ---------
MODELS.register("ebm", "ebmbench.models.ebm:EnergyModel")
MODELS.register("classifier", "ebmbench.models.classifier:Classifier")
MODELS.register("dummy", "ebmbench.models.dummy:QuadraticEnergy")
MODELS.register("glow", "ebmbench.models.glow:Glow")
MODELS.register("pixelcnn", "ebmbench.models.pixelcnn:PixelCNN")
MODELS.register("jem", "ebmbench.models.jem:JEM")

# --- trainers: family -> Trainer (its Config and train function) ------------------------------------------------
for _family in ("ebm", "classifier", "glow", "pixelcnn", "jem"):
    TRAINERS.register(_family, f"ebmbench.training.{_family}:TRAINER")

# --- feature extractors for the quality metrics: name -> Extractor subclass ----------------------------------
EXTRACTORS.register("digits-cnn", "ebmbench.extractors.digits_cnn:DigitsCNNExtractor")
EXTRACTORS.register("inception-v3-compat", "ebmbench.extractors.inception:InceptionExtractor")


def suite_spec(name: str) -> SuiteSpec | None:
    """The spec of suite ``name``: a built-in's from its spec module (no torch), a plugin's from its Suite
    class; None for a suite unknown here or one that cannot be imported (its records still get reported)."""
    if name in SPECS:
        return SPECS.get(name)
    try:
        return getattr(SUITES.get(name), "spec", None)
    except Exception:  # an unknown or broken plugin: reports fall back to what the records say
        return None


def spec_function(name: str, path: str) -> Any:
    """A function a suite's spec names as ``"module:attr"`` (e.g. its per-sample resampler for compare),
    imported only when asked for."""
    from ebmbench.registry import _import_string

    return _import_string(path, "suite", name)


def suite_specs() -> list[SuiteSpec]:
    """The specs of every registered suite that has one, by name."""
    names = sorted(set(SPECS.names()) | set(SUITES.names()))
    return [spec for name in names if (spec := suite_spec(name)) is not None]
