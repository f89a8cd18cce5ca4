"""How Tuner is made fast on a CPU; the domain (config, data, runs, jobs, train, inference) never needs to read
this subpackage to understand a run.

- `isa`: what the CPU computes natively (AMX, AVX512-BF16, AVX2; ISA caps in the environment count): precision
  auto, the prediction format and every bench header ask it.
- `threads`: the demo's model work on one long-lived compute thread, so one OpenMP team serves every request.
- `malloc`: glibc malloc thresholds that keep freed memory for the next training step or prediction batch.
- `lora_fused`: a plain LoRA layer's forward as one fused addmm.
- `cls_layer`: the last encoder layer of a [CLS] classifier computed for the first position only.
- `throughput`: tokens/s, FLOPs per token and model-FLOPs utilisation (MFU, against a matmul probe in the run's own
  precision), shown live on the Train page.
- `int8`: a dynamic-int8 copy of a classifier for a file's rows on CPUs without native bf16.
- `frozen_int8`: on AVX2-only CPUs, the frozen weights' forward and input-gradient products in int8 while an
  encoder trains (training mode only; evaluation, prediction and the saved adapter stay fp32).

Each module is imported where it is used (`from tuner.cpu import malloc`); importing the subpackage loads none of
them.
"""
