"""`make bench`: the harvester measured against physical limits and against the tools users
would pick instead, every figure a ratio of two things measured side by side in one run.

One module per figure: `cpu` (1), `rate` (2, behind nginx), `scale` (3), `deadline` (4),
`peers` (5, Scrapy and dlt), `resume` (6). `python -m bench` runs them and writes
bench/RESULTS.md. Also: `python -m bench.profile` (where the harvester's CPU goes, with
py-spy) and `python -m bench.writer_bench` (the writer alone, a million records).
"""
