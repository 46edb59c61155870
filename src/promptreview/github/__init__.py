"""GitHub Actions integration: the trigger and publish stages (DESIGN.md §2, §8).

* ``event`` — the event payload and env become a ``ReviewRequest``, a ``RerunCommand`` or ``Ignored``;
* ``api`` — the seam over PyGithub (the only module that imports it), with bounded retries;
* ``publish`` — sticky comment, commit status and check run on the head SHA;
* ``rerun`` — who may ``/rerun``, and the reactions that answer them;
* ``workspace`` — fetch the base and head commits a shallow checkout lacks;
* ``workflow_log`` — workflow commands, masks, outputs and the step summary.

``promptreview.action`` strings them together. Nothing is imported here, so importing one module
does not load PyGithub.
"""
