"""modeling.create_model: registered nets by name, TF-Slim names, weight decay, bad names."""

import pytest

from slimcls.core.errors import SlimclsError
from slimcls.model.modeling import create_model


def test_create_model_builds_cifarnet_with_weight_decay():
    model = create_model("cifarnet", num_classes=10, weight_decay=0.004)
    model.build_variables((32, 32, 3))
    names = set(model.variables_by_name())
    assert "CifarNet/conv1/weights" in names and "CifarNet/logits/biases" in names
    assert float(model.regularization_loss()) > 0.0
    no_decay = create_model("cifarnet", 10)
    no_decay.build_variables((32, 32, 3))
    assert float(no_decay.regularization_loss()) == 0.0


def test_unknown_model_lists_choices():
    with pytest.raises(SlimclsError, match=r"Unknown model_name 'cifarnett'.*'cifarnet'"):
        create_model("cifarnett", 10)
