"""Chat and instruction tuning: conversations -> a causal LM adapter trained on the assistant replies only.

Data shapes (detected, or set with `chat.shape`): messages, ShareGPT, Alpaca, prompt/response columns, plain text;
see `format.py`. The prompt format is the model's own chat template when its tokenizer has one, else a built-in
one (`chat.template`). Evaluation: held-out loss and perplexity, plus ROUGE-L and BLEU of greedy answers to a
sample of validation prompts, for the finetuned model and for the base model (adapter disabled).

format.py     shapes -> conversations, templates, loss masks, packing, the collator
reading.py    conversations of an upload, the Data tab's statistics, splits
model.py      the causal LM, encoded conversations, batches
metrics.py    loss / perplexity / ROUGE-L / BLEU beside the base model, the CLI and Evaluate tab views
generate.py   greedy or sampled replies with stop strings (also the Chat tab's streaming)
predict.py    a reply per text or per row of a file
analysis.py   the validation answers with the lowest ROUGE-L beside their references (tuner.analysis)
"""

from __future__ import annotations

from ..base import Task
from ..registry import register
from .analysis import ChatAnalysis
from .metrics import ChatMetrics
from .model import ChatModel
from .predict import ChatPredict
from .reading import ChatReading


class ChatTask(ChatReading, ChatModel, ChatMetrics, ChatPredict, ChatAnalysis, Task):
    name = "chat"
    title = "Chat assistant"
    title_zh = "对话助手"
    peft_task_type = "CAUSAL_LM"
    auto_class = "AutoModelForCausalLM"
    hub_tag = "text-generation"
    label_head = False             # the LM head stays as it is
    generative = True
    compares_with_base = True      # the report and the Chat tab answer with the adapter disabled too
    demo = "chat"                  # the Chat tab is this task's demo
    settings_fields = ("chat.shape", "chat.template", "chat.system_prompt", "chat.packing", "chat.eval_samples",
                       "chat.max_new_tokens")
    column_roles = {"text_columns": "Prompt column(s)", "label_column": "Answer column"}
    count_word = "conversation lengths"
    selection_metric = "loss"      # Trainer reads eval_loss; a name ending in "loss" means lower is better
    headline_metric = "rouge_l"    # what the verdict compares (tuner/verdict.py)
    floors = ("baseline",)         # report key of what the model must beat
    translations = {"Chat assistant — settings": "对话助手 — 设置", "Prompt column(s)": "提示列", "Answer column": "回答列"}


TASK = register(ChatTask())
