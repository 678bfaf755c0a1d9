"""The robustness suite's spec (torch-free; see ebmbench.spec)."""

from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance

# The sanity checks (see sanity.py); each is recorded as ``sanity_CHECK``: how many numbers failed it.
CHECKS: tuple[str, ...] = ("eps0_clean", "monotone", "adaptive_vs_transfer", "masked_gradients")

SPEC = SuiteSpec(
    name="robustness",
    version="1",
    description="PGD robustness (L∞, L2) of the EBM as a classifier, purified or not, vs baselines",
    metrics=(
        Metric("clean_accuracy", True, "clean accuracy"),
        Metric("robust_accuracy", True, "robust accuracy"),
        *(Metric(f"sanity_{check}", False, f"failed check {check}") for check in CHECKS),
    ),
    headline="robust_accuracy",
    qualifiers=(
        Qualifier("threat_model", "threat model", place="column"),
        Qualifier("norm", "norm", place="row"),
        Qualifier("epsilon", "ε", place="row"),
    ),
    tolerance=Tolerance(abs=0.02),  # accuracies live in [0, 1]: an absolute allowance
    implementation="ebmbench.suites.robustness.suite:RobustnessSuite",
)
