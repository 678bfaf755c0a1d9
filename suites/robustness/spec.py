"""The robustness suite's spec (torch-free; see ebmbench.spec)."""

from ebmbench.layout import Layout, Lead, Name
from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance

# The sanity checks (see sanity.py); each is recorded as ``sanity_CHECK``: how many numbers failed it.
CHECKS: tuple[str, ...] = ("eps0_clean", "monotone", "adaptive_vs_transfer", "adaptive_equals_transfer",
                           "masked_gradients")

# Short names of threat models and defenses (one legend in the reports); rows are ordered by group: the paper's
# protocol and plain white-box attacks, then the adaptive attacks, then the controls.
THREATS: tuple[Name, ...] = (
    Name("white-box", "white-box", "PGD with the gradients of the view it evaluates", "1 protocol"),
    Name("transfer-from-classifier", "paper", "the paper's protocol: PGD examples of the plain classifier view, "
         "evaluated after purification", "1 protocol"),
    Name("bpda+eot", "BPDA+EOT", "adaptive: gradients through the purification by straight-through "
         "approximation, averaged over draws of its noise", "2 adaptive"),
    Name("full", "unrolled", "adaptive: gradients through the unrolled Langevin steps, with EOT", "2 adaptive"),
    Name("autoattack", "AutoAttack", "adaptive: torchattacks' AutoAttack (BPDA on the purified view)",
         "2 adaptive"),
    Name("square", "Square", "gradient-free: the Square attack (no gradients to mask)", "2 adaptive"),
    Name("transfer-from:*", "from {}", "control: PGD examples of baseline {} evaluated on the model",
         "3 control"),
    Name("*noise*", "{}", "control: {}", "3 control"),
)
DEFENSES: tuple[Name, ...] = (
    Name("none", "plain", "no defense: the classifier's logits"),
    Name("langevin", "Langevin", "purified by a few Langevin steps of the EBM before classifying"),
    Name("*noise*", "{}", "control: {}"),
)

SPEC = SuiteSpec(
    name="robustness",
    version="1",
    description="PGD robustness (L∞, L2) of the EBM as a classifier, purified or not, vs baselines",
    metrics=(
        Metric("clean_accuracy", True, "clean accuracy"),
        Metric("robust_accuracy", True, "robust accuracy"),
        # accuracy of the purification minus its noise-only control's (same examples and draws; paired interval)
        Metric("purification_gain", True, "gain over the noise-only control"),
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
    layouts=(
        Layout("Robust accuracy ↑ against ε", ("robust_accuracy",), ("model", "defense", "threat_model"),
               "epsilon", split=("norm",), column_label="epsilon_label",
               leads=(Lead("clean", ("model", "defense"), metric="clean_accuracy"),),
               names=(("threat_model", THREATS), ("defense", DEFENSES)), figure="accuracy", best="",
               column_format="ε={}", reduce=(("threat_model", "worst"), ("defense", "best")),
               note="Stochastic defenses: mean over draws of their noise."),
    ),
)
