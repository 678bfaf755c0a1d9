"""The ood suite's spec (torch-free; see ebmbench.spec). The detection metrics are declared beside their
computation in ``metrics.py``."""

from ebmbench.layout import Layout
from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance

from .metrics import DETECTION

SPEC = SuiteSpec(
    name="ood",
    version="1",
    description="OOD detection (AUROC, AUPR, FPR@95) of energy scores vs Glow, PixelCNN++ and classifier baselines",
    metrics=(*DETECTION, Metric("bits_per_dim", False, "bits/dim")),
    headline="auroc",
    qualifiers=(Qualifier("score", "score", place="column"),),
    tolerance=Tolerance(abs=0.02),  # the detection metrics live in [0, 1]: an absolute allowance
    implementation="ebmbench.suites.ood.suite:OODSuite",
    resample="ebmbench.suites.ood.metrics:weighted_metrics",
    layouts=(
        Layout("OOD detection: AUROC ↑", ("auroc",), ("model", "score_label|score"), "eval_set", last=("average",),
               reduce=(("score_label|score", "best"),),
               note="In-distribution test images are the positive class; every score is higher = more "
                    "in-distribution."),
        Layout("OOD detection: AUPR-IN ↑, AUPR-OUT ↑, FPR@95TPR ↓", ("aupr_in", "aupr_out", "fpr95"),
               ("model", "score_label|score"), "eval_set", last=("average",)),
        Layout("Likelihood models: test bits/dim ↓", ("bits_per_dim",), ("model",), "eval_set"),
    ),
)
