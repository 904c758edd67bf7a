"""The streaming trainer (``babelshard train`` / ``babelshard eval``).

data      shardstream (resumable per-folder shard reading) -> decode (items per stream
          kind) -> mixer (per-step sub-batches from several streams) -> DataLoader
model     models (registry, CLIP-style dual encoder, model files), encoders, mla, mclip
loss      objectives (registry: itc/le/ucl, ctl, nlt, trikd)
loop      trainer (assembly, checkpoint save/resume) -> loop (steps, DDP, metrics)
eval      evaluate (retrieval mean recall per language)

Extension points: ``models.register_model``, ``objectives.register_objective``, new
stream kinds in ``decode.ITEM_DECODERS`` (with their ``mixer.collate`` branch).
"""
