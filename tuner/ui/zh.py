"""The Chinese text of the page: English -> Chinese tables that tuner.ui.i18n looks things up in.

- ZH: the page's static text (component labels, help texts, headings, choices), keyed by the English text.
- ERRORS_ZH / ERROR_PATTERNS_ZH: user-facing error sentences, exact ones and patterns with named parts.
- SAY_ZH: generated text (summaries, progress lines, headers, plot titles, toasts), English templates with
  {named} parts, one section per area of the page (`i18n.say`).
- SENTENCE_PATTERNS_ZH: sentences core code writes in English (data warnings, run outcomes) (`i18n.sentence`).

Add a translation here when you add English text to the page; tests/test_zh_everywhere.py names what is missing.
"""

from __future__ import annotations

import re

# ---- page text: English -> Chinese ---------------------------------------------------------------
ZH: dict[str, str] = {
    # tabs and headings
    "1 · Data": "1 · 数据", "2 · Train": "2 · 训练", "3 · Evaluate": "3 · 评估", "4 · Try it": "4 · 试用",
    "Chat": "对话", "Runs": "运行记录", "Export": "导出", "Language": "语言",
    "Tuner — finetuning studio": "Tuner — 微调工作室",
    # common controls
    "Run": "运行", "↻ Refresh": "↻ 刷新", "Refresh": "刷新", "All runs": "全部运行",
    "Resume from newest checkpoint": "从最新检查点继续", "Task": "任务",
    "Finished runs (completed or stopped) with a saved adapter.": "已结束（完成或停止）且保存了适配器的运行。",
    # data tab
    "Training file": "训练文件", "Validation file (optional)": "验证文件（可选）", "Text column(s)": "文本列",
    "Label column": "标签列", "Preview": "预览", "Label counts": "标签计数", "Summary": "摘要",
    # train tab
    "Recipe": "配方", "Model": "模型", "Train": "训练", "Stop": "停止", "Show command": "显示命令",
    "Learning rate": "学习率", "Epochs": "轮数", "Batch size": "批大小", "Max length": "最大长度", "Seed": "随机种子",
    "LoRA rank": "LoRA 秩", "LoRA alpha": "LoRA alpha", "LoRA dropout": "LoRA dropout",
    "Target modules": "目标模块", "Run name": "运行名称", "Progress": "进度", "Loss": "损失",
    "Command line": "命令行", "Config (YAML)": "配置 (YAML)",
    # try it
    "Text": "文本", "Classify": "分类", "Label probabilities": "标签概率",
    "Predict a file (same text columns as training)": "预测文件（文本列与训练时相同）",
    "Predictions CSV": "预测结果 CSV", "Find entities": "查找实体",
    "Entities (type and confidence)": "实体（类型与置信度）", "Entities found": "找到的实体",
    "Entities (JSON Lines)": "实体 (JSON Lines)",
    "Tag a file: CoNLL, JSONL/CSV with a text or tokens column, or one text per line":
        "标注文件：CoNLL、含 text 或 tokens 列的 JSONL/CSV，或每行一段文本",
    "Type a sentence, e.g. 'I was charged twice for order #A10482'": "输入一句话，例如“我的订单 #A10482 被扣了两次款”",
    "Type a sentence, e.g. 'Angela Merkel met Tim Cook in Berlin on Monday.'": "输入一句话，例如“周一默克尔在柏林会见了库克。”",
    # chat
    "Message": "消息", "Send": "发送", "Retry": "重试", "Clear": "清空", "System prompt": "系统提示词",
    "Temperature": "温度", "Top-p": "Top-p", "Max new tokens": "最多生成的 token 数", "Finetuned": "微调后",
    "Base model": "基础模型",
    # runs / compare
    "Compare runs": "比较运行", "Runs to compare": "要比较的运行", "Metric": "指标",
    "Config differences": "配置差异", "Metrics": "指标表", "Metric across runs": "各运行的指标",
    "Compare": "比较",
    "Delete run": "删除运行",
    # export
    "Download adapter (zip)": "下载适配器 (zip)", "Adapter zip": "适配器 zip",
    "Merge into the base model": "合并到基础模型", "Merged model (zip)": "合并后的模型 (zip)",
    "Hub repository (user/name)": "Hub 仓库（用户/名称）", "Hub token (write)": "Hub 令牌（写权限）",
    "What to push": "推送内容", "Push to the Hub": "推送到 Hub", "Private repository": "私有仓库",
    "Publish a demo (Space folder)": "发布演示（Space 文件夹）", "Space folder (zip)": "Space 文件夹 (zip)",
    "Model card": "模型卡片", "Preview model card": "预览模型卡片",
    "adapter": "适配器", "merged model": "合并后的模型", "demo Space": "演示 Space",
    "Used for this push only; never stored or logged.": "仅用于本次推送；不会被保存或记录。",
    # page heading and data tab (as built)
    "## 🎛️ Tuner — finetuning studio\nUpload a dataset, train a LoRA adapter, read an honest evaluation, try the result. "
    "Everything here can be reproduced with `python -m tuner`.":
        "## 🎛️ Tuner — 微调工作室\n上传数据集，训练 LoRA 适配器，查看真实的评估结果，再试用训练好的模型。"
        "页面上的每一步都可以用 `python -m tuner` 复现。",
    "Training data (CSV, TSV, JSON, JSONL, Parquet)": "训练数据（CSV、TSV、JSON、JSONL、Parquet）",
    "Validation data (optional)": "验证数据（可选）",
    "Two or more are joined, e.g. title + body.": "选择两列或以上时会拼接，例如 标题 + 正文。",
    "Preview (first rows)": "预览（前几行）",
    "Rows left out (CSV)": "被略过的行（CSV）",
    # train tab (field labels and the config's help text)
    "Run name (optional)": "运行名称（可选）", "e.g. tickets-r16": "例如 tickets-r16",
    "learning rate": "学习率", "epochs": "轮数", "batch size": "批大小", "max length": "最大长度", "seed": "随机种子",
    "dropout": "dropout", "evals": "评估次数", "max examples": "最多样本数",
    "More settings": "更多设置",
    "early stopping": "提前停止",
    "Estimate time and memory": "估算时间和内存", "Train again": "再训练一次",
    "Models made for this language (one click picks it; downloads need a network)": "适合这种语言的模型（点一下即选用；下载需要网络）",
    "max minutes": "最长分钟数", "max batch size": "最大批大小",
    "LoRA target modules": "LoRA 目标模块",
    "shape": "数据形态", "template": "模板",
    "system prompt": "系统提示词", "packing": "打包", "eval samples": "评估样本数", "max new tokens": "最多生成 token 数",
    "tag scheme": "标注方案", "repair tags": "修复标签", "case feature": "大小写特征",
    "Show command (CLI + YAML for this run)": "显示命令（本次运行的 CLI 与 YAML）", "config.yaml": "config.yaml",
    # evaluate
    "Headline metrics": "主要指标", "Per-label report": "各标签报告",
    "Confusion matrix": "混淆矩阵",
    # chat
    "Chat run": "对话运行", "Finished chat runs (completed or stopped) with a saved adapter.": "已结束（完成或停止）且保存了适配器的对话运行。",
    "Base model (adapter off)": "基础模型（关闭适配器）",
    "Ask what a customer would ask, e.g. 'How do I cancel my order?'": "像顾客那样提问，例如“我怎么取消订单？”",
    "↻ Retry": "↻ 重试", "🗑 Clear": "🗑 清空", "Side by side with the base model": "与基础模型并排对比",
    "The same message is answered with the adapter disabled.": "同一条消息也会由关闭适配器的模型回答。",
    "Empty = the one the run was trained with.": "留空 = 使用训练时的系统提示词。",
    "0 = always the most likely token.": "0 = 总是选概率最高的 token。",
    "Sample from the smallest set of tokens with this total probability.": "从总概率达到该值的最小 token 集合中采样。",
    "Longest answer in tokens.": "回答的最大 token 数。", "Stop strings": "停止字符串",
    "The answer ends where one of these appears (\\n = newline).": "出现其中任意一个时回答结束（\\n = 换行）。",
    "comma-separated, e.g. ###, \\n\\n": "用逗号分隔，例如 ###, \\n\\n",
    "Prompt format (the current upload, as the model will see it)": "提示格式（模型看到的当前上传数据）",
    "Model (for its tokenizer and chat template)": "模型（用于其分词器和对话模板）",
    "tiny:llama, tiny:qwen2 and tiny:gpt2 are built offline; Hub ids need a network.": "tiny:llama、tiny:qwen2 和 tiny:gpt2 可离线构建；Hub ID 需要网络。",
    "Template": "模板", "Example (0 = first)": "示例（0 = 第一个）", "Show formatted example": "显示格式化后的示例",
    "Tokens (highlighted = trained on)": "Token（高亮 = 参与训练）",
    "your-name/ticket-classifier": "你的用户名/ticket-classifier",
    "r": "秩 r", "alpha": "alpha",
    "Training loss": "训练损失", "Validation metrics": "验证指标",
    # PEFT methods, quantization and hardware settings
    "How the model learns: LoRA, the usual choice, trains a small add-on beside the frozen model. Others: adalora, ia3, "
    "loha, lokr, vera, prefix_tuning, prompt_tuning, p_tuning (peft), or full / freeze (baselines that train the model's "
    "own weights).":
        "模型的学习方式：LoRA 是常用选择，在冻结的模型旁训练一个小附加模块。其他：adalora、ia3、loha、lokr、vera、"
        "prefix_tuning、prompt_tuning、p_tuning（peft），或 full / freeze（训练模型自身权重的基线）。",
    "adalora init r": "AdaLoRA 初始秩", "compute dtype": "计算精度", "double quant": "双重量化", "freeze layers": "解冻层数",
    "gpus": "GPU", "loraplus lr ratio": "LoRA+ 学习率倍数", "method": "方法", "num virtual tokens": "虚拟 token 数",
    "processes": "进程数", "quant type": "量化类型", "quantization": "量化", "use dora": "使用 DoRA", "use rslora": "使用 rsLoRA",
    "How the chat data is laid out: auto = detect; messages (role/content lists), sharegpt (from/value lists), alpaca "
    "(instruction/input/output), pairs (prompt and response columns), text (plain text for continued pretraining).":
        "对话数据的组织方式：auto = 自动检测；messages（role/content 列表）、sharegpt（from/value 列表）、alpaca"
        "（instruction/input/output）、pairs（提示与回答两列）、text（用于继续预训练的纯文本）。",
    "Prompt format: auto = the model's own chat template when its tokenizer has one, else chatml; or model, chatml, "
    "llama-3, alpaca, plain.": "提示格式：auto = 分词器自带对话模板时用模型自己的模板，否则用 chatml；也可选 model、chatml、llama-3、alpaca、plain。",
    "System turn added to every conversation that has none, in training and in the Chat tab; empty = none.":
        "在训练和对话页中，为没有系统轮次的对话添加的系统提示；留空 = 不添加。",
    "Pack several short conversations into each max-length row (fewer padding tokens, faster epochs); each still "
    "attends only to itself.": "把多段短对话打包进一个最大长度的行（更少填充、每轮更快）；每段仍只关注自身。",
    "Validation conversations the base and the finetuned model answer after training, scored with ROUGE-L and BLEU; "
    "0 = skip.": "训练后由基础模型和微调模型分别回答的验证对话数，用 ROUGE-L 和 BLEU 打分；0 = 跳过。",
    "Longest generated answer in tokens, for the evaluation and as the Chat tab's default.": "生成回答的最大 token 数，用于评估，也是对话页的默认值。",
    "Chosen labels": "选中的标签",
    # train form: labels of the simple-first layout (tuner/ui/train_tab.py LABELS)
    "What to train (recipe)": "训练什么（配方）", "Model to start from": "起点模型",
    "A ready-made set of settings for one task; the choices below change it. (The recipes are YAML files in recipes/.)":
        "某个任务的一套现成设置；下面的选项可以修改它。（配方是 recipes/ 目录下的 YAML 文件。）",
    "Epochs (passes over the data)": "轮数（读几遍数据）", "Time budget (minutes)": "时间预算（分钟）",
    "Max length (tokens)": "最大长度（token）", "Checks during training": "训练中的检查次数",
    "Early stopping (checks without gain)": "提前停止（无提升的检查次数）", "Max rows read": "最多读取行数",
    "Max batch size": "最大批大小", "LoRA rank (r)": "LoRA 秩 (r)", "Method": "方法", "Quantization": "量化",
    "4-bit format": "4 位格式", "Double quantization": "双重量化", "Compute precision": "计算精度", "GPUs": "GPU",
    "Processes": "进程数", "Steadier at large r (rsLoRA)": "大 r 时更稳定 (rsLoRA)",
    "LoRA+ learning-rate ratio": "LoRA+ 学习率倍数", "AdaLoRA starting rank": "AdaLoRA 初始秩",
    "Virtual tokens": "虚拟 token 数", "Last layers to train": "训练的最后几层", "Advanced: adapter, method, quantization, hardware": "高级：适配器、方法、量化、硬件",
    # train form: plain help texts (tuner/config.py), expert detail after the plain words
    "What the model learns to do: sort texts into labels, find names in text, chat, or tag texts with several labels.":
        "模型要学会做的事：把文本分到标签、找出文本中的名称、对话，或给文本打多个标签。",
    "The pretrained model to start from: 'default' is the small bundled English model (works offline); a local folder or a Hugging Face Hub id (needs a network) also works.":
        "作为起点的预训练模型：“default” 是自带的小型英文模型（可离线使用）；也可以是本地文件夹或 Hugging Face Hub ID（需要网络）。",
    "How much of each text the model reads, in tokens (a token is about ¾ of an English word); longer texts are cut. Shorter = faster.":
        "模型读取每条文本的长度上限，以 token 计（一个 token 约为一个汉字或 ¾ 个英文单词）；更长的文本会被截断。越短越快。",
    "Size of the small add-on the model learns: higher learns more but needs more memory; 8 to 32 suits most data.":
        "模型学习的小附加模块的大小：越大学得越多，但占用内存也越多；大多数数据用 8 到 32 即可。",
    "How strongly the add-on changes the model; usually twice the size (r). (LoRA scales its update by alpha / r.)":
        "附加模块改变模型的力度；通常取大小 (r) 的两倍。（LoRA 按 alpha / r 缩放更新量。）",
    "Randomly hides part of the add-on's input while training, against learning the training rows by heart; 0 is fastest (any value above 0 makes CPU steps about 1.7x slower).":
        "训练时随机遮住附加模块的一部分输入，防止死记训练数据；0 最快（任何大于 0 的值都会让 CPU 上每步慢约 1.7 倍）。",
    "Which layers of the model get the add-on; empty = all the usual ones (every attention and MLP projection found in the model).":
        "模型中哪些层加上附加模块；留空 = 常用的全部层（模型中检测到的所有注意力和 MLP 投影层）。",
    "LoRA: steadier learning when the size (r) is large. (rsLoRA: scales by alpha / sqrt(r) instead of alpha / r.)":
        "LoRA：大小 (r) 较大时学习更稳定。（rsLoRA：按 alpha / sqrt(r) 而不是 alpha / r 缩放。）",
    "LoRA: often better results at small sizes (r), with slower steps. (DoRA: learns each weight's magnitude apart from its direction.)":
        "LoRA：大小 (r) 较小时效果常常更好，但每步更慢。（DoRA：把每个权重的大小与方向分开学习。）",
    "LoRA: learn faster by giving half of the add-on a higher learning rate, this many times higher (16 is typical); 0 = off. (LoRA+: the B matrices' rate.)":
        "LoRA：让附加模块的一半以更高的学习率学习，倍数为该值（常用 16），从而学得更快；0 = 关闭。（LoRA+：B 矩阵的学习率。）",
    "AdaLoRA: the size every layer starts with; training trims it down to r where a layer needs less.":
        "AdaLoRA：每层的初始大小；训练中会在需要较少的层上逐步裁剪到 r。",
    "Prefix / prompt / P-tuning: how many learned extra tokens are put before every input; more = learns more, longer inputs.":
        "Prefix / prompt / P-tuning：放在每个输入前的可学习额外 token 数；越多学得越多，输入也越长。",
    "Freeze: how many of the model's last layers are trained with its new output layer; 0 = only the output layer.":
        "Freeze：与新的输出层一起训练的模型最后几层的层数；0 = 只训练输出层。",
    "How big each learning step is: too high and training jumps around, too low and it learns slowly; the recipe's value is a good start. (Peak rate; LoRA takes about 10x the rate of full finetuning.)":
        "每一步学习的幅度：太高训练会来回跳，太低学得慢；配方里的值是不错的起点。（峰值学习率；LoRA 可承受约为全量微调 10 倍的学习率。）",
    "How many times the model reads all the training rows: more learns more and takes longer (fractions allowed). "
    "Small files get more passes (up to 10) where the recipe sets a minimum number of steps.":
        "模型把全部训练数据读几遍：越多学得越多，也越耗时（可以是小数）。数据很少时，若配方设定了最少步数，会多读几遍（最多 10 遍）。",
    "Stop after the model has read this many rows in total (for large data: sizes the schedule); 0 = no cap.":
        "模型总共读完这么多行后停止（用于大数据集，决定训练计划）；0 = 不限制。",
    "How many rows the model learns from at once: larger is faster per row but needs more memory. (Per optimizer step and device.)":
        "模型一次学习的行数：越大每行越快，但占用内存越多。（每个优化步、每个设备。）",
    "For large data: let the batch grow up to this size to finish sooner (it doubles while 1,000+ steps remain; learning rate x1.41 per doubling); 0 = off.":
        "用于大数据集：让批大小增长到该值以更快结束（仍有 1,000 步以上时成倍增长；每翻一倍学习率乘以 1.41）；0 = 关闭。",
    "The longest the training may take, in minutes: the run measures its own speed and shortens itself to finish in time; 0 = no limit.":
        "训练最多可用的分钟数：训练会自行测速并缩短计划，在时限内结束；0 = 不限制。",
    "Stop early once the score on held-out rows has not improved for this many checks in a row (never before every training row was read once); the best model is kept. 0 = train the whole schedule.":
        "在留出数据上的分数连续这么多次检查没有提升时提前停止（至少先完整读一遍训练数据）；保留最好的模型。0 = 训练完整个计划。",
    "How many times the model is checked on held-out rows while it trains (plus once at the end).":
        "训练期间在留出数据上检查模型的次数（结束时另有一次）。",
    "Store the model in 8 or 4 bits to save memory, for large models on a GPU; none = as it is. (bitsandbytes LLM.int8 / QLoRA on the frozen base weights; adapter methods only.)":
        "以 8 位或 4 位存放模型以节省内存，适合在 GPU 上训练大模型；none = 保持原样。（通过 bitsandbytes 对冻结的基础权重做 LLM.int8 / QLoRA；仅适用于适配器方法。）",
    "4-bit: the number format; nf4 suits model weights best, fp4 is the alternative.":
        "4 位：数值格式；nf4 最适合模型权重，fp4 是另一种选择。",
    "4-bit: also compress the compression constants, saving a little more memory (~0.4 bit per weight).":
        "4 位：连压缩常数也一起压缩，再省一点内存（每个权重约省 0.4 位）。",
    "4-bit: the number format the maths runs in; auto = bf16 where the hardware is fast at it, else fp32.":
        "4 位：计算使用的数值格式；auto = 硬件擅长时用 bf16，否则用 fp32。",
    "Which GPUs to train on: all, none (train on the CPU) or a list of GPU numbers such as 0,1; one process per GPU (data parallel).":
        "用哪些 GPU 训练：all（全部）、none（用 CPU 训练）或 GPU 编号列表如 0,1；每个 GPU 一个进程（数据并行）。",
    "How many training processes share the work; 0 = one per chosen GPU (1 on the CPU). (N > 1 on the CPU = data parallel over gloo.)":
        "多少个训练进程分担工作；0 = 每个选中的 GPU 一个（CPU 上为 1 个）。（CPU 上 N > 1 = 通过 gloo 数据并行。）",
    "A number that fixes the random choices (which rows are held out, the starting weights, the order): the same seed gives the same run.":
        "固定随机选择的数字（留出哪些行、初始权重、数据顺序）：相同的种子得到相同的训练。",
    "How the tags in your file are written; auto = detect it (BIO, IOB1, BIOES/BILOU or IO; every scheme is trained as BIO).":
        "文件中标签的写法；auto = 自动检测（BIO、IOB1、BIOES/BILOU 或 IO；所有方案都按 BIO 训练）。",
    "Fix tags that break the scheme (an I-ORG right after O becomes B-ORG); off = keep them and report how many.":
        "修正违反方案的标签（紧跟在 O 之后的 I-ORG 改为 B-ORG）；关闭 = 保留并报告数量。",
    "Tell the model which words start with a capital letter, a strong clue for names; models that ignore case, such as the default, need it. (Through the token-type input.)":
        "告诉模型哪些词以大写字母开头，这是识别名称的重要线索；默认模型这类不区分大小写的模型需要它。（通过 token 类型输入。）",
}


