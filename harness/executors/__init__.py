"""Where jobs run. ``local`` (the default): worker processes on this machine, one job per GPU where there are
GPUs, data-parallel jobs under torchrun. ``slurm``: every job a Slurm job submitted through submitit (or, for
testing without a cluster, submitit's LocalExecutor). The orchestrator decides what runs when; an executor
only starts jobs, reports when they end, and finds the ones an earlier orchestrator left running.

Both executors implement :class:`harness.executors.base.Executor`.
"""
