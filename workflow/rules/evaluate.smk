# Greedy (or beam) decoding of a fixed test set by one model: a predictions table (one row per
# matrix) for the analyses, and a summary JSON of accuracies by tolerance.


rule evaluate:
    input:
        model=layout.WEIGHTS,
        data=get_evaluation_set,
    output:
        predictions=layout.PREDICTIONS,
        summary=layout.SUMMARY,
    log:
        "logs/{scale}/evaluate/{run}/{weights}/{spectrum}_{role}.log",
    benchmark:
        "benchmarks/{scale}/evaluate/{run}/{weights}/{spectrum}_{role}.tsv"
    wildcard_constraints:
        role="test|ood",
    # On a cluster the evaluations are many short GPU jobs: profiles/slurm bundles them into few
    # SLURM jobs (group-components), so they do not each wait in the queue. Locally, no effect.
    group:
        "evaluation"
    threads: 4
    resources:
        gpu=1,
        device="auto",  # a resource, not a param: see rule train
    params:
        beam=PLAN.beam_size,
    shell:
        "mathformer evaluate --model {input.model:q} --data {input.data:q}"
        " -o {output.predictions:q} --summary {output.summary:q}"
        " --beam {params.beam} --device {resources.device} --threads {threads} > {log:q} 2>&1"
