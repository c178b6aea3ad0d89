"""`gan-bench score`, `stats` and `sample`: the yardstick for samples and generators from anywhere."""

from __future__ import annotations

from pathlib import Path

from bench.cli.app import app, console, emit, errors
from bench.cli.settings import takes
from bench.errors import BenchError
from bench.report.tables import Column
from bench.scoring.inputs import DATASET_IMAGES, dataset_samples
from bench.scoring.settings import SampleSettings, ScoreSettings, StatsSettings

GENERATOR_SUFFIX = ".safetensors"
def value_text(value) -> str:
    return "-" if value is None else f"{value:.6g}" if isinstance(value, float) else str(value)


SCORE_COLUMNS = [
    Column("figure", "figure", essential=True), Column("value", "value", value_text, True, "right"),
    Column("n", "N", justify="right"), Column("note", "note"),
]


def figure_rows(metrics: dict) -> list[dict]:
    """One row per figure, its sample count beside it; absent figures with their reason."""
    n = metrics.get("n_fake")
    rows = [{"figure": key, "value": value, "n": metrics.get("n_inception") if "inception" in key else n, "note": ""}
            for key, value in metrics.items() if key not in ("absent", "n_fake", "n_real", "n_inception")]
    rows += [{"figure": key, "value": None, "n": None, "note": f"absent: {why}"}
             for key, why in metrics.get("absent", {}).items()]
    return rows


def load_variant_plugins(plugins) -> None:
    from bench.plugins import load_plugins

    load_plugins(plugins)


def resolve(settings):
    from bench.devices import resolve_device

    return resolve_device(settings.device)


@app.command()
@takes(ScoreSettings)
def score(settings: ScoreSettings):
    """Score samples from anywhere with a run's final evaluation; write a record of kind external."""
    from bench.data.datasets import get_dataset
    from bench.scoring.inputs import parse_range, plugin_samples, read_samples
    from bench.scoring.score import sample_generator

    value_range = parse_range(settings.value_range)
    device = resolve(settings)
    if settings.input is not None and str(settings.input) in DATASET_IMAGES:
        return score_dataset(settings, device)
    is_generator = settings.input is not None and settings.input.suffix == GENERATOR_SUFFIX
    if settings.input is None:
        if not settings.plugin or len(settings.plugin) != 1:
            raise BenchError("give INPUT (an array, image folder or archive, or generator file), or one "
                             "--plugin FILE.py that defines sample(n, seed)")
        dataset = get_dataset(settings.dataset or "mnist")
        from bench.eval.evaluation import FINAL_SEED

        samples = plugin_samples(Path(settings.plugin[0]), settings.samples or dataset.final_samples(_quick()),
                                 FINAL_SEED if settings.seed is None else settings.seed, dataset.shape[0], value_range)
    elif is_generator:
        from bench.generators import load_generator

        load_variant_plugins(settings.plugin)
        gen = load_generator(settings.input)
        dataset = get_dataset(gen.dataset)
        if settings.dataset is not None and settings.dataset != gen.dataset:
            raise BenchError(f"{settings.input} is a generator trained on {gen.dataset}, not {settings.dataset}")
        if value_range is not None:
            raise BenchError("--range applies to float arrays only; a generator's samples are scored as it makes them")
        samples, _ = sample_generator(gen, settings.samples, settings.seed, device)
    else:
        if settings.plugin:
            raise BenchError("--plugin with INPUT applies to generator files only (to register their variant)")
        if settings.seed is not None:
            raise BenchError("--seed applies to generator files and --plugin samplers only")
        dataset = get_dataset(settings.dataset or "mnist")
        samples = read_samples(settings.input, dataset.shape[0], value_range, settings.key)
        limit = settings.samples or dataset.final_samples(_quick())
        samples.images = samples.images[:limit]
    finish_score(settings, samples, dataset, device)


def score_dataset(settings: ScoreSettings, device) -> None:
    """Real images scored as if generated: what a perfect generator's figures are (`real data`)."""
    from bench.data.datasets import get_dataset

    name = DATASET_IMAGES[str(settings.input)][0]
    if settings.dataset not in (None, name) or settings.value_range is not None or settings.seed is not None:
        raise BenchError(f"{settings.input} is {name}'s own images: --dataset, --range and --seed do not apply")
    samples = dataset_samples(str(settings.input), settings.data_dir)
    dataset = get_dataset(name)
    samples.images = samples.images[:settings.samples or dataset.final_samples(_quick())]
    finish_score(settings, samples, dataset, device)


