"""The energy suite's spec (torch-free; see ebmbench.spec)."""

from ebmbench.spec import Metric, SuiteSpec, Tolerance

SPEC = SuiteSpec(
    name="energy",
    version="1",
    description="energies on train/test/noise and the train/test gap (overfitting check)",
    metrics=(
        Metric("energy_mean", None, "mean E(x)"),
        Metric("energy_std", None, "std E(x)"),
        Metric("train_test_gap", False, "test − train E(x)"),
        Metric("noise_margin", True, "noise − test E(x)"),
    ),
    headline="train_test_gap",
    tolerance=Tolerance(rel=0.10),  # energies scale with the model: a relative allowance
    implementation="ebmbench.suites.energy.suite:EnergySuite",
)
