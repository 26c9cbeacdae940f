"""absl flags generated from the config dataclasses of :mod:`slimcls.config`.

Each flag is a dataclass field: same name, default, help text and choices (the field's
``setting`` metadata); a nested config (``TrainConfig.optimizer``) contributes its own
fields. So a default or a choice list is written once, in :mod:`slimcls.config`, and a command
turns its parsed flags back into the config with :func:`config_from_flags`.

A command defines its flags when it runs (:func:`define_command_flags` in its ``main``),
not when imported: tests import all five entry points into one process, and train and
eval share names with different defaults (``batch_size`` 32 / 100). Defining one
command's flags removes the flags another command generated before.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from absl import flags

FLAGS = flags.FLAGS

#: Names this module defined in this process (removed when another command defines).
_generated: set[str] = set()
#: Flags naming files or directories (checked for a file system TensorFlow has).
PATH_FLAG_SUFFIXES = ("_dir", "_path", "_file", "_json")


@dataclasses.dataclass(frozen=True)
class FlagSpec:
    """One flag generated from a dataclass field.

    ``path`` is the field's location: ("optimizer", "momentum") for a nested config.
    ``kind`` is one of bool, int, float, str, enum, list, int_list (comma-separated
    positive integers).
    """

    name: str
    path: tuple[str, ...]
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] | None
    lower_bound: int | float | None
    required: bool
    refused: Mapping[str, str] | None = None
    upper_bound: int | float | None = None


def _kind(annotation: Any) -> tuple[str, type | None]:
    """The flag kind of a field type (``int | None`` -> int); a nested config -> its class."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        annotation, origin = args[0], typing.get_origin(args[0])
    if origin is tuple:
        return ("int_list" if typing.get_args(annotation)[:1] == (int,) else "list"), None
    if dataclasses.is_dataclass(annotation):
        return "config", annotation
    for kind in (bool, int, float, str):
        if annotation is kind:
            return kind.__name__, None
    raise TypeError(f"no flag kind for field type {annotation!r}")


def flag_specs(
    config_class: type, rename: Mapping[str, str] | None = None, _prefix: tuple[str, ...] = ()
) -> list[FlagSpec]:
    """The flags of ``config_class``'s fields, nested configs flattened, in field order.

    Args:
      config_class: a dataclass of :mod:`slimcls.config`.
      rename: field name -> flag name where a command keeps TF-Slim's own name
        (export's ``image_size`` for ``eval_image_size``).
    """
    rename = dict(rename or {})
    hints = typing.get_type_hints(config_class)
    specs = []
    for field in dataclasses.fields(config_class):
        meta = field.metadata
        if not meta.get("flag", True):
            continue
        kind, nested = _kind(hints[field.name])
        if nested is not None:
            specs += flag_specs(nested, rename, (*_prefix, field.name))
            continue
        required = field.default is dataclasses.MISSING
        default = None if required else field.default
        if meta.get("flag_default", dataclasses.MISSING) is not dataclasses.MISSING:
            default = meta["flag_default"]
        if meta.get("choices"):
            kind = "enum"
        if kind in ("list", "int_list"):
            default = list(default or ())
        specs.append(
            FlagSpec(
                name=rename.get(field.name, field.name),
                path=(*_prefix, field.name),
                kind=kind,
                default=default,
                help=meta.get("help") or field.name,
                choices=meta.get("choices"),
                lower_bound=meta.get("lower_bound"),
                required=required and default is None,
                refused=meta.get("refused"),
                upper_bound=meta.get("upper_bound"),
            )
        )
    return specs


class ChoiceParser(flags.EnumParser):
    """absl's enum parser, but a mistyped value gets "did you mean" (the closest choices)
    instead of the whole list, and a refused value (a video net) its reason."""

    def __init__(self, name: str, choices, refused: Mapping[str, str] | None = None):
        super().__init__(list(choices))
        self.name = name
        self.refused = dict(refused or {})

    def parse(self, argument: str) -> str:
        if argument in self.enum_values:
            return argument
        from slimcls.config import unknown_choice

        raise ValueError(unknown_choice(self.name, argument, self.enum_values, self.refused))


def _define_enum(spec: FlagSpec, flag_values: flags.FlagValues) -> None:
    flag = flags.EnumFlag(spec.name, spec.default, spec.help, list(spec.choices))
    flag.parser = ChoiceParser(spec.name, spec.choices, spec.refused)
    flags.DEFINE_flag(flag, flag_values)


