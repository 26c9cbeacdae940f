"""A checkpoint of another net: the error says which net the checkpoint holds."""

import numpy as np
import pytest

from slimcls.core.compat import tf
from slimcls.core.errors import SlimclsError
from slimcls.model import checkpoints


@pytest.fixture
def cifarnet_checkpoint(tmp_path):
    tensors = {"CifarNet/conv1/weights": np.ones((5, 5, 3, 4), np.float32), "global_step": 7}
    return checkpoints.save_checkpoint(tensors, str(tmp_path), step=7)


def test_describe_model_names_the_net_and_its_scope(cifarnet_checkpoint, tmp_path):
    assert checkpoints.describe_model(cifarnet_checkpoint) == "a cifarnet model (scope CifarNet)"
    other = checkpoints.save_checkpoint({"Mine/w": np.zeros(2)}, str(tmp_path / "o"), step=1)
    assert checkpoints.describe_model(other) is None


def test_restoring_another_net_names_the_checkpoints_net(cifarnet_checkpoint):
    variables = {"InceptionV3/Conv2d_1a_3x3/weights": tf.Variable(tf.zeros((3, 3, 3, 32)))}
    with pytest.raises(SlimclsError) as error:
        checkpoints.restore_variables(variables, cifarnet_checkpoint)
    message = str(error.value)
    assert "lacks 1 variable(s): InceptionV3/Conv2d_1a_3x3/weights" in message
    assert message.endswith("; it holds a cifarnet model (scope CifarNet), not inception_v3")


def test_same_net_with_missing_variables_adds_no_model_note(cifarnet_checkpoint):
    variables = {"CifarNet/conv2/weights": tf.Variable(tf.zeros((5, 5, 4, 4)))}
    with pytest.raises(SlimclsError, match="lacks 1 variable") as error:
        checkpoints.restore_variables(variables, cifarnet_checkpoint)
    assert "holds" not in str(error.value)
