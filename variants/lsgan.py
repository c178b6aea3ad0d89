from variants.registry import Hparams, Variant, register_variant

register_variant(Variant(
    name="lsgan",
    arch="dcgan",
    loss="ls",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Mao et al. 2017, Least Squares Generative Adversarial Networks (arXiv:1611.04076)",
))
