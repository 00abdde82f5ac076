"""Table 9's WSOL methods as methods, on small tensors: Hide-and-Seek hides whole grid cells (about hide_prob of
them) and leaves the labels; ADL is the identity at evaluation and zeroes exactly the positions at or above its
threshold when it drops; ACoL's head B sees zeros exactly where A's normalised map reaches the threshold, and its
step's gradients are those of CE(A) + CE(B); SPG's masks are 1, 0 and ignored where its thresholds say and its step's
gradients are those of CE(A) + its three masked losses; Table 9's networks give the papers' map sizes."""
from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from harness import augment
from harness.augment.acol import pick
from harness.augment.adl import adl, vgg_positions
from harness.augment.spg import IGNORED, three_level
from harness.localization.cam import min_max
from harness.models import create_model
from harness.models.catalog import import_model_files


def test_hide_and_seek_hides_whole_cells_about_hide_prob_of_them_and_keeps_the_labels():
    has = augment.build("hide_and_seek", 10, grid_sizes=(8,), reference_size=32, hide_prob=0.5, seed=0)
    labels = torch.arange(256) % 10
    images, targets = has(torch.ones(256, 3, 32, 32), labels)
    assert torch.equal(targets, F.one_hot(labels, 10).float())
    cells = images[:, 0].unfold(1, 8, 8).unfold(2, 8, 8)  # [B, 4, 4, 8, 8]: each 8x8 cell
    per_cell = cells.flatten(3)
    assert torch.all((per_cell == 0).all(-1) | (per_cell == 1).all(-1))  # a cell is hidden whole or not at all
    assert torch.equal(images[:, 0], images[:, 2])  # every channel alike
    hidden = (per_cell == 0).all(-1).float().mean().item()
    assert 0.45 < hidden < 0.55  # 4,096 cells at p = 0.5


def test_hide_and_seek_scales_its_cells_to_the_image_and_draws_a_size_per_image_or_per_batch():
    has = augment.build("hide_and_seek", 10, grid_sizes=(0, 56), per="image", seed=1)
    assert set(has.cell_sizes(200, 448)) == {0, 112}  # 56 px at 224 is 112 px at 448; 0: nothing hidden
    batch = augment.build("hide_and_seek", 10, grid_sizes=(16, 32, 44), per="batch", seed=1)
    assert len(set(batch.cell_sizes(50, 224))) == 1
    whole = augment.build("hide_and_seek", 10, grid_sizes=(0,), seed=0)
    images = torch.randn(4, 3, 16, 16)
    assert torch.equal(whole(images.clone(), torch.zeros(4, dtype=torch.long))[0], images)


def test_adl_zeroes_exactly_the_positions_at_or_above_its_threshold_when_it_drops():
    features = torch.rand(3, 5, 6, 6)
    attention = features.mean(dim=1, keepdim=True)
    peak = attention.flatten(1).max(dim=1).values.view(-1, 1, 1, 1)
    dropped = adl(features, drop=True, threshold=0.8)
    at_or_above = (attention >= 0.8 * peak).expand_as(features)
    assert torch.all(dropped[at_or_above] == 0) and torch.equal(dropped[~at_or_above], features[~at_or_above])
    assert torch.allclose(adl(features, drop=False, threshold=0.8), features * torch.sigmoid(attention))


def test_adl_follows_vgg_gaps_pool3_conv4_3_and_conv5_3_and_is_the_identity_at_evaluation():
    assert vgg_positions(create_model("vgg16_gap", 10)) == ["features.16", "features.22", "features.29"]
    torch.manual_seed(0)
    plain = create_model("vgg_gap_tiny", 10)
    model = copy.deepcopy(plain)
    seen = {}
    last = model.features[13]  # the tiny VGG-GAP's last ReLU (its "conv5_3")
    last.register_forward_hook(lambda module, inputs, output: seen.__setitem__("before", output.clone()))
    augment.build("adl", 10, drop_rate=1.0, threshold=0.5, seed=0).attach(model)
    last.register_forward_hook(lambda module, inputs, output: seen.__setitem__("after", output.clone()))
    images = torch.randn(2, 3, 32, 32)
    assert torch.equal(model.eval()(images), plain.eval()(images))
    model.train()(images)
    assert torch.equal(seen["after"], adl(seen["before"], drop=True, threshold=0.5)) and (seen["after"] == 0).any()
    with pytest.raises(ValueError, match="not a VGG-GAP"):
        augment.build("adl", 10).attach(create_model("resnet_tiny", 10))


