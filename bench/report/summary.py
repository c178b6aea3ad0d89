"""What may be compared with what, and the statistics over training seeds: one row per
variant, the pairwise tests and their correction, and the runs that did not end ok."""

from __future__ import annotations

import math
import statistics
from itertools import combinations
from numbers import Real
from pathlib import Path

import pandas as pd
from scipy import stats

from bench.data.datasets import get_dataset
from bench.errors import BenchError
from bench.report.figures import BEYOND, BUDGET, CONVERGENCE, QUALITY, STATUSES, SYSTEMS, Figure, best_figure
from bench.report.loading import dig, is_number, recipe_labels

CI_LEVEL = 0.95


# Figures are only comparable on one device, one preset (budget and sample counts), one
# protocol and one pair of feature networks (FID on another classifier is another number).
COMPARABLE = {
    "dataset": lambda r: dataset_of(r),
    "device slug": lambda r: r["env"]["device_slug"],
    "preset": lambda r: r["config"]["preset"],
    "budget": lambda r: r["config"].get("budget"),  # epochs, generator steps or training seconds
    "protocol version": lambda r: r["config"]["protocol_version"],
    "MNIST classifier sha256": lambda r: dig(r, "feature_nets", "mnist_classifier_sha256"),
    "Inception sha256": lambda r: dig(r, "feature_nets", "inception_sha256"),
    # One study's configurations are ranked against each other only.
    "study id": lambda r: dig(r, "study", "id"),
}


# What only a trained run has: an external score shares a table with runs of any of these.
TRAINING_LABELS = ("preset", "budget", "protocol version", "study id")
# The score of real data that heads every quality table (bench/eval/reference/): a property of
# the dataset, the feature network and the sample count, shown beside the runs of any machine.
REAL_DATA = "external:real-data"


def is_real_data(record: dict) -> bool:
    return record.get("variant") == REAL_DATA


def dataset_of(record: dict) -> str:
    """The dataset a run trained on (loading.upgrade names MNIST for the records that predate the choice)."""
    return record["config"]["dataset"]


def fid_key_of(records: list[dict]) -> str:
    """The FID the pairwise tests and the convergence plot use: the (one) dataset's."""
    return get_dataset(dataset_of(records[0])).fid_key if records else "fid_mnist"


def check_comparable(records: list[dict]) -> None:
    """Refuse to put records in one table that measure different things.

    A missing checksum (a failed run, an older record) conflicts with nothing, and an external
    score (`gan-bench score`) has no training preset, budget, protocol or study to conflict with.
    """
    for label, value_of in COMPARABLE.items():
        counts: dict = {}
        for record in records:
            if label in TRAINING_LABELS and record.get("kind") == "external":
                continue
            if label == "device slug" and is_real_data(record):
                continue
            value = value_of(record)
            if value is not None:
                counts[value] = counts.get(value, 0) + 1
        if len(counts) > 1:
            listed = ", ".join(f"{value} ({n} run{'s' if n > 1 else ''})" for value, n in sorted(counts.items(), key=str))
            hint = "e.g. RESULTS/runs/<device-slug>" if label == "device slug" else f"that holds one {label} only"
            raise BenchError(f"records mix {label}s: {listed}; report one set at a time by passing a narrower "
                             f"directory ({hint})")
    # A study's search runs pooled with ordinary runs would rank untuned and tuned variants together.
    trained = [r for r in records if r.get("kind") != "external"]
    in_study = sum(dig(r, "study") is not None for r in trained)
    if 0 < in_study < len(trained):
        raise BenchError(f"records mix study runs ({in_study}) and ordinary runs ({len(trained) - in_study}); "
                         "report one set at a time by passing a narrower directory (that holds one study only)")


