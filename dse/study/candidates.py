"""Whether a study's fixed values and searched candidates can make valid designs, checked before any
trial runs: each field's own range from the constraint it declares (:mod:`dse.allowed`), then the rules
that tie fields together by building configs from the candidates."""
from __future__ import annotations

import itertools
import re

from dse.config import PER_LAYER_FIELDS, HardwareConfig
from dse.study.files import check_tech
from dse.study.spec import Param, StudyFileError, clip, make_config, search_key, short_repr, toml_key


def check_allowed(cls, section: str, fixed: dict, params: list[Param], source: str) -> None:
    """Each fixed value and each searched candidate against the constraint its field declares
    (``cls.ALLOWED``, :mod:`dse.allowed`): the key at fault is known without building a config."""
    for name in cls.ALLOWED:
        if name in fixed and name not in PER_LAYER_FIELDS:
            try:
                cls.ALLOWED[name].check(name, fixed[name])
            except ValueError as exc:
                raise StudyFileError(source, f"{section}.{name}", clip(str(exc), 300)) from None
    for param in params:
        constraint = cls.ALLOWED.get(param.name)
        for value in param.candidates() if constraint is not None else ():
            try:
                constraint.check(param.name, value)
            except ValueError as exc:
                raise StudyFileError(source, search_key(param.name),
                                     f"{short_repr(value)} can never be used: {clip(str(exc), 300)}") from None


def check_candidates(cls, section: str, fixed: dict, params: list[Param], source: str) -> None:
    """Each fixed value, and each searched value in some combination, must make a valid config (the rules
    that tie fields together: each field's own range is checked by :func:`check_allowed` first)."""
    def valid(assigned: dict) -> Exception | None:
        try:
            make_config(cls, fixed, assigned)
        except (ValueError, TypeError) as exc:
            return exc
        return None

    def combos(candidates: list[Param]):
        return itertools.islice(itertools.product(*(p.candidates() for p in candidates)), 512)

    error = valid({})
    if error is not None and all(valid({p.name: v for p, v in zip(params, combo)}) is not None
                                 for combo in combos(params)):
        # no searched value can make the fixed values valid: name the fixed key at fault
        field = re.match(r"\w*", str(error)).group(0)
        key = f"{section}.{field}" if field in fixed else section
        layer = re.match(r"\w+: layer '([^']*)'", str(error))
        if field in PER_LAYER_FIELDS and layer and layer.group(1) in fixed.get(field, {}):
            key = f"{key}.{toml_key(layer.group(1))}"
        raise StudyFileError(source, key, clip(str(error), 300))
    for param in params:
        others = [p for p in params if p is not param]
        for value in param.candidates():
            error, assigned = None, {}
            for combo in combos(others):
                assigned = {param.name: value, **{o.name: v for o, v in zip(others, combo)}}
                error = valid(assigned)
                if error is None:
                    break
            if error is not None:
                # the message names the field at fault: blame that parameter when it is another searched one
                # (an out-of-range adc_bits is not cell_bits' fault, whichever is checked first)
                field = re.match(r"\w*", str(error)).group(0)
                culprit = next((o for o in others if o.name == field), param)
                raise StudyFileError(source, search_key(culprit.name), f"{short_repr(assigned[culprit.name])} "
                                     f"can never be used: {clip(str(error), 300)}")
    if cls is HardwareConfig:  # a technology preset name or .toml file must load
        techs = [(f"{section}.tech", fixed["tech"])] if "tech" in fixed else []
        techs += [("search.tech", v) for p in params if p.name == "tech" for v in p.grid()]
        for key, tech in techs:
            check_tech(tech, source, key)
