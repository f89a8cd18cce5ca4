"""Error analysis: what a finished run gets wrong, which training labels the evidence contradicts, and the person's
corrections turned into a corrected copy of the training file and a new run.

mistakes.py      what the model gets wrong on the validation rows, in its task's view: a classifier's wrong rows (most
                 confident first) and confused label pairs; a tagger's sentences with entity errors; chat's answers
                 with the lowest ROUGE-L (the task's `mistakes` hook)
label_issues.py  suspected label errors in the training rows (cleanlab on out-of-sample probabilities)
corrections.py   the person's decisions (relabel / drop / keep), saved with the run; the corrected file; train again
store.py         the run's analysis/ folder (JSON written atomically, results kept while the adapter is unchanged)

What a task offers is its `analyses` attribute and its hooks `analysis_splits` / `label_probabilities` / `mistakes`
(tuner.tasks.base). Nothing here imports gradio; the page words the results (tuner.ui.mistakes).
"""