def consistency_warnings(records: list[dict]) -> list[str]:
    """Things that do not make a table wrong but make a statistic mean less."""
    warnings = []
    for variant, runs in group_by_variant(records).items():
        hashes = {r.get("config_hash") for r in runs} - {None}
        if len(hashes) > 1:
            warnings.append(f"variant {variant} mixes {len(hashes)} configurations ({', '.join(sorted(hashes))}); "
                            "its statistics pool them")
        seeds = [r["seed"] for r in runs if r["status"] == "ok"]
        repeated = sorted({s for s in seeds if seeds.count(s) > 1})
        if repeated:
            warnings.append(f"variant {variant} has several ok runs of seed(s) {repeated}; each counts as a seed")
    return warnings


def seed_stats(values: list[float], lo: float = -math.inf, hi: float = math.inf) -> dict:
    """Mean, standard deviation and 95% t-interval over training seeds, the interval clipped
    to [lo, hi], the values the figure can take (3 seeds give t = 4.30: such an interval
    easily leaves a bounded figure's range); `ci_lo_clipped`/`ci_hi_clipped` say which bound
    was cut. A value seen outside [lo, hi] widens the range to it: the data outrank the
    declaration, and an interval never excludes its own mean.

    Non-finite values are left out (n says how many counted). With one seed there is no
    spread to estimate: std and interval are NaN (empty in the tables), never 0.
    """
    values = [float(v) for v in values if is_number(v) and math.isfinite(v)]
    n = len(values)
    out = {"n": n, "mean": math.nan, "std": math.nan, "ci_lo": math.nan, "ci_hi": math.nan,
           "ci_lo_clipped": False, "ci_hi_clipped": False}
    if n == 0:
        return out
    # statistics' exact summation: three equal values give std 0.0, not 1e-16.
    out["mean"] = statistics.fmean(values)
    if n >= 2:
        out["std"] = statistics.stdev(values)
        half = stats.t.ppf((1 + CI_LEVEL) / 2, df=n - 1) * out["std"] / math.sqrt(n)
        lo, hi = min(lo, *values), max(hi, *values)
        raw_lo, raw_hi = out["mean"] - half, out["mean"] + half
        out["ci_lo"], out["ci_hi"] = max(lo, raw_lo), min(hi, raw_hi)
        out["ci_lo_clipped"], out["ci_hi_clipped"] = raw_lo < lo, raw_hi > hi
    return out


def record_value(record: dict, key: str):
    """A dotted key ("budget.g_steps_planned") of a record."""
    return dig(record, *key.split("."))


def figure_range(figure: Figure, runs: list, value_at=record_value) -> tuple[float, float]:
    """(lo, hi): the values `figure` can take over `runs`, its declared range cut at the largest
    cap the runs record (a budget's G updates, epochs). A run that records no cap leaves the
    declared top. `value_at(run, key)` reads a dotted key: records here, a DataFrame row's
    flattened columns in bench.api."""
    if not figure.cap or not runs:
        return figure.lo, figure.hi
    caps = []
    for run in runs:
        factors = [value_at(run, key) for key in figure.cap]
        if not all(isinstance(f, Real) and not isinstance(f, bool) and math.isfinite(f) and f > 0 for f in factors):
            return figure.lo, figure.hi
        caps.append(math.prod(float(f) for f in factors))
    return figure.lo, min(figure.hi, max(caps))


def variant_label(record: dict) -> str:
    """The variant's name; a plug-in variant's also names its file and the file's sha256, so
    its rows never pass for a built-in variant's (nor for another version of the plug-in)."""
    source = record.get("config", {}).get("source", "builtin")
    if not isinstance(source, dict):
        return record["variant"]
    where = Path(source.get("file") or source.get("module") or "?").name
    return f"{record['variant']} (plug-in {where} {(source.get('sha256') or '')[:8]})".replace(" )", ")")


