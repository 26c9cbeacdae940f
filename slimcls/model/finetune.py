"""Fine-tuning: restoring a model from another run's checkpoint, choosing what trains.

TF-Slim's ``_get_init_fn`` restored every model variable except those whose name starts
with one of ``--checkpoint_exclude_scopes``, and ``_get_variables_to_train`` trained the
variables under ``--trainable_scopes``. Both silently accepted scopes that match nothing
(a typo trained the whole net or restored the logits), and a shape mismatch crashed deep
inside TensorFlow. Here the same prefix semantics are kept, and:

* a scope that matches no variable is an error naming the scope and some real scopes;
* a scope that ends inside a name segment (``CifarNet/logit`` matching
  ``CifarNet/logits/...``) still matches, as TF-Slim's prefix test does, with a one-line
  warning naming the segments it matched;
* a shape mismatch is an error naming the variables and the exact
  ``--checkpoint_exclude_scopes`` value that makes the restore work;
* a variable missing from the checkpoint is an error unless ``ignore_missing_vars``;
* :class:`RestoreReport` says how many variables were restored, excluded and missing.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints
from slimcls.model.slim_model import variable_name

log = logging.getLogger(__name__)


def split_scopes(value: str | Sequence[str] | None) -> list[str]:
    """``"A/B, C"`` -> ``["A/B", "C"]``: comma-separated, surrounding spaces ignored."""
    if not value:
        return []
    items = value.split(",") if isinstance(value, str) else list(value)
    return [s.strip().rstrip("/") for s in items if s and s.strip().rstrip("/")]


def in_scope(name: str, scope: str) -> bool:
    """TF-Slim's test: the variable name starts with the scope string."""
    return name.startswith(scope)


def _scopes_near(names: Iterable[str], limit: int = 6) -> str:
    tops = sorted({"/".join(n.split("/")[:2]) for n in names})
    shown = ", ".join(tops[:limit])
    return shown + (f" ... ({len(tops)} in all)" if len(tops) > limit else "")


def check_scopes_match(scopes: Sequence[str], names: Iterable[str], flag: str) -> None:
    """Raises SlimclsError for a scope that matches no variable name (a typo).

    Args:
      scopes: the parsed scope list.
      names: the model's variable names.
      flag: the flag named in the message, e.g. ``--trainable_scopes``.
    """
    names = list(names)
    unmatched = [s for s in scopes if not any(in_scope(n, s) for n in names)]
    if unmatched:
        raise SlimclsError(
            f"{flag}: scope {unmatched[0]!r} matches no variable of the model"
            + (f" (nor do {unmatched[1:]})" if len(unmatched) > 1 else "")
            + f"; its scopes include {_scopes_near(names)}"
        )
    for scope in scopes:
        partial = partial_segments(scope, names)
        if partial:
            log.warning(
                "%s: scope %r ends inside a name segment; by TF-Slim's prefix match it "
                "matches %s (write the whole segment, e.g. %r, to silence this)",
                flag,
                scope,
                _some(partial),
                partial[0],
            )


def partial_segments(scope: str, names: Iterable[str]) -> list[str]:
    """The name segments ``scope`` matches only part of, e.g. ``CifarNet/logit`` ->
    ``["CifarNet/logits"]``: the names' prefixes up to the end of the segment in which
    the scope ends, for names where the scope does not end at a ``/`` or the name's end.
    """
    found = []
    for name in names:
        if not in_scope(name, scope) or len(name) == len(scope) or name[len(scope)] == "/":
            continue
        if scope.endswith("/"):
            continue
        end = name.find("/", len(scope))
        segment = name if end < 0 else name[:end]
        if segment not in found:
            found.append(segment)
    return sorted(found)


def variables_to_train(
    trainable_variables: Sequence[tf.Variable], trainable_scopes: Sequence[str]
) -> list[tf.Variable]:
    """The trainable variables under ``trainable_scopes`` (all when the list is empty).

    Raises:
      SlimclsError: a scope matches no trainable variable.
    """
    if not trainable_scopes:
        return list(trainable_variables)
    names = [variable_name(v) for v in trainable_variables]
    check_scopes_match(trainable_scopes, names, "--trainable_scopes")
    return [
        v
        for v, n in zip(trainable_variables, names)
        if any(in_scope(n, s) for s in trainable_scopes)
    ]


@dataclasses.dataclass(frozen=True)
class RestoreReport:
    """What a fine-tuning restore did."""

    checkpoint: str
    restored: tuple[str, ...]
    excluded: tuple[str, ...]
    missing: tuple[str, ...]  # absent from the checkpoint, skipped (ignore_missing_vars)
    moving_averages: int = 0  # of the restored, read from their moving-average shadows
    excluded_by: str = "--checkpoint_exclude_scopes"  # what excluded them, for the summary

    def summary(self) -> str:
        ema = f" ({self.moving_averages} from moving averages)" if self.moving_averages else ""
        text = (
            f"Restored {len(self.restored)} variables{ema} from {self.checkpoint}; "
            f"{len(self.excluded)} excluded by {self.excluded_by}, "
            f"{len(self.missing)} missing from the checkpoint"
        )
        if self.missing:
            text += " (initialised from scratch: " + _some(self.missing) + ")"
        return text


def _some(names: Sequence[str], limit: int = 4) -> str:
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _fix_scopes(
    bad: Sequence[str], exclude_scopes: Sequence[str], logits_scopes: Sequence[str]
) -> list[str]:
    """The smallest exclude list (existing scopes kept) that covers every bad variable.

    A net's logits scopes are used as a group (excluding only ``InceptionV3/Logits``
    would leave ``AuxLogits`` with the old class count); other variables are covered
    by their own scope (name without the last component).
    """
    scopes = list(exclude_scopes)
    covers_logits = any(in_scope(n, s) for n in bad for s in logits_scopes)
    if covers_logits:
        scopes += [s for s in logits_scopes if s not in scopes]
    for name in bad:
        if not any(in_scope(name, s) for s in scopes):
            scopes.append(name.rsplit("/", 1)[0])
    return scopes


