import copy
import math

import pytest
import torch

from ebmbench.models.base import ModelInfo
from ebmbench.models.dummy import QuadraticEnergy
from ebmbench.models.ebm import EnergyModel
from ebmbench.models.networks import resolve_arch
from ebmbench.sampler import LangevinConfig, langevin, make_generator


def _gaussian(mean: float, std: float) -> QuadraticEnergy:
    return QuadraticEnergy(ModelInfo("dummy", "none", (1, 4, 4)), {"mean": mean, "std": std})


def test_textbook_langevin_matches_gaussian_moments() -> None:
    model = _gaussian(0.3, 0.2)
    x0 = torch.rand(4000, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    out = langevin(model.energy, x0, LangevinConfig.textbook(eps=2e-3, steps=400),
                   generator=make_generator(1, "cpu"), model=model)
    # ULA's stationary variance for a Gaussian is std^2 / (1 - eps / (4 std^2)): 1.3% above std^2 here.
    expected_var = 0.2**2 / (1 - 2e-3 / (4 * 0.2**2))
    assert abs(out.x.mean().item() - 0.3) < 0.01
    assert abs(out.x.var().item() / expected_var - 1) < 0.05


def test_same_seed_same_chain_and_different_seed_differs() -> None:
    model = _gaussian(0.5, 0.3)
    x0 = torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    cfg = LangevinConfig(steps=10, step_size=0.01, noise=0.05)
    a = langevin(model.energy, x0, cfg, generator=make_generator(7, "cpu")).x
    b = langevin(model.energy, x0, cfg, generator=make_generator(7, "cpu")).x
    c = langevin(model.energy, x0, cfg, generator=make_generator(8, "cpu")).x
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_clamp_clip_and_recorded_energies() -> None:
    model = _gaussian(5.0, 0.1)  # pulls far outside [0, 1]
    x0 = torch.full((8, 1, 4, 4), 0.5)
    cfg = LangevinConfig(steps=5, step_size=10.0, noise=0.0, grad_clip=0.01, clamp=(0.0, 1.0))
    out = langevin(model.energy, x0, cfg, record=True)
    # each step moves at most step_size * grad_clip = 0.1; five steps from 0.5 end at the clamp, 1.0
    assert out.x.max().item() <= 1.0
    assert torch.allclose(out.x, torch.full_like(out.x, 1.0))
    assert out.energies is not None and out.energies.shape == (5, 8)
    assert (out.energies[1:] < out.energies[:-1]).all()
    one = langevin(model.energy, x0, LangevinConfig(steps=1, step_size=10.0, noise=0.0, grad_clip=0.01)).x
    assert torch.allclose(one, torch.full_like(one, 0.6))


def test_matches_textbook_reference_loop_and_restores_weight_grads() -> None:
    info = ModelInfo("ebm", "digits", (1, 8, 8), 10, conditional=True)
    model = EnergyModel(info, resolve_arch("small", width=8, spectral_norm=True)).eval()
    x0 = torch.rand(6, 1, 8, 8)
    y = torch.arange(6) % 10
    cfg = LangevinConfig(steps=3, step_size=1.0, noise=0.0, grad_clip=None)
    fast = langevin(model.energy, x0, cfg, y, model=model).x
    x = x0.clone()
    for _ in range(3):
        x.requires_grad_(True)
        model.energy(x, y).sum().backward()
        x = (x - x.grad).detach().clamp(0, 1)
    assert torch.allclose(fast, x, atol=1e-5)
    assert all(p.requires_grad for p in model.parameters())


def test_textbook_config_noise_is_sqrt_two_eps() -> None:
    cfg = LangevinConfig.textbook(0.01, 5)
    assert math.isclose(cfg.noise, math.sqrt(0.02))
    assert cfg.clamp is None and cfg.grad_clip is None


def test_model_sample_is_seeded_and_class_conditional() -> None:
    info = ModelInfo("ebm", "digits", (1, 8, 8), 10, conditional=True)
    model = EnergyModel(info, resolve_arch("small", width=8)).eval()
    cfg = LangevinConfig(steps=4, step_size=1.0, noise=0.01)
    y = torch.arange(10)
    a = model.sample(10, cfg, y, make_generator(3, "cpu"), record=True)
    b = model.sample(10, cfg, y, make_generator(3, "cpu"))
    assert torch.equal(a.x, b.x) and a.x.shape == (10, 1, 8, 8)
    assert a.energies is not None and a.energies.shape == (4, 10)
    assert a.x.min() >= 0 and a.x.max() <= 1


def _conv_energy() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.SiLU(), torch.nn.Flatten(),
                               torch.nn.Linear(8 * 8 * 8, 1), torch.nn.Flatten(0))


