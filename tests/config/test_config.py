"""The config dataclasses check their values once, when built, for Python callers and the
commands alike: each field's declared choices and bounds, and the rules between fields."""

import dataclasses
import subprocess
import sys

import pytest

from slimcls import config
from slimcls.cli import flag_defs
from slimcls.core.errors import SlimclsError
from tests.helpers import ENV, REPO, stderr_lines

CLASSIFIER = config.ClassifierConfig(checkpoint_path="/c", model_name="cifarnet")
#: The fewest arguments that build each config.
REQUIRED = {
    config.TrainConfig: dict(train_dir="/t", dataset_dir="/d"),
    config.EvalConfig: dict(checkpoint_path="/c", dataset_dir="/d", model_name="cifarnet"),
    config.ClassifierConfig: dict(checkpoint_path="/c", model_name="cifarnet"),
    config.ExportConfig: dict(classifier=CLASSIFIER, output_dir="/o"),
    config.ConvertConfig: dict(dataset_name="folder", dataset_dir="/d"),
    config.MakeClassifierConfig: dict(image_dir="/i", output_dir="/o"),
}
CLASSES = [
    config.OptimizerConfig, config.LearningRateConfig, config.TrainConfig,
    config.TfSlimDeploymentConfig, config.EvalConfig, config.WatchConfig,
    config.ClassifierConfig, config.ClassifyOutputConfig, config.ExportConfig,
    config.TfSlimExportConfig, config.ConvertConfig, config.MakeClassifierConfig,
    config.CheckpointsConfig,
]  # fmt: skip


def build(cls, **changes):
    return cls(**{**REQUIRED.get(cls, {}), **changes})


def _declared():
    """(class, field name, bad value, edge value) for every declared bound and choice."""
    cases = []
    for cls in CLASSES:
        for f in dataclasses.fields(cls):
            lower, upper = f.metadata.get("lower_bound"), f.metadata.get("upper_bound")
            step = 1 if "float" not in str(f.type) else 0.5
            if lower is not None:
                cases.append((cls, f.name, lower - step, lower))
            if upper is not None:
                cases.append((cls, f.name, upper + step, upper))
            if f.metadata.get("choices"):
                cases.append((cls, f.name, "no_such_choice", f.metadata["choices"][0]))
    return cases


DECLARED = _declared()


def test_every_config_class_is_checked_here():
    found = {
        v for v in vars(config).values() if isinstance(v, type) and dataclasses.is_dataclass(v)
    }
    assert found == set(CLASSES)
    assert len(DECLARED) > 40  # every bound and choice of every command


@pytest.mark.parametrize(
    "cls, name, bad, edge", DECLARED, ids=[f"{c.__name__}.{n}={b}" for c, n, b, _ in DECLARED]
)
def test_a_declared_bound_or_choice_is_checked_for_python_callers(cls, name, bad, edge):
    """Before: only absl checked these, so TrainConfig(batch_size=0) from Python ran."""
    with pytest.raises(SlimclsError) as err:
        build(cls, **{name: bad})
    message = str(err.value)
    assert "\n" not in message and f"--{name}" in message and str(bad) in message
    assert getattr(build(cls, **{name: edge}), name) == edge  # the edge itself is fine
    if "None" in str(dict((f.name, f.type) for f in dataclasses.fields(cls))[name]):
        assert getattr(build(cls, **{name: None}), name) is None  # None: not given


