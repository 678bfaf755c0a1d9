"""The restoration suite's spec (torch-free; see ebmbench.spec)."""

from ebmbench.spec import Metric, Qualifier, SuiteSpec, Tolerance

SPEC = SuiteSpec(
    name="restoration",
    version="1",
    description="denoising and inpainting by Langevin from the corrupted image: PSNR, SSIM, accuracy",
    metrics=(
        Metric("psnr", True, "PSNR (dB)", tolerance=Tolerance(rel=0.03)),
        Metric("ssim", True, "SSIM"),
        Metric("accuracy", True, "classifier accuracy"),
    ),
    headline="psnr",
    qualifiers=(
        Qualifier("steps", "steps", place="row"),
        Qualifier("classifier", "classifier", place="row"),
        Qualifier("label", "label used", place="row", must_agree=True),
    ),
    tolerance=Tolerance(abs=0.02),  # SSIM and accuracy live in [0, 1]
    implementation="ebmbench.suites.restoration.suite:RestorationSuite",
)
