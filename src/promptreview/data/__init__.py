"""Growing the eval data (DESIGN.md sections 14 and 15): production logs become candidate cases
(``cases import``), the suite's coverage of real inputs is measured (``coverage``), new cases are
written from the prompt and from documents (``generate``), and the judge is measured against
human labels (``judge-check``). Everything here ends as a file a person reviews in a PR.
"""