def _add_task_text() -> None:
    """Each task's own page text (`Task.translations`, its title) joins the table: a task folder brings its words."""
    from ..tasks import tasks

    for task in tasks():
        ZH.update(task.translations)
        if task.title_zh:
            ZH.setdefault(task.title, task.title_zh)


_add_task_text()

# ---- error sentences: exact ones, then patterns with named parts ----------------------------------
ERRORS_ZH: dict[str, str] = {
    "Pick a row first: click it in the table, or type its number in Row.":
        "请先选择一行：在表格中点击它，或在“行号”中输入它的编号。",
    "This run has nothing to train again for.": "这次运行没有需要再训练的地方。",
    "Something went wrong on the server; the details are in the log. Please try again.":
        "服务器出错了；详细信息已写入日志，请重试。",
    "Cannot reach the Hugging Face Hub from this machine (no network); download the zip and upload it yourself.":
        "本机无法连接 Hugging Face Hub（没有网络）；请下载 zip 后自行上传。",
    "Give the Hub repository as 'user-or-org/name' (letters, digits, '-', '_' or '.').":
        "请以“用户或组织/名称”的形式填写 Hub 仓库（字母、数字、“-”“_”或“.”）。",
    "Pushing to the Hub needs a write token; paste one from huggingface.co/settings/tokens or set HF_TOKEN.":
        "推送到 Hub 需要写权限令牌；请从 huggingface.co/settings/tokens 复制一个，或设置 HF_TOKEN。",
    "There is nothing to push yet; prepare the export first.": "还没有可推送的内容；请先准备导出。",
    "No run is selected.": "没有选中运行。",
    "Nothing to retry yet; send a message first.": "还没有可重试的内容；请先发送一条消息。",
    "Pick a finished chat run first.": "请先选择一个已结束的对话运行。",
    "Pick a finished run first.": "请先选择一个已结束的运行。",
    "Pick a run from the list first.": "请先从列表中选择一个运行。",
    "Pick a run to resume.": "请选择要继续的运行。",
    "Pick at least two runs to compare.": "请至少选择两个运行进行比较。",
    "That run id is not valid; pick a run from the list.": "运行 ID 无效；请从列表中选择运行。",
    "The model is busy answering another message; try again in a moment.": "模型正在回答另一条消息；请稍后再试。",
    "This run has no evaluation report yet.": "该运行还没有评估报告。",
    "Type a message first.": "请先输入一条消息。",
    "Type some text to classify.": "请输入要分类的文本。",
    "Type some text to find its entities.": "请输入要查找实体的文本。",
    "Upload a chat dataset on the Data tab first.": "请先在“数据”页上传对话数据集。",
    "Upload a training file on the Data tab first (or keep the bundled sample).": "请先在“数据”页上传训练文件（或保留自带的示例）。",
    "The uploaded file could not be opened; upload it again.": "无法打开上传的文件；请重新上传。",
    "Could not read the file as CSV/TSV; save it as UTF-8 comma- or tab-separated text.":
        "无法按 CSV/TSV 读取该文件；请另存为 UTF-8 编码的逗号或制表符分隔文本。",
    "The file has a header but 0 usable rows; add data rows below the header.": "文件只有表头，没有可用的行；请在表头下添加数据行。",
    "The file has no columns; it needs at least a text column and a label column.": "文件没有列；至少需要一个文本列和一个标签列。",
    "The file is empty (0 usable rows); upload a file with a header and at least a few rows.": "文件是空的（0 行可用）；请上传带表头且至少有几行数据的文件。",
    "The file has no rows (0 usable rows); upload a file with a header and at least a few rows.": "文件没有数据行（0 行可用）；请上传带表头且至少有几行数据的文件。",
    # a full disk, quotas, deleting runs (tuner/runs.py, tuner/jobs.py, tuner/train.py failure_message)
    "The disk is full (the training process stopped while writing); free space and press Resume to go on "
    "from the newest checkpoint.":
        "磁盘已满（训练进程在写入时停止）；请释放空间后点击“继续”，从最新的检查点接着训练。",
    "The disk is full (the run could not write its checkpoint, adapter or log); free space and press Resume "
    "to go on from the newest complete checkpoint (the earlier ones are kept).":
        "磁盘已满（运行无法写入检查点、适配器或日志）；请释放空间后点击“继续”，从最新的完整检查点接着训练（之前的检查点都保留着）。",
    "This run's status file could not be read (damaged, or cut short by a full disk); its files are kept: "
    "delete the run, or press Refresh once the disk has space again.":
        "无法读取该运行的状态文件（已损坏，或因磁盘已满而写了一半）；其文件都保留着：请删除该运行，或在磁盘有空间后点击“刷新”。",
    "The disk is full, so the run could not be created; delete runs you no longer need on the Runs tab or "
    "with `python -m tuner delete <run>`, then try again.":
        "磁盘已满，无法创建运行；请在“运行记录”页或用 `python -m tuner delete <run>` 删除不再需要的运行，然后重试。",
    "The disk is full, so the run could not be queued; delete runs you no longer need on the Runs tab or "
    "with `python -m tuner delete <run>`, then try again.":
        "磁盘已满，无法将运行加入队列；请在“运行记录”页或用 `python -m tuner delete <run>` 删除不再需要的运行，然后重试。",
    "The run's folder could not be written (a write error); check the disk and its permissions, then try "
    "again.":
        "无法写入该运行的文件夹（写入错误）；请检查磁盘及其权限，然后重试。",
    "The run's folder could not be written (a write error); check the disk and its permissions, then press "
    "Resume.":
        "无法写入该运行的文件夹（写入错误）；请检查磁盘及其权限，然后点击“继续”。",
    "The training process was killed (out of memory, or stopped by the system); resume it from the newest "
    "checkpoint, with a smaller batch size or max length if memory was short.":
        "训练进程被终止了（内存不足，或被系统停止）；请从最新的检查点继续，如果内存不够，请调小批大小或最大长度。",
    "The training process stopped unexpectedly; resume it from the newest checkpoint.":
        "训练进程意外停止；请从最新的检查点继续。",
    "Pick a run to delete.":
        "请选择要删除的运行。",
    "Demo mode shows only the chosen runs; training is switched off here.": "演示模式只展示选定的运行；此处已关闭训练。",
    # login, private-by-default browsers, per-session uploads (tuner/auth.py, tuner/ui/common.py)
    "Log in first; runs belong to the person who started them.": "请先登录；运行只属于启动它的人。",
    "This browser sent no Tuner cookie; allow cookies for this site and reload the page.":
        "此浏览器没有发送 Tuner 的 Cookie；请允许本站使用 Cookie 后重新加载页面。",
    "This upload belongs to another session; upload the file again.": "该上传属于另一个会话；请重新上传文件。",
}

