"""Architectures: each builder maps (data_shape, z_dim, width, options) to (G, D).

G maps z [B, z_dim] to images in [-1, 1] of `data_shape`. What D returns is the
architecture's `d_output`, declared when it is registered:

- "logit": one raw value per image, [B, 1] (a logit or a critic value); a packed D
  (option `pack`) one per pack of images, [B / pack, 1];
- "image": an image of the input's shape (an autoencoder's reconstruction, BEGAN).

A loss declares the D output it needs (`Loss.d_output`); a pairing of the two must
agree. Losses live in `losses.py`, so any architecture can be paired with any loss
of its D output kind.

Options every logit-D builder takes: `d_norm` ("batch" or "none": a gradient
penalty is per sample, so its D must not normalize across the batch),
`spectral_norm` (Miyato et al. 2018: every conv and linear weight of D divided by
its largest singular value, through torch's `spectral_norm` parametrization) and
`pack` (Lin et al. 2018, PacGAN: D judges packs of `pack` images, see `Packed`).

A builder's keyword parameters are all the options it takes: it has no **kwargs to swallow a
misspelt one, which registering the variant refuses (variants/options.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from variants.registry import Registry, RegistryError
from variants.options import option_names
from variants.provenance import caller_source

D_OUTPUTS = {"logit": "one value per image", "image": "a reconstruction of its input (an autoencoder)"}


@dataclass(frozen=True)
class ArchSpec:
    name: str
    builder: Callable
    d_output: str = "logit"
    # Hyperparameters the architecture brings to a pairing (`gan-bench run --arch A --loss L`)
    # when no named variant is built on it, e.g. infogan's full size.
    hparams: dict = field(default_factory=dict)
    description: str = ""


ARCH_SPECS: Registry[ArchSpec] = Registry("architecture")


class Builders(Mapping[str, Callable]):
    """ARCH_SPECS seen as name -> builder (`ARCHS[name](data_shape, z_dim, width)`), read
    through ARCH_SPECS so that the two cannot disagree."""

    def __getitem__(self, name: str) -> Callable:
        return ARCH_SPECS[name].builder

    def __contains__(self, name) -> bool:
        return name in ARCH_SPECS

    def __iter__(self) -> Iterator[str]:
        return iter(ARCH_SPECS)

    def __len__(self) -> int:
        return len(ARCH_SPECS)


ARCHS = Builders()

# `Variant.build` passes every builder data_shape, z_dim and width by position; the
# builder's other parameters are the architecture's options.
BUILDER_ARGS = 3


def arch_option_names(arch: str) -> frozenset[str] | None:
    """The options architecture `arch` takes (None: its builder takes **kwargs, so any)."""
    return option_names(ARCH_SPECS[arch].builder, BUILDER_ARGS)


def register_arch(name: str, d_output: str = "logit", hparams: dict | None = None, description: str = ""):
    """A decorator: `@register_arch("name")` over a builder adds it to ARCH_SPECS."""
    if d_output not in D_OUTPUTS:
        raise RegistryError(f"architecture {name!r}: d_output must be one of {', '.join(D_OUTPUTS)}, "
                            f"got {d_output!r}")
    source = caller_source()

    def add(builder):
        ARCH_SPECS.register(name, ArchSpec(name, builder, d_output, dict(hparams or {}), description), source=source)
        return builder
    return add


def dcgan_init(module: nn.Module) -> None:
    """Radford et al.: weights from N(0, 0.02); BatchNorm scales from N(1, 0.02)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def with_spectral_norm(net: nn.Module) -> nn.Module:
    """Spectral normalization on every conv and linear weight of `net` (one power iteration
    per training forward, as in Miyato et al.); call after initialization."""
    for module in list(net.modules()):
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            _spectral_norm(module)
    return net


def spectral_norm_layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if torch.nn.utils.parametrize.is_parametrized(m, "weight")]


NORMS_2D = {"batch": nn.BatchNorm2d, "none": lambda _: nn.Identity()}
NORMS_1D = {"batch": nn.BatchNorm1d, "none": lambda _: nn.Identity()}


def check_pack(pack) -> int:
    """`pack` if it is a positive int; builders multiply D's input channels by it."""
    if not isinstance(pack, int) or isinstance(pack, bool) or pack < 1:
        raise ValueError(f"pack must be a positive integer, got {pack!r}")
    return pack


def check_packable(batch: int, pack: int) -> None:
    if batch % pack:
        raise ValueError(f"a batch of {batch} images cannot be split into packs of {pack}: "
                         f"the batch size must be divisible by the pack size")


