"""The GitHub App front door: ``promptreview serve`` (webhooks in, jobs queued) and
``promptreview worker`` (jobs run). The review itself is the core shared with the Action
(``promptreview.github.core``); this package only adapts the App's inputs and outputs.
"""
