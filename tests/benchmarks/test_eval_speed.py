"""pytest-benchmark timing of the final evaluation's MNIST-classifier figures for 10,000
samples against the 10,000 MNIST test digits, stage by stage and as one `mnist_metrics`
call (bench/eval/quality.py, docs/speed.md "Scoring speed").

The reference set is cached beforehand (its features, FID statistics and k-NN radii), and
every stage gets its inputs outside the timed window, so a stage times only its own work:
the samples' features, FID from the cached statistics, KID with its cached real part, precision/recall with the
cached radii, IS and the class figures, and the whole call (which reads the cache).

`make bench` times them at full size. Under `--benchmark-disable` (the plain test run) each
test runs once, on a tenth of the samples, and checks what it computed.
"""

import math

import pytest
import torch

from bench.eval import features, precision_recall, quality
from bench.eval.classifier import CLASSIFIER_SHA256, FEATURES, LOGITS

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("test_eval_speed")]

CPU = torch.device("cpu")
N_SAMPLES = 10_000
SMALL = 10  # the plain test run scores N_SAMPLES / SMALL samples



@pytest.fixture(scope="module")
def scale(request):
    disabled = request.config.getoption("benchmark_disable") and not request.config.getoption("benchmark_enable")
    return SMALL if disabled else 1


@pytest.fixture(scope="module")
def scored(mnist, scale, tmp_path_factory):
    """Generated-like samples (training digits), the test digits as the real set, its cache
    filled by one `mnist_metrics` call, and every stage's inputs."""
    cache_dir = tmp_path_factory.mktemp("eval-speed-cache")
    fake, real = mnist["train_images"][:N_SAMPLES // scale], mnist["test_images"]
    figures = quality.mnist_metrics(fake, real, CPU, cache_dir)
    options = quality._options(CPU, cache_dir, quality.MNIST_BATCH)
    extractor = quality._mnist_extractor((FEATURES, LOGITS), options)
    name = quality.reference_cache_name(CLASSIFIER_SHA256, real, CPU)
    fake_features = quality.mnist_features(fake, CPU)
    real32 = features.reference_features(extractor, real, quality.MNIST_BATCH, cache_dir, name,
                                         (FEATURES,))[FEATURES].float()
    return dict(fake=fake, real=real, cache_dir=cache_dir, figures=figures, options=options, extractor=extractor,
                name=name, fake_features=fake_features, fake32=fake_features[FEATURES].float(), real32=real32)


def run(benchmark, stage, what):
    benchmark.group = "mnist_metrics stages, 10,000 samples"
    benchmark.extra_info.update(stage=stage, torch_threads=torch.get_num_threads())
    return benchmark.pedantic(what, rounds=5, warmup_rounds=1, iterations=1)


def test_sample_features(benchmark, scored):
    out = run(benchmark, "features of the samples", lambda: quality.mnist_features(scored["fake"], CPU))
    assert all(torch.equal(out[layer], scored["fake_features"][layer]) for layer in (FEATURES, LOGITS))


def test_fid_from_cached_statistics(benchmark, scored):
    def fid():
        stats = features.reference_statistics(scored["extractor"], FEATURES, scored["real"], quality.MNIST_BATCH,
                                              scored["cache_dir"], scored["name"])
        return quality.fid_figure(scored["fake_features"][FEATURES], stats)

    assert run(benchmark, "FID from the cached statistics", fid) == scored["figures"]["fid_mnist"]


def test_kid(benchmark, scored):
    # As the final evaluation computes it: the real set's part from the cache.
    kid = run(benchmark, "KID with its cached real part", lambda: quality.kid_figures(
        scored["fake32"], scored["real32"], scored["options"], scored["cache_dir"], scored["name"], scored["extractor"]))
    assert kid == (scored["figures"]["kid_mnist"], scored["figures"]["kid_mnist_std"])


def test_precision_recall_with_cached_radii(benchmark, scored):
    options = scored["options"]
    k, chunk = precision_recall.neighbourhood(options), precision_recall.chunk(options)

    def prc():
        radii = features.reference_radii(scored["real32"], k, chunk, scored["cache_dir"], scored["name"],
                                         scored["extractor"], FEATURES)
        return precision_recall.precision_recall(scored["fake32"], scored["real32"], radii, k, chunk)

    got = run(benchmark, "precision/recall with the cached radii", prc)
    assert got == (scored["figures"]["precision_mnist"], scored["figures"]["recall_mnist"])


def test_inception_score_and_class_figures(benchmark, scored):
    logits = scored["fake_features"][LOGITS]
    score, classes = run(benchmark, "IS and the class figures",
                         lambda: (quality.inception_score(logits), quality.class_figures(logits)))
    assert score == (scored["figures"]["is_mnist"], scored["figures"]["is_mnist_std"])
    assert classes == {key: scored["figures"][key] for key in ("modes_covered", "class_kl", "confidence")}


def test_whole_mnist_metrics(benchmark, scored):
    figures = run(benchmark, "mnist_metrics, the reference cached",
                  lambda: quality.mnist_metrics(scored["fake"], scored["real"], CPU, scored["cache_dir"]))
    assert figures == scored["figures"] and math.isfinite(figures["fid_mnist"])
