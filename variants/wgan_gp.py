from variants.registry import Hparams, Variant, register_variant

# Algorithm 1 of the paper: lambda 10, n_critic 5, Adam 1e-4 with betas (0, 0.9)
# (compare_gan used beta1 0.5). The critic has no BatchNorm: the penalty is per sample.
register_variant(Variant(
    name="wgan-gp",
    arch="dcgan",
    loss="wgan-gp",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=1e-4, lr_d=1e-4, betas=(0.0, 0.9), n_critic=5, width=32),
    paper="Gulrajani et al. 2017, Improved Training of Wasserstein GANs (arXiv:1704.00028)",
    arch_options={"d_norm": "none"},
    loss_options={"gp_weight": 10.0},
))