class Packed(nn.Module):
    """PacGAN's packing (Lin et al. 2018, "PacGAN: The power of two samples in generative
    adversarial networks", arXiv:1712.04086; reference code github.com/fjxmlzn/PacGAN):
    D judges `pack` images at once, concatenated along the channel axis, and returns one
    value per pack. A batch [B, C, H, W] becomes [B / pack, C * pack, H, W]; consecutive
    images form a pack, which is a random grouping here because real batches come from a
    random permutation and fakes are independent draws. Real packs hold only real images
    and fake packs only fakes, so a D that sees several samples together can spot a
    generator whose samples lack diversity (mode collapse). Only `net`'s first layer needs
    `pack` times the input channels."""

    def __init__(self, net: nn.Module, pack: int):
        super().__init__()
        self.net, self.pack = net, pack

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_packable(x.size(0), self.pack)
        return self.net(x.reshape(x.size(0) // self.pack, x.size(1) * self.pack, *x.shape[2:]))

    def extra_repr(self) -> str:
        return f"pack={self.pack}"


def finish_d(D: nn.Module, spectral_norm: bool, pack: int = 1) -> nn.Module:
    D = with_spectral_norm(D) if spectral_norm else D
    # pack 1 stays the bare net, so records and checkpoints made before packing existed
    # keep their state_dict keys and outputs.
    return Packed(D, pack) if pack > 1 else D


@register_arch("mlp", description="Goodfellow et al. 2014 style MLPs")
def build_mlp(data_shape, z_dim: int, width: int = 256, spectral_norm: bool = False, pack: int = 1):
    """Fully connected G and D in the manner of Goodfellow et al. 2014 (ReLU and
    LeakyReLU instead of maxout, as in the PyTorch-GAN tutorial)."""
    pixels = math.prod(data_shape)
    G = nn.Sequential(
        nn.Linear(z_dim, width), nn.LeakyReLU(0.2),
        nn.Linear(width, 2 * width), nn.LeakyReLU(0.2),
        nn.Linear(2 * width, 4 * width), nn.LeakyReLU(0.2),
        nn.Linear(4 * width, pixels), nn.Tanh(),
        nn.Unflatten(1, tuple(data_shape)),
    )
    D = nn.Sequential(
        nn.Flatten(),
        nn.Linear(pixels * check_pack(pack), 2 * width), nn.LeakyReLU(0.2),
        nn.Linear(2 * width, width), nn.LeakyReLU(0.2),
        nn.Linear(width, 1),
    )
    return G, finish_d(D, spectral_norm, pack)


def quarter(data_shape, arch: str) -> tuple[int, int, int]:
    channels, height, width_px = data_shape
    if height % 4 or width_px % 4:
        raise ValueError(f"{arch} needs image sides divisible by 4, got {height}x{width_px}")
    return channels, height // 4, width_px // 4


def dcgan_generator(channels: int, h: int, w: int, z_dim: int, width: int) -> nn.Sequential:
    """FC -> 2w x h x w -> deconv w x 2h x 2w -> deconv C x 4h x 4w; BatchNorm + ReLU, tanh."""
    return nn.Sequential(
        nn.Linear(z_dim, 2 * width * h * w), nn.BatchNorm1d(2 * width * h * w), nn.ReLU(),
        nn.Unflatten(1, (2 * width, h, w)),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
    )


@register_arch("dcgan", description="InfoGAN's MNIST conv layout without the 1024-unit FC layers")
def build_dcgan(data_shape, z_dim: int, width: int = 64, d_norm: str = "batch", spectral_norm: bool = False,
                pack: int = 1):
    """DCGAN-style nets for 28x28 images (InfoGAN's MNIST layout, as in compare_gan):
    G: FC -> 2w x 7 x 7 -> deconv w x 14 x 14 -> deconv C x 28 x 28, BatchNorm + ReLU, tanh;
    D: conv w /2 -> conv 2w /2 -> FC 1, LeakyReLU 0.2, BatchNorm (or none: a WGAN-GP
    critic must not normalize across the batch) in the second block."""
    channels, h, w = quarter(data_shape, "dcgan")
    G = dcgan_generator(channels, h, w, z_dim, width)
    D = nn.Sequential(
        nn.Conv2d(channels * check_pack(pack), width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), NORMS_2D[d_norm](2 * width), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * width * h * w, 1),
    )
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    return G, finish_d(D, spectral_norm, pack)


def infogan_init(module: nn.Module) -> None:
    """compare_gan's initializers: conv kernels from a normal truncated at 2 std (0.02),
    linear and deconv weights from N(0, 0.02), zero biases, BatchNorm scale 1 and shift 0."""
    if isinstance(module, nn.Conv2d):
        nn.init.trunc_normal_(module.weight, 0.0, 0.02, -0.04, 0.04)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


@register_arch("infogan", hparams={"width": 64, "z_dim": 64},
               description="compare_gan's InfoGAN MNIST nets (Lucic et al. 2018), full size")
def build_infogan(data_shape, z_dim: int = 64, width: int = 64, d_norm: str = "batch", spectral_norm: bool = False,
                  pack: int = 1):
    """compare_gan's InfoGAN nets (compare_gan/src/gans/abstract_gan.py, v1; the same
    layers in compare_gan/architectures/infogan.py), at width 64 exactly theirs:
    G: FC 1024, BN, lrelu; FC 128x7x7, BN, lrelu; deconv 64 4x4 /2, BN, lrelu; deconv C 4x4 /2;
    D: conv 64 4x4 /2, lrelu; conv 128 4x4 /2, BN, lrelu; FC 1024, BN, lrelu; FC 1.
    LeakyReLU slope 0.2 everywhere (compare_gan's G uses lrelu too, not ReLU); TF "SAME"
    padding, which for these 4x4 stride-2 layers is padding 1 on each side. Their output is a
    sigmoid for data in [0, 1]; ours is tanh for data in [-1, 1] (tanh(x) = 2 sigmoid(2x) - 1).
    `d_norm="none"` drops D's BatchNorm, as compare_gan's discriminator_normalization does."""
    channels, h, w = quarter(data_shape, "infogan")
    fc = 16 * width  # 1024 at width 64
    G = nn.Sequential(
        nn.Linear(z_dim, fc), nn.BatchNorm1d(fc), nn.LeakyReLU(0.2),
        nn.Linear(fc, 2 * width * h * w), nn.BatchNorm1d(2 * width * h * w), nn.LeakyReLU(0.2),
        nn.Unflatten(1, (2 * width, h, w)),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
    )
    D = nn.Sequential(
        nn.Conv2d(channels * check_pack(pack), width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1), NORMS_2D[d_norm](2 * width), nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(2 * width * h * w, fc), NORMS_1D[d_norm](fc), nn.LeakyReLU(0.2),
        nn.Linear(fc, 1),
    )
    G.apply(infogan_init)
    D.apply(infogan_init)
    return G, finish_d(D, spectral_norm, pack)


def glorot_init(module: nn.Module) -> None:
    """Glorot (Xavier) uniform weights and zero biases on every conv, deconv and linear layer,
    TF-slim's defaults, which the widely used BEGAN re-implementation
    (github.com/carpedm20/BEGAN-tensorflow, `models.py`) trains with; the paper does not name
    one. Chosen for what it keeps: a layer's output variance stays near its input's when
    fan in and fan out are alike, so an autoencoder still passes its input through at
    initialisation."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


@register_arch("began", d_output="image",
               description="BEGAN as compare_gan's: D an autoencoder on its standard D's convs, G the zoo's conv G")
def build_began(data_shape, z_dim: int, width: int = 32, code: int = 64, d_norm: str = "none",
                g_start_pixel: float | None = None, spectral_norm: bool = False):
    """BEGAN's nets as compare_gan builds them (compare_gan/src/gans/BEGAN.py, v1), the
    setting of Lucic et al. 2018's comparison: D an autoencoder whose output is the
    reconstruction of its input, G the generator every other conv variant here uses.

    D: conv w 4x4 /2, lrelu; conv 2w 4x4 /2; FC to the embedding of `code` units (64), lrelu;
    FC to 2w x h/4 x w/4, lrelu; deconv w 4x4 /2, lrelu; deconv C 4x4 /2; tanh (theirs a
    sigmoid for data in [0, 1]; tanh(x) = 2 sigmoid(2x) - 1 for ours in [-1, 1]). LeakyReLU
    slope 0.2, no activation between the second conv and the FC, as theirs. `d_norm="batch"`
    adds BatchNorm after the code, the FC and the first deconv, as their
    discriminator_normalization does. Glorot uniform weights in D (`glorot_init`): compare_gan's
    N(0, 0.02) let almost none of the input through six layers (a per-pixel reconstruction
    spread of about 4e-5 for inputs of spread 0.6), so L(x) sat at the value of a blank
    reconstruction for hundreds of steps.

    G: `dcgan_generator` at width w with `dcgan_init`, the zoo's G (compare_gan gives BEGAN
    its standard G too). `g_start_pixel` sets the bias of G's last layer to atanh(pixel), so
    G's first images sit at that pixel value instead of tanh(0) = mid-grey (k_t rises only
    while G's images are easier to reconstruct than the data's; see docs/variants.md)."""
    channels, h, w = quarter(data_shape, "began")
    G = dcgan_generator(channels, h, w, z_dim, width)
    G.apply(dcgan_init)
    if g_start_pixel is not None:
        if not -1 < g_start_pixel < 1:
            raise ValueError(f"began: g_start_pixel must be inside (-1, 1), got {g_start_pixel}")
        last_deconv = G[-2]  # the layer under G's tanh
        with torch.no_grad():
            last_deconv.bias.fill_(math.atanh(g_start_pixel))
    inner = 2 * width * h * w
    D = nn.Sequential(
        nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 4, 2, 1),
        nn.Flatten(), nn.Linear(inner, code), NORMS_1D[d_norm](code), nn.LeakyReLU(0.2),
        nn.Linear(code, inner), NORMS_1D[d_norm](inner), nn.LeakyReLU(0.2),
        nn.Unflatten(1, (2 * width, h, w)),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), NORMS_2D[d_norm](width), nn.LeakyReLU(0.2),
        nn.ConvTranspose2d(width, channels, 4, 2, 1), nn.Tanh(),
    )
    D.apply(glorot_init)
    return G, finish_d(D, spectral_norm)
