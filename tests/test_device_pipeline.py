"""The device-resident input pipeline draws what torchvision's CIFAR transforms draw and, for the same draws,
gives the PIL path's pixels; a run through it resumes exactly."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from harness.data import device_pipeline
from harness.data.device_pipeline import DeviceBatches, crop_flip_normalize, uint8_images
from harness.data.transforms import cifar_transforms
from harness.models.cifar_net import CIFAR_MEAN, CIFAR_STD
from harness.train import Trainer

from test_trainer import assert_same_run, tiny


def random_images(count: int, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8))


@pytest.mark.parametrize("top, left, flip", [(0, 0, False), (8, 8, True), (3, 7, False), (5, 1, True), (4, 4, False)])
def test_fixed_offsets_give_the_pil_paths_pixels(top, left, flip):
    """torchvision's RandomCrop(32, padding=4) then RandomHorizontalFlip, with the draws fixed, on PIL images."""
    images = random_images(3)
    expected = []
    for image in images.numpy():
        picture = v2.functional.crop(v2.Pad(4, fill=0)(Image.fromarray(image)), top, left, 32, 32)
        picture = v2.functional.horizontal_flip(picture) if flip else picture
        expected.append(cifar_transforms()[1](picture))  # ToImage, ToDtype(scale), Normalize
    got = crop_flip_normalize(images.permute(0, 3, 1, 2), torch.tensor([[top, left]] * 3), torch.tensor([flip] * 3), 4,
                              CIFAR_MEAN, CIFAR_STD)
    torch.testing.assert_close(got, torch.stack(expected), rtol=0, atol=1e-5)


def test_offsets_are_uniform_over_the_81_positions_and_half_the_images_are_flipped(monkeypatch):
    drawn = []
    original = device_pipeline.crop_flip_normalize
    monkeypatch.setattr(device_pipeline, "crop_flip_normalize",
                        lambda images, offsets, flips, *rest: drawn.append((offsets, flips)) or original(images, offsets, flips, *rest))
    batches = DeviceBatches(random_images(500), torch.zeros(500, dtype=torch.int64), 100, torch.device("cpu"),
                            CIFAR_MEAN, CIFAR_STD, augment=True, order=torch.Generator().manual_seed(0), seed=1)
    for _ in range(82):  # 41,000 draws: about 506 per position
        for _ in batches:
            pass
    offsets = torch.cat([o for o, _ in drawn])
    flips = torch.cat([f for _, f in drawn])
    counts = torch.bincount(offsets[:, 0] * 9 + offsets[:, 1], minlength=81).double()
    assert offsets.min() == 0 and offsets.max() == 8 and len(counts) == 81
    expected = len(offsets) / 81
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 160  # 80 degrees of freedom: mean 80, sd 12.6; a biased draw lands in the thousands
    assert abs(float(flips.double().mean()) - 0.5) < 0.02  # sd 0.0025


def test_batches_cover_the_split_in_the_samplers_order_and_the_test_split_in_order():
    images, labels = random_images(10), torch.arange(10)
    order = torch.Generator().manual_seed(3)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(3))[:8]  # drop_last: 2 batches of 4
    batches = DeviceBatches(images, labels, 4, torch.device("cpu"), CIFAR_MEAN, CIFAR_STD, augment=True, order=order)
    assert len(batches) == 2 and torch.cat([y for _, y in batches]).tolist() == expected.tolist()
    test = DeviceBatches(images, labels, 4, torch.device("cpu"), CIFAR_MEAN, CIFAR_STD, augment=False)
    seen = list(test)
    assert len(test) == 3 and torch.cat([y for _, y in seen]).tolist() == list(range(10))
    plain = v2.Compose(cifar_transforms()[1].transforms)
    torch.testing.assert_close(seen[0][0][1], plain(Image.fromarray(images[1].numpy())), rtol=0, atol=1e-5)


def test_arrays_come_from_subsets_and_image_folders(data_root):
    from harness.data import balanced_subset, build_datasets

    data = build_datasets("synthetic", data_root, image_size=32)
    images, labels = uint8_images(balanced_subset(data.train, 100))
    assert images.shape == (100, 32, 32, 3) and images.dtype == torch.uint8
    assert np.bincount(labels.numpy()).min() == np.bincount(labels.numpy()).max()
    first = balanced_subset(data.train, 100).indices[0]
    assert np.array_equal(images[0].numpy(), np.asarray(Image.open(data.train.samples[first][0]).convert("RGB")))


def test_a_run_through_the_device_pipeline_resumes_exactly(data_root, tmp_path):
    config = tiny(data_root, input_pipeline="device")
    straight = Trainer(config, tmp_path / "straight", progress=False).run()
    assert Trainer(config, tmp_path / "resumed", progress=False).run(stop_after_epoch=1) is None
    resumed = Trainer(config, tmp_path / "resumed", progress=False).run()
    assert_same_run(resumed, straight, tmp_path / "resumed", tmp_path / "straight")
    assert tiny(data_root).config_hash() != straight["config_hash"]  # the loader path draws otherwise: another run


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_the_device_pipeline_draws_and_crops_on_a_gpu_as_on_the_cpu():
    images, labels = random_images(64), torch.arange(64)
    runs = []
    for device in ("cpu", "cuda"):
        batches = DeviceBatches(images, labels, 16, torch.device(device), CIFAR_MEAN, CIFAR_STD, augment=True,
                                order=torch.Generator().manual_seed(0), seed=5)
        runs.append([(x.cpu(), y.cpu()) for x, y in batches])
    for (x_cpu, y_cpu), (x_gpu, y_gpu) in zip(*runs):
        assert torch.equal(y_cpu, y_gpu)
        torch.testing.assert_close(x_gpu, x_cpu, rtol=0, atol=1e-5)


def test_the_single_run_command_takes_the_same_default_pipeline_as_run_all(data_root, tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run([sys.executable, "-m", "harness.train", "--dataset", "synthetic", "--image-size", "32",
                             "--model", "resnet_tiny", "--epochs", "1", "--batch-size", "100", "--data-root", str(data_root),
                             "--out", str(tmp_path / "run"), "--no-progress"], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1], timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "run" / "record.json").read_text())["config"]["input_pipeline"] == "device"
