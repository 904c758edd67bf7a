"""The single-stream model of M3P (model kind ``m3p``).

Text tokens and image positions form one sequence through shared transformer layers.
Each text position adds a token, a position, a language and the text stream-tag
embedding. The image positions are either the image's patches (``vision: vit``, the toy
setting: each patch's linearly embedded pixels and a patch position) or its region or
grid features read from the shards (``vision: regions``, M3P's input: each region's
features and box geometry, embedded and normalised); both add the image stream-tag
embedding. MC-MRM regresses the masked positions' input: region features, or a pixel
model's patch pixels. Language ids follow ``model.languages``; a code-switched caption
(``records.CODESWITCHED_LANGUAGE``) uses English's row, as M3P does; any other language
uses the shared "other" row. With ``text_checkpoint`` the text embeddings and the shared
layers are XLM-R's (:mod:`babelshard.train.models.m3p_pretrained`).

Besides the fusion interface (see ``fusion``), it answers ``region_targets(images)``,
``region_valid(images)`` and ``region_states(tokens, langs, images, zeroed)`` for MC-MRM.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from babelshard.records import CODESWITCHED_LANGUAGE, ENGLISH
from babelshard.train.data.batches import ImageInputs
from babelshard.train.model_config import M3pModelConfig, RegionFeatureConfig, SingleStreamFusionConfig
from babelshard.train.models.encoders import pool_states
from babelshard.train.models.fusion import Context, FusionEncoder, MaskedLMHead, pixels_of, resolved
from babelshard.train.models.dual_encoder import FrozenAware, VocabInfo

TEXT_STREAM, IMAGE_STREAM = 0, 1


class RegionEmbedding(nn.Module):
    """A region's features and box geometry, each projected to the model width and
    normalised, summed (the single-stream VLP models' region input)."""

    def __init__(self, config: RegionFeatureConfig, width: int):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(config.feature_dim, width), nn.LayerNorm(width))
        self.boxes = nn.Sequential(nn.Linear(config.box_dim, width), nn.LayerNorm(width)) if config.box_dim else None

    def forward(self, features: torch.Tensor, boxes: torch.Tensor | None) -> torch.Tensor:
        embedded = self.features(features)
        if self.boxes is not None:
            if boxes is None:
                raise ValueError("the model embeds box geometry: give the caption stream regions.boxes")
            embedded = embedded + self.boxes(boxes)
        return embedded