ERROR_PATTERNS_ZH: list[tuple[str, str]] = [
    (r"Evaluation failed \((?P<kind>\w+)\); the adapter was saved and can still be used\.",
     "评估失败（{kind}）；适配器已保存，仍可使用。"),
    (r"Run (?P<run>\S+) does not exist; pick a run from the list\.", "运行 {run} 不存在；请从列表中选择运行。"),
    (r"Run (?P<run>\S+) has no saved adapter yet; pick a finished run\.", "运行 {run} 还没有保存适配器；请选择已结束的运行。"),
    (r"Run (?P<run>\S+) has no finished adapter to export; pick a completed or stopped run\.",
     "运行 {run} 没有可导出的适配器；请选择已完成或已停止的运行。"),
    (r"Run (?P<run>\S+) failed, so its adapter is not offered; pick a finished run\.", "运行 {run} 失败了，其适配器不可用；请选择已结束的运行。"),
    (r"Run (?P<run>\S+) is already training or queued\.", "运行 {run} 已在训练或排队中。"),
    (r"You already have (?P<n>\S+) runs queued or training, the limit per user "
     r"\(TUNER_MAX_QUEUED_RUNS=(?P<limit>\S+)\); wait for one to finish, or stop one on the Train tab or with "
     r"`python -m tuner stop <run>`, then start again\.",
     "你已有 {n} 个运行在排队或训练中，达到每位用户的上限（TUNER_MAX_QUEUED_RUNS={limit}）；请等其中一个结束，或在“训练”页或用 `python -m tuner stop <run>` 停止一个，然后再开始。"),
    (r"Your runs store (?P<used>.+?) and this one needs (?P<adding>.+?) more, over the "
     r"(?P<limit>.+?) each user may store \(TUNER_MAX_USER_GB\); delete runs you no longer need on "
     r"the Runs tab or with `python -m tuner delete <run>`, then try again\.",
     "你的运行已占用 {used}，这个运行还需要 {adding}，超过了每位用户可存储的 {limit}（TUNER_MAX_USER_GB）；请在“运行记录”页或用 `python -m tuner delete <run>` 删除不再需要的运行，然后重试。"),
    (r"Your runs store (?P<used>[^,]+?), the (?P<limit>.+?) each user may store "
     r"\(TUNER_MAX_USER_GB\); delete runs you no longer need on the Runs tab or with `python -m tuner delete "
     r"<run>`, then try again\.",
     "你的运行已占用 {used}，达到每位用户可存储的 {limit}（TUNER_MAX_USER_GB）；请在“运行记录”页或用 `python -m tuner delete <run>` 删除不再需要的运行，然后重试。"),
    (r"Your runs store (?P<used>[\d.]+ [KMG]B) of the (?P<limit>[\d.]+ [KMG]B) each user may store; delete "
     r"runs you no longer need to free space\.",
     "你的运行占用了每位用户可存储的 {limit} 中的 {used}；删除不再需要的运行即可释放空间。"),
    (r"The newest (?P<shown>[\d,]+) of (?P<total>[\d,]+) runs are shown; type an older run's id in Run to pick "
     r"it\.",
     "显示了 {total} 个运行中最新的 {shown} 个；要选择更早的运行，请在“运行”中输入其 ID。"),
    (r"The training process stopped unexpectedly \(code (?P<code>-?\d+)\); resume it from the newest "
     r"checkpoint\.",
     "训练进程意外停止（代码 {code}）；请从最新的检查点继续。"),
    (r"Run (?P<run>\S+) is training or queued; stop it first, then delete it\.",
     "运行 {run} 正在训练或排队；请先停止它，再删除。"),
    (r"Run (?P<run>\S+) is (?P<state>\w+); stop it first, then delete it\.",
     "运行 {run} 的状态是 {state}；请先停止它，再删除。"),
    (r"Deleted run (?P<run>\S+) \((?P<size>[\d.]+ [KMG]B) freed\)\.",
     "已删除运行 {run}（释放了 {size}）。"),
    (r"Run (?P<run>\S+) could not be deleted completely; check the folder's permissions\.",
     "运行 {run} 未能完全删除；请检查该文件夹的权限。"),
    (r"'(?P<name>[^']*)' is not a run of the runs folder \(TUNER_RUNS_DIR\); give a run id from the list\.",
     "“{name}”不是运行文件夹（TUNER_RUNS_DIR）中的运行；请给出列表中的运行 ID。"),
    (r"Run (?P<run>\S+) is not training \(it is (?P<state>\w+)\)\.", "运行 {run} 没有在训练（当前状态：{state}）。"),
    (r"Run (?P<run>\S+) is (?P<state>\w+); only interrupted, stopped or failed runs can be resumed\.",
     "运行 {run} 的状态是 {state}；只有中断、停止或失败的运行可以继续。"),
    (r"Run (?P<run>\S+) is not a chat run; (try it|use the Try it tab) (in the Try it tab|for it)\.",
     "运行 {run} 不是对话运行；请在“试用”页中试用。"),
    (r"Run (?P<run>\S+) is (?P<what>.+) \((?P<title>[^)]+)\); use the demo for that task\.",
     "运行 {run} 是{what}（{title}）；请使用该任务对应的演示。"),
    (r"The Hub refused the token for '(?P<repo>[^']+)'; use a token with write access to that namespace\.",
     "Hub 拒绝了用于“{repo}”的令牌；请使用对该命名空间有写权限的令牌。"),
    (r"The Hub did not accept the upload to '(?P<repo>[^']+)' \((?P<why>\w+)\); check the name and try again\.",
     "Hub 没有接受上传到“{repo}”的内容（{why}）；请检查名称后重试。"),
    (r"Fix the training data on the Data tab first: (?P<why>.*)", "请先在数据页修正训练数据：{why}"),
    (r"Row (?P<row>\d+) of the (?P<src>.+?): the label \('(?P<col>.*)'\) is empty; fill it in or delete the row\.",
     "{src}第 {row} 行：标签（“{col}”）为空；请填写或删除该行。"),
    (r"Row (?P<row>\d+) of the (?P<src>.+?): the text \((?P<col>.*)\) is empty; fill it in or delete the row\.",
     "{src}第 {row} 行：文本（{col}）为空；请填写或删除该行。"),
    (r"The file is (?P<size>[\d.]+) MB, over the (?P<limit>\d+) MB upload limit; upload a smaller sample\.",
     "文件大小为 {size} MB，超过了 {limit} MB 的上传上限；请上传更小的样本。"),
    (r"The file has no column '(?P<col>[^']*)'; it needs the same text column\(s\) as the training data\.",
     "文件中没有列“{col}”；它需要与训练数据相同的文本列。"),
    (r"The (?P<src>.+?) has no column '(?P<col>[^']*)'; its columns are: (?P<cols>.*)\.", "{src}中没有列“{col}”；现有的列：{cols}。"),
    (r"Every row has the label '(?P<label>.*)'; a classifier needs at least two different labels\.",
     "每一行的标签都是“{label}”；分类器至少需要两个不同的标签。"),
    (r"The (?P<name>.+) must be a number between (?P<lo>\S+) and (?P<hi>\S+)\.", "{name} 必须是介于 {lo} 和 {hi} 之间的数。"),
    (r"The (?P<name>.+) must be a whole number between (?P<lo>\S+) and (?P<hi>\S+)\.", "{name} 必须是介于 {lo} 和 {hi} 之间的整数。"),
    (r"The (?P<name>.+) must be between (?P<lo>\S+) and (?P<hi>\S+), got (?P<got>\S+)\.", "{name} 必须介于 {lo} 和 {hi} 之间，当前为 {got}。"),
    (r"Unknown recipe '(?P<recipe>[^']*)'; choose one from the list\.", "未知的配方“{recipe}”；请从列表中选择。"),
    (r"The recipe '(?P<recipe>[^']*)' is for “(?P<a>[^”]*)”, but the Data tab's task is “(?P<b>[^”]*)”; pick a recipe "
     r"for “(?P=b)”\.", "配方“{recipe}”用于“{a}”，但数据页的任务是“{b}”；请选一个用于“{b}”的配方。"),
    (r"The folder '(?P<name>[^']*)' is not empty; choose a new folder for the (?P<what>.+)\.", "文件夹“{name}”不是空的；请为{what}选择一个新文件夹。"),
    (r"Could not load '(?P<name>[^']*)' from the Hugging Face Hub \(no network here, or the id is wrong\); use the bundled default model or a local folder\.",
     "无法从 Hugging Face Hub 加载“{name}”（此处没有网络，或 ID 有误）；请使用自带的默认模型或本地文件夹。"),
    (r"Row (?P<row>\S+) of the evaluation file has label '(?P<label>[^']*)', which the model was not trained on; its labels are: (?P<labels>.*)\.",
     "评估文件第 {row} 行的标签“{label}”不在模型训练过的标签中；模型的标签为：{labels}。"),
    (r"'adapter\.target_modules' has '(?P<name>[^']*)', which this model does not have; choose from: (?P<known>.*)\.",
     "“adapter.target_modules”中的“{name}”在该模型中不存在；可选：{known}。"),
    (r"'(?P<path>[^']*)' is empty; enter a value\.", "“{path}”为空；请填写一个值。"),
    (r"Give at most 4 stop strings \(got (?P<n>\S+)\)\.", "最多给出 4 个停止字符串（当前 {n} 个）。"),
    (r"Run (?P<run>\S+)'s adapter folder lacks (?P<file>\S+); train the run again\.", "运行 {run} 的适配器文件夹缺少 {file}；请重新训练该运行。"),
    (r"The file has (?P<n>\S+) rows; prediction takes at most (?P<max>\S+) per file\.", "文件有 {n} 行；每个文件最多预测 {max} 行。"),
    (r"The message is about (?P<n>\S+) tokens with the system prompt; the limit is (?P<limit>\S+) tokens \(context "
     r"(?P<ctx>\S+) minus (?P<ans>\S+) for the answer\); shorten it\.",
     "加上系统提示词，这条消息约有 {n} 个 token；上限为 {limit} 个（上下文 {ctx} 减去留给回答的 {ans}）；请缩短消息。"),
    (r"The (?P<what>.+?) '(?P<name>[^']*)' does not exist; upload it again\.", "{what}“{name}”不存在；请重新上传。"),
    (r"Unknown metric '(?P<metric>[^']*)'; choose one of: (?P<known>.*)\.", "未知的指标“{metric}”；可选：{known}。"),
    (r"A (?P<method>.+) run has virtual tokens, not weights, so it cannot be merged into the base model; download the adapter zip instead\.",
     "{method} 运行使用虚拟 token 而不是权重，无法合并进基础模型；请改为下载适配器压缩包。"),
    (r"peft could not merge this (?P<method>\S+) adapter into the base model \((?P<why>\w+)\); download the adapter zip instead\.",
     "peft 无法把这个 {method} 适配器合并进基础模型（{why}）；请改为下载适配器压缩包。"),
    (r"'train\.processes' is (?P<n>\d+), but this machine has (?P<most>\d+) (?P<what>CPU cores?|GPUs?); choose at most (?P=most)\.",
     "“train.processes”为 {n}，但本机只有 {most} 个{what}；请最多选择 {most}。"),
    (r"The files? (is|are) (?P<size>[\d.]+ [MG]B)( together)?; reading (it|them) needs about (?P<need>[\d.]+ [MG]B) of memory "
     r"and this machine has (?P<free>[\d.]+ [MG]B) free; upload a sample of at most about (?P<fit>[\d,]+) of its "
     r"(?P<rows>[\d,]+) rows, or free some memory\.",
     "数据文件共 {size}；读取大约需要 {need} 内存，而这台机器只有 {free} 可用；请上传不超过约 {fit} 行的样本（共 {rows} 行），或释放一些内存。"),
    (r"The files? (is|are) (?P<size>[\d.]+ [MG]B)( together)?; reading (it|them) needs about (?P<need>[\d.]+ [MG]B) of memory "
     r"and this machine has (?P<free>[\d.]+ [MG]B) free; free some memory \(stop other runs or programs\) or train on a "
     r"machine with more\.",
     "数据文件共 {size}；读取大约需要 {need} 内存，而这台机器只有 {free} 可用；请释放一些内存（停止其他运行或程序），或换一台内存更大的机器训练。"),
]
_COMPILED = [(re.compile(p + r"\Z"), t) for p, t in ERROR_PATTERNS_ZH]
_PARTS_ZH = {"CPU core": "CPU 核心", "CPU cores": "CPU 核心", "GPU": "GPU", "GPUs": "GPU", "training file": "训练文件", "validation file": "验证文件", "evaluation file": "评估文件",
             "merged model": "合并后的模型", "Space": "Space", "train file": "训练文件"}


