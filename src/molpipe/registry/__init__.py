"""The MLflow side: tracking, one model reference, the model card, the registry lifecycle and the pyfunc."""
