"""Flags generated from the config dataclasses: one default per setting, one process."""

import dataclasses
import importlib
import subprocess
import sys

import pytest
from absl import flags

from slimcls import config
from slimcls.__main__ import COMMANDS
from slimcls.cli import flag_defs
from slimcls.core.errors import SlimclsError
from tests.helpers import ENV, REPO

FLAGS = flags.FLAGS


@pytest.fixture
def command():
    """Defines a command's flags and parses argv for it; flags reset afterwards."""

    def define_and_parse(name, *args):
        entry = importlib.import_module(f"slimcls.cli.{name}")
        FLAGS.unparse_flags()
        specs = entry.define_flags()
        FLAGS([name, *args])
        return entry, specs

    yield define_and_parse
    FLAGS.unparse_flags()


def test_all_entry_points_import_into_one_process():
    modules = [importlib.import_module(f"slimcls.cli.{name}") for name in COMMANDS]
    assert all(callable(m.main) for m in modules)


def test_train_and_eval_keep_their_own_defaults_in_one_process(command):
    command("train_image_classifier")
    assert (FLAGS.batch_size, FLAGS.dataset_split_name) == (32, "train")
    command("eval_image_classifier")
    assert (FLAGS.batch_size, FLAGS.dataset_split_name) == (100, "test")
    assert "train_dir" not in FLAGS and "optimizer" not in FLAGS  # train's flags are gone
    command("train_image_classifier")
    assert FLAGS.batch_size == 32 and "eval_dir" not in FLAGS


@pytest.mark.parametrize(
    "name, classes",
    [
        ("train_image_classifier", (config.TrainConfig, config.TfSlimDeploymentConfig)),
        ("eval_image_classifier", (config.EvalConfig, config.WatchConfig)),
        ("classify_image", (config.ClassifierConfig, config.ClassifyOutputConfig)),
        ("export_inference_graph", (config.ExportConfig, config.TfSlimExportConfig)),
    ],
)
def test_every_flag_default_is_the_dataclass_default(command, name, classes):
    """Each generated flag's default is its field's (nested configs flattened)."""
    _, specs = command(name)

    def fields(cls, prefix=()):
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(
                f.default_factory if f.default_factory is not dataclasses.MISSING else None
            ):
                yield from fields(f.default_factory, (*prefix, f.name))
            elif f.name == "classifier":
                yield from fields(config.ClassifierConfig, (*prefix, f.name))
            elif f.metadata.get("flag", True):
                yield f

    # fmt: skip
    expected = {}
    for cls in classes:
        for f in fields(cls):
            default = None if f.default is dataclasses.MISSING else f.default
            if f.metadata.get("flag_default", dataclasses.MISSING) is not dataclasses.MISSING:
                default = f.metadata["flag_default"]
            expected.setdefault(f.name, list(default) if isinstance(default, tuple) else default)
    if name == "export_inference_graph":
        expected["image_size"] = expected.pop("eval_image_size")
    assert {s.name for s in specs} == set(expected)
    assert {n: FLAGS[n].default for n in expected} == expected


def test_nested_configs_are_flattened_and_rebuilt(command):
    entry, _ = command(
        "train_image_classifier",
        "--dataset_dir=/d",
        "--optimizer=adam",
        "--adam_beta1=0.5",
        "--learning_rate=0.2",
        "--checkpoint_exclude_scopes= A/Logits , B/Aux,",
    )
    built = entry.config_from_flags()
    expected = config.TrainConfig(
        train_dir="/tmp/tfmodel/",
        dataset_dir="/d",
        optimizer=config.OptimizerConfig(optimizer="adam", adam_beta1=0.5),
        learning_rate=config.LearningRateConfig(learning_rate=0.2),
        checkpoint_exclude_scopes=("A/Logits", "B/Aux"),
    )
    assert built == expected


def test_missing_required_flag_is_an_error_naming_it(command):
    entry, _ = command("train_image_classifier")
    with pytest.raises(SlimclsError, match="--dataset_dir is required"):
        entry.config_from_flags()


def test_model_names_are_the_registry_image_nets():
    from slimcls.nets.nets_factory import NETWORKS

    # The image nets are offered; the video nets are refused by name, with the reason.
    assert list(config.MODEL_NAMES) == sorted(n for n, s in NETWORKS.items() if not s.video)
    assert sorted(config.VIDEO_MODEL_NAMES) == sorted(n for n, s in NETWORKS.items() if s.video)
    assert "inception_v3" in config.MODEL_NAMES and "i3d" not in config.MODEL_NAMES


