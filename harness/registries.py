"""The project's registries and its built-in entries (lazy, so listing imports nothing heavy).

Other packages add entries through the entry-point groups ``ebmbench.suites``, ``ebmbench.datasets`` and
``ebmbench.models``.
"""

from __future__ import annotations

from ebmbench.registry import Registry

SUITES: Registry = Registry("suite", "ebmbench.suites")
DATASETS: Registry = Registry("dataset", "ebmbench.datasets")
MODELS: Registry = Registry("model", "ebmbench.models")
EXTRACTORS: Registry = Registry("feature extractor", "ebmbench.extractors")

# --- suites: name -> Suite subclass -------------------------------------------------------------------------
SUITES.register("energy", "ebmbench.suites.energy:EnergySuite")
SUITES.register("ood", "ebmbench.suites.ood.suite:OODSuite")
SUITES.register("quality", "ebmbench.suites.quality.suite:QualitySuite")
SUITES.register("robustness", "ebmbench.suites.robustness.suite:RobustnessSuite")

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

# --- feature extractors for the quality metrics: name -> Extractor subclass ----------------------------------
EXTRACTORS.register("digits-cnn", "ebmbench.extractors.digits_cnn:DigitsCNNExtractor")
EXTRACTORS.register("inception-v3-compat", "ebmbench.extractors.inception:InceptionExtractor")
