from variants.registry import Hparams, Variant, register_variant

# Arjovsky et al. 2017, Algorithm 1: RMSProp at 5e-5, n_critic 5, every critic weight
# clipped to [-0.01, 0.01] after each critic step, batch 64. The critic keeps its
# BatchNorm, as the paper's DCGAN critic did (clipping needs no per-sample gradient).
register_variant(Variant(
    name="wgan",
    arch="dcgan",
    loss="wgan",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=5e-5, lr_d=5e-5, n_critic=5, width=32, optimizer="rmsprop"),
    paper="Arjovsky et al. 2017, Wasserstein GAN (arXiv:1701.07875)",
    loss_options={"clip": 0.01},
))