# ---- generated text: English templates with {named} parts -> Chinese templates ---------------------
# Text a handler builds (summaries, progress lines, table headers, plot titles, toasts) goes through `say`:
# `say("Finished {n} steps in {secs} s.", lang, n=16, secs=441)`. The English template is the key; its parts
# are filled in after translation, so numbers and names stay as they are. One section per area of the page.
SAY_ZH: dict[str, str] = {}
# -- progress and phases (train tab, CLI) --
SAY_ZH.update({
    "idle": "空闲", "checking": "检查中", "queued": "排队中", "running": "运行中", "stopping": "正在停止",
    "completed": "已完成", "stopped": "已停止", "failed": "失败", "interrupted": "已中断", "created": "已创建",
    "step {step}/{total}": "第 {step}/{total} 步", "elapsed {time}": "已用时 {time}", "ETA {time}": "预计剩余 {time}",
    "{n} tokens/s": "每秒 {n} 个词元", "MFU {pct}": "算力利用率 {pct}",
    "Checking the settings…": "正在检查设置…",
    "Waiting for a free training slot: position {position} in the queue.": "正在等待空闲的训练位置：队列中第 {position} 位。",
    "Starting the training process (loading Python and the libraries)…": "正在启动训练进程（加载 Python 和依赖库）…",
    "Reading the data…": "正在读取数据…",
    "Tokenizing {rows} training rows…": "正在对 {rows} 行训练数据分词…",
    "Tokenizing {rows} of {total_rows} training rows (all the run can use)…":
        "正在对 {total_rows} 行训练数据中的 {rows} 行分词（本次运行能用到的全部行）…",
    "Tokenized {done_rows} rows ({tokens} tokens) so far…": "已分词 {done_rows} 行（{tokens} 个词元）…",
    "Tokenized {tokens} tokens so far…": "已分词 {tokens} 个词元…",
    "Fitting the classical baseline (TF-IDF + linear model)…": "正在拟合经典基线（词频加权 + 线性模型）…",
    "Loading the model {model}…": "正在加载模型 {model}…",
    "Training…": "正在训练…",
    "Scoring the validation rows at step {step}…": "正在第 {step} 步评估验证数据…",
    "Saving the adapter…": "正在保存适配器…",
    "Scoring the validation rows…": "正在评估验证数据…",
    "Finished {steps} steps in {time}.": "完成 {steps} 步，用时 {time}。",
    "Finished {steps} steps in {time} of {planned} planned (early stopping: the validation score stopped improving).":
        "完成 {steps} 步（计划 {planned} 步），用时 {time}（提前停止：验证分数不再提高）。",
    "Stopped by request at step {steps} after {time}; the adapter was saved.": "已按要求在第 {steps} 步停止（用时 {time}）；适配器已保存。",
    "Stopped before the first training step; there was nothing to save.": "在第一个训练步之前停止；没有可保存的内容。",
    "Stopped while scoring the validation rows; the adapter was saved, without an evaluation report.":
        "在评估验证数据时停止；适配器已保存，但没有评估报告。",
    "Removed from the queue before it started.": "在开始之前已从队列中移除。",
    "Stopping — the adapter will be saved.": "正在停止——适配器将被保存。",
    "Stopping — no training step has run yet, so there is nothing to save.": "正在停止——尚未运行任何训练步，没有可保存的内容。",
})
# -- train form: plain words, advanced settings --
SAY_ZH.update({
    "This is a tiny test model: its answers are gibberish by design; train on a real model for useful answers.":
        "这是一个很小的测试模型：它的回答本来就是乱码；要得到有用的回答，请用真正的模型训练。",
})
# -- plots, charts and tables --
SAY_ZH.update({
    "Rows per label": "每个标签的行数",
    "Rows per label: the {top} largest of {n} labels": "每个标签的行数：{n} 个标签中最多的 {top} 个",
    "others ({k} labels)": "其他（{k} 个标签）",
    "{metric} per run": "各运行的 {metric}",
    "Training loss": "训练损失", "Validation metrics": "验证指标", "validation loss": "验证损失",
    "step": "步数", "loss": "损失", "value": "数值", "predicted": "预测", "true": "真实",
    "Confusion matrix (validation)": "混淆矩阵（验证集）",
    "The {n} most-confused of {total} labels (validation)": "{total} 个标签中最易混淆的 {n} 个（验证集）",
})
# -- data, evaluate, runs, export tabs and toasts --
SAY_ZH.update({
    # evaluate tab: a run without scores
    "This run has no scores: its evaluation failed.": "该运行没有评估分数：评估失败了。",
    "This run has no scores: it ended before its evaluation. Its adapter can still be tried (4 · Try it) and exported.":
        "该运行没有评估分数：它在评估之前就结束了。它的适配器仍可试用（4 · 试用）和导出。",
    # data tab summary and length table
    "**{rows} rows** · format {fmt} · {shape} · {n} {what}": "**{rows} 行** · 格式 {fmt} · {shape} · {n} {what}",
    "labels": "个标签", "entity types": "种实体类型", "conversation lengths": "种对话长度",
    "Validation: separate file, {rows} rows": "验证集：单独的文件，{rows} 行",
    "Validation: {share} of these rows is held out": "验证集：从这些行中{share}留出",
    "a stratified 10%": "按标签分层随机抽取 10%", "a random 10%": "随机抽取 10%",
    "length": "长度", "min": "最小", "median": "中位数", "95th pct": "95 分位", "max": "最大",
    "characters": "字符数", "tokens (approx.)": "token 数（约）",
    "Upload a training file to begin.": "请先上传训练文件。",
    "The file could not be read; check that it is a CSV, TSV, JSON, JSONL or Parquet table.":
        "无法读取该文件；请确认它是 CSV、TSV、JSON、JSONL 或 Parquet 表格。",
    # train tab: parameters line, toasts
    "Trainable {trainable} of {total} parameters ({pct}%)": "可训练参数 {trainable} / {total}（{pct}%）",
    "method {method}": "方法 {method}", "adapter {mb} MB on disk": "适配器占磁盘 {mb} MB",
    "batch {batch} x accumulation {accum}": "批大小 {batch} × 梯度累积 {accum}",
    "Training started.": "训练已开始。", "Queued: position {n}.": "已排队：第 {n} 位。",
    "Info": "提示", "Warning": "警告", "Error": "错误",
    # evaluate tab
    "Pick a finished run.": "请选择一个已结束的运行。",
    "**{n} validation examples** · {steps} steps in {secs} s of training · trainable parameters {trainable} of {total} · {precision}.":
        "**{n} 条验证样本** · {steps} 步，训练用时 {secs} 秒 · 可训练参数 {trainable} / {total} · {precision}。",
    " Baseline: {name}.": " 基线：{name}。",
    " The classical baseline ({name}) took {secs} s to fit.": " 传统基线（{name}）拟合用时 {secs} 秒。",
    "metric": "指标", "finetuned": "微调后", "classical baseline": "传统基线", "label": "标签", "precision": "精确率", "recall": "召回率", "support": "样本数", "prompt": "提示",
    "reference": "参考回答", "base": "基础模型", "entity": "实体", "type": "类型", "confidence": "置信度",
    "start": "起点", "end": "终点",
    # try it
    "predicted": "预测", "true": "真实", "Confusion matrix (validation)": "混淆矩阵（验证集）", "Chat": "对话",
    "Conversation {i} of {n} · shape **{shape}** · template **{fmt}** · {tokens} tokens, {trained} of them carry "
    "loss (highlighted).": "第 {i} 段对话（共 {n} 段）· 形态 **{shape}** · 模板 **{fmt}** · {tokens} 个 token，其中 "
                           "{trained} 个计入损失（高亮）。",
    "the model’s own": "模型自带的", "trained (loss)": "参与训练（有损失）",
    "{note} · this run has its own tab ({tab})": "{note} · 这个运行有自己的页面（{tab}）",
    "Predicted {rows} rows ({counts}).": "已预测 {rows} 行（{counts}）。",
    "Tagged {rows} rows ({counts}).": "已标注 {rows} 行（{counts}）。", "no entities": "没有实体",
    # runs tab
    "run": "运行", "name": "名称", "state": "状态", "created": "创建时间", "classical macro_f1": "传统基线 macro_f1",
    "classical accuracy": "传统基线 accuracy", "verdict": "结论", "size": "大小", "message": "消息",
    "setting": "设置", "train_seconds": "训练秒数",
    "Resumed.": "已继续。",
    "Pushed to [{url}]({url}).": "已推送到 [{url}]({url})。",
    "completed": "已完成", "running": "运行中", "queued": "排队中", "stopped": "已停止", "failed": "失败",
    "interrupted": "已中断", "idle": "空闲", "good": "值得使用", "weak": "不比简单模型好", "bad": "不可用",
})

