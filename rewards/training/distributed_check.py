"""Multi-process smoke check: train a tiny model a few steps in every process and compare the results.

    torchrun --nproc_per_node 2 -m rewards.training.distributed_check --out result.json     # 2 CPU processes, gloo
    accelerate launch --num_processes 8 -m rewards.training.distributed_check --out result.json   # 8 GPUs, nccl

(On CPU, `accelerate launch --cpu --num_processes N` goes through mpirun; torchrun needs no MPI and accelerate
picks its environment up the same way.)

Every process calls the same `train(...)`; DDP all-reduces the gradients, so after training every process must
hold identical weights. Each process writes `<out>.rank<k>.json` (world size, steps, loss, a checksum of its
weights, the batches it trained on); the main process then merges them into `<out>`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from .config import TrainingConfig
from .synthetic import keyword_examples, make_tiny_model


def weights_checksum(model: object) -> str:
    import torch

    digest = hashlib.sha256()
    state = model.state_dict()  # type: ignore[attr-defined]
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--base-model", help="default: a tiny random BERT built next to --out")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    import accelerate
    import torch
    from accelerate import PartialState

    torch.set_num_threads(args.threads)
    # cpu=True is what makes accelerate start a gloo process group from torchrun's environment on CPU.
    state = PartialState(cpu=not torch.cuda.is_available())
    base = args.base_model
    if base is None:
        base = str(args.out.parent / "tiny-base")
        if state.is_main_process:  # transformers writes checkpoints from the main process only
            make_tiny_model(base, seed=0)
        state.wait_for_everyone()
    # Instrument the trainer (this is a check tool): record which batches each process trained on, and grab
    # the trained model that train() hands to evaluation.
    from . import trainer

    captured: dict[str, object] = {}
    original = trainer._StepPlan.epoch

    def recording_epoch(self: trainer._StepPlan, epoch: int) -> list[list[list[int]]]:
        steps = original(self, epoch)
        captured.setdefault("batches", [sorted(i for micro in step for i in micro) for step in steps])
        return steps

    trainer._StepPlan.epoch = recording_epoch  # type: ignore[method-assign]
    evaluate = trainer._evaluate

    def capturing_evaluate(accelerator: object, model: object, *rest: object) -> object:
        captured["model"] = model  # the unwrapped, trained reward model of this process
        return evaluate(accelerator, model, *rest)  # type: ignore[arg-type]

    trainer._evaluate = capturing_evaluate  # type: ignore[assignment]
    config = TrainingConfig(
        base_model=base,
        learning_rate=1e-3,
        batch_size=4,
        max_length=64,
        max_steps=args.steps,
        seed=7,
        bootstrap_samples=50,
    )
    examples = keyword_examples(64, seed=1)
    result = trainer.train(config, examples[:48], examples[48:])
    record = {
        "rank": state.process_index,
        "world_size": state.num_processes,
        "backend": str(getattr(state, "backend", None)),
        "steps": result.steps,
        "train_loss": result.train_loss,
        "eval_accuracy": None if result.metrics is None else result.metrics.accuracy.value,  # type: ignore[union-attr]
        "weights": weights_checksum(captured["model"]),
        "batches": captured.get("batches"),
        "accelerate": accelerate.__version__,
    }
    part = args.out.with_name(f"{args.out.name}.rank{state.process_index}.json")
    part.write_text(json.dumps(record))
    state.wait_for_everyone()
    if state.is_main_process:
        parts = [
            json.loads(args.out.with_name(f"{args.out.name}.rank{k}.json").read_text())
            for k in range(state.num_processes)
        ]
        args.out.write_text(json.dumps({"ranks": parts}, indent=2))


if __name__ == "__main__":
    main()
