"""The library the pipeline's stages share (config, data, models, training, generation, ROUGE, atomic
outputs) and the commands users run on its results (significance)."""
