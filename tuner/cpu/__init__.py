"""How Tuner is made fast on a CPU; the domain (config, data, runs, jobs, train, inference) never needs to read
this subpackage to understand a run.

- `threads`: the demo's model work on one long-lived compute thread, so one OpenMP team serves every request.
- `malloc`: glibc malloc thresholds that keep freed memory for the next training step or prediction batch.
- `lora_fused`: a plain LoRA layer's forward as one fused addmm.
- `cls_layer`: the last encoder layer of a [CLS] classifier computed for the first position only.
- `throughput`: tokens/s, FLOPs per token and model-FLOPs utilisation (MFU), shown live on the Train page.

Each module is imported where it is used (`from tuner.cpu import malloc`); importing the subpackage loads none of
them.
"""