# Sentences core code writes in English only (the Data tab's warnings, the shape of a file, the Runs table's
# messages): patterns with named parts, as ERROR_PATTERNS_ZH. `sentence(text, lang)` tries these, then the errors.
SENTENCE_PATTERNS_ZH: list[tuple[str, str]] = [
    (r"(?P<n>\d+) turns?", "{n} 轮"),  # a chat file's conversation lengths (the Data tab's bars)
    (r"Only (?P<n>[\d,]+) rows: expect weak results; a few hundred rows per label help\.",
     "只有 {n} 行：效果可能较弱；每个标签有几百行会更好。"),
    (r"Only (?P<n>[\d,]+) sentences: expect weak results; a few thousand tagged sentences help\.",
     "只有 {n} 个句子：效果可能较弱；有几千个标注好的句子会更好。"),
    (r"Only (?P<n>[\d,]+) conversations: expect the model to copy them rather than generalise; a few hundred help\.",
     "只有 {n} 段对话：模型可能只会照抄而不会举一反三；有几百段会更好。"),
    (r"(?P<n>[\d,]+) label\(s\) have fewer than (?P<k>\d+) examples \(e\.g\. '(?P<label>.*)'\); the model will rarely "
     r"predict them\.", "有 {n} 个标签的样本少于 {k} 个（例如“{label}”）；模型很少会预测出它们。"),
    (r"(?P<n>[\d,]+) label\(s\) are on fewer than (?P<k>\d+) rows \(e\.g\. '(?P<label>.*)'\); the model will rarely "
     r"predict them\.", "有 {n} 个标签出现在少于 {k} 行中（例如“{label}”）；模型很少会预测出它们。"),
    (r"(?P<n>[\d,]+) entity type\(s\) have fewer than (?P<k>\d+) examples \(e\.g\. '(?P<label>.*)'\); the model will "
     r"rarely find them\.", "有 {n} 种实体类型的样本少于 {k} 个（例如“{label}”）；模型很少能找到它们。"),
    (r"(?P<n>[\d,]+) duplicate rows \(same text and labels?\); they inflate validation scores if split across train "
     r"and validation\.", "有 {n} 行重复（文本和标签都相同）；如果它们分散在训练集和验证集中，验证分数会偏高。"),
    (r"(?P<n>[\d,]+) conversations are exact duplicates; they inflate validation scores if split across train and "
     r"validation\.", "有 {n} 段对话完全重复；如果它们分散在训练集和验证集中，验证分数会偏高。"),
    (r"(?P<n>[\d,]+) texts appear with different labels; the model cannot get those all right\.",
     "有 {n} 段文本带有不同的标签；模型不可能把它们全部判对。"),
    (r"About (?P<n>[\d,]+) texts are longer than the max length of (?P<max>\d+) tokens and will be truncated\.",
     "约 {n} 段文本超过最大长度 {max} 个 token，会被截断。"),
    (r"About (?P<n>[\d,]+) of (?P<total>[\d,]+) conversations are longer than the max length of (?P<max>\d+) tokens "
     r"and will be truncated \(replies cut short\)\.",
     "{total} 段对话中约 {n} 段超过最大长度 {max} 个 token，会被截断（回复被截短）。"),
    (r"About (?P<n>[\d,]+) sentences are longer than the max length of (?P<max>\d+) tokens; training sees only their "
     r"start \(prediction splits long texts, so nothing is lost there\)\.",
     "约 {n} 个句子超过最大长度 {max} 个 token；训练只看到它们的开头（预测时会拆分长文本，所以不会丢失内容）。"),
    (r"The label '(?P<label>.*)' is on every row; it tells the model nothing\.",
     "每一行都有标签“{label}”；它对模型没有任何信息量。"),
    (r"No row has more than one label \((?P<how>.*)\); if the labels are written another way, set "
     r"data\.label_separator, else the classification task fits this data\.",
     "没有任何一行有多个标签（{how}）；如果标签是用其他方式写的，请设置 data.label_separator，否则这份数据更适合文本分类任务。"),
    (r"Repaired (?P<n>[\d,]+) tag\(s\) that broke the (?P<scheme>\S+) scheme \(first at (?P<at>.*)\): each now starts "
     r"an entity\.", "修复了 {n} 个违反 {scheme} 方案的标签（第一个在 {at}）：每个现在都作为实体的开头。"),
    (r"(?P<n>[\d,]+) tag\(s\) in the (?P<src>.+?) break the (?P<scheme>\S+) scheme \(first at (?P<at>.*)\); they are "
     r"read as the start of an entity, or set data\.repair_tags=true to rewrite them as B- tags\.",
     "{src}中有 {n} 个标签违反 {scheme} 方案（第一个在 {at}）；它们会被当作实体的开头，也可以设置 data.repair_tags=true 把它们改写为 B- 标签。"),
    (r"Skipped (?P<n>[\d,]+) empty row\(s\) with no tokens\.", "跳过了 {n} 个没有词元的空行。"),
    (r"The file is not UTF-8 \(first bad byte at position (?P<pos>\d+)\); it was read as Windows-1252/Latin-1\. Check "
     r"accented characters in the preview\.",
     "文件不是 UTF-8 编码（第一个无效字节在位置 {pos}）；已按 Windows-1252/Latin-1 读取。请在预览中检查带重音的字符。"),
    (r"Removed (?P<n>[\d,]+) control characters \(such as NUL bytes or terminal colour codes\) from the file\.",
     "已从文件中删除 {n} 个控制字符（例如 NUL 字节或终端颜色代码）。"),
    (r"The file has more than (?P<n>[\d,]+) (?P<what>rows|sentences); only the first (?P=n) are used\.",
     "文件超过 {n} {what}；只使用前 {n} {what}。"),
    # the Evaluate tab's notes (Task.report_notes), sentence by sentence
    (r"Samples F1 \(each row's label set, averaged\): (?P<s>[\d.–]+)(?P<rest>.*)",
     "样本平均 F1（按每行的标签集合计算后取平均）：{s}{rest}"),
    (r"A label is given at probability (?P<p>[\d.]+) or more \(the threshold chosen on the validation rows\), and a row "
     r"with none over it gets its most likely label\.",
     "概率不低于 {p} 时给出该标签（阈值在验证集上选定），没有任何标签超过阈值的行取其最可能的标签。"),
    (r"Labels per row: (?P<p>[\d.]+) predicted, (?P<t>[\d.]+) true\.", "每行标签数：预测 {p} 个，真实 {t} 个。"),
    (r"(?P<n>[\d,]+) reply tokens scored; (?P<k>\d+) prompts answered by both models \(greedy\); template "
     r"(?P<template>\S+); (?P<cut>\d+) of (?P<of>\S+) training conversations truncated\.",
     "对 {n} 个回复 token 打分；{k} 个提示由两个模型分别回答（贪心解码）；模板 {template}；{of} 段训练对话中有 {cut} 段被截断。"),
    # the shape of an upload (Data tab summary)
    (r"text: (?P<text>.*) · labels: (?P<label>.*) · (?P<how>Labels read as lists|Labels split on '.'|One label per row "
     r"\(no separator found\)), (?P<mean>[\d.]+) per row \(at most (?P<most>\d+)\)",
     "文本：{text} · 标签：{label} · {how}，平均每行 {mean} 个（最多 {most} 个）"),
    (r"(?P<shape>messages|ShareGPT|Alpaca) \((?P<parts>[a-z/]+)\)", "{shape}（{parts}）"),
    (r"prompt/response columns", "提示/回复两列"),
    (r"plain text \(continued pretraining\)", "纯文本（继续预训练）"),
    # run messages (Runs table)
    (r"Finished (?P<n>[\d,]+) steps in (?P<secs>[\d,.]+) s\.(?P<rest>.*)", "完成 {n} 步，用时 {secs} 秒。{rest}"),
    (r"Finished (?P<n>[\d,]+) steps\.(?P<rest>.*)", "完成 {n} 步。{rest}"),
    (r"Finished (?P<n>[\d,]+) steps in (?P<secs>[\d,.]+) s of (?P<planned>[\d,]+) planned \(early stopping: the "
     r"validation score stopped improving\)\.(?P<rest>.*)",
     "完成 {n} 步（计划 {planned} 步），用时 {secs} 秒（提前停止：验证分数不再提升）。{rest}"),
    (r"Stopped by request at step (?P<n>[\d,]+); the adapter was saved\.(?P<rest>.*)", "按请求在第 {n} 步停止；适配器已保存。{rest}"),
    # run messages since issue #25 (tuner.progress: one clock, m:ss; the phases a run's status names)
    (r"Finished (?P<n>[\d,]+) steps in (?P<time>[\dhm:]+)\.(?P<rest>.*)", "完成 {n} 步，用时 {time}。{rest}"),
    (r"Finished (?P<n>[\d,]+) steps in (?P<time>[\dhm:]+) of (?P<planned>[\d,]+) planned \(early stopping: the "
     r"validation score stopped improving\)\.(?P<rest>.*)", "完成 {n} 步（计划 {planned} 步），用时 {time}（提前停止：验证分数不再提高）。{rest}"),
    (r"Stopped by request at step (?P<n>[\d,]+) after (?P<time>[\dhm:]+); the adapter was saved\.(?P<rest>.*)",
     "已按要求在第 {n} 步停止（用时 {time}）；适配器已保存。{rest}"),
    (r"Stopped before the first training step; there was nothing to save\.", "在第一个训练步之前停止；没有可保存的内容。"),
    (r"Stopped while scoring the validation rows; the adapter was saved, without an evaluation report\.",
     "在评估验证数据时停止；适配器已保存，但没有评估报告。"),
    (r"Starting the training process \(loading Python and the libraries\)…", "正在启动训练进程（加载 Python 和依赖库）…"),
    (r"Reading the data…", "正在读取数据…"),
    (r"Tokenizing (?P<rows>[\d,]+) training rows…", "正在对 {rows} 行训练数据分词…"),
    (r"Tokenizing (?P<rows>[\d,]+) of (?P<total>[\d,]+) training rows \(all the run can use\)…",
     "正在对 {total} 行训练数据中的 {rows} 行分词（本次运行能用到的全部行）…"),
    (r"Fitting the classical baseline \(TF-IDF \+ linear model\)…", "正在拟合经典基线（词频加权 + 线性模型）…"),
    (r"Loading the model (?P<model>.+)…", "正在加载模型 {model}…"),
    (r"Saving the adapter…", "正在保存适配器…"),
    (r"Scoring the validation rows…", "正在评估验证数据…"),
    (r"Classifier · labels: (?P<labels>.*)", "分类器 · 标签：{labels}"),
    (r"Multi-label classifier · labels: (?P<labels>.*) · a label is given at probability (?P<p>[\d.]+) or more",
     "多标签分类器 · 标签：{labels} · 概率不低于 {p} 时给出该标签"),
    (r"Entity tagger · types: (?P<types>.*)", "实体标注器 · 类型：{types}"),
    (r"Waiting for a free training slot\.", "正在等待空闲的训练位置。"),
    (r"Removed from the queue before it started\.", "在开始前已从队列中移除。"),
    (r"Training…", "训练中…"),
    (r"Stopped at step (?P<n>[\d,]+); the adapter was saved\.(?P<rest>.*)", "在第 {n} 步停止；适配器已保存。{rest}"),
]
_SENTENCES = [(re.compile(p + r"\Z", re.S), t) for p, t in SENTENCE_PATTERNS_ZH]
_SENTENCE_PARTS_ZH = {"rows": "行", "sentences": "个句子", "training file": "训练文件", "validation file": "验证文件",
                      "Labels read as lists": "标签按列表读取", "One label per row (no separator found)": "每行一个标签（未找到分隔符）",
                      "labels read as lists": "标签按列表读取", "one label per row (no separator found)": "每行一个标签（未找到分隔符）"}