def acol_model(seed: int = 0):
    torch.manual_seed(seed)
    model = create_model("vgg_gap_tiny", 5)
    method = augment.build("acol", 5, threshold=0.6, channels=8, seed=0)
    method.attach(model)
    return model.train(), method


def test_acol_head_b_sees_zeros_exactly_where_as_normalised_map_of_the_label_reaches_the_threshold():
    model, method = acol_model()
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    seen = {}
    method.heads.b.register_forward_pre_hook(lambda module, inputs: seen.setdefault("b", inputs[0].detach()))
    images, _ = method(images, labels)
    model(images)
    features = model.forward_features(images).detach()
    attention = min_max(pick(method.heads.a(features), labels).detach())
    erased = (attention >= 0.6).unsqueeze(1).expand_as(features)
    assert erased.any() and torch.all(seen["b"][erased] == 0)
    assert torch.equal(seen["b"][~erased], features[~erased])


def test_acols_step_has_the_gradients_of_the_sum_of_its_two_cross_entropies():
    model, method = acol_model()
    reference, reference_method = acol_model()
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([4, 1, 2, 0])
    batch, targets = method(images.clone(), labels)
    torch.sum(-targets * F.log_softmax(model(batch), dim=-1), dim=-1).mean().backward()  # the trainer's loss
    features = reference.forward_features(images)
    maps_a, maps_b = reference_method.maps(features, labels)
    (F.cross_entropy(maps_a.mean(dim=(2, 3)), labels) + F.cross_entropy(maps_b.mean(dim=(2, 3)), labels)).backward()
    for (name, mine), (_, theirs) in zip(model.named_parameters(), reference.named_parameters()):
        assert torch.allclose(mine.grad, theirs.grad, atol=1e-6), name
    assert reference_method.heads.b[0].weight.grad.abs().sum() > 0  # head B is trained


def test_acols_localization_map_is_the_maximum_of_its_two_normalised_maps():
    model, method = acol_model()
    model.eval()
    images, classes = torch.randn(2, 3, 32, 32), torch.tensor([3, 1])
    features = model.forward_features(images)
    maps_a, maps_b = method.maps(features, classes)
    expected = torch.maximum(min_max(pick(maps_a, classes)), min_max(pick(maps_b, classes)))
    assert torch.allclose(method.localization_maps(model, features, classes), expected)


@pytest.mark.parametrize("model, size, options, maps", [
    ("googlenet_gap", 224, {}, 14), ("inception_v3_spg", 224, {}, 14),
    ("inception_v3_spg", 224, {"large_feature_map": True}, 28), ("inception_v3_spg", 321, {"large_feature_map": True}, 40),
    ("googlenet_gap_tiny", 64, {}, 16), ("inception_spg_tiny", 64, {}, 16)])
def test_table_9s_networks_give_the_papers_map_sizes(model, size, options, maps):
    """Shapes only: the networks are built and run on the meta device (no weights, no arithmetic)."""
    import_model_files()
    with torch.device("meta"):
        network = create_model(model, 7, **options)
        features = network.forward_features(torch.empty(2, 3, size, size))
        assert network(torch.empty(2, 3, size, size)).shape == (2, 7)
    assert features.shape[-2:] == (maps, maps) and features.shape[1] == network.num_features


def test_spgs_masks_are_1_0_and_ignored_where_its_thresholds_say():
    maps = torch.linspace(0, 1, 100).view(1, 10, 10).repeat(2, 1, 1)
    maps[1] *= 0.5  # no pixel reaches 0.7: the high threshold becomes 0.7 of the maximum, 0.35
    masks = three_level(maps, high=0.7, low=0.05)
    assert set(masks.unique().tolist()) == {IGNORED, 0.0, 1.0}
    assert torch.equal(masks[0] == 1, maps[0] >= 0.7) and torch.equal(masks[0] == 0, maps[0] < 0.05)
    assert torch.equal(masks[1] == 1, maps[1] >= 0.35) and torch.equal(masks[1] == 0, maps[1] < 0.05)
    assert torch.all(masks[masks == IGNORED] == IGNORED) and (masks == IGNORED).sum() > 0