def finish_score(settings: ScoreSettings, samples, dataset, device) -> None:
    """Score `samples`, print the figures, write the record."""
    from bench.scoring.record import external_record, write_external
    from bench.scoring.reference import check_reference, read_reference
    from bench.scoring.score import score_samples

    reference = None
    if settings.reference is not None:
        reference = read_reference(settings.reference)
        check_reference(reference, dataset.name)
    scored = score_samples(samples, dataset, device, settings.data_dir, reference, settings.inception_samples)
    from bench.eval.classifier import CLASSIFIER_SHA256

    name = settings.name or (samples.source["name"].rsplit(".", 1)[0] if "." in samples.source["name"]
                             else samples.source["name"])
    rows = figure_rows(scored.metrics)
    title = (f"gan-bench score: {samples.source['kind']} {samples.source['name']}, {len(samples.images):,} samples as "
             f"{dataset.name} ({scored.seconds:.1f} s)")
    emit(rows, SCORE_COLUMNS, settings.fmt, title=title)
    if settings.no_record:
        return
    record = external_record(name, samples, scored.metrics, dataset, device, scored.seconds, reference,
                             {"mnist_classifier_sha256": CLASSIFIER_SHA256})
    record["beyond_fid"] = scored.beyond_fid
    path = write_external(record, settings.out)
    errors.print(f"record: {path}", markup=False, highlight=False, soft_wrap=True)
    if settings.fmt == "table":
        console.print(f"Beside the trained variants: gan-bench report {settings.out}", markup=False, highlight=False,
                      soft_wrap=True)


def _quick():
    from bench.presets import PRESETS

    return PRESETS["quick"]


def stats_images(settings: StatsSettings):
    """The images `stats` describes: a dataset's own, or an input read as `score` reads it."""
    from bench.data.datasets import get_dataset
    from bench.scoring.inputs import parse_range, read_samples

    if settings.input in DATASET_IMAGES:
        name = DATASET_IMAGES[settings.input][0]
        if settings.dataset not in (None, name):
            raise BenchError(f"{settings.input} is {name}'s, not {settings.dataset}")
        if settings.value_range is not None:
            raise BenchError("--range applies to float arrays only")
        return dataset_samples(settings.input, settings.data_dir).images, get_dataset(name)
    dataset = get_dataset(settings.dataset or "mnist")
    return read_samples(Path(settings.input), dataset.shape[0], parse_range(settings.value_range),
                        settings.key).images, dataset


@app.command()
@takes(StatsSettings)
def stats(settings: StatsSettings):
    """Write an image set's FID statistics (mu, sigma on the MNIST classifier) to take to other code."""
    from bench.devices import use_device
    from bench.scoring.reference import reference_of, write_reference

    if settings.out.suffix != ".npz":
        raise BenchError(f"--out must name a .npz file, got {settings.out}")
    images, dataset = stats_images(settings)
    if settings.samples is not None:
        images = images[:settings.samples]
    if len(images) < 2:
        raise BenchError(f"{settings.input} holds {len(images)} image(s); statistics need at least 2")
    device = resolve(settings)
    with use_device(device):
        reference = reference_of(images, dataset.name, device)
    write_reference(settings.out, reference)
    console.print(f"{settings.out}: mu and sigma of {reference.n:,} images' {len(reference.mu)}-d MNIST-classifier "
                  f"features (network {reference.network_sha256[:16]}..., images {reference.images_digest[:16]}...)",
                  markup=False, highlight=False, soft_wrap=True)


@app.command()
@takes(SampleSettings)
def sample(settings: SampleSettings):
    """Draw samples from a generator file: a PNG grid, or an .npz that `gan-bench score` reads."""
    import numpy as np
    from torchvision.utils import save_image

    from bench.files import atomic_write
    from bench.generators import load_generator
    from bench.scoring.score import sample_generator

    if settings.grid is None and settings.out is None:
        raise BenchError("say where the samples go: --grid FILE.png and/or --out FILE.npz")
    if settings.out is not None and settings.out.suffix != ".npz":
        raise BenchError(f"--out must name a .npz file, got {settings.out}")
    load_variant_plugins(settings.plugin)
    gen = load_generator(settings.generator)
    samples, _ = sample_generator(gen, settings.n, settings.seed, resolve(settings))
    images = samples.images
    if settings.grid is not None:
        settings.grid.parent.mkdir(parents=True, exist_ok=True)
        save_image(images.float() / 255.0, settings.grid, nrow=int(np.ceil(np.sqrt(len(images)))), padding=2)
        console.print(f"{settings.grid}: {len(images)} samples of {gen.run_id} ({gen.which} generator, step "
                      f"{gen.step})", markup=False, highlight=False, soft_wrap=True)
    if settings.out is not None:
        import io

        buffer = io.BytesIO()
        np.savez_compressed(buffer, samples=images.numpy())
        atomic_write(settings.out, buffer.getvalue())
        console.print(f"{settings.out}: {len(images)} samples, uint8 {list(images.shape)} under 'samples'",
                      markup=False, highlight=False, soft_wrap=True)