# -- error analysis and label noise --
SAY_ZH.update({
    "classical": "传统模型", "embeddings": "句向量", "finetuned model": "微调模型",  # the evidence parts and weights
    "**{wrong} of {total} validation rows are wrong**; the most confident mistakes first.":
        "**{total} 条验证数据中有 {wrong} 条预测错误**；最有把握的错误排在前面。",
    "{n} rows match the filter.": "{n} 行符合筛选条件。",
    "A row is wrong when its labels are not exactly its true ones. In the list of label errors, “billing → —” is "
    "billing missed on a row that has it, “— → urgent” urgent given to a row that does not.":
        "一行的预测标签与真实标签不完全一致即算错误。在标签错误列表中，“billing → —”表示该行有 billing 但没有预测出来，"
        "“— → urgent”表示该行没有 urgent 却被打上了它。",
    "any": "全部",
    "**{flagged} of {total} training rows look mislabelled** (evidence: {evidence}, {secs} s). "
    "Suggested: relabel {relabel}, drop {drop}. Decided so far: {relabelled} relabelled, {dropped} "
    "dropped, {kept} kept.":
        "**{total} 条训练数据中有 {flagged} 条疑似标注错误**（依据：{evidence}，用时 {secs} 秒）。"
        "建议：改标 {relabel} 条，删除 {drop} 条。目前已决定：改标 {relabelled} 条，删除 {dropped} 条，保留 {kept} 条。",
    "drop (maybe {label})": "删除（或许是 {label}）",
    "The evidence agrees with {share} of the given labels, so it is wrong on some rows too: look at each "
    "suggestion before accepting it.": "依据与 {share} 的已有标签一致，它自己也会判断错一些行：接受建议前请逐条查看。",
    "Trained on corrected data: {flagged} of {total} training rows were flagged as suspected label "
    "errors in run {run}; {relabelled} were relabelled and {dropped} dropped.":
        "基于更正后的数据训练：运行 {run} 的 {total} 条训练数据中有 {flagged} 条被标记为疑似标注错误；"
        "其中 {relabelled} 条已改标，{dropped} 条已删除。",
    "{flagged} of {total} training rows were flagged as suspected label errors; {relabelled} relabelled "
    "and {dropped} dropped so far.":
        "{total} 条训练数据中有 {flagged} 条被标记为疑似标注错误；目前已改标 {relabelled} 条，删除 {dropped} 条。",
    "Pick a finished run.": "请选择一个已结束的运行。",
    "Started run {new} on the corrected data. When it finishes, compare it with run {old} on the Runs tab.":
        "已用更正后的数据开始运行 {new}。训练结束后，可在“运行记录”页与运行 {old} 比较。",
    "relabel → {new}": "改标为 {new}", "drop": "删除", "keep": "保留",
    "row": "行", "text": "文本", "true label": "真实标签", "predicted": "预测标签", "confidence": "置信度",
    "rows": "行数", "given label": "给定标签", "suggestion": "建议", "label quality": "标签质量",
    "decision": "决定", "Training started.": "训练已开始。",
})
ZH.update({  # the section's static labels (tuner/ui/mistakes.py)
    "Mistakes and label errors": "错误分析与标注错误", "True label": "真实标签", "Predicted label": "预测标签",
    "Show mistakes": "显示预测错误",
    "Validation rows the model gets wrong (most confident first)": "模型预测错误的验证数据（最有把握的在前）",
    "Most confused label pairs": "最常混淆的标签对",
    "#### Suspected label errors in the training data": "#### 训练数据中疑似的标注错误",
    "classical + finetuned model": "传统模型 + 微调模型", "classical model only": "仅传统模型",
    "finetuned model only": "仅微调模型", "Evidence": "依据", "Find suspected label errors": "查找疑似标注错误",
    "Suspected label errors (lowest label quality first)": "疑似标注错误（标签质量最低的在前）",
    "Row": "行号", "Click a row in the table, or type its number.": "点击表格中的一行，或输入其行号。",
    "Decision": "决定", "New label (empty = the most likely one)": "新标签（留空 = 最可能的标签）",
    "Apply to row": "应用到该行", "Accept all suggestions": "全部采用建议", "Drop all flagged rows": "删除所有被标记的行",
    "Keep all as they are": "全部保持原样", "Clear decisions": "清除所有决定", "Corrections (CSV)": "更正记录（CSV）",
    "Train again with these corrections": "用这些更正重新训练",
    "Accept the suggestion": "采用建议", "Relabel": "改标", "Drop the row": "删除该行", "Keep as it is": "保持原样",
    "A suggestion is a new label where the evidence is as sure of it as it usually is of the labels it agrees "
    "with, and “drop” where it doubts the given label without being sure of another: a row dropped by mistake "
    "costs one example, a row relabelled by mistake teaches the model a wrong label.":
        "依据对某个新标签的把握，达到它对自己认同的标签的一般把握时，建议改为该标签；"
        "依据怀疑原标签、却说不准该改成什么时，建议“删除”：误删一行只少一个样本，误改一行则会教给模型一个错误的标签。",
})

