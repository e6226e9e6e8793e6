"""Training: configuration dataclasses, thin Lightning wiring, the tasks run by cgviz.jobs.

Import the submodules you need (``cgviz.training.config``, ``cgviz.training.simulator``);
nothing heavy is imported here.
"""
