"""Prompt engineering: templates with named slots, few-shot prompts, injection
defenses, and comparison of prompts on a labelled sample.

Left out: prompt optimisation (searching instructions or examples automatically)
and token budgeting; see docs/prompts.md.
"""

from heron.prompts.compare import PromptComparison, SampleResult, TemplateResult, compare_prompts
from heron.prompts.defenses import GUARD_NO_PII, GUARD_UNKNOWN, Defenses, make_tag
from heron.prompts.few_shot import few_shot
from heron.prompts.metrics import contains, exact, exact_label, first_label
from heron.prompts.neutralise import defang_markers, neutralise
from heron.prompts.serialise import load_template, template_from_dict, template_to_dict
from heron.prompts.slots import SLOTS
from heron.prompts.template import Example, PromptTemplate, RenderedPrompt

__all__ = [
    "GUARD_NO_PII",
    "GUARD_UNKNOWN",
    "SLOTS",
    "Defenses",
    "Example",
    "PromptComparison",
    "PromptTemplate",
    "RenderedPrompt",
    "SampleResult",
    "TemplateResult",
    "compare_prompts",
    "contains",
    "defang_markers",
    "exact",
    "exact_label",
    "few_shot",
    "first_label",
    "load_template",
    "make_tag",
    "neutralise",
    "template_from_dict",
    "template_to_dict",
]
