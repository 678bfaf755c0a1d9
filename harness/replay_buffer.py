"""The replay buffer of past Langevin samples (Du & Mordatch 2019), stored compactly as uint8.

Most chains restart from a stored sample; a fraction ``reinit`` restarts from uniform noise. Conditional
buffers keep each sample's label, so a chain resumes under the label it was drawn for.
"""

from __future__ import annotations

import torch

from ebmbench.sampler import uniform_noise


class ReplayBuffer:
    """A ring buffer of at most ``capacity`` samples in ``value_range``, quantised to 256 levels."""

    def __init__(self, capacity: int, shape: tuple[int, ...], num_classes: int = 0, reinit: float = 0.05,
                 value_range: tuple[float, float] = (0.0, 1.0)) -> None:
        self.capacity, self.shape, self.num_classes = capacity, tuple(shape), num_classes
        self.reinit, self.value_range = reinit, value_range
        self.images = torch.zeros((capacity, *self.shape), dtype=torch.uint8)
        self.labels = torch.zeros(capacity, dtype=torch.long)
        self.size = 0
        self.cursor = 0

    def __len__(self) -> int:
        return self.size

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.value_range
        return ((x.detach().float().cpu() - lo) / (hi - lo) * 255).round().clamp(0, 255).to(torch.uint8)

    def _decode(self, q: torch.Tensor, device: torch.device | str) -> torch.Tensor:
        lo, hi = self.value_range
        return q.to(device).float() / 255 * (hi - lo) + lo

    def push(self, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
        """Store the final samples of a batch of chains (oldest entries are overwritten)."""
        n = min(len(x), self.capacity)
        idx = (self.cursor + torch.arange(n)) % self.capacity
        self.images[idx] = self._encode(x[-n:])
        if y is not None:
            self.labels[idx] = y[-n:].detach().cpu().long()
        self.cursor = int((self.cursor + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def sample(self, n: int, device: torch.device | str, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Starting points for ``n`` chains: ``(x0, labels, from_noise)``.

        Each chain restarts from noise with probability ``reinit`` (always, while the buffer is empty); the
        others start from a random stored sample (with the requested label, when ``labels`` is given).
        Random numbers come from a CPU generator so buffers behave the same on every device.
        """
        gen = generator if generator is None or generator.device.type == "cpu" else None
        from_noise = torch.rand(n, generator=gen) < self.reinit
        if labels is None:
            labels = (torch.randint(0, max(self.num_classes, 1), (n,), generator=gen) if self.num_classes
                      else torch.zeros(n, dtype=torch.long))
        labels = labels.detach().cpu().long()
        x0 = uniform_noise(n, self.shape, self.value_range, "cpu", gen)
        picked = self._pick(labels, gen, from_noise)
        use = picked >= 0
        x0[use] = self._decode(self.images[picked[use]], "cpu")
        if self.size:
            labels = torch.where(use, self.labels[picked.clamp(min=0)] if self.num_classes else labels, labels)
        return x0.to(device), labels.to(device), ~use

    def _pick(self, labels: torch.Tensor, gen: torch.Generator | None, from_noise: torch.Tensor) -> torch.Tensor:
        """A stored index per chain (-1 where the chain starts from noise or no sample fits)."""
        picked = torch.full((len(labels),), -1, dtype=torch.long)
        if self.size == 0:
            return picked
        stored = self.labels[: self.size]
        groups = labels.unique() if self.num_classes else torch.tensor([0])
        for label in groups.tolist():
            want = (labels == label) if self.num_classes else torch.ones(len(labels), dtype=torch.bool)
            pool = (stored == label).nonzero().squeeze(1) if self.num_classes else torch.arange(self.size)
            if len(pool) == 0:
                continue
            choice = pool[torch.randint(0, len(pool), (int(want.sum()),), generator=gen)]
            picked[want] = choice
        picked[from_noise] = -1
        return picked

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors that restore the buffer (for resumable training)."""
        meta = torch.tensor([self.size, self.cursor], dtype=torch.long)
        return {"images": self.images[: self.size].clone(), "labels": self.labels[: self.size].clone(),
                "meta": meta}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        size, cursor = (int(v) for v in state["meta"].tolist())
        size = min(size, self.capacity)
        self.images[:size] = state["images"][:size]
        self.labels[:size] = state["labels"][:size]
        self.size, self.cursor = size, cursor % self.capacity


def stored_images(state: dict[str, torch.Tensor], prefix: str = "state.buffer.") -> torch.Tensor | None:
    """The images of a buffer saved by ``ReplayBuffer.state`` (under ``prefix``) as floats in [0, 1]; None when
    there are none."""
    images = state.get(f"{prefix}images")
    if images is None or len(images) == 0 or images.dtype != torch.uint8:
        return None
    return images.float() / 255