def test_inplace_chain_is_bit_identical_to_the_textbook_update() -> None:
    from ebmbench.sampler import ChainNoise, _step

    net = _conv_energy()
    x0 = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    cfg = LangevinConfig(steps=6)
    got = langevin(lambda x, _y: net(x), x0, cfg, generator=make_generator(3, "cpu"), model=net, inplace=True).x
    noise, x = ChainNoise(make_generator(3, "cpu"), 0, len(x0)), x0.clone()
    for _ in range(6):  # the update written functionally, one new tensor per operation
        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(x).sum(), x)
        x = _step(x.detach(), grad, cfg, noise)
    assert torch.equal(got, x)
    assert torch.equal(x0, torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)))  # x0 untouched


@pytest.mark.parametrize("inplace", [False, True])
def test_chains_split_by_rows_are_the_chains_of_the_whole_batch(inplace: bool) -> None:
    """Data-parallel training runs rows of one global batch of chains in each process (``rows=(first,
    total)``): each row gets the noise it gets in the whole batch, so the split chains are the whole batch's
    (equal up to the float rounding of a smaller convolution batch)."""
    net = _conv_energy()
    x0 = torch.rand(12, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    cfg = LangevinConfig(steps=5, noise=0.05)

    def run(x: torch.Tensor, rows: tuple[int, int] | None) -> torch.Tensor:
        return langevin(lambda v, _y: net(v), x, cfg, generator=make_generator(3, "cpu"), model=net,
                        inplace=inplace, rows=rows).x

    whole = run(x0, None)
    parts = torch.cat([run(x0[first:first + 4], (first, 12)) for first in (0, 4, 8)])
    torch.testing.assert_close(parts, whole, rtol=0, atol=1e-6)
    assert torch.equal(run(x0, (0, 12)), whole)
    assert not torch.allclose(run(x0[4:8], None), whole[4:8], atol=1e-3)  # without rows: other noise


def test_inplace_chain_with_a_box_is_bit_identical_to_the_functional_chain() -> None:
    from ebmbench.sampler import box_projection

    net = _conv_energy()
    x0 = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    cfg = LangevinConfig(steps=5, step_size=10.0, noise=0.05)  # big steps: the box binds on many pixels
    runs = {flag: langevin(lambda x, _y: net(x), x0, cfg, generator=make_generator(4, "cpu"), model=net,
                           project=box_projection(x0, 0.1), inplace=flag).x for flag in (False, True)}
    assert torch.equal(runs[True], runs[False])
    assert (runs[True] - x0).abs().max() <= 0.1 + 1e-6 and ((runs[True] - x0).abs() > 0.0999).any()


def test_channels_last_chain_agrees_and_restores_the_weights() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.SiLU(), torch.nn.Conv2d(8, 4, 3),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 1), torch.nn.Flatten(0))
    x0 = torch.rand(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    cfg = LangevinConfig(steps=4, noise=0.05)

    def run(**kw):
        return langevin(lambda x, _y: net(x), x0, cfg, generator=make_generator(5, "cpu"), model=net, **kw).x

    plain, fast = run(inplace=True), run(inplace=True, channels_last=True)
    assert fast.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(fast, run(channels_last=True))  # in-place and functional chains: the same bits
    assert torch.allclose(fast, plain, atol=1e-5)  # the same update and noise, to float rounding
    assert all(p.is_contiguous() for p in net.parameters())  # the model is handed back as it came


@pytest.mark.parametrize("inplace", [False, True])
def test_micro_batched_chains_are_the_whole_batch_chains(inplace: bool) -> None:
    """Gradients taken a few chains at a time (cache-sized blocks on CPU) give the whole batch's chain: the same
    noise, energies recorded for every chain, and the state updated row block by row block."""
    net = _conv_energy()
    x0 = torch.rand(10, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.arange(10) % 3
    seen: list[int] = []

    def energy(x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        seen.append(len(x))
        assert labels is not None and len(labels) == len(x)
        return net(x) + labels.float()

    def run(micro: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        out = langevin(energy, x0, LangevinConfig(steps=4, noise=0.05), y=y, generator=make_generator(3, "cpu"),
                       model=net, inplace=inplace, record=True, micro_batch=micro)
        return out.x, out.energies

    whole, whole_e = run(None)
    seen.clear()
    split, split_e = run(4)
    assert seen == [4, 4, 2] * 4  # blocks of 4 rows, the last one short, at every step
    torch.testing.assert_close(split, whole, rtol=0, atol=1e-6)
    torch.testing.assert_close(split_e, whole_e, rtol=0, atol=1e-6)
    assert split_e.shape == (4, 10)
    with pytest.raises(ValueError, match="micro_batch"):
        run(0)


def test_auto_micro_batch_sizes_blocks_by_the_widest_activation(monkeypatch: pytest.MonkeyPatch) -> None:
    from torch.nn.utils.parametrizations import spectral_norm

    from ebmbench import sampler

    torch.manual_seed(0)
    net = torch.nn.Sequential(spectral_norm(torch.nn.Conv2d(1, 64, 3, padding=1)), torch.nn.SiLU(),
                              torch.nn.Flatten(), torch.nn.Linear(64 * 8 * 8, 1), torch.nn.Flatten(0))
    x0 = torch.rand(64, 1, 8, 8)
    widest = 64 * 8 * 8 * 4  # the conv's output per image, in bytes: the spectral-norm weight is not counted
    assert sampler.widest_activation_bytes(lambda x, _y: net(x), x0, None, net) == widest
    assert sampler.auto_micro_batch(lambda x, _y: net(x), x0, None, net) is None  # 512 fit in 8 MiB: whole
    monkeypatch.setattr(sampler, "MICRO_BATCH_BYTES", widest * 16)
    assert sampler.auto_micro_batch(lambda x, _y: net(x), x0, None, net) == 16
    assert sampler.auto_micro_batch(lambda x, _y: net(x), x0, None, None) is None  # nothing to measure
    bn = torch.nn.Sequential(torch.nn.BatchNorm2d(1), net)
    assert sampler.auto_micro_batch(lambda x, _y: bn(x), x0, None, bn) is None  # batch statistics couple rows
    bn.eval()
    assert sampler.auto_micro_batch(lambda x, _y: bn(x), x0, None, bn) == 16

    def chain(micro: str | None) -> torch.Tensor:  # in training mode, with dropout drawing from torch's stream
        model = torch.nn.Sequential(torch.nn.Dropout(0.1), net)
        torch.manual_seed(7)
        return langevin(lambda x, _y: model(x), x0, LangevinConfig(steps=3), model=model, inplace=True,
                        micro_batch=micro).x

    whole = copy.deepcopy(net.state_dict()), chain(None)
    net.load_state_dict(whole[0])
    torch.testing.assert_close(chain("auto"), whole[1], rtol=0, atol=1e-6)  # blocks of 16
    monkeypatch.setattr(sampler, "MICRO_BATCH_BYTES", widest * 1000)
    net.load_state_dict(whole[0])
    norms: list[int] = []  # spectral norm's weight (with a power iteration in training mode): once per chain
    net[0].parametrizations.weight.register_forward_hook(lambda *_: norms.append(1))
    # measuring the widths stepped neither spectral norm's power iteration nor the random stream
    assert torch.equal(chain("auto"), whole[1]) and len(norms) == 1


def test_auto_micro_batch_keeps_a_scripted_network_whole() -> None:
    """TorchScript modules take no forward hooks: their widths are unknown, so their batches stay whole."""
    import warnings

    from ebmbench import sampler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated, and users still have them
        net = torch.jit.script(torch.nn.Sequential(torch.nn.Conv2d(1, 2048, 3, padding=1), torch.nn.Flatten(),
                                                   torch.nn.Linear(2048 * 64, 1), torch.nn.Flatten(0)))
    x0 = torch.rand(64, 1, 8, 8)  # measured, 512 KiB per image would make blocks of 16
    assert sampler.auto_micro_batch(lambda x, _y: net(x), x0, None, net) is None
    out = langevin(lambda x, _y: net(x), x0, LangevinConfig(steps=2), model=net, micro_batch="auto").x
    assert out.shape == x0.shape


class _SqueezingClassifier(torch.nn.Module):
    """A network written outside ebmbench that ends in ``.squeeze()`` (as JEM's do): a batch of one loses its
    batch dimension."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2048, 3, padding=1)  # 512 KiB per image: blocks of 16 in auto
        self.head = torch.nn.Linear(2048, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x).mean((2, 3))).squeeze()


def test_auto_micro_batching_of_wrapped_networks_that_squeeze_their_batch() -> None:
    import ebmbench

    torch.manual_seed(0)
    model = ebmbench.wrap(_SqueezingClassifier(), energy="logits", input_shape=(1, 8, 8), num_classes=10,
                          conditional=True)
    y = torch.arange(33) % 10
    cfg = LangevinConfig(steps=2, noise=0.05)
    auto = model.sample(33, cfg, y=y, generator=make_generator(0, "cpu"), record=True)
    gen = make_generator(0, "cpu")  # model.sample draws its starts, then the chain's noise, from one generator
    x0 = torch.rand(33, 1, 8, 8, generator=gen)
    whole = langevin(model.energy, x0, cfg, y, generator=gen, record=True, model=model)
    torch.testing.assert_close(auto.x, whole.x, rtol=0, atol=1e-6)  # blocks 11 + 11 + 11: none of one row
    assert auto.energies is not None and auto.energies.shape == (2, 33)


def test_row_blocks_are_balanced() -> None:
    from ebmbench.sampler import _row_blocks

    sizes = [len(range(33)[b]) for b in _row_blocks(33, 16)]
    assert sizes == [11, 11, 11] and [len(range(17)[b]) for b in _row_blocks(17, 16)] == [9, 8]
    assert _row_blocks(8, 8) == [slice(None)] and len(_row_blocks(10, 4)) == 3


def test_auto_micro_batch_keeps_coupled_or_unmeasurable_models_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    import ebmbench
    from ebmbench import sampler
    from ebmbench.errors import EbmbenchError

    x0 = torch.rand(64, 1, 8, 8)
    net = _SqueezingClassifier()
    energy = lambda x, _y: net(x).logsumexp(-1)  # noqa: E731
    assert sampler.auto_micro_batch(energy, x0, None, net) == 16
    stats = torch.nn.Sequential(torch.nn.BatchNorm2d(1, track_running_stats=False).eval(), net)
    assert sampler.auto_micro_batch(lambda x, _y: stats(x).logsumexp(-1), x0, None, stats) is None  # batch stats
    own = ebmbench.wrap(net, energy=lambda x, _y: net(x).logsumexp(-1), input_shape=(1, 8, 8))
    assert sampler.auto_micro_batch(own.energy, x0, None, own) is None  # a user's callable: never split

    def broken(x: torch.Tensor, _y: object) -> torch.Tensor:
        raise RuntimeError("this energy only takes batches of 64")

    assert sampler.auto_micro_batch(broken, x0, None, net) is None  # the measurement failed: whole batches
    monkeypatch.setenv("EBMBENCH_MICRO_BATCH", "none")
    assert sampler.auto_micro_batch(energy, x0, None, net) is None
    monkeypatch.setenv("EBMBENCH_MICRO_BATCH", "8")
    assert sampler.auto_micro_batch(energy, x0, None, None) == 8
    monkeypatch.setenv("EBMBENCH_MICRO_BATCH", "lots")
    with pytest.raises(EbmbenchError, match="EBMBENCH_MICRO_BATCH='lots' must be auto, none or a positive"):
        sampler.auto_micro_batch(energy, x0, None, net)


def test_accelerated_energy_levers_on_cpu() -> None:
    from ebmbench.sampler import accelerated_energy

    net = _conv_energy()
    x = torch.rand(8, 1, 8, 8)
    plain = net(x)
    bf16 = accelerated_energy(net, autocast=torch.bfloat16)
    assert bf16(x).dtype == torch.float32 and torch.allclose(bf16(x), plain, atol=5e-2, rtol=5e-2)
    assert accelerated_energy(net, autocast=torch.bfloat16) is bf16  # cached per model and levers
    cl = accelerated_energy(net, channels_last=True)
    assert torch.allclose(cl(x), plain, atol=1e-5)
    # a chain with bf16 energies keeps a float32 state and stays in the box
    out = langevin(lambda z, _y: bf16(z), x, LangevinConfig(steps=3), generator=make_generator(0, "cpu"), model=net).x
    assert out.dtype == torch.float32 and out.min() >= 0 and out.max() <= 1


@pytest.mark.slow
def test_compiled_energy_agrees_with_eager() -> None:
    from ebmbench.sampler import accelerated_energy

    net = _conv_energy()
    x0 = torch.rand(16, 1, 8, 8)
    cfg = LangevinConfig(steps=3)
    eager = langevin(lambda x, _y: net(x), x0, cfg, generator=make_generator(3, "cpu"), model=net).x
    fast = accelerated_energy(net, compile=True)
    compiled = langevin(lambda x, _y: fast(x), x0, cfg, generator=make_generator(3, "cpu"), model=net).x
    assert torch.allclose(eager, compiled, atol=1e-5)


@pytest.mark.slow
def test_compiled_sampling_energy_agrees_with_eager() -> None:
    from ebmbench.sampler import sampling_energy

    net = _conv_energy()
    x = torch.rand(8, 1, 8, 8)

    def energy(v: torch.Tensor, _y: torch.Tensor | None) -> torch.Tensor:
        return net(v)

    compiled = sampling_energy(net, energy, compile=True)
    torch.testing.assert_close(compiled(x, None), net(x), rtol=1e-5, atol=1e-5)
    chain = langevin(compiled, x, LangevinConfig(steps=3), generator=make_generator(0, "cpu"), model=net).x
    plain = langevin(energy, x, LangevinConfig(steps=3), generator=make_generator(0, "cpu"), model=net).x
    torch.testing.assert_close(chain, plain, rtol=0, atol=1e-5)
