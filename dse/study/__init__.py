"""Studies: a TOML file becomes a :class:`StudySpec`, and :func:`run_study` searches it with Optuna.

One module per part of a study, the way Optuna keeps them apart (``optuna/study/``,
``optuna/samplers/``, ``optuna/storages/``); each imports only those listed before it:

- :mod:`~dse.study.schema`: every column of the two result tables (name, type, unit, meaning), declared once;
- :mod:`~dse.study.objective`: what one design computes (:func:`evaluate_design`, the metric names);
- :mod:`~dse.study.spec`: *what* to search (:class:`StudySpec`: fixed hardware, fault scenarios,
  the search space, objectives, constraints, trial budget);
- :mod:`~dse.study.files`: the files a study file names (model, data, tech), relative to it;
- :mod:`~dse.study.parse`: the study-file parser (:func:`load_study`, schema in ``docs/studies.md``);
- :mod:`~dse.study.samplers`: *how* to search (NSGA-II by default; TPE, GP, random, grid);
- :mod:`~dse.study.folder`: the results folder: every file name in it and the locks on it;
- :mod:`~dse.study.results`: the Parquet tables, rewritten from the storage (the source of truth);
- :mod:`~dse.study.storage`: *where* trials live (an Optuna journal file under ``results/<study>/``
  or any Optuna RDB URL such as ``postgresql://...``), and journal repair after a killed run;
- :mod:`~dse.study.trial`: what one Optuna trial does (:class:`TrialFunction`);
- :mod:`~dse.study.provenance`: content hashes of what a study's numbers depend on (its identity);
- :mod:`~dse.study.run`: the run loop (:func:`run_study`, worker processes, summaries);
- :mod:`~dse.study.plots`: Pareto pictures of a trials table.
"""
from dse.study.folder import ResultsFolderError
from dse.study.objective import TrialResult, evaluate_design
from dse.study.parse import known_workloads, load_study, parse_study
from dse.study.run import RunSummary, run_study
from dse.study.spec import Choice, Constraint, Objective, Range, Scenario, StudyFileError, StudySpec
from dse.study.storage import StorageError, open_storage, repair_journal
from dse.study.trial import SurplusTrial, TrialFunction, reports

__all__ = ["Choice", "Constraint", "Objective", "Range", "ResultsFolderError", "RunSummary", "Scenario",
           "StorageError", "StudyFileError", "StudySpec", "SurplusTrial", "TrialFunction", "TrialResult",
           "evaluate_design", "known_workloads", "load_study", "open_storage", "parse_study", "repair_journal",
           "reports", "run_study"]
