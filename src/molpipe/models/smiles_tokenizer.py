"""An atom-level SMILES tokenizer (the regular expression of Schwaller et al., Molecular Transformer), built with
``tokenizers`` from a library's own SMILES and saved as a Hugging Face tokenizer, so that a folder written by
``molpipe pretrain`` and a folder of real ChemBERTa weights load the same way (``AutoTokenizer.from_pretrained``)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

SMILES_REGEX = r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
SPECIAL = {
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "mask_token": "<mask>",
    "bos_token": "<s>",
    "eos_token": "</s>",
}
_PATTERN = re.compile(SMILES_REGEX)


def smiles_tokens(smiles: str) -> list[str]:
    return _PATTERN.findall(smiles)


def build_tokenizer(smiles: Iterable[str], min_frequency: int = 1, model_max_length: int = 256):
    """A ``PreTrainedTokenizerFast`` whose vocabulary is every regex token seen at least ``min_frequency`` times."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    counts: Counter[str] = Counter()
    for text in smiles:
        counts.update(smiles_tokens(text))
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    vocab = {token: i for i, token in enumerate(specials)}
    for token, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if count >= min_frequency and token not in vocab:
            vocab[token] = len(vocab)
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(SMILES_REGEX), behavior="isolated")
    core.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", vocab["<s>"]), ("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=core, model_max_length=model_max_length, **SPECIAL)
