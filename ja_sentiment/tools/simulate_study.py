"""Not a pipeline stage: studies simulated with known truth, to measure how often a study's intervals
and verdicts err (coverage, family-wise error under Holm, power) for today's method and the new one.

    python -m ja_sentiment.tools.simulate_study --studies 300 --power-studies 100 --bootstrap-studies 60
                                                            (the table in docs/statistics.md)

A simulated study has the test set's shape (553 rows with pn's class mix: 78 negative, 139 neutral,
336 positive; a new sample of rows each study) and `family` countermeasures against a baseline over
S seeds. Row i of configuration c's run with seed s is right with probability
sigmoid(base + row_i + config_row_ci + shared_s + seed_cs + effect_c), otherwise one of the two other
classes: row_i the row's difficulty (shared by every configuration), config_row_ci a configuration's
own row effects (fixed over its seeds: the row level a comparison must count), shared_s the seed's
effect common to every configuration run with it (what pairing by seed cancels), seed_cs the run's
own seed effect (Gaussian; in the heavy-tailed world a share of runs also diverge, a further drop),
effect_c the planted effect (0 for a null
countermeasure). Every configuration is drawn from the same process but for effect_c, so a null
countermeasure's true difference is exactly 0; a planted one's truth (the expected difference of
macro-F1 over seeds and over the population of rows) is computed once by Monte Carlo on many rows and
seeds, and its logit effect is set to give +2, +4 or +6 points.

Methods: `bootstrap` (the two-level paired bootstrap, ja_sentiment.study_stats.two_level_bootstrap)
and `moments` (the seed x row method of moments with a t on S - 1 degrees of freedom,
study_stats.seed_row_moments); both with Holm across the family on macro-F1. `seeds_only`, a straw
man that ignores the row level, is there for the tests to show the simulator catches it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats
from tqdm import tqdm

from ja_sentiment.study_stats import holm, per_seed_scores, seed_row_moments, two_level_bootstrap

CLASS_COUNTS = (78, 139, 336)  # pn.tsv's test split: negative, neutral, positive
METHODS = ("bootstrap", "moments")


@dataclass(frozen=True)
class World:
    """How runs vary: seed_sd the logit sd of a run's seed effect; a share `diverging` of runs drops
    by `drop` more; rows differ by row_sd, configurations' own row effects by config_row_sd."""
    name: str
    seed_sd: float
    diverging: float = 0.0
    drop: float = 1.5
    row_sd: float = 4.0
    config_row_sd: float = 0.8
    shared_seed_sd: float = 0.2  # a seed's effect shared by every configuration run with it
    base: float = 4.3  # with row_sd 4: test accuracy about 0.84


# Per-seed sd of test accuracy (seed_sd_points): about 1.1, 1.6, 2.6 and 3.8 points.
WORLDS = (World("rows only", 0.0), World("seed sd moderate", 0.2), World("seed sd large", 0.4),
          World("heavy-tailed", 0.2, diverging=0.1))


def runs(world: World, rng: np.random.Generator, gold: np.ndarray, row: np.ndarray, n_seeds: int,
         effect: float, shared: np.ndarray | None = None) -> np.ndarray:
    """(seeds, rows) predictions of one configuration on these rows (`shared`: the seeds' effects
    common to every configuration, (seeds, 1))."""
    n = len(gold)
    logit = world.base + row + rng.normal(0, world.config_row_sd, n) + effect
    seed = rng.normal(0, world.seed_sd, (n_seeds, 1)) + (0.0 if shared is None else shared)
    seed -= world.drop * (rng.random((n_seeds, 1)) < world.diverging)
    right = rng.random((n_seeds, n)) < 1 / (1 + np.exp(-(logit + seed)))
    wrong = (gold + rng.integers(1, 3, (n_seeds, n))) % 3
    return np.where(right, gold, wrong)


