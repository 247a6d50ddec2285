"""Scenarios: the model (`model`), loading and validating documents (`loading`), the registry a server
selects from (`registry`)."""