def group_by_variant(records: list[dict]) -> dict[str, list[dict]]:
    """One group per table row: a variant's recipe (loading.recipe_labels)."""
    groups: dict[str, list[dict]] = {}
    labels = recipe_labels(records, variant_label)
    # Real data first: what a perfect generator scores heads every table it is in.
    for record in sorted(records, key=lambda r: (r["variant"] != "external:real-data", labels[id(r)], r["seed"],
                                                 r["run_id"])):
        groups.setdefault(labels[id(record)], []).append(record)
    return groups


def present_figures(records: list[dict]) -> tuple[Figure, ...]:
    """The dataset's own figures (records of one dataset only), and the others some ok run has."""
    ok = [r for r in records if r["status"] == "ok"]
    dataset = dataset_of(records[0]) if records else "mnist"
    return tuple(f for f in QUALITY + BEYOND if f.dataset == dataset
                 or (f.dataset is None and any(is_number(dig(r, "metrics", f.key)) for r in ok)))


def best_figures(records: list[dict]) -> tuple[Figure, ...]:
    """The quality figures scored again for the best curve point's generator, where some ok
    run has them (records from before that have none)."""
    ok = [r for r in records if r["status"] == "ok"]
    return tuple(best for best in map(best_figure, present_figures(records))
                 if any(is_number(dig(r, "metrics", best.key)) for r in ok) and best.key[:-len("_best")] not in
                 {f.key for f in BEYOND})


def status_counts(runs: list) -> dict:
    """`n_ok`, `n_diverged`, ...: the runs of a group per status."""
    return {f"n_{s}": sum(r["status"] == s for r in runs) for s in STATUSES}


def figure_stats(ok: list, figures, value_at=record_value) -> dict:
    """The statistics over seeds of a group's ok runs, `<name>_n`, `<name>_mean`, ... for each
    (name, dotted key, Figure or None) of `figures`, each interval clipped to what its figure
    can take. The report's summary and bench.summarize both come from here; `value_at(run,
    key)` reads a record here, a DataFrame row's flattened columns in bench.api."""
    row = {}
    for name, key, figure in figures:
        bounds = figure_range(figure, ok, value_at) if figure else ()
        for stat, value in seed_stats([value_at(r, key) for r in ok], *bounds).items():
            row[f"{name}_{stat}"] = value
    return row


def summarise(records: list[dict]) -> pd.DataFrame:
    """One row per variant. Only ok runs enter the statistics; the others are counted.
    Where a run stopped under --until-converged goes in `stop_<figure>_<stat>`, apart from
    the budget's figures (a run may stop before its cap)."""
    quality = present_figures(records) + best_figures(records)
    figures = [(f"{prefix}{figure.key}", f"{section}.{figure.key}", figure)
               for section, section_figures, prefix in (("metrics", quality, ""), ("systems", SYSTEMS, ""),
                                                        ("budget", BUDGET, ""), ("convergence", CONVERGENCE, "stop_"))
               for figure in section_figures]
    rows = []
    for variant, runs in group_by_variant(records).items():
        ok = [r for r in runs if r["status"] == "ok"]
        row = {"variant": variant, **status_counts(runs), "seeds_ok": " ".join(str(r["seed"]) for r in ok),
               **figure_stats(ok, figures)}
        row["converged"] = sum(dig(r, "convergence", "status") == "converged" for r in ok)
        row["best_epochs_mean"] = seed_stats([epochs_at_best(r) for r in ok])["mean"]
        row.update(time_to_fid_columns(ok))
        rows.append(row)
    return pd.DataFrame(rows)


def epochs_at_best(record: dict) -> float | None:
    """Epochs of training at the best curve point, where the run says how long an epoch is."""
    images, rule = dig(record, "best", "images_seen"), dig(record, "convergence")
    if not (is_number(images) and is_number(dig(rule, "epochs")) and is_number(dig(rule, "images"))
            and rule["images"] > 0):
        return None
    return images * rule["epochs"] / rule["images"]


