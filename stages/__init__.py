"""The pipeline's stages (fetch, preprocess, train, evaluate) and the small library they share."""
