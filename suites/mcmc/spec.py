"""The mcmc suite's spec (torch-free; see ebmbench.spec)."""

from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance

# The mixing checks (see suite.py); each is recorded as ``sanity_CHECK``: how many labels failed it.
CHECKS: tuple[str, ...] = ("rhat", "burn_in", "ess", "mala")

SPEC = SuiteSpec(
    name="mcmc",
    version="1",
    description="mixing of the Langevin chains: ESS, split R-hat, burn-in, MALA acceptance",
    metrics=(
        Metric("rhat_energy", False, "split R̂ (energy)", tolerance=Tolerance(abs=0.05)),
        Metric("rhat_projection", False, "split R̂ (projections)", tolerance=Tolerance(abs=0.05)),
        Metric("ess_energy", True, "ESS per chain (energy)"),
        Metric("ess_projection", True, "ESS per chain (projections)"),
        Metric("mala_acceptance", True, "MALA acceptance", tolerance=Tolerance(abs=0.02)),
        Metric("burn_in", False, "burn-in (steps)"),
        *(Metric(f"sanity_{check}", False, f"labels failing {check}", tolerance=Tolerance()) for check in CHECKS),
    ),
    headline="rhat_energy",
    qualifiers=(
        Qualifier("protocol", "protocol", place="setting"),
        Qualifier("chain_steps", "chain steps", place="row"),
        Qualifier("temperature", "MALA T", place="setting"),
    ),
    tolerance=Tolerance(rel=0.10),  # ESS and burn-in are noisy estimates: a relative allowance
    implementation="ebmbench.suites.mcmc.suite:MCMCSuite",
)