def restore_for_finetuning(
    variables: Mapping[str, tf.Variable],
    checkpoint_path: str,
    exclude_scopes: Sequence[str] = (),
    ignore_missing_vars: bool = False,
    logits_scopes: Sequence[str] = (),
    num_classes: int | None = None,
    background_class: bool = False,
    use_moving_averages: bool = False,
    excluded_by: str = "--checkpoint_exclude_scopes",
) -> RestoreReport:
    """Restores ``variables`` from a checkpoint except those under ``exclude_scopes``.

    Nothing is assigned unless every check passes.

    Args:
      variables: TF-Slim name -> variable (the model's variables, BN statistics included).
      checkpoint_path: a checkpoint prefix, file or directory (its latest checkpoint).
      exclude_scopes: variables whose name starts with one of these stay as initialised.
      ignore_missing_vars: skip, rather than fail on, variables the checkpoint lacks.
      logits_scopes: the net's classifier scopes (for the suggested fix).
      num_classes: the model's class count (for the background-class hint).
      background_class: the net's published checkpoints have a background class 0.
      use_moving_averages: restore each variable from its ``<var>/ExponentialMovingAverage``
        shadow where the checkpoint has one (a published checkpoint's averaged weights).
      excluded_by: what ``exclude_scopes`` came from, for the report's summary.

    Returns:
      A :class:`RestoreReport`.

    Raises:
      SlimclsError: no checkpoint, an exclude scope matching nothing, other shapes, or
        missing variables without ``ignore_missing_vars``.
    """
    prefix = checkpoints.resolve_checkpoint(checkpoint_path)
    check_scopes_match(exclude_scopes, variables, "--checkpoint_exclude_scopes")
    shapes = checkpoints.read_shapes(prefix)
    excluded, missing, mismatched, to_restore = _sort_variables(variables, shapes, exclude_scopes)
    if mismatched:
        raise _mismatch_error(
            prefix, mismatched, variables, shapes, exclude_scopes, logits_scopes,
            _background_hint(mismatched, shapes, num_classes, background_class),
        )  # fmt: skip
    if missing and not ignore_missing_vars:
        raise SlimclsError(
            f"checkpoint {prefix} lacks {len(missing)} model variable(s): {_some(missing)}; "
            "is it a checkpoint of another net? Pass --ignore_missing_vars to initialise them "
            "from scratch, or exclude their scopes with --checkpoint_exclude_scopes"
        )
    name_map = {}
    if use_moving_averages:
        name_map = {n: checkpoints.ema_name(n) for n in to_restore}
        name_map = {n: key for n, key in name_map.items() if key in shapes}
    checkpoints.restore_variables(to_restore, prefix, name_map=name_map)
    return RestoreReport(
        prefix, tuple(to_restore), tuple(excluded), tuple(missing), len(name_map), excluded_by
    )


def _sort_variables(
    variables: Mapping[str, tf.Variable],
    shapes: Mapping[str, Sequence[int]],
    exclude_scopes: Sequence[str],
) -> tuple[list[str], list[str], list[str], dict[str, tf.Variable]]:
    """The model's variables as excluded, missing from the checkpoint, of another shape
    there, and to restore (name -> variable)."""
    excluded, missing, mismatched, to_restore = [], [], [], {}
    for name, var in variables.items():
        if any(in_scope(name, s) for s in exclude_scopes):
            excluded.append(name)
        elif name not in shapes:
            missing.append(name)
        elif list(shapes[name]) != var.shape.as_list():
            mismatched.append(name)
        else:
            to_restore[name] = var
    return excluded, missing, mismatched, to_restore


def _mismatch_error(prefix, mismatched, variables, shapes, exclude_scopes, logits_scopes, hint):
    """The one line for variables whose shapes differ: the first few, and the scopes to
    exclude to train them from scratch."""
    details = "; ".join(
        f"{n} {list(shapes[n])} in checkpoint vs {variables[n].shape.as_list()} in model"
        for n in mismatched[:4]
    )
    more = f" and {len(mismatched) - 4} more" if len(mismatched) > 4 else ""
    fix = ",".join(_fix_scopes(mismatched, exclude_scopes, logits_scopes))
    return SlimclsError(
        f"checkpoint {prefix} does not fit the model: {len(mismatched)} variable(s) have "
        f"other shapes ({details}{more}); to train them from scratch instead, pass "
        f"--checkpoint_exclude_scopes={fix}{hint}"
    )


def _background_hint(
    mismatched: Sequence[str],
    shapes: Mapping[str, Sequence[int]],
    num_classes: int | None,
    background_class: bool,
) -> str:
    """Explains a classifier of another size: the background class of published checkpoints."""
    if num_classes is None:
        return ""
    for name in mismatched:
        shape = list(shapes[name])
        if not shape or shape[-1] == num_classes:
            continue
        if background_class:
            return (
                f" (the checkpoint has {shape[-1]} classes, the model {num_classes}: published "
                "checkpoints of this net have 1001, class 0 being 'background' before the 1,000 "
                "ImageNet classes)"
            )
        if shape[-1] == num_classes - 1:
            return (
                f" (the checkpoint has {num_classes - 1} classes, one fewer than the model: "
                "if the dataset's label 0 is 'background', --labels_offset=1 matches it)"
            )
    return ""
