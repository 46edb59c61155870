"""promptreview: review prompt changes the way CI reviews code changes.

The package layout follows the data flow (see docs/architecture.md):
trigger -> changes -> plan -> materialize -> run -> score -> compare -> verdict -> report -> publish.
Importing the package is kept cheap on purpose: ``promptreview --help`` must start in well under
0.3 s, so heavy dependencies (openai, PyGithub, jinja2) are imported by the stages that use them.
"""

__version__ = "0.1.0"
