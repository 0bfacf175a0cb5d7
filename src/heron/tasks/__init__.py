"""NLP tasks on any model: summarize, classify, sentiment, translate, zero-shot,
few-shot, generate, answer and extract.

Each task is one function taking one text (one result back) or a list (a list
back, in order), a model spec (``hf:…`` task models, any registry LLM through a
prompt, embedders for zero-shot), and decoding controls as ``TaskOptions``.
Importing this package loads no model and imports neither torch nor transformers.
Inputs longer than the model's window are read in pieces where asked
(``long_text="chunk"``, the default for ``answer``): overlapping windows on
extractive QA models, pieces asked by relevance on LLMs, map-reduce summaries.
Left out: streaming task output, multi-label zero-shot.
"""

from heron.tasks.dispatch import run_task, task_names
from heron.tasks.labels import classify, sentiment, zero_shot
from heron.tasks.options import TaskOptions
from heron.tasks.qa import answer, extract
from heron.tasks.results import Extraction, Generation, Label, Summary, TaskAnswer, Translation
from heron.tasks.targets import TaskModels
from heron.tasks.text import few_shot, generate, summarize, translate

__all__ = [
    "Extraction",
    "Generation",
    "Label",
    "Summary",
    "TaskAnswer",
    "TaskModels",
    "TaskOptions",
    "Translation",
    "answer",
    "classify",
    "extract",
    "few_shot",
    "generate",
    "run_task",
    "sentiment",
    "summarize",
    "task_names",
    "translate",
    "zero_shot",
]
