"""The quality suite's spec (torch-free; see ebmbench.spec)."""

from ebmbench.layout import Layout, Lead
from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance

SPEC = SuiteSpec(
    name="quality",
    version="1",
    description="IS, FID, KID, precision/recall of Langevin samples; quality against sampling steps",
    metrics=(
        Metric("inception_score", True, "IS"),
        Metric("fid", False, "FID"),
        Metric("kid", False, "KID"),
        Metric("precision", True, "precision"),
        Metric("recall", True, "recall"),
    ),
    headline="fid",
    qualifiers=(
        # numbers from different feature extractors are different scales: never compared with each other
        Qualifier("extractor", "extractor", place="row", must_agree=True),
        Qualifier("steps", "steps", place="row"),
        Qualifier("protocol", "protocol", place="setting"),
        # sampling levers that change float results: in records only when set (bfloat16, compiled)
        Qualifier("precision", "precision", place="setting"),
        Qualifier("compile", "compile", place="setting"),
    ),
    tolerance=Tolerance(rel=0.05),  # FID, IS and KID scale with the data: a relative allowance
    implementation="ebmbench.suites.quality.suite:QualitySuite",
    layouts=(
        Layout("Sample quality against Langevin steps", ("fid", "inception_score", "kid", "precision", "recall"),
               ("model", "extractor"), "steps", figure="FID", column_format="{} steps",
               leads=(Lead("real data", ("model", "metric", "extractor"), eval_set="real:*"),
                      Lead("uniform noise", ("model", "metric", "extractor"), eval_set="uniform")),
               note="Columns: Langevin steps per sample; real held-out data and uniform noise are the floor and "
                    "ceiling of each metric."),
    ),
)
