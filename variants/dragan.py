from variants.registry import Hparams, Variant, register_variant

# Kodali et al. 2017: lambda 10 (the paper's). Optimizer chosen here: dcgan's Adam 2e-4,
# betas (0.5, 0.999), n_critic 1, so dragan differs from dcgan only by the penalty and by
# D's missing BatchNorm (the penalty is per sample, as wgan-gp's).
register_variant(Variant(
    name="dragan",
    arch="dcgan",
    loss="dragan",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Kodali et al. 2017, On Convergence and Stability of GANs (arXiv:1705.07215)",
    arch_options={"d_norm": "none"},
    loss_options={"gp_weight": 10.0},
))
