"""The streaming trainer (``babelshard train`` / ``babelshard eval``).

data        shardstream (resumable per-folder shard reading) -> decode (items per stream
            kind) -> mixer (per-step sub-batches from several streams) -> DataLoader
models      dual_encoder (registry, CLIP-style dual encoder, model files), encoders,
            mla, mclip, fusion, single_stream, smalr
objectives  contrastive (registry: itc/le/ucl, ctl, nlt, trikd), mlm, matching, masking
loop        trainer (assembly, checkpoint save/resume) -> steps (DDP, metrics)
eval        retrieval (mean recall per language), fusion (ITM and consistency scorers)
"""
