"""The pipeline's DVC stages, one script each (dvc.yaml runs `python -m stages.<name>`); they only
orchestrate, the work is in the summarization package."""
