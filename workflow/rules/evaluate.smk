# Greedy (or beam) decoding of a fixed test set by one model: a predictions table (one row per
# matrix) for the analyses, and a summary JSON of accuracies by tolerance.


rule evaluate:
    input:
        model="results/{scale}/models/{run}/{weights}.pt",
        data=get_evaluation_set,
    output:
        predictions="results/{scale}/eval/{run}/{weights}/{spectrum}_{role}.parquet",
        summary="results/{scale}/eval/{run}/{weights}/{spectrum}_{role}.json",
    log:
        "logs/{scale}/evaluate/{run}/{weights}/{spectrum}_{role}.log",
    benchmark:
        "benchmarks/{scale}/evaluate/{run}/{weights}/{spectrum}_{role}.tsv"
    params:
        beam=config["evaluation"]["beam_size"],
        device=get_device,
    threads: 4
    resources:
        gpu=1,
    wildcard_constraints:
        role="test|ood",
    conda:
        "../../environment.yml"
    shell:
        "mathformer evaluate --model {input.model} --data {input.data}"
        " -o {output.predictions} --summary {output.summary}"
        " --beam {params.beam} --device {params.device} --threads {threads} > {log} 2>&1"
