"""Reference JEM models written out independently of ebmbench's WRN, following the layer names and forward
passes of JEM's published code (Grathwohl et al. 2019, ``train_wrn_ebm.py``, ``models/wideresnet.py``,
``models/norms.py``): the files they save are what `ebmbench import jem` reads.

Every ``--norm`` of JEM's WRN is here with JEM's tensor names. The instance and layer norms compute their
statistics by hand (not through torch's norm modules, which ebmbench's WRN uses), and ActNorm keeps JEM's
data-dependent start, so the imported model is checked against an independent forward pass.
``RefCCF`` is JEM's default model, ``RefF`` the unconditional one (``--uncond``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EPS = 1e-5  # torch's default eps, which JEM's InstanceNorm2d and GroupNorm use


class RefInstanceNorm(nn.Module):
    """nn.InstanceNorm2d(c, affine=True) by hand: each image's channel normalised over its pixels."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        mean = x.mean(dim=(2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(2, 3), keepdim=True)
        return (x - mean) / torch.sqrt(var + EPS) * self.weight[:, None, None] + self.bias[:, None, None]


class RefLayerNorm(nn.Module):
    """nn.GroupNorm(1, c) by hand: each image normalised over all its channels and pixels, then a per-channel
    affine."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        flat = x.flatten(1)
        mean = flat.mean(dim=1)[:, None, None, None]
        var = flat.var(dim=1, unbiased=False)[:, None, None, None]
        return (x - mean) / torch.sqrt(var + EPS) * self.weight[:, None, None] + self.bias[:, None, None]


class RefActNorm(nn.Module):
    """JEM's ActNorm(c, logdet=False): scale * (x + loc); on its first call (initialized == 0) it sets loc and
    scale from the batch's per-channel mean and (unbiased) standard deviation."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.scale = nn.Parameter(torch.ones(1, c, 1, 1))
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    def forward(self, x):
        if int(self.initialized) == 0:
            with torch.no_grad():
                per_channel = x.transpose(0, 1).flatten(1)
                self.loc.copy_(-per_channel.mean(dim=1).view(1, -1, 1, 1))
                self.scale.copy_(1 / (per_channel.std(dim=1).view(1, -1, 1, 1) + 1e-6))
            self.initialized.fill_(1)
        return self.scale * (x + self.loc)


def ref_norm(c: int, norm: str) -> nn.Module:
    return {"none": nn.Identity, "batch": lambda n: nn.BatchNorm2d(n, momentum=0.9),
            "instance": RefInstanceNorm, "layer": RefLayerNorm, "act": RefActNorm}[norm](c)


class RefBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, norm: str) -> None:
        super().__init__()
        self.lrelu = nn.LeakyReLU(0.2)
        self.bn1 = ref_norm(c_in, norm)
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=True)
        self.dropout = nn.Identity()
        self.bn2 = ref_norm(c_out, norm)
        self.conv2 = nn.Conv2d(c_out, c_out, kernel_size=3, stride=stride, padding=1, bias=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=1, stride=stride, bias=True))

    def forward(self, x):
        out = self.dropout(self.conv1(self.lrelu(self.bn1(x))))
        out = self.conv2(self.lrelu(self.bn2(out)))
        out += self.shortcut(x)
        return out


class RefWRN(nn.Module):
    def __init__(self, depth: int, k: int, channels: int, norm: str) -> None:
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * k, 32 * k, 64 * k]
        self.in_planes = 16
        self.lrelu = nn.LeakyReLU(0.2)
        self.conv1 = nn.Conv2d(channels, 16, kernel_size=3, stride=1, padding=1, bias=True)
        self.layer1 = self._layer(widths[1], n, 1, norm)
        self.layer2 = self._layer(widths[2], n, 2, norm)
        self.layer3 = self._layer(widths[3], n, 2, norm)
        self.bn1 = ref_norm(widths[3], norm)
        self.last_dim = widths[3]
        self.linear = nn.Linear(widths[3], 10)

    def _layer(self, planes, n, stride, norm):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(RefBlock(self.in_planes, planes, s, norm))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        out = self.lrelu(self.bn1(out))
        out = F.avg_pool2d(out, out.shape[-1])
        return out.view(out.size(0), -1)


class RefF(nn.Module):
    """JEM's unconditional F: forward(x) = energy_output(f(x)) (= -E(x)); classify(x) = the class head."""

    def __init__(self, depth: int = 10, width: int = 1, channels: int = 3, n_classes: int = 10,
                 norm: str = "none") -> None:
        super().__init__()
        self.f = RefWRN(depth, width, channels, norm)
        self.energy_output = nn.Linear(self.f.last_dim, 1)
        self.class_output = nn.Linear(self.f.last_dim, n_classes)

    def classify(self, x):
        return self.class_output(self.f(x)).squeeze()

    def forward(self, x, y=None):
        return self.energy_output(self.f(x)).squeeze()


class RefCCF(RefF):
    """JEM's CCF: forward(x) = logsumexp of the logits (= -E(x)), forward(x, y) = logit_y (= -E(x, y))."""

    def forward(self, x, y=None):
        logits = self.classify(x)
        if y is None:
            return logits.logsumexp(1)
        return torch.gather(logits, 1, y[:, None])


def fixed_reference(seed: int = 0, uncond: bool = False, initialized: bool = True, **kw) -> RefF:
    """A reference model (``RefF`` if ``uncond``, else ``RefCCF``) with fixed random weights: biases, norm
    affines and statistics too, so none is trivial. ``initialized=False`` leaves ActNorm layers unstarted."""
    torch.manual_seed(seed)
    model = (RefF if uncond else RefCCF)(**kw)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
            if isinstance(module, nn.BatchNorm2d | RefInstanceNorm | RefLayerNorm):
                module.weight.uniform_(0.5, 1.5)
            if isinstance(module, RefActNorm):
                module.loc.normal_(0, 0.1)
                module.scale.uniform_(0.5, 1.5)
                module.initialized.fill_(int(initialized))
    return model.eval()
