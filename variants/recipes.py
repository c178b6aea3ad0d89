"""The twelve named variants, side by side: each an architecture, a loss and the settings
of the paper it comes from, with where each setting came from.

In the manner of timm's `default_cfgs`, one table holds every recipe. Its order is the
registration order, and it matters: a pairing (`combine`) takes its loss's recipe from the
first named variant here that uses the loss, and its architecture's options from the first
built on the architecture (dcgan's before pacdcgan2's). Published results are paired by
config hash, so a recipe here never changes; a new setting is a new variant.
"""

from variants.variant import Hparams, Variant, register_variant

RECIPES: list[Variant] = [
    # Berthelot et al. 2017 (arXiv:1703.10717): k_0 = 0, L1 reconstruction error (section 3.4),
    # N_z = N_h = 64 (section 4: z_dim 64 and the autoencoder's `code`). The nets, gamma 0.75 and
    # Adam's beta1 0.5 are compare_gan's BEGAN (compare_gan/src/gans/BEGAN.py and src/params.py,
    # the setting of Lucic et al. 2018). BatchNorm in D (after the code, the FC and the first
    # deconv) is one of the two settings of their narrow search (src/params.py,
    # BEGANHyperParams): without it the converged runs stopped at fid_mnist 56.6 with 6 classes,
    # with it three seeds reach 8.6-9.1 with all ten classes. lambda_k 0.01: the top of
    # Lucic et al.'s wide range for BEGAN (1e-4..1e-2), ten times the paper's 0.001, with which
    # k_t fell back to 0 in the trials without BatchNorm. lr 2e-4 and width 32, the zoo's dcgan
    # values, so G is the dcgan variant's generator (from z of 64), starting at MNIST's mean pixel
    # (-0.74 in [-1, 1]); with BatchNorm, a mid-grey start learns more slowly. docs/variants.md
    # has the trials. Batch 64 as every variant here.
    Variant(
        name="began",
        arch="began",
        loss="began",
        hparams=Hparams(z_dim=64, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Berthelot et al. 2017, BEGAN: Boundary Equilibrium GANs (arXiv:1703.10717)",
        arch_options={"code": 64, "g_start_pixel": -0.74, "d_norm": "batch"},
        loss_options={"gamma": 0.75, "lambda_k": 0.01},
    ),
    Variant(
        name="dcgan",
        arch="dcgan",
        loss="ns",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Radford et al. 2015, Unsupervised Representation Learning with DCGANs (arXiv:1511.06434)",
    ),
    # Kodali et al. 2017: lambda 10 (the paper's). Optimizer chosen here: dcgan's Adam 2e-4,
    # betas (0.5, 0.999), n_critic 1, so dragan differs from dcgan only by the penalty and by
    # D's missing BatchNorm (the penalty is per sample, as wgan-gp's).
    Variant(
        name="dragan",
        arch="dcgan",
        loss="dragan",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Kodali et al. 2017, On Convergence and Stability of GANs (arXiv:1705.07215)",
        arch_options={"d_norm": "none"},
        loss_options={"gp_weight": 10.0},
    ),
    Variant(
        name="lsgan",
        arch="dcgan",
        loss="ls",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Mao et al. 2017, Least Squares Generative Adversarial Networks (arXiv:1611.04076)",
    ),
    # Lucic et al.'s "MM GAN": the minimax G loss on the dcgan family at width 32, trained as
    # dcgan (Adam 2e-4, betas (0.5, 0.999)): the paper gives no conv-net settings for it, so
    # these are dcgan's, chosen here so that mm-gan and dcgan differ only in the G loss.
    Variant(
        name="mm-gan",
        arch="dcgan",
        loss="mm",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Goodfellow et al. 2014, Generative Adversarial Nets (arXiv:1406.2661), minimax loss",
    ),
    # Lin et al. 2018 pack the discriminator of an otherwise unchanged GAN, so pacdcgan2 is
    # dcgan (same nets, loss and hyperparameters) whose D judges pairs of images: PacGAN2, the
    # paper's default pack size. D grows in its first layer only, which takes 2x the channels.
    # (tests/test_variants_recipes.py checks that it differs from dcgan in nothing else.)
    Variant(
        name="pacdcgan2",
        arch="dcgan",
        loss="ns",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Lin et al. 2018, PacGAN: The power of two samples in GANs (arXiv:1712.04086); "
              "dcgan's nets and settings (Radford et al. 2015)",
        arch_options={"pack": 2},
    ),
    # Mescheder et al. 2018: non-saturating loss plus (gamma/2) E ||grad D(x)||^2 on real data,
    # gamma 10 (their CelebA/LSUN setting). Optimizer chosen here: dcgan's Adam 2e-4, betas
    # (0.5, 0.999), since the paper's conv-net runs used RMSProp 1e-4 on ResNets we do not
    # have. The penalty is per sample, so D has no BatchNorm.
    Variant(
        name="r1-gan",
        arch="dcgan",
        loss="r1",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Mescheder et al. 2018, Which Training Methods for GANs do actually Converge? (arXiv:1801.04406)",
        arch_options={"d_norm": "none"},
        loss_options={"gamma": 10.0},
    ),
    # Jolicoeur-Martineau 2018: the relativistic average standard GAN (RaSGAN). Her
    # DCGAN-architecture runs used Adam 2e-4, betas (0.5, 0.999), n_D 1: the same as dcgan.
    Variant(
        name="ragan",
        arch="dcgan",
        loss="ragan",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Jolicoeur-Martineau 2018, The relativistic discriminator (arXiv:1807.00734)",
    ),
    # Miyato et al. 2018: hinge loss, spectral normalization on every D layer, no BatchNorm in
    # D. Optimizer: setting C of the paper's Table 1 (Adam 2e-4, betas (0.5, 0.999), n_dis 1),
    # one of the six settings the paper trains its standard CNN with; chosen among them because
    # it is dcgan's, so sngan differs from dcgan only in loss and D normalization, and n_dis 1
    # keeps the CPU budget (settings A, D-F use n_dis 5).
    Variant(
        name="sngan",
        arch="dcgan",
        loss="hinge",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
        paper="Miyato et al. 2018, Spectral Normalization for GANs (arXiv:1802.05957)",
        arch_options={"d_norm": "none", "spectral_norm": True},
    ),
    Variant(
        name="vanilla",
        arch="mlp",
        loss="ns",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=256),
        paper="Goodfellow et al. 2014, Generative Adversarial Nets (arXiv:1406.2661)",
    ),
    # Arjovsky et al. 2017, Algorithm 1: RMSProp at 5e-5, n_critic 5, every critic weight
    # clipped to [-0.01, 0.01] after each critic step, batch 64. The critic keeps its
    # BatchNorm, as the paper's DCGAN critic did (clipping needs no per-sample gradient).
    Variant(
        name="wgan",
        arch="dcgan",
        loss="wgan",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=5e-5, lr_d=5e-5, n_critic=5, width=32, optimizer="rmsprop"),
        paper="Arjovsky et al. 2017, Wasserstein GAN (arXiv:1701.07875)",
        loss_options={"clip": 0.01},
    ),
    # Algorithm 1 of the paper: lambda 10, n_critic 5, Adam 1e-4 with betas (0, 0.9)
    # (compare_gan used beta1 0.5). The critic has no BatchNorm: the penalty is per sample.
    Variant(
        name="wgan-gp",
        arch="dcgan",
        loss="wgan-gp",
        hparams=Hparams(z_dim=100, batch_size=64, lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), n_critic=5, width=32),
        paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs (arXiv:1704.00028)",
        arch_options={"d_norm": "none"},
        loss_options={"gp_weight": 10.0},
    ),
]

for recipe in RECIPES:
    register_variant(recipe)
