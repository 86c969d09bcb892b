"""What one trial does: suggest parameters, build the frozen configs, call the objective, record every
number as an Optuna user attribute, return the objective values."""
from __future__ import annotations

import dataclasses
import math
import time
import typing
from dataclasses import dataclass
from typing import Any, Callable

from dse import __version__
from dse.config import HardwareConfig, Protection
from dse.study.objective import HEADLINE_METRICS, TrialResult
from dse.study.results import metric_clash_message
from dse.study.schema import BREAKDOWN_ATTR, DESIGN_ATTR, LAYERS_ATTR
from dse.study.spec import Scenario, StudySpec, clip, make_config, plain

# objective(workload, hw, faults, protection, *, analog[, data][, max_test]) -> TrialResult
ObjectiveFn = Callable[..., TrialResult]


def reports(*metrics: str) -> Callable[[ObjectiveFn], ObjectiveFn]:
    """Declare the metrics an objective of your own reports beside ``METRICS`` (``@reports("my_score")``
    above its ``def``): a name that is a column of the trials table (``seed``, ``rows``, ``trial_number``,
    ``constraint_x``) is refused here, when the objective is defined, not on its first trial. The
    function is returned unchanged (picklable by name), with the names as ``declared_metrics``; run_study
    checks them again before any work, and every trial checks what it actually reports."""
    if not metrics or not all(isinstance(m, str) and m for m in metrics):
        raise ValueError(f"reports(...) takes the metric names as non-empty strings, got {metrics!r}")
    clash = metric_clash_message(metrics)
    if clash:
        raise ValueError(f"reports({', '.join(map(repr, metrics))}): {clash}")

    def declare(objective: ObjectiveFn) -> ObjectiveFn:
        objective.declared_metrics = tuple(metrics)
        return objective
    return declare


def check_declared_metrics(objective: ObjectiveFn) -> None:
    """Refuse an objective whose ``declared_metrics`` (set by :func:`reports`, or by hand) name a column."""
    declared = getattr(objective, "declared_metrics", ())
    clash = metric_clash_message(declared)
    if clash:
        name = getattr(objective, "__qualname__", repr(objective))
        raise ValueError(f"objective {name} declares {clash}")


class SurplusTrial(Exception):
    """Raised for a trial that started when other workers had already started the last trials of the
    budget: it is failed before it evaluates anything (user attribute ``surplus``)."""