def _define(spec: FlagSpec, flag_values: flags.FlagValues) -> None:
    kw: dict[str, Any] = {"flag_values": flag_values}
    if spec.lower_bound is not None and spec.kind in ("int", "float"):
        kw["lower_bound"] = spec.lower_bound
    if spec.upper_bound is not None and spec.kind in ("int", "float"):
        kw["upper_bound"] = spec.upper_bound
    define = {
        "bool": flags.DEFINE_boolean,
        "int": flags.DEFINE_integer,
        "float": flags.DEFINE_float,
        "str": flags.DEFINE_string,
        "list": flags.DEFINE_list,
        "int_list": flags.DEFINE_list,
    }
    if spec.kind == "enum":
        _define_enum(spec, flag_values)
    else:
        define[spec.kind](spec.name, spec.default, spec.help, **kw)


def define_command_flags(
    *config_classes: type,
    rename: Mapping[str, str] | None = None,
    flag_values: flags.FlagValues = FLAGS,
) -> list[FlagSpec]:
    """Defines the flags of ``config_classes`` (a command's), replacing earlier generated ones.

    A name in two classes is defined once, from the first. Returns the specs defined.
    """
    for name in sorted(_generated):
        if name in flag_values:
            delattr(flag_values, name)
    _generated.clear()
    specs: dict[str, FlagSpec] = {}
    for config_class in config_classes:
        for spec in flag_specs(config_class, rename):
            specs.setdefault(spec.name, spec)
    for spec in specs.values():
        if spec.name in flag_values:  # defined by an earlier command in this process
            delattr(flag_values, spec.name)
        _define(spec, flag_values)
        _generated.add(spec.name)
    return list(specs.values())


def flag_value(spec: FlagSpec, flag_values: flags.FlagValues = FLAGS) -> Any:
    """The parsed value as the dataclass field wants it (a list flag -> stripped tuple;
    an integer list's digits -> ints; the config checks the values when it is built)."""
    value = flag_values[spec.name].value
    if spec.kind in ("list", "int_list"):
        items = tuple(str(s).strip() for s in value or () if str(s).strip())
        if spec.kind == "int_list":  # what is not a number is left for the config to name
            return tuple(int(s) if s.isdigit() else s for s in items)
        return items
    return value


def config_from_flags(
    config_class: type,
    rename: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    flag_values: flags.FlagValues = FLAGS,
) -> Any:
    """``config_class`` built from the parsed flags of its fields (nested configs too).

    Args:
      overrides: flag name -> value used instead of the flag's (values the command
        resolved itself, e.g. from the training run).

    Raises:
      SlimclsError: a required field has no value.
    """
    from slimcls.core.errors import SlimclsError
    from slimcls.core.filesystems import check_file_system

    overrides = dict(overrides or {})
    values: dict[tuple[str, ...], Any] = {}
    for spec in flag_specs(config_class, rename):
        value = overrides[spec.name] if spec.name in overrides else flag_value(spec, flag_values)
        if spec.required and value is None:
            raise SlimclsError(f"--{spec.name} is required: {spec.help}")
        if spec.kind == "str" and spec.name.endswith(PATH_FLAG_SUFFIXES):
            check_file_system(value, spec.name)  # an http:// path: one line, not a traceback
        values[spec.path] = value
    return _build(config_class, values, ())


def _build(config_class: type, values: Mapping[tuple[str, ...], Any], prefix: tuple) -> Any:
    hints = typing.get_type_hints(config_class)
    kwargs = {}
    for field in dataclasses.fields(config_class):
        path = (*prefix, field.name)
        if path in values:
            kwargs[field.name] = values[path]
        elif dataclasses.is_dataclass(hints[field.name]) and not isinstance(hints[field.name], str):
            kwargs[field.name] = _build(hints[field.name], values, path)
    return config_class(**kwargs)


def serialized(specs: Iterable[FlagSpec], flag_values: flags.FlagValues = FLAGS) -> list[str]:
    """``--name=value`` lines of the flags (``# --name is None`` for unset ones), by name."""
    lines = []
    for spec in sorted(specs, key=lambda s: s.name):
        text = flag_values[spec.name].serialize()
        lines.append(text if text else f"# --{spec.name} is None")
    return lines
