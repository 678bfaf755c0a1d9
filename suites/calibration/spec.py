"""The calibration suite's spec (torch-free; see ebmbench.spec)."""

from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance

SPEC = SuiteSpec(
    name="calibration",
    version="1",
    description="calibration of every classifier view: ECE, NLL, Brier, reliability diagrams",
    metrics=(
        Metric("ece", False, "ECE"),
        Metric("mce", False, "MCE"),
        Metric("nll", False, "NLL", tolerance=Tolerance(rel=0.05)),
        Metric("brier", False, "Brier"),
        Metric("accuracy", True, "accuracy"),
        Metric("confidence", None, "mean confidence"),
    ),
    headline="ece",
    qualifiers=(
        Qualifier("view", "view", place="column"),
        # an ECE with other bins is another estimate: never compared with this one
        Qualifier("bins", "ECE bins", place="row", must_agree=True),
    ),
    tolerance=Tolerance(abs=0.02),  # ECE, Brier and accuracy live in [0, 1] (Brier in [0, 2])
    implementation="ebmbench.suites.calibration.suite:CalibrationSuite",
)
