from variants.registry import Hparams, Variant, register_variant

register_variant(Variant(
    name="vanilla",
    arch="mlp",
    loss="ns",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=256),
    paper="Goodfellow et al. 2014, Generative Adversarial Nets (arXiv:1406.2661)",
))
