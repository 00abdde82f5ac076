"""The paper's CIFAR models, registered into timm, with the paper's parameter counts."""
from __future__ import annotations

import pytest
import timm
import torch

import harness  # noqa: F401  (registers the models)
from harness.errors import UnknownNameError
from harness.models import count_parameters, create_model


@pytest.mark.parametrize(
    "name, paper_millions",
    [
        ("pyramidnet200_a240", 26.8),  # Table 5
        ("pyramidnet110_a64", 1.7),  # Table 6
    ],
)
def test_parameter_counts_match_the_paper(name, paper_millions):
    model = timm.create_model(name, num_classes=100)
    assert count_parameters(model) / 1e6 == pytest.approx(paper_millions, rel=0.02)


def test_resnet110_matches_the_official_code():
    """The official CutMix ResNet-110 (bottleneck, 16/32/64 planes) has 1.17 M parameters for 100 classes;
    the paper's Table 6 prints 1.1 M (truncated). We pin the official architecture's exact count."""
    model = timm.create_model("resnet110_cifar", num_classes=100)
    assert count_parameters(model) == 1_170_868
    assert count_parameters(model) / 1e6 == pytest.approx(1.1, rel=0.07)


@pytest.mark.parametrize("name", ["pyramidnet_tiny", "resnet_cifar_tiny", "pyramidnet110_a64", "resnet110_cifar"])
def test_timm_interface(name):
    model = timm.create_model(name, num_classes=10)
    x = torch.randn(2, 3, 32, 32)
    features = model.forward_features(x)
    final_reduction = model.feature_info[-1]["reduction"]  # 4, or 8 for the stride-2-stem smoke stand-ins
    assert features.shape == (2, model.num_features, 32 // final_reduction, 32 // final_reduction)
    torch.testing.assert_close(model.forward_head(features), model(x))
    assert model.get_classifier().out_features == 10
    model.reset_classifier(5)
    assert model(x).shape == (2, 5)
    assert [f["module"] for f in model.feature_info] == ["stem", "layer1", "layer2", "layer3"]
    assert model.pretrained_cfg["input_size"] == (3, 32, 32)


def test_resnet_tiny_is_a_timm_resnet():
    model = timm.create_model("resnet_tiny", num_classes=10)
    assert isinstance(model, timm.models.ResNet)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_pretrained_weights_are_never_requested():
    model = create_model("pyramidnet_tiny", num_classes=3)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    with pytest.raises(UnknownNameError, match="unknown model 'pyramidnet_9000'"):
        create_model("pyramidnet_9000", num_classes=3)


@pytest.mark.parametrize("name, plain, size, cam_side", [("resnet50_wsol", "resnet50", 224, 14), ("resnet_tiny_wsol", "resnet_tiny", 64, 4)])
def test_wsol_resnet_has_a_stride_one_undilated_last_stage(name, plain, size, cam_side):
    """Appendix B: layer4 without stride (14x14 maps at 224 px) and without dilation (timm's output_stride=16
    would dilate it); the weights are the plain network's, so its ImageNet runs load unchanged."""
    model, reference = create_model(name, 10).eval(), create_model(plain, 10)
    with torch.no_grad():
        features = model.forward_features(torch.zeros(1, 3, size, size))
    assert features.shape[-2:] == (cam_side, cam_side)
    assert reference.forward_features(torch.zeros(1, 3, size, size)).shape[-1] == cam_side // 2
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(m.dilation == (1, 1) for m in convs)
    assert all(m.stride == (1, 1) for m in model.layer4.modules() if isinstance(m, torch.nn.Conv2d))
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}
    assert model.feature_info[-1]["reduction"] == 16
    dilated = create_model(plain, 10, output_stride=16)  # what the harness used before: not the paper's network
    assert any(m.dilation != (1, 1) for m in dilated.layer4.modules() if isinstance(m, torch.nn.Conv2d))
