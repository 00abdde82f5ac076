"""Caption metrics by pycocoevalcap, as ``COCOEvalCap.evaluate`` computes them on a COCO-format results file:
PTB tokenisation of references and candidates, then BLEU-1..4, METEOR, ROUGE-L and CIDEr(-D). SPICE is left
out: its scorer downloads Stanford models at run time. METEOR and the tokenizer run on Java."""
from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

from harness.errors import HarnessError
from harness.io import atomic_write_json

METRICS = {"Bleu_1": "bleu1", "Bleu_2": "bleu2", "Bleu_3": "bleu3", "Bleu_4": "bleu4", "METEOR": "meteor",
           "ROUGE_L": "rouge_l", "CIDEr": "cider"}  # pycocoevalcap's name -> the harness's metric id
JAVA_HINT = ("captioning metrics need a Java runtime (pycocoevalcap runs METEOR and the PTB tokenizer on Java): "
             "install one (Debian/Ubuntu: apt install default-jre-headless; conda: conda install openjdk) and run again")
NO_JAVA = "needs a Java runtime: apt install default-jre-headless"  # why run_all.py leaves captioning jobs out


def missing_java() -> str | None:
    """:data:`NO_JAVA` where no ``java`` is on the PATH, else None."""
    return NO_JAVA if shutil.which("java") is None else None


def require_java() -> None:
    """One clear error where ``java`` is missing, instead of a traceback from pycocoevalcap's subprocess."""
    if missing_java():
        raise HarnessError(JAVA_HINT)


def write_coco_files(references: dict[int, list[str]], candidates: dict[int, str], folder: Path) -> tuple[Path, Path]:
    """``references.json`` (COCO caption annotations) and ``captions.json`` (COCO results: image_id, caption)."""
    annotations = [{"id": n, "image_id": image_id, "caption": caption}
                   for n, (image_id, caption) in enumerate((i, c) for i, refs in references.items() for c in refs)]
    truth = atomic_write_json(folder / "references.json", {
        "images": [{"id": image_id} for image_id in references], "annotations": annotations,
        "info": {}, "licenses": [], "type": "captions"})
    results = atomic_write_json(folder / "captions.json", [{"image_id": i, "caption": c} for i, c in candidates.items()])
    return truth, results


def score_results(references_file: Path, results_file: Path) -> dict[str, float]:
    """The seven metrics (x100, as papers print them) of a COCO results file against COCO caption annotations."""
    require_java()
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.eval import COCOEvalCap
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(references_file))
        evaluation = COCOEvalCap(coco, coco.loadRes(str(results_file)))
        ids = evaluation.params["image_id"]
        tokenizer = PTBTokenizer()
        truth = tokenizer.tokenize({i: evaluation.coco.imgToAnns[i] for i in ids})
        candidates = tokenizer.tokenize({i: evaluation.cocoRes.imgToAnns[i] for i in ids})
        for scorer, names in ((Bleu(4), ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"]), (Meteor(), ["METEOR"]),
                              (Rouge(), ["ROUGE_L"]), (Cider(), ["CIDEr"])):
            score, per_image = scorer.compute_score(truth, candidates)
            for name, value, values in zip(names, score if len(names) > 1 else [score], per_image if len(names) > 1 else [per_image]):
                evaluation.setEval(value, name)
                evaluation.setImgToEvalImgs(values, truth.keys(), name)
    return {METRICS[name]: 100.0 * float(value) for name, value in evaluation.eval.items()}