def test_rows(rng: np.random.Generator, world: World, n_rows: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """Gold labels with pn's class mix (scaled to n_rows) and each row's difficulty."""
    counts = np.array(CLASS_COUNTS) if n_rows is None else np.round(
        np.array(CLASS_COUNTS) / sum(CLASS_COUNTS) * n_rows)
    gold = np.repeat(np.arange(3), np.asarray(counts, dtype=int))
    return gold, rng.normal(0, world.row_sd, len(gold))


def truth(world: World, effect: float, n_rows: int = 20_000, n_seeds: int = 60, seed: int = 0) -> float:
    """Expected macro-F1 of a configuration with `effect` minus the baseline's, over seeds and over
    the population of rows (Monte Carlo with common random numbers)."""
    means = []
    for eff in (effect, 0.0):
        rng = np.random.default_rng(seed)
        gold, row = test_rows(rng, world, n_rows)
        means.append(per_seed_scores(gold, runs(world, rng, gold, row, n_seeds, eff), 3, "macro_f1").mean())
    return float(means[0] - means[1])


def effect_for(world: World, points: float) -> float:
    """The logit effect whose true macro-F1 difference is `points` (bisection)."""
    low, high = 0.0, 3.0
    for _ in range(10):
        mid = (low + high) / 2
        low, high = (mid, high) if 100 * truth(world, mid) < points else (low, mid)
    return (low + high) / 2


def seeds_only(gold: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """A straw man the simulator must catch: the paired t over the per-seed differences of macro-F1,
    blind to the test set's own sampling noise (the row level)."""
    d = per_seed_scores(gold, a, 3, "macro_f1") - per_seed_scores(gold, b, 3, "macro_f1")
    se = max(float(d.std(ddof=1)) / np.sqrt(len(d)), 1e-12)
    half = float(scipy_stats.t.ppf(0.975, len(d) - 1)) * se
    p = float(2 * scipy_stats.t.sf(abs(d.mean()) / se, len(d) - 1))
    return {"diff": float(d.mean()), "ci_low": float(d.mean()) - half, "ci_high": float(d.mean()) + half,
            "p": p}


def study(world: World, rng: np.random.Generator, n_seeds: int, effects: list[float], method: str,
          resamples: int, alpha: float = 0.05) -> list[dict]:
    """One simulated study: per countermeasure (effects[i]) its interval, Holm p and verdict."""
    gold, row = test_rows(rng, world)
    shared = rng.normal(0, world.shared_seed_sd, (n_seeds, 1))
    base = runs(world, rng, gold, row, n_seeds, 0.0, shared)
    out = []
    for effect in effects:
        a = runs(world, rng, gold, row, n_seeds, effect, shared)
        if method == "bootstrap":
            boot_seed = int(rng.integers(1 << 31))
            out.append(two_level_bootstrap(gold, a, base, 3, "macro_f1", resamples, boot_seed))
        elif method == "seeds only":
            out.append(seeds_only(gold, a, base))
        else:
            out.append(seed_row_moments(gold, a, base, 3, "macro_f1"))
        out[-1]["effect"] = effect
    for result, q in zip(out, holm([r["p"] for r in out]), strict=True):
        result["p_holm"] = q
        result["rejected"] = q < alpha
    return out


def cell(world: World, n_seeds: int, method: str, n_studies: int, family: int = 11, planted: float = 0.0,
         resamples: int = 999, seed: int = 0) -> dict:
    """Over `n_studies` simulated studies: coverage of 0 by the null countermeasures' intervals, the
    family-wise error (a study with any null countermeasure judged different), and with a planted
    effect (its logit) the power (the planted one judged better). Also the per-seed sd of accuracy."""
    rng = np.random.default_rng(seed)
    effects = [planted] + [0.0] * (family - 1) if planted else [0.0] * family
    covered = nulls = errors = found = 0
    for _ in range(n_studies):
        results = study(world, rng, n_seeds, effects, method, resamples)
        null = [r for r in results if r["effect"] == 0.0]
        covered += sum(r["ci_low"] <= 0 <= r["ci_high"] for r in null)
        nulls += len(null)
        errors += any(r["rejected"] for r in null)
        found += bool(planted) and results[0]["rejected"] and results[0]["diff"] > 0
    return {"coverage": covered / max(nulls, 1), "fwer": errors / n_studies,
            "power": found / n_studies if planted else None, "studies": n_studies}


def seed_sd_points(world: World, n_seeds: int = 200, seed: int = 0) -> float:
    """The sd over seeds of one configuration's test accuracy in this world, in points."""
    rng = np.random.default_rng(seed)
    gold, row = test_rows(rng, world)
    return 100 * float(per_seed_scores(gold, runs(world, rng, gold, row, n_seeds, 0.0), 3, "accuracy").std())


def prior_components(world: World = WORLDS[1], n_seeds: int = 10, pilots: int = 20, seed: int = 0) -> dict:
    """Variance components (seed, row, residual) of a null macro-F1 difference in a simulated world,
    mean over `pilots` simulated comparisons: the prior a study's --dry-run states when it has no
    results of its own yet."""
    rng = np.random.default_rng(seed)
    fitted = []
    for _ in range(pilots):
        gold, row = test_rows(rng, world)
        shared = rng.normal(0, world.shared_seed_sd, (n_seeds, 1))
        a, b = (runs(world, rng, gold, row, n_seeds, 0.0, shared) for _ in range(2))
        fitted.append(seed_row_moments(gold, a, b, 3, "macro_f1")["components"])
    return {key: float(np.mean([f[key] for f in fitted])) for key in fitted[0]}


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval of a binomial proportion."""
    tail = (1 - confidence) / 2
    low = scipy_stats.beta.ppf(tail, k, n - k + 1) if k else 0.0
    high = scipy_stats.beta.ppf(1 - tail, k + 1, n - k) if k < n else 1.0
    return float(low), float(high)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--studies", type=int, default=300, help="simulated studies per cell")
    parser.add_argument("--seeds", type=int, nargs="+", default=[2, 3, 5, 10], help="seeds per study")
    parser.add_argument("--family", type=int, default=11, help="countermeasures per study (Holm's family)")
    parser.add_argument("--resamples", type=int, default=499,
                        help="bootstrap resamples (today's method; 499 resolves p = 0.004 < 0.05 / 11)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="the methods to measure (moments: the study's; bootstrap: the old one, slow)")
    parser.add_argument("--power-studies", type=int, default=100, help="simulated studies per power cell")
    parser.add_argument("--bootstrap-studies", type=int, help="simulated studies per cell for the "
                        "bootstrap, the slow method (default: as --studies and --power-studies)")
    args = parser.parse_args(argv)
    if args.studies < 1 or args.power_studies < 1 or min(args.seeds) < 2 or args.family < 1:
        parser.error("--studies and --power-studies at least 1, --seeds at least 2, --family at least 1")
    print(f"{args.studies} simulated studies per error cell, {args.power_studies} per power cell; "
          f"{args.family} countermeasures per study, Holm at 0.05, macro-F1; bootstrap: {args.resamples} "
          "resamples\n")
    print("| world (sd of accuracy over seeds) | seeds | method | coverage of 0 (nulls) | family-wise error "
          "[95% CP] | power +2 / +4 / +6 points |")
    print("|---|---|---|---|---|---|")
    cells = [(w, s, m) for w in WORLDS for s in args.seeds for m in args.methods]
    planted = {w.name: {pts: effect_for(w, pts) for pts in (2, 4, 6)} for w in WORLDS}
    for world, n_seeds, method in tqdm(cells, desc="cells", file=sys.stderr):
        slow = method == "bootstrap" and args.bootstrap_studies
        n_null, n_power = (args.bootstrap_studies,) * 2 if slow else (args.studies, args.power_studies)
        null = cell(world, n_seeds, method, n_null, args.family, resamples=args.resamples)
        k = round(null["fwer"] * n_null)
        low, high = clopper_pearson(k, n_null)
        power = [cell(world, n_seeds, method, n_power, args.family, planted[world.name][pts],
                      args.resamples, seed=1)["power"] for pts in (2, 4, 6)]
        print(f"| {world.name} ({seed_sd_points(world):.1f} points) | {n_seeds} | {method} ({n_null}) | "
              f"{null['coverage']:.3f} | {null['fwer']:.3f} [{low:.3f}, {high:.3f}] | "
              f"{' / '.join(f'{p:.2f}' for p in power)} |", flush=True)


if __name__ == "__main__":
    main()
