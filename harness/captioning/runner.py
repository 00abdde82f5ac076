"""A captioning job: encode the images once with the frozen backbone of the row's ImageNet run, train the NIC
decoder on (image, caption) pairs (resumable per epoch), caption the test images by beam search, score them with
pycocoevalcap and write the record, the generated captions and a few examples for the report."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader
from tqdm import tqdm

from harness.captioning import EXAMPLES
from harness.captioning.data import CaptionSplit, load_caption_data
from harness.captioning.model import NICDecoder, beam_search
from harness.captioning.scoring import require_java, score_results, write_coco_files
from harness.captioning.vocab import END, PAD_ID, START, Vocabulary
from harness.data.transforms import to_uint8_images
from harness.devices import loader_workers
from harness.io import atomic_torch_save, atomic_write_json, atomic_write_npz, load_torch
from harness.models import create_model
from harness.paths import data_root
from harness.train import CHECKPOINT, RECORD
from harness.train.config import backbone_train_config
from harness.train.provenance import code_provenance, hardware, package_versions
from harness.train.trainer import resolve_device
from harness.weights import load_checked

FEATURES = "features.pt"
VOCABULARY = "vocabulary.json"
EXAMPLE_COUNT = 4


def build_encoder(config: dict) -> torch.nn.Module:
    """The backbone's network without its classifier (timm, ``num_classes=0``: pooled features), every tensor
    loaded from its checkpoint (the run's, or a file given in its place), frozen in evaluation mode."""
    train = backbone_train_config(config)
    encoder = create_model(train.model, num_classes=0, **train.model_kwargs)
    load_checked(encoder, Path(config["backbone_checkpoint"]), with_head=False)
    return encoder.eval().requires_grad_(False)


@torch.no_grad()
def encode(encoder: torch.nn.Module, split: CaptionSplit, device: torch.device, batch_size: int, workers: int,
           progress: bool) -> torch.Tensor:
    """Pooled features ``[N, D]`` of a split's images (evaluation transform, in order)."""
    loader = DataLoader(split.images, batch_size=batch_size, num_workers=loader_workers(workers))
    features = []
    for batch in tqdm(loader, desc="encode", disable=not progress, leave=False):
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        features.append(encoder(images.to(device)).float().cpu())
    return torch.cat(features)


def caption_pairs(split: CaptionSplit, vocab: Vocabulary, max_length: int) -> list[tuple[int, torch.Tensor]]:
    """(image index, ``<start> w1 .. wn <end>`` ids) for every reference caption of every image."""
    return [(i, torch.tensor(vocab.encode(caption, max_length))) for i, refs in enumerate(split.references)
            for caption in refs]


def train_epoch(decoder: NICDecoder, optimizer: torch.optim.Optimizer, features: torch.Tensor,
                pairs: list[tuple[int, torch.Tensor]], batch_size: int, generator: torch.Generator,
                device: torch.device, progress: bool) -> float:
    """One pass over the pairs in an order drawn from ``generator``; mean teacher-forced cross-entropy."""
    decoder.train()
    order = torch.randperm(len(pairs), generator=generator).tolist()
    total, count = 0.0, 0
    for start in tqdm(range(0, len(order), batch_size), desc="train", disable=not progress, leave=False):
        batch = [pairs[i] for i in order[start:start + batch_size]]
        tokens = pad_sequence([t for _, t in batch], batch_first=True, padding_value=PAD_ID).to(device)
        images = features[[i for i, _ in batch]].to(device)
        logits = decoder(images, tokens[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=PAD_ID)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, count = total + loss.item() * len(batch), count + len(batch)
    return total / count


def generate(decoder: NICDecoder, features: torch.Tensor, vocab: Vocabulary, beam_size: int, max_length: int,
             device: torch.device, batch_size: int = 50) -> list[str]:
    """A caption per feature row, by beam search."""
    decoder.eval()
    index = vocab.index
    captions = []
    for start in range(0, len(features), batch_size):
        ids = beam_search(decoder, features[start:start + batch_size].to(device), index[START], index[END],
                          max_length, beam_size)
        captions += [vocab.decode(i) for i in ids]
    return captions


def _save_examples(path: Path, split: CaptionSplit, captions: list[str]) -> None:
    """The first test images (uint8), each with the generated caption and its first reference."""
    count = min(EXAMPLE_COUNT, len(captions))
    items = [split.images[i] for i in range(count)]
    images = torch.stack([item[0] if isinstance(item, (list, tuple)) else item for item in items])
    atomic_write_npz(path, images=to_uint8_images(images), generated=np.array(captions[:count]),
                     reference=np.array([refs[0] for refs in split.references[:count]]))


def run_captioning(config: dict[str, Any], run_dir: Path, progress: bool) -> dict[str, Any]:
    """Run (or resume) a captioning job in ``run_dir`` and return its record."""
    require_java()
    started = time.perf_counter()
    run_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.get("device", "auto"))
    root = data_root(config.get("data_root"))
    splits = load_caption_data(config["dataset"], root, config["image_size"],
                               {"train": config.get("train_subset"), "test": config.get("test_subset")})
    vocab_path = run_dir / VOCABULARY
    if not vocab_path.is_file():
        Vocabulary.build((c for refs in splits["train"].references for c in refs), config["min_count"]).save(vocab_path)
    vocab = Vocabulary.load(vocab_path)
    if not (run_dir / FEATURES).is_file():
        encoder = build_encoder(config).to(device)
        atomic_torch_save(run_dir / FEATURES, {name: encode(encoder, split, device, 64, config.get("num_workers", 0), progress)
                                               for name, split in splits.items()})
    features = load_torch(run_dir / FEATURES)
    torch.manual_seed(config["seed"])
    decoder = NICDecoder(features["train"].shape[1], len(vocab), config["embed_size"], config["hidden_size"]).to(device)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=config["lr"])
    curve: list[dict[str, float]] = []
    if (run_dir / CHECKPOINT).is_file():
        state = load_torch(run_dir / CHECKPOINT, map_location=device)
        decoder.load_state_dict(state["decoder"])
        optimizer.load_state_dict(state["optimizer"])
        curve = state["curve"]
    pairs = caption_pairs(splits["train"], vocab, config["max_length"])
    for epoch in range(len(curve) + 1, config["epochs"] + 1):
        generator = torch.Generator().manual_seed(config["seed"] * 100_003 + epoch)  # the epoch's order, resumable
        tick = time.perf_counter()
        loss = train_epoch(decoder, optimizer, features["train"], pairs, config["batch_size"], generator, device, progress)
        curve.append({"epoch": epoch, "train_loss": loss, "epoch_time_s": time.perf_counter() - tick})
        atomic_torch_save(run_dir / CHECKPOINT, {"decoder": decoder.state_dict(), "optimizer": optimizer.state_dict(),
                                                 "curve": curve})
        if progress:
            print(f"epoch {epoch}/{config['epochs']}: train loss {loss:.3f}", flush=True)
    test = splits["test"]
    captions = generate(decoder, features["test"], vocab, config["beam_size"], config["max_length"], device)
    truth, results = write_coco_files(dict(zip(test.image_ids, test.references)), dict(zip(test.image_ids, captions)), run_dir)
    metrics = score_results(truth, results)
    _save_examples(run_dir / EXAMPLES, test, captions)
    record = {
        "status": "finished", "task": "captioning", "config": config, "config_hash": run_dir.name,
        "vocabulary_size": len(vocab), "train_pairs": len(pairs), "test_images": len(test.image_ids),
        "train_curve": curve,
        "best": {"epoch": len(curve), **metrics}, "last": {"epoch": len(curve), **metrics},
        **code_provenance(), "packages": package_versions("captioning"), "hardware": hardware(device),
        "wall_time_s": time.perf_counter() - started,
    }
    atomic_write_json(run_dir / RECORD, record)
    return record