def time_to_fid_columns(ok: list[dict]) -> dict:
    """Seconds to reach the FID threshold, over the seeds that reached it (reached says how many)."""
    reached = [dig(r, "time_to_fid", "train_s") for r in ok]
    reached = [s for s in reached if is_number(s)]
    thresholds = [dig(r, "time_to_fid", "threshold") for r in ok]
    threshold = next((t for t in thresholds if is_number(t)), math.nan)
    timing = seed_stats(reached)
    return {"time_to_fid_threshold": threshold, "time_to_fid_reached": len(reached),
            "time_to_fid_s_mean": timing["mean"], "time_to_fid_s_std": timing["std"]}


# A difference is claimed where Holm's adjusted p is below ALPHA. From RANK_TEST_SEEDS seeds a
# side, and only where its smallest possible p survives the correction over the table's pairs,
# the exact rank test replaces Welch's t-test: it assumes no normal spread, but it cannot go
# below 2 / C(n_a + n_b, n_a) (3 seeds a side: 0.1), so at fewer seeds it could never reject.
ALPHA = 0.05
RANK_TEST_SEEDS = 6
PERMUTATIONS = 100_000  # splits of the pooled seeds; every one of them up to 9 seeds a side
PAIR_COLUMNS = ["variant_a", "variant_b", "n_a", "n_b", "mean_fid_a", "mean_fid_b", "median_fid_a", "median_fid_b",
                "test", "statistic", "p_value", "min_attainable_p", "p_holm", "significant", "p_a_better"]


def holm(p_values) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest of m is
    multiplied by m - i + 1 (i from 1), never below the one before it, at most 1. Rejecting
    where the adjusted p is below alpha keeps the chance of any false claim among the m below
    alpha (Holm 1979). A NaN (a pair not tested) stays NaN and is not counted in m."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted, running = [math.nan] * len(p_values), 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        adjusted[i] = running
    return adjusted


def rank_test(x: list[float], y: list[float]) -> tuple[str, float, float, float]:
    """(test, U, two-sided p, smallest possible p) of the Mann-Whitney U test: exact without
    ties; with ties, an exact permutation test of the mid-rank U (scipy's exact U assumes none)."""
    n_splits = math.comb(len(x) + len(y), len(x))
    if len(set(x) | set(y)) == len(x) + len(y):
        result = stats.mannwhitneyu(x, y, alternative="two-sided", method="exact")
        return "Mann-Whitney U (exact)", float(result.statistic), float(result.pvalue), min(1.0, 2 / n_splits)
    ranks = stats.rankdata(x + y)
    offset = len(x) * (len(x) + 1) / 2
    result = stats.permutation_test((ranks[:len(x)], ranks[len(x):]), lambda a, b, axis: a.sum(axis=axis) - offset,
                                    permutation_type="independent", alternative="two-sided",
                                    n_resamples=PERMUTATIONS, vectorized=True, rng=0)
    exact = n_splits <= PERMUTATIONS
    label = "Mann-Whitney U, ties (exact permutation)" if exact else f"Mann-Whitney U, ties ({PERMUTATIONS:,} permutations)"
    return label, float(result.statistic), float(result.pvalue), min(1.0, 2 / (n_splits if exact else PERMUTATIONS + 1))


def seed_test(x: list[float], y: list[float], n_pairs: int) -> tuple[str, float, float, float]:
    """(test, statistic, two-sided p, smallest possible p) for one pair of variants' seeds,
    by the rule above; `n_pairs` is the number of pairs the table tests."""
    smallest_rank_p = 2 / math.comb(len(x) + len(y), len(x))
    if min(len(x), len(y)) >= RANK_TEST_SEEDS and smallest_rank_p * n_pairs < ALPHA:
        return rank_test(x, y)
    if statistics.stdev(x) == 0 and statistics.stdev(y) == 0:
        return "none: no spread on either side", math.nan, math.nan, math.nan
    result = stats.ttest_ind(x, y, equal_var=False)
    return "Welch's t", float(result.statistic), float(result.pvalue), 0.0


