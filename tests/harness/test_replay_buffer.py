import torch

from ebmbench.replay_buffer import ReplayBuffer


def test_empty_buffer_starts_every_chain_from_noise() -> None:
    buf = ReplayBuffer(100, (1, 4, 4))
    x0, _, from_noise = buf.sample(32, "cpu", torch.Generator().manual_seed(0))
    assert from_noise.all()
    assert x0.shape == (32, 1, 4, 4) and x0.min() >= 0 and x0.max() <= 1


def test_reinit_rate_is_about_five_percent() -> None:
    buf = ReplayBuffer(1000, (1, 2, 2), reinit=0.05)
    buf.push(torch.full((1000, 1, 2, 2), 0.25))
    _, _, from_noise = buf.sample(20000, "cpu", torch.Generator().manual_seed(0))
    rate = from_noise.float().mean().item()
    assert 0.04 < rate < 0.06


def test_stored_samples_come_back_quantised() -> None:
    buf = ReplayBuffer(10, (1, 2, 2), reinit=0.0)
    buf.push(torch.full((10, 1, 2, 2), 0.3))
    x0, _, from_noise = buf.sample(5, "cpu", torch.Generator().manual_seed(0))
    assert not from_noise.any()
    assert torch.allclose(x0, torch.full_like(x0, 0.3), atol=1 / 255)
    assert buf.images.dtype == torch.uint8


def test_ring_buffer_overwrites_oldest() -> None:
    """Distinct values tell every slot apart: after 3 + 3 pushes into 4 slots, the two oldest are replaced by
    the last two of the second batch, in ring order, and the next push continues where the ring stands."""
    buf = ReplayBuffer(4, (1, 1, 1), reinit=0.0)
    value = lambda *v: torch.tensor(v, dtype=torch.float32).view(-1, 1, 1, 1) / 255  # noqa: E731
    buf.push(value(10, 11, 12))
    buf.push(value(20, 21, 22))
    assert len(buf) == 4
    assert buf.images.flatten().tolist() == [21, 22, 12, 20]  # 10 and 11 (the oldest) are gone
    buf.push(value(30))
    assert buf.images.flatten().tolist() == [21, 22, 30, 20]  # then 12, the oldest left
    buf.push(value(40, 41, 42, 43, 44))  # a batch larger than the ring keeps its last entries
    assert sorted(buf.images.flatten().tolist()) == [41, 42, 43, 44]


def test_conditional_buffer_returns_requested_labels() -> None:
    buf = ReplayBuffer(20, (1, 1, 1), num_classes=2, reinit=0.0)
    buf.push(torch.zeros(10, 1, 1, 1), torch.zeros(10, dtype=torch.long))
    buf.push(torch.ones(10, 1, 1, 1), torch.ones(10, dtype=torch.long))
    labels = torch.tensor([0, 1, 1, 0, 1])
    x0, y, _ = buf.sample(5, "cpu", torch.Generator().manual_seed(0), labels=labels)
    assert torch.equal(y, labels)
    assert torch.equal(x0.flatten(), labels.float())


def test_state_round_trip() -> None:
    buf = ReplayBuffer(8, (1, 2, 2), num_classes=3)
    buf.push(torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1]))
    other = ReplayBuffer(8, (1, 2, 2), num_classes=3)
    other.load_state(buf.state())
    assert len(other) == 5 and other.cursor == buf.cursor
    assert torch.equal(other.images[:5], buf.images[:5]) and torch.equal(other.labels[:5], buf.labels[:5])