@pytest.mark.parametrize(
    "cls, changes, message",
    [
        (config.TrainConfig, dict(batch_size=0), "--batch_size=0; expected 1 or more"),
        (config.TrainConfig, dict(num_clones=0), "--num_clones=0; expected 1 or more"),
        (config.TrainConfig, dict(steps_per_call=0), "--steps_per_call=0; expected 1 or more"),
        (config.TrainConfig, dict(labels_offset=-1), "--labels_offset=-1; expected 0 or more"),
        (
            config.TrainConfig,
            dict(batch_norm_decay=1.5),
            r"--batch_norm_decay=1.5; expected a value in \[0, 1\]",
        ),
        (config.TrainConfig, dict(batch_size="3"), "--batch_size='3'; expected an integer"),
        (config.TrainConfig, dict(batch_size=2.5), "--batch_size=2.5; expected an integer"),
        (config.TrainConfig, dict(learning_rate=config.LearningRateConfig()), None),
        (
            config.TrainConfig,
            dict(model_name="cifarnett"),
            r"unknown --model_name 'cifarnett'; did you mean cifarnet\?",
        ),
        (config.TrainConfig, dict(model_name="i3d"), "--model_name 'i3d' is a video net"),
        (config.EvalConfig, dict(batch_size=0), "--batch_size=0; expected 1 or more"),
        (config.EvalConfig, dict(max_num_batches=0), "--max_num_batches=0; expected 1 or more"),
        (config.EvalConfig, dict(labels_offset=-2), "--labels_offset=-2; expected 0 or more"),
        (
            config.EvalConfig,
            dict(eval_top_k=(0, 3)),
            "--eval_top_k=0,3: 0 is not a positive integer; expected comma-separated k values",
        ),
        (config.ClassifierConfig, dict(labels_offset=-1), "--labels_offset=-1; expected 0 or"),
        (config.ExportConfig, dict(batch_size=0), "--batch_size=0; expected 1 or more"),
        (
            config.MakeClassifierConfig,
            dict(batch_norm_decay=2.0),
            r"--batch_norm_decay=2.0; expected a value in \[0, 1\]",
        ),
    ],
)
def test_bounds_checked_elsewhere_before_are_the_configs(cls, changes, message):
    """Each of these was checked again in train/loop.py, inference/evaluate.py,
    inference/classify.py, inference/export.py or model/modeling.py; now the config does."""
    if message is None:
        build(cls, **changes)
        return
    with pytest.raises(SlimclsError, match=message) as err:
        build(cls, **changes)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "cls, changes, message",
    [
        (
            config.TrainConfig,
            dict(deterministic=True),
            r"^--deterministic needs --random_seed \(e.g. --random_seed=0\)$",
        ),
        (
            config.TrainConfig,
            dict(learning_rate=config.LearningRateConfig(learning_rate_decay_type="cosine")),
            "^--learning_rate_decay_type=cosine needs --max_number_of_steps",
        ),
        (config.ExportConfig, dict(output_dir=None), "--output_dir .* or --output_file .* is"),
        (
            config.ExportConfig,
            dict(tflite=("float", "int4")),
            "--tflite=float,int4: unknown 'int4'; expected .*float, dynamic_range, float16",
        ),
        (
            config.ExportConfig,
            dict(output_dir=None, output_file="g.pb", tflite=("float",)),
            "^--tflite needs --output_dir",
        ),
        (config.ExportConfig, dict(is_training=True), "^--is_training=true: .*expected"),
        (config.TfSlimExportConfig, dict(quantize=True), r"^--quantize \(TF-Slim's"),
        (
            config.TfSlimDeploymentConfig,
            dict(quantize_delay=0),
            "^--quantize_delay=0: quantization-aware training is not supported",
        ),
        (
            config.TfSlimDeploymentConfig,
            dict(num_ps_tasks=2, sync_replicas=True),
            "^--num_ps_tasks=2, --sync_replicas=True is TF-Slim's parameter-server setup; "
            ".*TF_CONFIG",
        ),
        (
            config.MakeClassifierConfig,
            dict(validation_fraction=0.0),
            "^--validation_fraction=0.0; expected a value between 0 and 1",
        ),
        (
            config.MakeClassifierConfig,
            dict(dropout_rate=1.0),
            r"^--dropout_rate=1.0; expected a value in \[0, 1\)$",
        ),
        (
            config.MakeClassifierConfig,
            dict(label_smoothing=1.0),
            r"^--label_smoothing=1.0; expected a value in \[0, 1\)$",
        ),
    ],
)
def test_rules_between_fields_are_the_configs(cls, changes, message):
    with pytest.raises(SlimclsError, match=message) as err:
        build(cls, **changes)
    assert "\n" not in str(err.value)


def test_the_rules_pass_their_good_cases():
    build(config.TrainConfig, deterministic=True, random_seed=0)
    lr = config.LearningRateConfig(learning_rate_decay_type="cosine")
    build(config.TrainConfig, learning_rate=lr, max_number_of_steps=10)
    build(config.ExportConfig, output_dir=None, output_file="g.pb")
    build(config.ExportConfig, tflite=("float", "float16"))
    config.TfSlimDeploymentConfig(master="grpc://x")  # ignored by the command, with a warning