def test_model_names_load_without_tensorflow():
    code = (
        "import sys, slimcls.config as c; "
        "print(len(c.MODEL_NAMES), 'tensorflow' in sys.modules, 'tf_slim' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(len(config.MODEL_NAMES)), "False", "False"]


def test_every_optimizer_and_decay_choice_is_built():
    """The flags' choices are exactly what the library builds (a choice it lacks fails)."""
    from slimcls.train import optim

    for name in config.OPTIMIZERS:
        assert optim.create_optimizer(config.OptimizerConfig(optimizer=name), 0.1) is not None
    for kind in config.DECAY_TYPES:
        lr = config.LearningRateConfig(learning_rate_decay_type=kind)
        schedule = optim.learning_rate_schedule(lr, 100, 10, max_number_of_steps=50)
        assert float(schedule(0)) > 0, kind
    with pytest.raises(SlimclsError, match="'lamb'"):
        optim.create_optimizer(config.OptimizerConfig(optimizer="lamb"), 0.1)


def test_export_names_the_image_size_flag_as_tf_slim(command):
    command("export_inference_graph", "--image_size=33")
    assert "eval_image_size" not in FLAGS
    assert (
        flag_defs.config_from_flags(
            config.ExportConfig,
            rename={"eval_image_size": "image_size"},
            overrides={"checkpoint_path": "c", "model_name": "cifarnet", "output_dir": "o"},
        ).classifier.eval_image_size
        == 33
    )


def _python(*args, **kw):
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=ENV, cwd=REPO, timeout=120,
        **kw,
    )  # fmt: skip


def test_help_version_and_flag_errors_exit_without_tensorflow():
    """--helpshort lists the command's flags only; none of these imports TensorFlow."""
    helped = _python("-X", "importtime", "-m", "slimcls.eval_image_classifier", "--helpshort")
    assert helped.returncode == 0, helped.stderr[-2000:]
    assert "--eval_dir" in helped.stdout and "--timeout" in helped.stdout
    assert "--train_dir" not in helped.stdout and "--logtostderr" not in helped.stdout
    version = _python("-X", "importtime", "-m", "slimcls", "train_image_classifier", "--version")
    assert version.returncode == 0 and "slimcls" in version.stdout
    bad = _python("-X", "importtime", "-m", "slimcls.train_image_classifier", "--optimizer=adamw")
    assert bad.returncode == 1
    errors = [ln for ln in bad.stderr.splitlines() if not ln.startswith("import time:")]
    assert errors == [errors[0]] and errors[0].startswith("train_image_classifier: error: ")
    for proc in (helped, version, bad):
        imported = [ln.split("|")[-1].strip() for ln in proc.stderr.splitlines()
                    if ln.startswith("import time:")]  # fmt: skip
        assert "tensorflow" not in imported and "absl.flags" in imported


@pytest.mark.parametrize("name", COMMANDS)
def test_help_is_plain_user_facing_text(name):
    """--help starts with what the command does and a usage example, in plain text: no
    reST markup, no words about the code (module, class, config object)."""
    proc = _python("-m", f"slimcls.{name}", "--help")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout
    assert text.startswith(f"{name}: ")
    description = text.split(f"flags of {name}:")[0]
    assert any(
        line.strip().startswith((f"{name} --", f"python -m slimcls {name} "))
        for line in description.splitlines()
    )
    for internal in ("``", "::", ":class:", ":mod:", "This module", "slimcls.", "NETWORKS["):
        assert internal not in text, f"{internal!r} in {name} --help"


def test_plain_text_takes_out_rest_markup():
    from slimcls.cli import plain_text

    doc = "Uses ``serving_default`` of :class:`slimcls.x.Y`.\n\nExample::\n\n    cmd --a\n"
    assert plain_text(doc) == "Uses serving_default of slimcls.x.Y.\n\nExample:\n\n    cmd --a\n"


def test_eval_top_k_is_a_list_of_positive_integers(command):
    given = {"model_name": "cifarnet", "dataset_dir": "/d", "checkpoint_path": "/c"}
    command("eval_image_classifier", "--eval_top_k=1,3, 5")
    built = flag_defs.config_from_flags(config.EvalConfig, overrides=given)
    assert built.eval_top_k == (1, 3, 5)
    command("eval_image_classifier")
    default = flag_defs.config_from_flags(config.EvalConfig, overrides=given)
    assert default.eval_top_k == (5,)  # TF-Slim's Recall_5
    command("eval_image_classifier", "--eval_top_k=1,x")
    with pytest.raises(SlimclsError, match="--eval_top_k=1,x: x is not a positive integer"):
        flag_defs.config_from_flags(config.EvalConfig, overrides=given)