# -- error analysis: entities and chat (tuner/ui/mistakes.py: the tagger's and the chat model's mistakes views) --
SAY_ZH.update({
    "**{wrong} of {total} validation sentences have entity errors**; the most errors first. Of {entities} reference "
    "entities, {missed} were not found exactly (recall {recall}); of {predicted} predicted entities, {spurious} are "
    "not in the reference (precision {precision}).":
        "**{total} 个验证句子中有 {wrong} 个存在实体错误**；错误最多的排在前面。参考标注的 {entities} 个实体中有 "
        "{missed} 个没有被完全正确地找出（召回率 {recall}）；预测出的 {predicted} 个实体中有 {spurious} 个不在参考标注中"
        "（精确率 {precision}）。",
    "{n} sentences have an error with {type}.": "{n} 个句子有涉及 {type} 的错误。",
    "{true} read as {predicted}": "{true} 被识别为 {predicted}",
    "{true} with other boundaries": "{true} 边界不同",
    "spurious {predicted}": "误报 {predicted}",
    "missed {true}": "漏掉 {true}",
    "{type}, predicted {spans}": "{type}，预测为 {spans}",
    "missed": "漏掉", "wrong type": "类型错误", "other boundaries": "边界不同", "spurious": "误报", "right": "正确",
    "Missed: in the reference, not predicted with these words and type (wrong-type and boundary marks count here "
    "too). Spurious: predicted, not in the reference.":
        "漏掉：参考标注中有，但没有以相同的词和类型被预测出来（类型错误和边界不同也计入此项）。误报：预测出来了，但参考标注中没有。",
    "{errors} errors · missed {missed} · spurious {spurious}": "{errors} 处错误 · 漏掉 {missed} · 误报 {spurious}",
    "The first {shown} of {n} sentences are shown; the command line prints them all:":
        "仅显示 {n} 个句子中的前 {shown} 个；命令行可全部列出：",
    "**{n} validation answers scored**, the lowest ROUGE-L first (mean {mean}). Only the first {cap} validation "
    "prompts are answered: generation is slow on a CPU (greedy, up to {tokens} new tokens).":
        "**已为 {n} 条验证回答评分**，ROUGE-L 最低的排在前面（平均 {mean}）。只回答前 {cap} 条验证提示：在 CPU 上生成较慢"
        "（贪心解码，最多 {tokens} 个新词元）。",
    "Suspected label errors and training again on corrected labels are for runs with one label per row (sort texts "
    "into labels); this run's task does not have them yet.":
        "疑似标注错误的查找和用更正后的标签重新训练只适用于每行一个标签的运行（文本分类）；该运行的任务暂不支持。",
    "The model answers the first {cap} validation prompts; on a CPU this takes a minute or more.":
        "模型会回答前 {cap} 条验证提示；在 CPU 上需要一分钟或更久。",
    "error": "错误", "spans": "实体数", "model's answer": "模型的回答",
})
ZH.update({  # the section's static labels for the two views
    "Entity type": "实体类型", "Most frequent entity errors": "最常见的实体错误",
    "Sentences with the most entity errors": "实体错误最多的句子",
    "Validation answers with the lowest ROUGE-L": "ROUGE-L 最低的验证回答",
})


# -- label-error evidence (tuner/ui/mistakes.py's Evidence choice) --
SAY_ZH.update({
    "Embeddings skipped: the base model does not read this text's language.": "已跳过嵌入：基础模型读不懂这种语言的文本。",
    "The finetuned model's evidence skipped: the run has no trained model.": "已跳过微调模型的依据：该运行还没有训练好的模型。",
    "The finetuned model's evidence skipped: on the validation rows it does worse than the classical baseline (see "
    "the verdict).": "已跳过微调模型的依据：在验证数据上它不如传统基线模型（见结论）。",
})
ZH.update({
    "classical + embeddings + finetuned model (measured best)": "传统模型 + 嵌入 + 微调模型（实测最佳）",
    "classical + embeddings": "传统模型 + 嵌入",
})