def test_replace_checks_again_and_eval_top_k_is_normalised():
    train = build(config.TrainConfig)
    with pytest.raises(SlimclsError, match="--batch_size=0"):
        dataclasses.replace(train, batch_size=0)
    assert build(config.EvalConfig, eval_top_k=[5, "3", 3]).eval_top_k == (3, 5)
    assert build(config.EvalConfig, eval_top_k=()).eval_top_k == (5,)  # TF-Slim's Recall_5
    evaluated = build(config.EvalConfig, eval_top_k=(1, 5))
    assert dataclasses.replace(evaluated, batch_size=7).eval_top_k == (1, 5)
    evaluated.batch_size = 0  # changed in place: validate() checks again
    with pytest.raises(SlimclsError, match="--batch_size=0"):
        evaluated.validate()


def _cli(module, *args):
    """The command in a subprocess, with Python's import log (to see what it loaded)."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", module, *args],
        capture_output=True, text=True, env=ENV, cwd=REPO, timeout=300,
    )  # fmt: skip


def _errors_and_imports(proc):
    lines = stderr_lines(proc)
    errors = [ln for ln in lines if not ln.startswith("import time:")]
    imported = {ln.split("|")[-1].strip() for ln in lines if ln.startswith("import time:")}
    return errors, imported


@pytest.mark.parametrize(
    "args, message",
    [
        (["--deterministic"], "--deterministic needs --random_seed (e.g. --random_seed=0)"),
        (
            ["--learning_rate_decay_type=cosine"],
            "--learning_rate_decay_type=cosine needs --max_number_of_steps",
        ),
        (["--quantize_delay=0"], "--quantize_delay=0: quantization-aware training is not"),
    ],
)
def test_cli_reports_a_config_rule_in_one_line_before_tensorflow(tmp_path, args, message):
    """Before: --deterministic and cosine decay were checked after TensorFlow loaded."""
    run = tmp_path / "run"
    proc = _cli("slimcls.train_image_classifier", f"--train_dir={run}", f"--dataset_dir={tmp_path}",
                *args)  # fmt: skip
    errors, imported = _errors_and_imports(proc)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert len(errors) == 1 and errors[0].startswith(f"train_image_classifier: error: {message}")
    assert "slimcls.core.compat" not in imported and "tf_slim" not in imported
    assert not run.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "--output_dir (SavedModel) or --output_file (frozen GraphDef) is required"),
        (["--output_dir=/o", "--tflite=int4"], "--tflite=int4: unknown 'int4'"),
        (["--output_file=/g.pb", "--tflite=float"], "--tflite needs --output_dir"),
        (["--output_dir=/o", "--is_training"], "--is_training=true: a frozen"),
        (["--output_dir=/o", "--quantize"], "--quantize (TF-Slim's contrib.quantize graph)"),
    ],
)
def test_export_command_reports_config_rules_from_its_flags(args, message):
    """export_inference_graph's flags become the configs, which refuse these (the
    command prints the one line and exits 1, as for every SlimclsError)."""
    from absl import flags

    from slimcls.cli import export_inference_graph as entry

    entry.define_flags()
    try:
        flags.FLAGS(["export_inference_graph", "--checkpoint_path=imagenet",
                     "--model_name=cifarnet", *args])  # fmt: skip
        with pytest.raises(SlimclsError) as err:
            flag_defs.config_from_flags(config.TfSlimExportConfig)
            entry.config_from_flags()
        assert str(err.value).startswith(message)
    finally:
        flags.FLAGS.unparse_flags()


def test_a_net_registered_at_run_time_is_a_model_name_for_python_callers(monkeypatch):
    """As TF-Slim's networks_map allowed: a net added to NETWORKS from Python can be
    trained, evaluated and fine-tuned by name (the flags offer the net table's)."""
    from slimcls.nets import nets_factory

    with pytest.raises(SlimclsError, match="unknown --model_name 'my_net'"):
        build(config.TrainConfig, model_name="my_net")
    monkeypatch.setitem(nets_factory.NETWORKS, "my_net", nets_factory.NETWORKS["cifarnet"])
    assert build(config.TrainConfig, model_name="my_net").model_name == "my_net"
    assert build(config.MakeClassifierConfig, model_name="my_net").model_name == "my_net"
    assert "my_net" not in config.MODEL_NAMES


def test_log_every_n_steps_zero_is_the_librarys_no_log_lines():
    """The training-loop tests and the benchmarks train without log lines (0); the
    generic bound check must keep that value and refuse a negative one."""
    assert build(config.TrainConfig, log_every_n_steps=0).log_every_n_steps == 0
    with pytest.raises(SlimclsError, match="--log_every_n_steps=-1; expected 0 or more"):
        build(config.TrainConfig, log_every_n_steps=-1)
