from variants.registry import Hparams, Variant, register_variant

# Berthelot et al. 2017: gamma 0.5, lambda_k 0.001, k_0 = 0, L1 reconstruction error, Adam
# at 1e-4 (the top of the paper's 5e-5..1e-4 range; its decay when M stalls is not done
# here: the budgets are short). Chosen here: betas (0.5, 0.999), dcgan's. G is the dcgan
# family's at width 32; D an autoencoder with a 64-unit bottleneck (compare_gan's BEGAN
# layout at width 32).
register_variant(Variant(
    name="began",
    arch="began",
    loss="began",
    hparams=Hparams(z_dim=100, batch_size=64, lr_g=1e-4, lr_d=1e-4, betas=(0.5, 0.999), width=32),
    paper="Berthelot et al. 2017, BEGAN: Boundary Equilibrium GANs (arXiv:1703.10717)",
    arch_options={"code": 64},
    loss_options={"gamma": 0.5, "lambda_k": 0.001},
))