def seed_fids(records: list[dict]) -> dict[str, list[float]]:
    """Each variant's final FIDs (the dataset's) over its ok seeds."""
    fids, fid_key = {}, fid_key_of(records)
    for variant, runs in group_by_variant(records).items():
        values = [dig(r, "metrics", fid_key) for r in runs if r["status"] == "ok"]
        fids[variant] = [float(v) for v in values if is_number(v) and math.isfinite(v)]
    return fids


def pairwise_fid(records: list[dict]) -> pd.DataFrame:
    """The final FID (fid_mnist, fid_stacked) compared for each pair of variants with >= 2 ok
    seeds each: the test (Welch's t-test, or the exact Mann-Whitney U where enough seeds make
    it able to reject; see ALPHA), its p, Holm's adjustment over all pairs of the table, and
    p_a_better, the probability that a seed of A scores a lower (better) FID than a seed of B,
    ties counting half: the Mann-Whitney effect size, U_B / (n_a n_b) (Agarwal et al. 2021's
    probability of improvement)."""
    fids = {v: x for v, x in seed_fids(records).items() if len(x) >= 2}
    pairs = list(combinations(sorted(fids), 2))
    rows = []
    for a, b in pairs:
        x, y = fids[a], fids[b]
        test, statistic, p, smallest = seed_test(x, y, len(pairs))
        rows.append({"variant_a": a, "variant_b": b, "n_a": len(x), "n_b": len(y),
                     "mean_fid_a": statistics.fmean(x), "mean_fid_b": statistics.fmean(y),
                     "median_fid_a": statistics.median(x), "median_fid_b": statistics.median(y),
                     "test": test, "statistic": statistic, "p_value": p, "min_attainable_p": smallest,
                     # U of y against x: the pairs where y's FID is higher, ties half.
                     "p_a_better": float(stats.mannwhitneyu(y, x).statistic) / (len(x) * len(y))})
    table = pd.DataFrame(rows, columns=PAIR_COLUMNS)
    table["p_holm"] = holm(table["p_value"].tolist())
    table["significant"] = table["p_holm"] < ALPHA
    return table


def claims_note(records: list[dict], pairs: pd.DataFrame) -> str | None:
    """The one line a report states when its seeds can support no claim of a difference."""
    fids = seed_fids(records)
    if len(fids) < 2:
        return None
    if not len(pairs):
        few = sorted(v for v, x in fids.items() if len(x) < 2)
        return (f"No claim of a difference is possible: a test needs 2 ok seeds a side, and {', '.join(few)} "
                f"{'has' if len(few) == 1 else 'have'} fewer.")
    tested = pairs.dropna(subset=["p_value"])
    if not len(tested):
        return "No claim of a difference is possible: no pair has any spread over its seeds to test."
    smallest = (tested["min_attainable_p"] * len(tested)).min()
    if smallest >= ALPHA:
        return (f"No claim of a difference is possible: at these seed counts the smallest p any pair can reach, "
                f"corrected over the {len(tested)} pairs, is {min(1.0, smallest):.3g}, not below {ALPHA}.")
    return None


def problem_runs(records: list[dict]) -> pd.DataFrame:
    """The diverged and failed runs, one row each: marked, never dropped silently."""
    rows = []
    for r in sorted(records, key=lambda r: (r["variant"], r["seed"], r["run_id"])):
        if r["status"] != "ok":
            error = (r.get("error") or "").strip().splitlines()
            rows.append({"variant": r["variant"], "seed": r["seed"], "status": r["status"],
                         "diverged_at_step": r.get("diverged_at_step"),
                         "error": error[0][:120] if error else "", "run_id": r["run_id"]})
    return pd.DataFrame(rows, columns=["variant", "seed", "status", "diverged_at_step", "error", "run_id"])


def format_number(value, fmt: str, scale: float = 1.0) -> str:
    return "" if not is_number(value) or not math.isfinite(value) else fmt.format(value * scale)
