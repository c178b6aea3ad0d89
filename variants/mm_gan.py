from variants.registry import Hparams, Variant, register_variant

# Lucic et al.'s "MM GAN": the minimax G loss on the dcgan family at width 32, trained as
# dcgan (Adam 2e-4, betas (0.5, 0.999)): the paper gives no conv-net settings for it, so
# these are dcgan's, chosen here so that mm-gan and dcgan differ only in the G loss.
register_variant(Variant(
    name="mm-gan",
    arch="dcgan",
    loss="mm",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), width=32),
    paper="Goodfellow et al. 2014, Generative Adversarial Nets (arXiv:1406.2661), minimax loss",
))
