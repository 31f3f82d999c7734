# The paper's three results, from the predictions tables and training logs. Each analysis writes
# its tables (CSV, Markdown, LaTeX) to results/<scale>/tables/ and its figures (PDF, PNG) to
# results/<scale>/figures/; the CSV and PNG are also the items of `snakemake --report`.


# Result 1: on its failures the eigenvector model still gets the eigenvalues and the norms right.
rule analyse_roughly_right:
    input:
        unpack(get_roughly_right_inputs),
    output:
        table=report(
            "results/{scale}/tables/roughly_right.csv",
            category="1. Roughly right",
            labels={"kind": "table", "name": "properties of correct and failed predictions"},
        ),
        table_md="results/{scale}/tables/roughly_right.md",
        table_tex="results/{scale}/tables/roughly_right.tex",
        figure=report(
            "results/{scale}/figures/roughly_right.png",
            category="1. Roughly right",
            labels={"kind": "figure", "name": "properties of correct and failed predictions"},
        ),
        figure_pdf="results/{scale}/figures/roughly_right.pdf",
    log:
        "logs/{scale}/analyse/roughly_right.log",
    params:
        runs=get_run_flags,
    conda:
        "../../environment.yml"
    shell:
        "mathformer analyse roughly-right {params.runs} --out results/{wildcards.scale} > {log:q} 2>&1"


# Result 2: failures are predictable from the problem or from the predicted solution.
rule analyse_predictability:
    input:
        unpack(get_predictability_inputs),
    output:
        conditions=report(
            "results/{scale}/tables/condition_numbers.csv",
            category="2. Predictable failures",
            labels={"kind": "table", "name": "condition numbers"},
        ),
        conditions_md="results/{scale}/tables/condition_numbers.md",
        conditions_tex="results/{scale}/tables/condition_numbers.tex",
        predictors=report(
            "results/{scale}/tables/failure_predictors.csv",
            category="2. Predictable failures",
            labels={"kind": "table", "name": "failure predictors"},
        ),
        predictors_md="results/{scale}/tables/failure_predictors.md",
        predictors_tex="results/{scale}/tables/failure_predictors.tex",
        inverse_distance=report(
            "results/{scale}/tables/inverse_distance.csv",
            category="2. Predictable failures",
            labels={"kind": "table", "name": "distance to the true inverse"},
        ),
        inverse_distance_md="results/{scale}/tables/inverse_distance.md",
        inverse_distance_tex="results/{scale}/tables/inverse_distance.tex",
        histograms=report(
            "results/{scale}/figures/condition_histograms.png",
            category="2. Predictable failures",
            labels={"kind": "figure", "name": "condition numbers"},
        ),
        histograms_pdf="results/{scale}/figures/condition_histograms.pdf",
        roc=report(
            "results/{scale}/figures/roc_curves.png",
            category="2. Predictable failures",
            labels={"kind": "figure", "name": "ROC curves"},
        ),
        roc_pdf="results/{scale}/figures/roc_curves.pdf",
    log:
        "logs/{scale}/analyse/predictability.log",
    params:
        runs=get_run_flags,
    conda:
        "../../environment.yml"
    shell:
        "mathformer analyse predictability {params.runs} --out results/{wildcards.scale} > {log:q} 2>&1"


# Result 3: the training spectrum decides how far an eigenvalue model generalizes.
rule analyse_ood:
    input:
        summaries=get_ood_summaries,
        train_logs=get_ood_logs,
    output:
        accuracy=report(
            "results/{scale}/tables/ood_accuracy.csv",
            category="3. Out of distribution",
            labels={"kind": "table", "name": "accuracy at 5 %"},
        ),
        accuracy_md="results/{scale}/tables/ood_accuracy.md",
        accuracy_tex="results/{scale}/tables/ood_accuracy.tex",
        accuracy_2=report(
            "results/{scale}/tables/ood_accuracy_2.csv",
            category="3. Out of distribution",
            labels={"kind": "table", "name": "accuracy at 2 %"},
        ),
        accuracy_2_md="results/{scale}/tables/ood_accuracy_2.md",
        accuracy_2_tex="results/{scale}/tables/ood_accuracy_2.tex",
        accuracy_1=report(
            "results/{scale}/tables/ood_accuracy_1.csv",
            category="3. Out of distribution",
            labels={"kind": "table", "name": "accuracy at 1 %"},
        ),
        accuracy_1_md="results/{scale}/tables/ood_accuracy_1.md",
        accuracy_1_tex="results/{scale}/tables/ood_accuracy_1.tex",
        intervals=report(
            "results/{scale}/tables/ood_accuracy_interval.csv",
            category="3. Out of distribution",
            labels={"kind": "table", "name": "accuracy at 5 % with 95 % intervals"},
        ),
        intervals_md="results/{scale}/tables/ood_accuracy_interval.md",
        intervals_tex="results/{scale}/tables/ood_accuracy_interval.tex",
        speed=report(
            "results/{scale}/tables/examples_to_accuracy.csv",
            category="3. Out of distribution",
            labels={"kind": "table", "name": "training examples to reach an accuracy"},
        ),
        speed_md="results/{scale}/tables/examples_to_accuracy.md",
        speed_tex="results/{scale}/tables/examples_to_accuracy.tex",
        heatmap=report(
            "results/{scale}/figures/ood_heatmap.png",
            category="3. Out of distribution",
            labels={"kind": "figure", "name": "accuracy heatmap"},
        ),
        heatmap_pdf="results/{scale}/figures/ood_heatmap.pdf",
        curves=report(
            "results/{scale}/figures/learning_curves.png",
            category="3. Out of distribution",
            labels={"kind": "figure", "name": "learning curves"},
        ),
        curves_pdf="results/{scale}/figures/learning_curves.pdf",
    log:
        "logs/{scale}/analyse/ood.log",
    params:
        flags=get_ood_flags,
    conda:
        "../../environment.yml"
    shell:
        "mathformer analyse ood {params.flags} --out results/{wildcards.scale} > {log:q} 2>&1"


# How each model trained, and a copy of its training log that git keeps (DVC keeps models/).
rule analyse_training:
    input:
        logs=expand("results/{{scale}}/models/{run}/train_log.csv", run=RUNS),
        configs=expand("results/{{scale}}/models/{run}/config.yaml", run=RUNS),
    output:
        table=report(
            "results/{scale}/tables/training.csv",
            category="Training",
            labels={"kind": "table", "name": "examples, minutes and accuracy of each model"},
        ),
        table_md="results/{scale}/tables/training.md",
        table_tex="results/{scale}/tables/training.tex",
        logs=expand("results/{{scale}}/train_logs/{run}.csv", run=RUNS),
    log:
        "logs/{scale}/analyse/training.log",
    params:
        flags=get_training_flags,
    conda:
        "../../environment.yml"
    shell:
        "mathformer analyse training {params.flags} --out results/{wildcards.scale} > {log:q} 2>&1"
