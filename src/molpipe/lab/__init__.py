"""The lab batch: picked from a scoring run, diverse, reported, and the lab's results merged back."""
