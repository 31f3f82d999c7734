"""The model and what runs it (torch): the transformer, devices, decoding, training and evaluation,
and the files only the engine reads (model.pt, the resumable checkpoint)."""
