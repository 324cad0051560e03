"""Weight-EMA decays compared on one training trajectory.

The moving average never feeds back into training, so one run can keep several averages side by side and
score each on dev after every epoch: the decays are compared on the same optimizer steps, free of the run-to-run
noise that separates two trainings of one seed. The run itself is ``extractor train``'s (``train()``), with the
given options; each average other than the run's own (``TrainConfig.ema``) costs one dev evaluation per epoch
(about 2 s on Resume NER dev), so give the budget those minutes back with ``--max-minutes``.

    python benchmarks/ema_decays.py --train /tmp/x13/train.jsonl --dev /tmp/x13/dev.jsonl --out /tmp/ema \\
        --seed 43 --max-minutes 20 --decays 0 0.99 0.995 0.998

Decay 0 is the raw weights. Prints, per decay, dev micro-F1 after every epoch and the best epoch; ``--json``
writes the same.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from extractor.data.documents import read_documents
from extractor.model import train as training
from extractor.model.checkpoints import WeightEMA
from extractor.model.evaluate import evaluate_model
from extractor.model.directory import LoadedModel
from extractor.paths import SCHEMAS_DIR
from extractor.rules.schema import Schema


class ShadowAverages:
    """Extra averages updated with the run's own EMA and scored with it; a decay equal to the run's own is
    the run's average itself, scored once by the run (0: the raw weights)."""

    def __init__(self, decays: list[float], dev_docs: list) -> None:
        self.decays, self.dev_docs = decays, dev_docs
        self.averages: dict[float, WeightEMA] = {}
        self.raw_model = None
        self.own_decay: float | None = None
        self.curves: dict[float, list[float]] = {d: [] for d in decays}

    def attach(self, ema: WeightEMA, model) -> None:
        self.raw_model, self.own_decay = model, ema.decay
        self.averages = {d: WeightEMA(model, d) for d in self.decays if d > 0 and d != ema.decay}

    def update(self, model) -> None:
        for average in self.averages.values():
            average.update(model)

    def score(self, template: LoadedModel, own_f1: float) -> None:
        for decay in self.decays:
            if decay == self.own_decay:
                self.curves[decay].append(round(own_f1 * 100, 2))
                continue
            module = self.averages[decay].materialize() if decay > 0 else self.raw_model
            module.eval()
            scored = LoadedModel(module, template.tokenizer, template.config, template.schema)
            self.curves[decay].append(round(evaluate_model(scored, self.dev_docs)["micro"]["f1"] * 100, 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--dev", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the run's model directory")
    parser.add_argument("--schema", type=Path, default=SCHEMAS_DIR / "resume_ner.yaml")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument("--decays", type=float, nargs="+", default=[0.0, 0.99, 0.995, 0.998])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    schema = Schema.load(args.schema)
    train_docs = list(read_documents(args.train, schema.labels))
    dev_docs = list(read_documents(args.dev, schema.labels))
    shadows = ShadowAverages(args.decays, dev_docs)

    class RunAverage(WeightEMA):
        """The run's own EMA; the shadows start with it, from the same weights, and step with it."""

        def __init__(self, model, decay):
            super().__init__(model, decay)
            shadows.attach(self, model)

        def update(self, model):
            super().update(model)
            shadows.update(model)

    own_evaluate = training.evaluate_epoch

    def evaluate_epoch(epoch, mean_loss, train_seconds, scored, dev, ema):
        result = own_evaluate(epoch, mean_loss, train_seconds, scored, dev, ema)
        shadows.score(scored, result[1]["micro"]["f1"])
        print(f"epoch {epoch}: " + ", ".join(f"{d:g}: {c[-1]:.2f}" for d, c in shadows.curves.items()), flush=True)
        return result

    training.WeightEMA = RunAverage
    training.evaluate_epoch = evaluate_epoch
    cfg = training.TrainConfig(seed=args.seed, max_minutes=args.max_minutes)
    metrics = training.train(cfg, schema, train_docs, dev_docs, args.out, progress=False)
    summary = {str(d): {"curve": c, "best": max(c), "best_epoch": 1 + c.index(max(c))}
               for d, c in shadows.curves.items()}
    for decay, row in summary.items():
        print(f"decay {decay}: best {row['best']:.2f} at epoch {row['best_epoch']}  curve {row['curve']}")
    if args.json:
        args.json.write_text(json.dumps({"seed": args.seed, "epochs": len(metrics["history"]), "decays": summary},
                                        indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
