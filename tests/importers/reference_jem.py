"""A reference JEM CCF model written out independently of ebmbench's WRN, following the layer names and forward
pass of JEM's published code (Grathwohl et al. 2019): the files it saves are what `ebmbench import jem` reads."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RefBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, batch_norm: bool) -> None:
        super().__init__()
        self.lrelu = nn.LeakyReLU(0.2)
        self.bn1 = nn.BatchNorm2d(c_in) if batch_norm else nn.Identity()
        self.conv1 = nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=True)
        self.dropout = nn.Identity()
        self.bn2 = nn.BatchNorm2d(c_out) if batch_norm else nn.Identity()
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
    def __init__(self, depth: int, k: int, channels: int, batch_norm: bool) -> None:
        super().__init__()
        n = (depth - 4) // 6
        widths = [16, 16 * k, 32 * k, 64 * k]
        self.in_planes = 16
        self.lrelu = nn.LeakyReLU(0.2)
        self.conv1 = nn.Conv2d(channels, 16, kernel_size=3, stride=1, padding=1, bias=True)
        self.layer1 = self._layer(widths[1], n, 1, batch_norm)
        self.layer2 = self._layer(widths[2], n, 2, batch_norm)
        self.layer3 = self._layer(widths[3], n, 2, batch_norm)
        self.bn1 = nn.BatchNorm2d(widths[3]) if batch_norm else nn.Identity()
        self.last_dim = widths[3]
        self.linear = nn.Linear(widths[3], 10)

    def _layer(self, planes, n, stride, batch_norm):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(RefBlock(self.in_planes, planes, s, batch_norm))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        out = self.lrelu(self.bn1(out))
        out = F.avg_pool2d(out, out.shape[-1])
        return out.view(out.size(0), -1)


class RefCCF(nn.Module):
    """JEM's CCF: forward(x) = logsumexp of the logits (= -E(x)), forward(x, y) = logit_y (= -E(x, y))."""

    def __init__(self, depth: int = 10, width: int = 1, channels: int = 3, n_classes: int = 10,
                 batch_norm: bool = False) -> None:
        super().__init__()
        self.f = RefWRN(depth, width, channels, batch_norm)
        self.energy_output = nn.Linear(self.f.last_dim, 1)
        self.class_output = nn.Linear(self.f.last_dim, n_classes)

    def classify(self, x):
        return self.class_output(self.f(x)).squeeze()

    def forward(self, x, y=None):
        logits = self.classify(x)
        if y is None:
            return logits.logsumexp(1)
        return torch.gather(logits, 1, y[:, None])


def fixed_reference(seed: int = 0, **kw) -> RefCCF:
    """A reference model with fixed random weights (biases and norm statistics too, so none is trivial)."""
    torch.manual_seed(seed)
    model = RefCCF(**kw)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.1)
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
    return model.eval()
