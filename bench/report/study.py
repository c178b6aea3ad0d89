"""The report of a hyperparameter study (`gan-bench study`, after Lucic et al. 2018).

A study trains K sampled configurations per variant (the search phase; configuration 0 is
the variant's defaults), then may rerun each variant's best configuration over several
seeds (the rerun-best phase). The search is judged by the final FID of each configuration
and by the expected best FID after k configurations tried (docs/figures.md, "Studies");
the reruns are ordinary runs and go through the ordinary tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from math import comb

import numpy as np
import pandas as pd

from bench.records import RERUN_BEST, SEARCH
from bench.report.loading import dig, is_number
from bench.report.summary import fid_key_of, format_number, group_by_variant

BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
BAND = (2.5, 97.5)  # percentiles of the bootstrap band
CONFIG_COLUMNS = ["variant", "config_index", "status", "runs", "ok", "fid", "params"]
CURVE_COLUMNS = ["variant", "k", "expected_best", "band_lo", "band_hi"]


def is_study(records: list[dict]) -> bool:
    return any(dig(r, "study") is not None for r in records)


def phase_of(record: dict) -> str:
    return record["study"]["phase"]


def format_params(params: dict) -> str:
    def value(v) -> str:
        return str(v).lower() if isinstance(v, bool) else f"{v:.3g}" if is_number(v) else str(v)
    return " ".join(f"{name}={value(v)}" for name, v in params.items())


def configurations(records: list[dict], fid_key: str) -> pd.DataFrame:
    """One row per (variant, configuration) of the search phase.

    A configuration's FID is the mean over its ok runs that have one (several seeds of one
    configuration are one draw from the search space, not several); NaN when none has.
    Its status is ok when some run ended ok, else diverged when some run diverged, else failed.
    """
    rows = []
    for variant, runs in group_by_variant([r for r in records if phase_of(r) == SEARCH]).items():
        by_index: dict[int, list[dict]] = {}
        for run in runs:
            by_index.setdefault(run["study"]["config_index"], []).append(run)
        for index, group in sorted(by_index.items()):
            ok = [r for r in group if r["status"] == "ok"]
            fids = [float(v) for v in (dig(r, "metrics", fid_key) for r in ok) if is_number(v) and math.isfinite(v)]
            status = "ok" if ok else "diverged" if any(r["status"] == "diverged" for r in group) else "failed"
            rows.append({"variant": variant, "config_index": index, "status": status, "runs": len(group),
                         "ok": len(ok), "fid": float(np.mean(fids)) if fids else math.nan,
                         "params": format_params(group[0]["study"]["params"])})
    return pd.DataFrame(rows, columns=CONFIG_COLUMNS)


def expected_best_weights(n: int) -> np.ndarray:
    """W[k-1, i-1] = C(n-i, k-1) / C(n, k): the chance that the i-th smallest of n values is
    the minimum of k drawn without replacement. Exact integers until the one division."""
    return np.array([[comb(n - i, k - 1) / comb(n, k) for i in range(1, n + 1)] for k in range(1, n + 1)])


def expected_best_many(samples: np.ndarray) -> np.ndarray:
    """expected_best for each row of a (B, n) array, +inf meaning "no FID"."""
    samples = np.sort(np.asarray(samples, dtype=float), axis=1)  # +inf sorts last
    n = samples.shape[1]
    finite = np.isfinite(samples)
    # inf * 0 is NaN, so failures enter as 0 and are put back as +inf below.
    curves = np.where(finite, samples, 0.0) @ expected_best_weights(n).T
    # Some k-subset is all failures exactly when there are at least k of them.
    failures = n - finite.sum(axis=1)
    curves[np.arange(1, n + 1)[None, :] <= failures[:, None]] = math.inf
    return curves


def expected_best(fids) -> np.ndarray:
    """The expected minimum FID of k configurations drawn without replacement from these n,
    for k = 1..n: sum_i f(i) C(n-i, k-1) / C(n, k) over the sorted f(1) <= ... <= f(n).

    A configuration without an FID (failed, diverged) is +inf, a draw that found nothing;
    the expectation is +inf for every k at which k draws can all be such.
    """
    fids = np.asarray(fids, dtype=float)
    return expected_best_many(fids[None, :])[0] if len(fids) else np.array([])


def bootstrap_band(fids, samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> tuple[np.ndarray, np.ndarray]:
    """The 2.5th and 97.5th percentiles of expected_best over `samples` resamples of the n
    configurations with replacement, at each k.

    The percentiles are order statistics (numpy's lower and higher) rather than
    interpolations: interpolating next to an infinite resample gives inf or NaN, and an
    order statistic is never narrower than the resamples show.
    """
    fids = np.asarray(fids, dtype=float)
    if not len(fids):
        return np.array([]), np.array([])
    rng = np.random.RandomState(seed)
    curves = expected_best_many(fids[rng.randint(0, len(fids), size=(samples, len(fids)))])
    return (np.percentile(curves, BAND[0], axis=0, method="lower"),
            np.percentile(curves, BAND[1], axis=0, method="higher"))


def expected_best_curves(configs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for variant, group in configs.groupby("variant", sort=False):
        fids = group["fid"].fillna(math.inf).to_numpy(dtype=float)
        curve, (lo, hi) = expected_best(fids), bootstrap_band(fids)
        rows += [{"variant": variant, "k": k + 1, "expected_best": curve[k], "band_lo": lo[k], "band_hi": hi[k]}
                 for k in range(len(fids))]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def best_configurations(configs: pd.DataFrame) -> pd.DataFrame:
    """Per variant: the configuration with the lowest FID (the lower index on a tie) and the
    median FID over the configurations that have one."""
    rows = []
    for variant, group in configs.groupby("variant", sort=False):
        scored = group.dropna(subset=["fid"]).sort_values(["fid", "config_index"])
        best = scored.iloc[0] if len(scored) else None
        rows.append({"variant": variant, "configurations": len(group), "ok": int((group["status"] == "ok").sum()),
                     "best_config_index": best["config_index"] if best is not None else None,
                     "best_fid": best["fid"] if best is not None else math.nan,
                     "best_params": best["params"] if best is not None else "",
                     "median_fid": float(scored["fid"].median()) if len(scored) else math.nan})
    return pd.DataFrame(rows, columns=["variant", "configurations", "ok", "best_config_index", "best_fid",
                                       "best_params", "median_fid"])


# The human-readable curve tables show these k (and K); the CSV has every k.
SHOWN_K = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def format_fid(value) -> str:
    return "∞" if is_number(value) and math.isinf(value) else format_number(value, "{:.2f}")


@dataclass
class Study:
    id: str
    name: str
    space: str
    fid_key: str
    configurations: pd.DataFrame
    best: pd.DataFrame
    curves: pd.DataFrame
    rerun: list[dict]  # the rerun-best runs, for the ordinary tables

    def provenance(self) -> list[tuple[str, str]]:
        return [("study", f"{self.name} (id {self.id})"), ("search space", self.space),
                ("configurations", f"{len(self.configurations)} searched, {len(self.rerun)} rerun-best runs")]

    def fids_by_variant(self) -> dict[str, list[float]]:
        """Each variant's configuration FIDs, NaN where a configuration has none."""
        return {v: list(g["fid"]) for v, g in self.configurations.groupby("variant", sort=False)}

    def tables(self) -> list[tuple[str, str, pd.DataFrame]]:
        if not len(self.configurations):
            return []
        best = pd.DataFrame({
            "variant": self.best["variant"], "configurations": self.best["configurations"].astype(str),
            "ok": self.best["ok"].astype(str),
            "best config": [str(int(i)) if is_number(i) else "" for i in self.best["best_config_index"]],
            f"best {self.fid_key} ↓": [format_fid(v) for v in self.best["best_fid"]],
            "hyperparameters": self.best["best_params"],
            f"median {self.fid_key}": [format_fid(v) for v in self.best["median_fid"]],
        })
        configs = self.configurations
        every = pd.DataFrame({
            "variant": configs["variant"], "config": configs["config_index"].astype(str),
            "status": [s if s == "ok" else s.upper() for s in configs["status"]],
            "ok runs": [f"{o}/{n}" for o, n in zip(configs["ok"], configs["runs"])],
            self.fid_key: [format_fid(v) for v in configs["fid"]], "hyperparameters": configs["params"],
        })
        curves = self.curves
        last = curves.groupby("variant")["k"].transform("max")
        shown = curves[curves["k"].isin(SHOWN_K) | (curves["k"] == last)]
        expected = pd.DataFrame({
            "variant": shown["variant"], "k": shown["k"].astype(str),
            f"expected best {self.fid_key}": [format_fid(v) for v in shown["expected_best"]],
            "95% bootstrap band": [f"[{format_fid(lo)}, {format_fid(hi)}]"
                                   for lo, hi in zip(shown["band_lo"], shown["band_hi"])],
        })
        return [
            ("Best configuration per variant",
             f"Search phase of study {self.name}: final {self.fid_key} per configuration (the mean over its ok "
             "seeds), the lowest shown with its hyperparameters; configuration 0 is the variant's defaults. "
             "Median over the configurations with an FID (ok says how many).", best),
            ("Expected best FID after k configurations",
             f"Expected minimum {self.fid_key} of k configurations drawn without replacement, with a 95% bootstrap "
             f"band ({BOOTSTRAP_SAMPLES} resamples of the configurations). Failed and diverged configurations count "
             "as draws that found nothing: ∞ where k draws can all be such. Shown at selected k; "
             "study_expected_best.csv has every k.", expected),
            ("Every configuration", "Search phase, one row per configuration; FID empty where no run ended ok "
             "with one.", every),
        ]


def build_study(records: list[dict]) -> Study | None:
    """The study the records belong to (check_comparable has made sure there is one), or None."""
    if not is_study(records):
        return None
    def distinct(key):
        return ", ".join(sorted({str(r["study"][key]) for r in records}))
    fid_key = fid_key_of(records)
    configs = configurations(records, fid_key)
    return Study(id=distinct("id"), name=distinct("name"), space=distinct("space"), fid_key=fid_key,
                 configurations=configs, best=best_configurations(configs), curves=expected_best_curves(configs),
                 rerun=[r for r in records if phase_of(r) == RERUN_BEST])