def spg_model(seed: int = 0):
    torch.manual_seed(seed)
    import_model_files()
    model = create_model("inception_spg_tiny", 5)
    method = augment.build("spg", 5, channels=8, seed=0)
    method.attach(model)
    for module in model.modules():  # no dropout: the two forwards below must be the same arithmetic
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    return model.train(), method


def test_spgs_step_has_the_gradients_of_cross_entropy_plus_its_three_masked_losses():
    """Against the losses written out here: B2 against A's normalised map of the label, B1 against sigmoid(B2), C
    against the mean of sigmoid(B1) and sigmoid(B2), at the input's size (40 x 40 here, not 224)."""
    model, method = spg_model()
    reference, _ = spg_model()
    images, labels = torch.randn(3, 3, 40, 40), torch.tensor([4, 1, 2])
    batch, targets = method(images.clone(), labels)
    torch.sum(-targets * F.log_softmax(model(batch), dim=-1), dim=-1).mean().backward()

    taps = {}
    for name in ("Mixed_5d", "Mixed_6d"):
        getattr(reference, name).register_forward_hook(lambda m, i, out, name=name: taps.__setitem__(name, out))
    heads = reference.get_classifier()
    features = reference.forward_features(images)
    hidden = heads.a_hidden(features)
    class_maps = heads.a_classes(hidden)
    up = lambda maps: F.interpolate(maps, size=(40, 40), mode="bilinear", align_corners=False).squeeze(1)
    b1, b2 = up(heads.b_shared(heads.b1(taps["Mixed_5d"]))), up(heads.b_shared(heads.b2(taps["Mixed_6d"])))
    c = up(heads.c(hidden))
    attention = min_max(up(class_maps[torch.arange(3), labels].unsqueeze(1)).detach())
    losses = F.cross_entropy(class_maps.mean(dim=(2, 3)), labels)
    for logits, mask in ((b2, three_level(attention, 0.7, 0.05)), (b1, three_level(torch.sigmoid(b2).detach(), 0.5, 0.05)),
                         (c, three_level(((torch.sigmoid(b1) + torch.sigmoid(b2)) / 2).detach(), 0.7, 0.1))):
        kept = mask != IGNORED
        assert kept.any()
        losses = losses + F.binary_cross_entropy_with_logits(logits[kept], mask[kept])
    losses.backward()
    for (name, mine), (_, theirs) in zip(model.named_parameters(), reference.named_parameters()):
        assert torch.allclose(mine.grad, theirs.grad, atol=1e-6), name
    assert heads.c[0].weight.grad.abs().sum() > 0 and heads.b1[0].weight.grad.abs().sum() > 0


def test_spgs_localization_map_is_spg_as_map_and_a_network_without_its_taps_is_named():
    model, method = spg_model()
    model.eval()
    images, classes = torch.randn(2, 3, 32, 32), torch.tensor([3, 1])
    features = model.forward_features(images)
    heads = model.get_classifier()
    expected = heads.a_classes(heads.a_hidden(features))[torch.arange(2), classes]
    assert torch.allclose(method.localization_maps(model, features, classes), expected)
    assert torch.allclose(model(images), heads.a_classes(heads.a_hidden(features)).mean(dim=(2, 3)))
    with pytest.raises(ValueError, match="names no feature map Mixed_5d, Mixed_6d"):
        augment.build("spg", 5).attach(create_model("vgg_gap_tiny", 5))


def test_a_released_inception_v3_fits_inception_v3_spgs_backbone_and_a_googlenet_all_but_cams_conv():
    """By name and shape (on the meta device): timm's InceptionV3 holds every tensor of SPG's backbone, and
    torchvision's GoogLeNet every tensor of GoogLeNet-GAP's but the added 3x3 conv."""
    import timm
    import torchvision

    from harness.weights import misfits, planned_network

    with torch.device("meta"):
        inception = timm.create_model("inception_v3", num_classes=1000).state_dict()
        googlenet = torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False).state_dict()
    assert misfits(inception, planned_network("inception_v3_spg", 200), with_head=False) == []
    problems = misfits(googlenet, planned_network("googlenet_gap", 200), with_head=False)
    assert problems == ["2 tensor(s) missing: cam_conv.0.bias, cam_conv.0.weight"]
