"""The streaming trainer (``babelshard train`` / ``babelshard eval``).

config      TrainConfig; stream_config, model_config, objective_config, checkpoint_config:
            one config class
            per kind, unions discriminated on ``kind``
registry    every model builder and objective class, by kind
data        shardstream (resumable per-folder shard reading) -> streams (per stream kind:
            the records view, decoder and collate of captions, texts, pairs) -> mixer
            (per-step typed batches from several streams, batches) -> DataLoader;
            regions (region or grid features from .npy members), randaugment, transforms;
            toy_regions (grid-feature members of the toy emoji, for tests)
models      dual_encoder (CLIP-style dual encoder, model files), encoders, backbones
            (pretrained CLIP / XLM-R / BERT from local checkpoints), pretrained_clip,
            text_encoder (XLM-R + NMT decoder), mla, mclip, fusion, single_stream, smalr;
            pretrained_text (XLM-R parts: layer slices, cross-attention fusion layers, tied
            MLM head), image_encoders (CLIP/ViT checkpoints or the small ViT),
            unified_pretrained and m3p_pretrained (the fusion models on XLM-R);
            tiny_checkpoints (tiny random checkpoints in the real formats, for tests)
objectives  contrastive (itc/le, ucl, ctl, nlt, trikd; multi-positive), translation (nmt),
            mlm, matching, masking
loop        trainer (assembly, checkpoint save/resume) -> steps (DDP, metrics)
eval        retrieval (mean recall per language), fusion (ITM and consistency scorers)
"""
