# Fixed datasets: one .npz per (task, n, coefficient law and range, spectrum, role). Training
# examples are drawn on the fly by the engine; these are the sets every model is scored on.


rule generate:
    output:
        data=layout.DATASET,
    log:
        "logs/{scale}/generate/{task}/n{n}_{law}_A{coeff_range}/{spectrum}_{role}.log",
    params:
        size=get_dataset_size,
        seed=get_dataset_seed,
    shell:
        "mathformer generate --task {wildcards.task} --spectrum {wildcards.spectrum} --n {wildcards.n}"
        " --law {wildcards.law} --coeff-range {wildcards.coeff_range}"
        " --size {params.size} --seed {params.seed} -o {output.data:q} > {log:q} 2>&1"
