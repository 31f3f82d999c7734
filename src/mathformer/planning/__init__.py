"""The runs of a workflow config: their settings, seeds, data sets, evaluations and analyses.

runs: the run table (one Run per config row and seed); datasets: each fixed set's identity, size
and seed; paths: where each file lies (formats.results_layout filled in); plan: `Plan`, built once
from the config, answering what each training and evaluation needs; analyses: what each analysis
reads and writes. The workflow's rules (workflow/rules/common.smk) only call it; nothing here
imports Snakemake.
"""
