"""Every number table of README.md and docs/, rerun by one command: ``dse report``.

A generated table sits in its Markdown file between two comment lines naming it::

    <!-- dse report: readme-adc -->
    | workload | float | ... |
    <!-- end dse report: readme-adc -->

``dse report --write NAME...`` reruns the experiments behind the named tables (all when none is named)
and replaces what stands between the markers; ``dse report --check NAME...`` reruns them and exits 1
naming every table whose text differs, so a stale number cannot stand unnoticed. Results are
deterministic (seeded chips, cached trained workloads), so a check on the same machine reproduces a
table character for character. Tables of timings are not here: they are measurements of one machine,
printed by ``dse bench`` and marked in the docs as such (``<!-- measured: dse bench ... -->``).

Each table is a function of a :class:`Setting`: :data:`FULL` is the setting the docs state beside each
table; :data:`TINY` (few chips, a few test samples) exists so the test suite can run the machinery.

The builders live by subject (``protection``, ``hardware``, ``transformer``, ``text``), the block handling in
``markdown``; :data:`TABLES` below is the one list of what is generated and where.
"""
from __future__ import annotations

from dse.experiments.report.common import FULL, TINY, Setting, Table
from dse.experiments.report.cost import (docs_cost_adc_bits, docs_cost_cols_per_adc, docs_cost_mlp, docs_isaac,
                                         readme_isaac)
from dse.experiments.report.hardware import (docs_adc_models, docs_adc_ranges, docs_adc_ranges_minilm, docs_analog,
                                             readme_adc, readme_analog)
from dse.experiments.report.markdown import Outcome, blocks, replace_block, run_tables
from dse.experiments.report.protection import (ablation, docs_clustered, docs_imperfect, docs_prune, docs_rates,
                                               readme_imperfect, readme_rates, readme_schemes)
from dse.experiments.report.text import docs_adc_ranges_text, readme_text_tasks, text_rates, text_schemes
from dse.experiments.report.transformer import docs_minilm, docs_minilm_choice, readme_minilm
from dse.experiments.report.workloads import docs_workloads

__all__ = ["FULL", "TINY", "TABLES", "Outcome", "Setting", "Table", "blocks", "replace_block", "run_tables", "select"]

TABLES: dict[str, Table] = {t.name: t for t in (
    Table("readme-adc", "README.md", readme_adc, "accuracy by ADC bits and range, digits workloads"),
    Table("readme-schemes", "README.md", readme_schemes, "every protection preset at the Chen rates"),
    Table("readme-rates", "README.md", readme_rates, "tolerated fault rates of five schemes (slow)"),
    Table("readme-imperfect-test", "README.md", readme_imperfect,
          "fault-map-aware presets under test escapes and post-test failures"),
    Table("docs-imperfect-test", "docs/tolerance.md", docs_imperfect,
          "every fault-map-aware preset under test escapes and post-test failures"),
    Table("readme-analog", "README.md", readme_analog, "mlp-digits under variation and read noise"),
    Table("readme-minilm", "README.md", readme_minilm, "minilm-l6 under faults, five protections (slow)"),
    Table("docs-minilm", "docs/transformer.md", docs_minilm, "minilm-l6 under faults, seven protections (slow)"),
    Table("docs-minilm-choice", "docs/transformer.md", docs_minilm_choice,
          "minilm-l6 alpha and pruning recipe on the validation split (slow)"),
    Table("readme-isaac", "README.md", readme_isaac, "ISAAC IMA and tile against the paper"),
    Table("docs-prune", "docs/tolerance.md", docs_prune, "pruning alone, magnitude and gates, 30 and 50 %"),
    Table("docs-ablation-mlp", "docs/tolerance.md", ablation("mlp-digits"), "schemes and ablation, mlp-digits"),
    Table("docs-ablation-cnn", "docs/tolerance.md", ablation("cnn-digits"), "schemes and ablation, cnn-digits"),
    Table("docs-clustered", "docs/tolerance.md", docs_clustered, "faults clustered along bit lines"),
    Table("docs-rates", "docs/tolerance.md", docs_rates, "tolerated fault rates of six schemes (slow)"),
    Table("docs-analog", "docs/nonideal.md", docs_analog, "mlp-digits analog grid, three ADCs"),
    Table("docs-isaac", "docs/cost.md", docs_isaac, "ISAAC IMA and tile against the paper, relative difference"),
    Table("docs-cost-mlp", "docs/cost.md", docs_cost_mlp, "mlp-digits energy, area, latency at the default preset"),
    Table("docs-cost-adc-bits", "docs/cost.md", docs_cost_adc_bits, "mlp-digits energy by ADC bits and model"),
    Table("docs-cost-cols-per-adc", "docs/cost.md", docs_cost_cols_per_adc, "mlp-digits by columns per ADC"),
    Table("docs-workloads", "docs/workloads.md", docs_workloads, "built-in workloads: test split, float accuracy"),
    Table("docs-adc-models", "docs/cost.md", docs_adc_models, "ADC models against the survey fit and measured ADCs"),
    Table("docs-adc-ranges", "docs/adc.md", docs_adc_ranges, "digits accuracy by ADC bits and range, flipping"),
    Table("docs-adc-ranges-minilm", "docs/adc.md", docs_adc_ranges_minilm, "minilm-l6 fidelity by ADC bits (slow)"),
    Table("readme-text-tasks", "README.md", readme_text_tasks,
          "minilm-mr and minilm-snli without faults: float, lossless, 8-bit clip (slow)"),
    Table("docs-adc-ranges-text", "docs/adc.md", docs_adc_ranges_text, "minilm-mr accuracy by ADC bits (slow)"),
    Table("docs-text-schemes-mr", "docs/text-tasks.md", text_schemes("minilm-mr"),
          "minilm-mr under faults, every protection preset (slow)"),
    Table("docs-text-schemes-snli", "docs/text-tasks.md", text_schemes("minilm-snli"),
          "minilm-snli under faults, every protection preset (slow)"),
    Table("docs-text-rates-mr", "docs/text-tasks.md", text_rates("minilm-mr"),
          "minilm-mr tolerated fault rates, four designs (slow)"),
)}



def select(names: list[str] | None) -> list[Table]:
    """The tables named (all when empty), refusing unknown names with the allowed ones."""
    if not names:
        return list(TABLES.values())
    unknown = [n for n in names if n not in TABLES]
    if unknown:
        raise ValueError(f"unknown table(s) {', '.join(unknown)}; allowed: {', '.join(TABLES)}")
    return [TABLES[n] for n in names]