@dataclass(frozen=True)
class TrialFunction:
    """The Optuna objective: suggest parameters, build the configs, evaluate, record, return values."""

    spec: StudySpec
    scenario: Scenario
    objective: ObjectiveFn

    def __call__(self, trial) -> tuple[float, ...]:
        import optuna

        self._claim(trial)
        try:
            return self._evaluate(trial)
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # a bug, not an invalid design: other workers stop (see run_worker)
            trial.set_user_attr("error", clip(f"{type(exc).__name__}: {exc}", 1000))
            raise

    def _claim(self, trial) -> None:
        """Exact budgets with any number of workers: two workers may both see one trial left and both
        start one. Trial numbers are handed out in order by the storage, so a trial with ``budget``
        non-failed trials before it is one too many: fail it before it evaluates anything."""
        from optuna.trial import TrialState

        budget = self.spec.trial_budget()
        before = sum(1 for t in trial.study.get_trials(deepcopy=False)
                     if t.number < trial.number and t.state != TrialState.FAIL)
        if before >= budget:
            trial.set_user_attr("surplus", f"{budget} trial(s) were already started; not evaluated")
            raise SurplusTrial(f"trial {trial.number}: the budget of {budget} trial(s) is taken")

    def _evaluate(self, trial) -> tuple[float, ...]:
        params = {p.name: p.suggest(trial) for p in self.spec.search}
        earlier = _same_design(trial, params)
        if earlier is not None:  # evaluation is deterministic: reuse the numbers, keep one row per trial
            return self._reuse(trial, earlier)
        try:
            hw = make_config(HardwareConfig, self.spec.hardware, params)
            protection = make_config(Protection, self.spec.protection, params)
        except ValueError as exc:  # e.g. cols_per_adc > cols: not a design, not a bug
            self._invalid(trial, exc)
        extra = {"data": self.spec.data_path} if self.spec.data_path else {}
        if self.spec.max_test is not None:
            extra["max_test"] = self.spec.max_test
        started = time.perf_counter()
        try:
            result = self.objective(self.spec.workload_ref, hw, self.scenario.faults, protection,
                                    analog=self.scenario.analog, **extra)
        except ValueError as exc:  # a combination the mapping cannot realise (e.g. no room for copies)
            self._invalid(trial, exc)
        wall_time_s = time.perf_counter() - started
        metrics = plain(result.metrics)
        clash = metric_clash_message(metrics)
        if clash:  # an undeclared objective's bug, not a property of the design: the run stops, naming it
            raise ValueError(f"the objective reports {clash}")
        needed = [o.metric for o in self.spec.objectives] + [c.metric for c in self.spec.constraints]
        missing = [m for m in needed if m not in metrics]
        if missing:
            raise KeyError(f"the objective did not report {missing}; it reported {sorted(metrics)}")
        undefined = [f"{m} = {metrics[m]}" for m in dict.fromkeys(needed) if not _finite(metrics[m])]
        if undefined:  # e.g. accuracy_ci95 of one chip: no sampler can rank it; recorded, counted, not rerun
            self._invalid(trial, ValueError(f"not a finite number: {', '.join(undefined)} (an objective or "
                                            "constraint must be; accuracy_std and accuracy_ci95 need n_chips >= 2)"))
        # One user attribute per headline number, so optuna-dashboard lists them; the rest (the cost
        # breakdown per component) in one, as every attribute is a synced write to the journal.
        for name, value in metrics.items():
            if name in HEADLINE_METRICS:
                trial.set_user_attr(name, value)
        trial.set_user_attr(BREAKDOWN_ATTR, {k: v for k, v in metrics.items() if k not in HEADLINE_METRICS})
        set_constraints(trial, self.spec, {c.metric: c.violation(metrics[c.metric]) for c in self.spec.constraints})
        trial.set_user_attr(DESIGN_ATTR, plain({**dataclasses.asdict(hw), **dataclasses.asdict(protection),
                                              **dataclasses.asdict(self.scenario.faults),
                                              **dataclasses.asdict(self.scenario.analog)}))
        trial.set_user_attr(LAYERS_ATTR, plain(list(result.layers)))
        trial.set_user_attr("wall_time_s", wall_time_s)
        trial.set_user_attr("package_version", __version__)
        if self.spec.provenance is not None:
            trial.set_user_attr("simulator", self.spec.provenance["simulator"])
        return tuple(float(metrics[o.metric]) for o in self.spec.objectives)

    def _reuse(self, trial, earlier) -> tuple[float, ...]:
        """Copy an earlier trial's results (same parameters) instead of evaluating again."""
        import optuna
        from optuna.trial import TrialState

        for name, value in earlier.user_attrs.items():
            trial.set_user_attr(name, value)
        trial.set_user_attr("reused_from", earlier.number)
        trial.set_user_attr("wall_time_s", 0.0)  # nothing evaluated
        set_constraints(trial, self.spec, {c.metric: earlier.constraints.get(c.metric, 1.0)
                                           for c in self.spec.constraints})
        if earlier.state == TrialState.PRUNED:
            raise optuna.TrialPruned(earlier.user_attrs.get("invalid", "invalid design"))
        return tuple(earlier.values)

    def _invalid(self, trial, exc: ValueError) -> typing.NoReturn:
        """Record why a design is invalid and prune it (it counts towards the trial budget)."""
        import optuna

        trial.set_user_attr("invalid", str(exc))
        set_constraints(trial, self.spec, {c.metric: 1.0 for c in self.spec.constraints})
        raise optuna.TrialPruned(str(exc))


# optuna-dashboard (0.21) reads a trial's constraints only from the list Optuna 3 stored under this system
# attribute; Optuna 5 stores one named attribute per constraint ("constraints:<name>") and still reads
# the list too, as extra constraints "0", "1", ... with the same values. Both are written, in the
# study's constraint order, so the dashboard marks infeasible designs and Optuna keeps the names; the
# duplicates change no sampler's choice (feasibility is the same, NSGA-II's summed violation doubles for
# every trial alike).
LEGACY_CONSTRAINTS_KEY = "constraints"


def set_constraints(trial, spec, violations: dict[str, float]) -> None:
    """Store each constraint's violation (<= 0 when met; NSGA-II, TPE and GP use them) in both forms."""
    if not spec.constraints:
        return
    for constraint in spec.constraints:
        trial.set_constraint(constraint.metric, violations[constraint.metric])
    trial.storage.set_trial_system_attr(trial._trial_id, LEGACY_CONSTRAINTS_KEY,
                                        [float(violations[c.metric]) for c in spec.constraints])


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _same_design(trial, params: dict[str, Any]):
    """An earlier finished trial of this study with exactly these parameters, or None."""
    from optuna.trial import TrialState

    for earlier in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        if earlier.params == params and "reused_from" not in earlier.user_attrs:
            return earlier
    return None
