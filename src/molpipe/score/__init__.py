"""Scoring: the pool ranked by a registered model into ``candidates`` (:mod:`molpipe.score.job`), the lab batch
picked from a run (:mod:`molpipe.lab.select`)."""

# what a scoring worker process needs imported (the scoring code, RDKit, torch and the model classes): the pool's
# forkserver imports them once, and ``molpipe score`` has it do so while its own process is still starting
WORKER_MODULES = ("molpipe.score.batch", "molpipe.models.networks")