class SingleStreamModel(FrozenAware):
    def __init__(self, config: M3pModelConfig, vocab: VocabInfo, fusion: SingleStreamFusionConfig):
        super().__init__()
        vision = config.vision
        width = self.build_text(config, vocab, fusion)
        self.languages = {lang: i + 1 for i, lang in enumerate(config.languages)}  # 0: any other language
        self.language_embedding = nn.Embedding(len(self.languages) + 1, width)
        self.stream_embedding = nn.Embedding(2, width)
        self.reads_regions = isinstance(vision, RegionFeatureConfig)
        if self.reads_regions:
            self.region_embed = RegionEmbedding(vision, width)
            target_dim, classes = vision.feature_dim, vision.classes
        else:
            self.patch_size = vision.patch_size
            self.num_patches = (vision.image_size // vision.patch_size) ** 2
            self.patch_dim = target_dim = 3 * vision.patch_size**2
            self.patch_embed = nn.Linear(self.patch_dim, width)
            self.patch_positions = nn.Parameter(torch.randn(self.num_patches, width) * 0.01)
            classes = fusion.region_classes
        self.build_layers(config, fusion, width)
        self.image_proj = nn.Linear(width, config.embed_dim, bias=False)
        self.text_proj = nn.Linear(width, config.embed_dim, bias=False)
        self.mlm_head = self.build_mlm_head(vocab, width)
        self.itm_head = nn.Linear(width, 2)
        self.region_regressor = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, target_dim))
        self.region_classifier = nn.Linear(width, classes) if classes else None
        self.after_build()

    # the text side and the shared layers: small ones here, XLM-R's in the pretrained model
    def build_text(self, config: M3pModelConfig, vocab: VocabInfo, fusion: SingleStreamFusionConfig) -> int:
        width = config.text.width
        self.pad_id, self.vocab_size, self.mask_id = vocab.pad_id, vocab.size, vocab.size
        self.special_ids = tuple(fusion.special_ids)
        self.token_embedding = nn.Embedding(vocab.size + 1, width)  # + [MASK]
        self.text_positions = nn.Parameter(torch.randn(2 * vocab.max_length, width) * 0.01)
        return width

    def build_layers(self, config: M3pModelConfig, fusion: SingleStreamFusionConfig, width: int) -> None:
        layers, heads, mlp_ratio = resolved(fusion, config.text)
        self.encoder = FusionEncoder(width, layers, heads, mlp_ratio, fusion.dropout, cross=False)

    def build_mlm_head(self, vocab: VocabInfo, width: int) -> nn.Module:
        return MaskedLMHead(width, vocab.size)

    def after_build(self) -> None:
        nn.init.normal_(self.token_embedding.weight, std=0.02)

    def language_id(self, language: str) -> int:
        if language == CODESWITCHED_LANGUAGE:
            language = ENGLISH
        return self.languages.get(language, 0)

    def language_ids(self, languages: Sequence[str] | None, rows: int, device: torch.device) -> torch.Tensor:
        ids = [self.language_id(lang) for lang in languages] if languages is not None else [0] * rows
        return torch.tensor(ids, device=device)

    def text_inputs(self, tokens: torch.Tensor, languages: Sequence[str] | None) -> torch.Tensor:
        lang = self.language_ids(languages, tokens.shape[0], tokens.device)
        return (
            self.token_embedding(tokens)
            + self.text_positions[: tokens.shape[1]]
            + self.language_embedding(lang).unsqueeze(1)
            + self.stream_embedding.weight[TEXT_STREAM]
        )

    def patch_vectors(self, images: torch.Tensor) -> torch.Tensor:
        """(batch, patches, 3·p·p): each patch's normalised pixels, row-major."""
        return F.unfold(images, self.patch_size, stride=self.patch_size).transpose(1, 2)

    def image_inputs(self, images: ImageInputs | torch.Tensor, zeroed: torch.Tensor | None = None) -> Context:
        """The embedded image positions (and their padding); ``zeroed`` (batch, positions)
        positions enter with their input features (pixels) set to 0."""
        if self.reads_regions:
            if not isinstance(images, ImageInputs) or images.regions is None:
                raise ValueError("this M3P model reads region features: give its caption stream a regions section")
            features = images.regions if zeroed is None else images.regions.masked_fill(zeroed.unsqueeze(-1), 0.0)
            states = self.region_embed(features, images.region_boxes)
            return Context(states + self.stream_embedding.weight[IMAGE_STREAM], images.region_mask)
        vectors = self.patch_vectors(pixels_of(images))
        if zeroed is not None:
            vectors = vectors.masked_fill(zeroed.unsqueeze(-1), 0.0)
        return Context(self.patch_embed(vectors) + self.patch_positions + self.stream_embedding.weight[IMAGE_STREAM])

    def region_targets(self, images: ImageInputs) -> torch.Tensor:
        """(batch, positions, dim): what MC-MRM regresses, the image positions' input features."""
        return images.regions if self.reads_regions else self.patch_vectors(pixels_of(images))  # type: ignore[return-value]

    def region_valid(self, images: ImageInputs) -> torch.Tensor:
        """(batch, positions) bool: the image positions that are not padding."""
        if self.reads_regions:
            return ~images.region_mask  # type: ignore[operator]
        pixels = pixels_of(images)
        return torch.ones(pixels.shape[0], self.num_patches, dtype=torch.bool, device=pixels.device)

    def joint(self, tokens: torch.Tensor | None, languages: Sequence[str] | None, patches: Context | None) -> torch.Tensor:
        """Shared layers over [text; context]; the context is embedded patches (or, for a
        translation pair, the embedded source sentence); either part may be absent."""
        parts, masks = [], []
        if tokens is not None:
            parts.append(self.text_inputs(tokens, languages))
            masks.append(tokens == self.pad_id)
        if patches is not None:
            parts.append(patches.states)
            no_pad = torch.zeros(patches.states.shape[:2], dtype=torch.bool, device=patches.states.device)
            masks.append(no_pad if patches.mask is None else patches.mask)
        return self.encoder(torch.cat(parts, dim=1), torch.cat(masks, dim=1))

    # part 1's interface: each modality alone through the shared layers, mean-pooled
    def encode_image(self, inputs: ImageInputs) -> torch.Tensor:
        context = self.image_context(inputs)
        states = self.joint(None, None, context)
        pad = context.mask if context.mask is not None else torch.zeros(states.shape[:2], dtype=torch.bool, device=states.device)
        return self.image_proj(pool_states(states, pad, "mean"))

    def encode_text(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> torch.Tensor:
        states = self.joint(tokens, languages, None)
        return self.text_proj(pool_states(states, tokens == self.pad_id, "mean"))

    # fusion interface: the "context" of a single-stream model is its embedded image positions
    def image_context(self, images: ImageInputs | torch.Tensor) -> Context:
        return self.image_inputs(images)

    def text_context(self, tokens: torch.Tensor, languages: Sequence[str] | None = None) -> Context:
        """A source sentence as context: its embedded tokens, appended to the sequence."""
        return Context(self.text_inputs(tokens, languages), tokens == self.pad_id)

    def fused_text(self, tokens: torch.Tensor, languages: Sequence[str] | None, context: Context | None) -> torch.Tensor:
        return self.joint(tokens, languages, context)[:, : tokens.shape[1]]

    def concat_text(self, first: torch.Tensor, first_langs: Sequence[str], second: torch.Tensor, second_langs: Sequence[str]) -> torch.Tensor:
        """Both sentences with their own language embeddings and restarted positions."""
        inputs = torch.cat([self.text_inputs(first, first_langs), self.text_inputs(second, second_langs)], dim=1)
        pad = torch.cat([first == self.pad_id, second == self.pad_id], dim=1)
        return self.encoder(inputs, pad)

    def mlm_logits(self, states: torch.Tensor) -> torch.Tensor:
        return self.mlm_head(states)

    def match_logits(self, tokens: torch.Tensor, languages: Sequence[str] | None, context: Context) -> torch.Tensor:
        return self.itm_head(self.joint(tokens, languages, context)[:, 0])

    def region_states(self, tokens: torch.Tensor, languages: Sequence[str] | None, images: ImageInputs | torch.Tensor,
                      zeroed: torch.Tensor) -> torch.Tensor:
        """Output states of the image positions, with ``zeroed`` positions' inputs set to 0."""
        states = self.joint(tokens, languages, self.image_inputs(images, zeroed))
        return states[:, tokens.shape[1]:]


def build_m3p(config: M3pModelConfig, vocab: VocabInfo, teacher_vocab: VocabInfo) -> nn.Module:
    if config.text_checkpoint is not None:
        from babelshard.train.models.m3p_pretrained import PretrainedSingleStreamModel

        return PretrainedSingleStreamModel(config, vocab, config.fusion)
    return SingleStreamModel(config, vocab, config.fusion)
