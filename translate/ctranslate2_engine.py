"""CTranslate2 engine: converted Marian/OPUS-MT, M2M-100 and NLLB models with SentencePiece.

Single-pair models translate ``pieces + </s>``; multilingual ones add the source
language token in front and force the target language token as the target prefix, as
their Transformers tokenizers do. Inputs are sorted by length and batched by tokens.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Sequence

from babelshard.fs import filesystem, is_local
from babelshard.langid import cache_dir
from babelshard.translate.config import CTranslate2EngineConfig
from babelshard.translate.engines import Translation
from babelshard.translate.langcodes import model_language_token
from babelshard.translate.segments import fit_to_limit, length_order

SPM_NAMES = ("source.spm", "sentencepiece.bpe.model", "spm.model", "sentencepiece.model")
VOCABULARY_NAMES = ("shared_vocabulary", "source_vocabulary", "target_vocabulary")
SPECIAL_PIECES = frozenset({"<s>", "</s>", "<pad>", "<unk>"})


def ctranslate2_model_id(config: CTranslate2EngineConfig) -> str:
    """``<dir name>@<fingerprint of config, vocabulary and weights size>`` unless configured."""
    if config.model_id:
        return config.model_id
    fs, path = filesystem(config.model_path)
    digest = hashlib.sha256()
    for name in sorted(fs.ls(path, detail=False)):
        base = name.rstrip("/").rsplit("/", 1)[-1]
        if base == "config.json" or base.startswith(VOCABULARY_NAMES):
            digest.update(base.encode() + fs.cat_file(name))
        elif base == "model.bin":
            digest.update(f"model.bin:{fs.size(name)}".encode())
    return f"{path.rstrip('/').rsplit('/', 1)[-1]}@{digest.hexdigest()[:12]}"


def local_model_dir(url: str) -> str:
    """The model directory on local disk, copied from object storage once per machine."""
    fs, path = filesystem(url)
    if is_local(fs):
        if not os.path.isdir(path):
            raise FileNotFoundError(f"CTranslate2 model directory not found: {url}")
        return path
    target = cache_dir() / "models" / hashlib.sha1(url.encode()).hexdigest()[:16]
    if not (target / "model.bin").exists():
        partial = target.with_suffix(".partial")
        fs.get(path.rstrip("/") + "/", str(partial), recursive=True)
        os.replace(partial, target)
    return str(target)


def find_spm_files(config: CTranslate2EngineConfig, model_dir: str) -> tuple[str, str]:
    source = config.source_spm or next(
        (os.path.join(model_dir, n) for n in SPM_NAMES if os.path.exists(os.path.join(model_dir, n))), None
    )
    if source is None:
        raise FileNotFoundError(
            f"{model_dir}: no SentencePiece model ({', '.join(SPM_NAMES)}); set source_spm, or convert with "
            "copy_files=['source.spm', 'target.spm']"
        )
    target = config.target_spm or os.path.join(model_dir, "target.spm")
    return source, target if os.path.exists(target) else source


def read_vocabulary(model_dir: str, side: str) -> set[str]:
    for name in (f"{side}_vocabulary", "shared_vocabulary"):
        for extension, parse in ((".json", json.loads), (".txt", str.splitlines)):
            path = os.path.join(model_dir, name + extension)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as handle:
                    return set(parse(handle.read()))
    raise FileNotFoundError(f"{model_dir}: no {side} vocabulary file")


def resolve_device(requested: str) -> str:
    import ctranslate2

    if requested != "auto":
        return requested
    return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"


def resolve_compute_type(device: str, requested: str) -> str:
    if requested != "auto":
        return requested
    return "int8_float16" if device == "cuda" else "int8"


class CTranslate2Engine:
    kind = "ctranslate2"

    def __init__(self, config: CTranslate2EngineConfig):
        import ctranslate2
        import sentencepiece

        self.config = config
        model_dir = local_model_dir(config.model_path)
        self.device = resolve_device(config.device)
        self.compute_type = resolve_compute_type(self.device, config.compute_type)
        self.translator = ctranslate2.Translator(
            model_dir,
            device=self.device,
            device_index=config.device_index,
            compute_type=self.compute_type,
            inter_threads=config.inter_threads,
            intra_threads=config.threads,
        )
        source_spm, target_spm = find_spm_files(config, model_dir)
        self.source_sp = sentencepiece.SentencePieceProcessor(model_file=source_spm)
        self.target_sp = sentencepiece.SentencePieceProcessor(model_file=target_spm)
        with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as handle:
            model_config = json.load(handle)
        self.eos = model_config.get("eos_token", "</s>")
        self.append_eos = not model_config.get("add_source_eos", False)
        self.source_vocabulary = read_vocabulary(model_dir, "source")
        self.target_vocabulary = read_vocabulary(model_dir, "target")
        self._model_id = ctranslate2_model_id(config)

    def model_id(self, source: str, target: str) -> str:
        return self._model_id

    def language_token(self, language: str, vocabulary: set[str]) -> list[str]:
        if self.config.language_tokens == "none":
            return []
        token = model_language_token(language, self.config.language_tokens, self.config.language_codes)
        if token not in vocabulary:
            raise ValueError(f"{self._model_id}: language token {token!r} for {language!r} is not in the model's vocabulary")
        return [token]

    def encode(self, text: str) -> list[str]:
        return self.source_sp.encode(text, out_type=str)

    def translate(self, texts: Sequence[str], source: str, target: str) -> list[Translation]:
        source_prefix = self.language_token(source, self.source_vocabulary)
        target_prefix = self.language_token(target, self.target_vocabulary)
        limit = self.config.max_input_tokens - len(source_prefix) - int(self.append_eos)
        inputs: list[list[str]] = []
        groups: list[list[int]] = []  # per text, its segments' positions in inputs
        flags: list[tuple[bool, bool]] = []
        for text in texts:
            segments, split, truncated = fit_to_limit(text, self.encode, limit, self.config.long_inputs)
            flags.append((split, truncated))
            groups.append(list(range(len(inputs), len(inputs) + len(segments))))
            inputs.extend(source_prefix + pieces + ([self.eos] if self.append_eos else []) for pieces in segments)
        outputs = self._translate_sorted(inputs, target_prefix)
        return [
            self._assemble([(inputs[i], *outputs[i]) for i in group], flag) for group, flag in zip(groups, flags)
        ]

    def _translate_sorted(self, inputs: list[list[str]], target_prefix: list[str]) -> list[tuple[list[str], float]]:
        order = length_order(inputs)
        results = self.translator.translate_batch(
            [inputs[i] for i in order],
            target_prefix=[target_prefix] * len(order) if target_prefix else None,
            max_batch_size=self.config.max_batch_tokens,
            batch_type="tokens",
            beam_size=self.config.beam_size,
            max_decoding_length=self.config.max_decoding_length + len(target_prefix),  # the prefix counts
            max_input_length=0,  # lengths are handled (and counted) before this call
            repetition_penalty=self.config.repetition_penalty,
            no_repeat_ngram_size=self.config.no_repeat_ngram_size,
            return_scores=True,
        )
        outputs: list[tuple[list[str], float]] = [([], 0.0)] * len(inputs)
        for position, result in zip(order, results):
            pieces = result.hypotheses[0]
            if target_prefix and pieces[: len(target_prefix)] == target_prefix:
                pieces = pieces[len(target_prefix) :]
            outputs[position] = (pieces, float(result.scores[0]))
        return outputs

    def _assemble(self, parts: list[tuple[list[str], list[str], float]], flags: tuple[bool, bool]) -> Translation:
        """One text's translation from its segments' (source pieces, target pieces, score)."""
        outputs = [[piece for piece in target if piece not in SPECIAL_PIECES] for _, target, _ in parts]
        texts = [self.target_sp.decode(pieces) for pieces in outputs]
        weights = [max(1, len(pieces)) for pieces in outputs]
        score = sum(weight * part[2] for weight, part in zip(weights, parts)) / sum(weights)
        return Translation(
            text=" ".join(text for text in texts if text),
            score=round(score, 4),
            source_tokens=sum(len(source) for source, _, _ in parts),
            target_tokens=sum(len(pieces) for pieces in outputs),
            pieces=tuple(piece for pieces in outputs for piece in pieces),
            split=flags[0],
            truncated=flags[1],
        )
