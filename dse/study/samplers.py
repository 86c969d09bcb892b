"""How a study searches: the Optuna sampler a study file names (NSGA-II by default; TPE, GP, random,
grid), with the two samplers of our own that make random and grid search reproducible with any number
of workers."""
from __future__ import annotations

import functools
import types

import numpy as np

from dse.study.spec import StudySpec

# The samplers a study file may name ([sampler] name), and the options each takes with their types.
SAMPLERS = ("nsga2", "tpe", "gp", "random", "grid")
SAMPLER_OPTIONS: dict[str, dict[str, type]] = {
    "nsga2": {"population_size": int, "mutation_prob": float, "crossover_prob": float},
    "tpe": {"n_startup_trials": int, "multivariate": bool},
    "gp": {"n_startup_trials": int},
    "random": {},
    "grid": {},
}
# Allowed values of the numeric options: (low, high, how a message states them).
OPTION_RANGES: dict[str, tuple[float, float, str]] = {
    "population_size": (2, 100_000, "must be an integer in 2..100000"),
    "mutation_prob": (0.0, 1.0, "must be a probability in [0, 1]"),
    "crossover_prob": (0.0, 1.0, "must be a probability in [0, 1]"),
    "n_startup_trials": (0, 1_000_000, "must be an integer in 0..1000000"),
}


def option_problem(key: str, value) -> str:
    """What is wrong with a sampler option's (typed) value, or "" when it is allowed."""
    if key not in OPTION_RANGES:
        return ""
    low, high, problem = OPTION_RANGES[key]
    return "" if low <= value <= high else problem

def make_sampler(spec: StudySpec, seed: int):
    """The Optuna sampler a study file asks for, seeded with ``seed``.

    Constraints reach the samplers that use them (NSGA-II, TPE, GP) through ``trial.set_constraint``;
    random and grid sampling ignore them, and the tables still mark each design ``feasible``.
    Random and grid sampling give trial *n* the same parameters whichever worker runs it, so they
    reproduce with any number of workers; NSGA-II, TPE and GP learn from the trials finished so far,
    which with several workers depends on timing.
    """
    import optuna

    options = dict(spec.sampler.options)
    name = spec.sampler.name
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, **options)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, **options)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed, **options)
    samplers = _sampler_classes()
    if name == "random":  # seeded per trial number, not per worker
        return samplers.TrialSeededRandomSampler(spec.sampler.seed)
    # The grid is shuffled by its seed and trial n takes point n: every worker needs the same order.
    return samplers.RetryingGridSampler({p.name: p.grid() for p in spec.search}, seed=spec.sampler.seed)


@functools.lru_cache(maxsize=1)
def _sampler_classes():
    """The two sampler classes below, defined on first use (importing Optuna takes a while)."""
    import zlib

    import optuna
    from optuna.trial import TrialState

    class TrialSeededRandomSampler(optuna.samplers.BaseSampler):
        """Random sampling where trial *n*'s parameters depend only on (seed, n, parameter name)."""

        def __init__(self, seed: int) -> None:
            self._seed = seed

        def infer_relative_search_space(self, study, trial):
            return {}

        def sample_relative(self, study, trial, search_space):
            return {}

        def sample_independent(self, study, trial, param_name, param_distribution):
            entropy = [self._seed, trial.number, zlib.crc32(param_name.encode())]
            seed = int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0])
            return optuna.samplers.RandomSampler(seed=seed).sample_independent(
                study, trial, param_name, param_distribution)

    class RetryingGridSampler(optuna.samplers.GridSampler):
        """Optuna's grid sampler, except that the point of a failed trial (a killed worker, a trial
        beyond the budget) counts as not visited, so a later trial evaluates it."""

        def _get_unvisited_grid_ids(self, study) -> list[int]:
            taken = {t.system_attrs["grid_id"] for t in study._storage.get_all_trials(study._study_id, deepcopy=False)
                     if t.state != TrialState.FAIL and "grid_id" in t.system_attrs
                     and self._same_search_space(t.system_attrs["search_space"])}
            unvisited = sorted(set(range(self._n_min_trials)) - taken)
            # Never empty: the budget check ends the run; an empty list would stop or warn instead.
            return unvisited or list(range(self._n_min_trials))

    return types.SimpleNamespace(TrialSeededRandomSampler=TrialSeededRandomSampler,
                                 RetryingGridSampler=RetryingGridSampler)
